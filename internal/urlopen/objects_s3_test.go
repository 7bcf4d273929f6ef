package urlopen_test

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/objects"
)

// hideAWSConfigForS3 hides any AWS configuration of the machine, as on a
// developer's laptop without an AWS account.
func hideAWSConfigForS3(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_S3", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
	} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// roundTrip stores an object through d in bucket and reads it back.
func roundTrip(t *testing.T, d objects.Driver, bucket string) {
	t.Helper()
	ctx := context.Background()
	ref, err := d.Put(ctx, bucket, "docs/naïve.txt", strings.NewReader("hello"), objects.PutOptions{
		Metadata: map[string]string{"owner": "zoë"},
		Tags:     map[string]string{"team": "web"},
	})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	rc, info, err := d.Open(ctx, domain.ObjectRef{Bucket: bucket, Key: "docs/naïve.txt", ETag: ref.ETag})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(b) != "hello" || info.Metadata["owner"] != "zoë" {
		t.Errorf("read %q, %v with metadata %v; want hello and owner zoë", b, err, info.Metadata)
	}
	tags, err := d.Tags(ctx, ref)
	if err != nil || tags["team"] != "web" {
		t.Errorf("Tags = %v, %v; want team=web", tags, err)
	}
}

func closeDriver(t *testing.T, d objects.Driver) {
	t.Helper()
	c, ok := d.(io.Closer)
	if !ok {
		t.Fatalf("driver %T has no Close", d)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestOpenBucketS3(t *testing.T) {
	hideAWSConfigForS3(t)
	// versitygw checks signatures; started with local/local it accepts the
	// dummy credentials OpenBucket falls back to for loopback endpoints.
	gw := testsvc.VersityGW(t, &testsvc.VersityGWOptions{AccessKey: "local", Secret: "local"})
	gw.CreateBucket(t, gw.Client(t), "uploads", true)

	t.Run("dummy credentials", func(t *testing.T) {
		d, bucket, err := urlopen.OpenBucket(context.Background(), "s3://uploads?endpoint="+url.QueryEscape(gw.Endpoint))
		if err != nil {
			t.Fatalf("OpenBucket: %v", err)
		}
		defer closeDriver(t, d)
		if bucket != "uploads" {
			t.Errorf("bucket = %q, want uploads", bucket)
		}
		roundTrip(t, d, bucket)
	})

	t.Run("configured credentials", func(t *testing.T) {
		// Credentials from the environment win over the dummy ones: wrong
		// ones are refused by the gateway.
		t.Setenv("AWS_ACCESS_KEY_ID", "local")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
		d, _, err := urlopen.OpenBucket(context.Background(), gw.URL("uploads"))
		if err != nil {
			t.Fatalf("OpenBucket: %v", err)
		}
		defer closeDriver(t, d)
		if _, err := d.Put(context.Background(), "uploads", "k", bytes.NewReader(nil), objects.PutOptions{}); err == nil {
			t.Errorf("Put with the environment's wrong secret succeeded; the dummy credentials were used")
		}
		t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
		d2, _, err := urlopen.OpenBucket(context.Background(), gw.URL("uploads"))
		if err != nil {
			t.Fatalf("OpenBucket: %v", err)
		}
		defer closeDriver(t, d2)
		roundTrip(t, d2, "uploads")
	})
}

func TestOpenBucketFile(t *testing.T) {
	dir := t.TempDir()
	d, bucket, err := urlopen.OpenBucket(context.Background(), "file://"+dir+"?bucket=uploads")
	if err != nil {
		t.Fatalf("OpenBucket: %v", err)
	}
	defer closeDriver(t, d)
	if bucket != "uploads" {
		t.Errorf("bucket = %q, want uploads", bucket)
	}
	roundTrip(t, d, bucket)
}

func TestOpenBucketRefuses(t *testing.T) {
	hideAWSConfigForS3(t)
	dir := t.TempDir()
	for _, raw := range []string{
		"s3://uploads?endpoint=http://127.0.0.1:9&colour=blue",
		"s3://uploads?endpoint=ftp://127.0.0.1:9",
		"s3://uploads?endpoint=",
		"s3://?endpoint=http://127.0.0.1:9",
		"s3://Uploads?endpoint=http://127.0.0.1:9",
		"s3://uploads/prefix?endpoint=http://127.0.0.1:9",
		"s3://uploads:9000?endpoint=http://127.0.0.1:9",
		"s3://uploads", // no region, no loopback endpoint
		"s3://uploads?endpoint=https://s3.example.com", // likewise
		"file://" + dir,
		"file://" + dir + "?bucket=a",
		"file://" + dir + "?bucket=uploads&nosync=1",
		"gs://uploads",
		"uploads",
	} {
		d, _, err := urlopen.OpenBucket(context.Background(), raw)
		if err == nil {
			closeDriver(t, d)
			t.Errorf("OpenBucket(%q) succeeded, want an error", raw)
		}
	}
	// A region makes a real endpoint acceptable; nothing is sent yet.
	d, bucket, err := urlopen.OpenBucket(context.Background(), "s3://uploads.example?region=eu-west-1")
	if err != nil || bucket != "uploads.example" {
		t.Fatalf("OpenBucket with a region: %q, %v", bucket, err)
	}
	closeDriver(t, d)
}
