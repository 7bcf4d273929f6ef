package urlopen_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// noAWSConfig hides any AWS configuration of the machine, as on a
// developer's laptop without an AWS account.
func noAWSConfig(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_DYNAMODB", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
	} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func TestDynamoDB(t *testing.T) {
	noAWSConfig(t)
	ctx := context.Background()
	endpoint := testsvc.Dynalite(t)

	// create=true makes the table; dummy credentials are used for the
	// loopback endpoint, and the region defaults.
	d, err := urlopen.Store(ctx, "dynamodb://scangate-local?endpoint="+endpoint+"&create=true")
	if err != nil {
		t.Fatalf("Store with create=true: %v", err)
	}
	s := store.New(d, nil)
	rec, created, err := s.Ingest(ctx, domain.ObjectRef{Bucket: "b", Key: "k", VersionID: "v1"}, "test", "")
	if err != nil || !created {
		t.Fatalf("Ingest = created %t, %v", created, err)
	}
	if _, err := s.Claim(ctx, rec.ID, "worker", time.Minute); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The same table again, without create and with an explicit region:
	// the record is there; create=true on an existing table is fine too.
	for _, u := range []string{
		"dynamodb://scangate-local?region=eu-west-1&endpoint=" + endpoint,
		"dynamodb://scangate-local?endpoint=" + endpoint + "&create=1",
	} {
		d, err = urlopen.Store(ctx, u)
		if err != nil {
			t.Fatalf("Store %s: %v", u, err)
		}
		got, err := d.Get(ctx, rec.ID)
		if err != nil || got.State != domain.StatusScanning {
			t.Errorf("Get through %s = %+v, %v; want the claimed record", u, got, err)
		}
		if err := d.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}

	// Without create, a missing table shows on the first call.
	d, err = urlopen.Store(ctx, "dynamodb://no-such-table?endpoint="+endpoint)
	if err != nil {
		t.Fatalf("Store of a missing table: %v", err)
	}
	defer d.Close()
	_, err = d.Get(ctx, rec.ID)
	if errcode.Of(err) != errcode.Unavailable || !strings.Contains(err.Error(), "no-such-table") {
		t.Errorf("Get from a missing table: %v (code %s), want Unavailable naming the table", err, errcode.Of(err))
	}
}

func TestDynamoDBBadURLs(t *testing.T) {
	noAWSConfig(t)
	ctx := context.Background()
	for _, tc := range []struct{ url, want string }{
		{"dynamodb://t1?endpoint=http://127.0.0.1:1&tabel=x", `unknown parameter "tabel"`},
		{"dynamodb://t1?endpoint=http://127.0.0.1:1&create=yes", "not a boolean"},
		{"dynamodb://t1?endpoint=http://127.0.0.1:1&create=", "not a boolean"},
		{"dynamodb://t1?endpoint=ftp://127.0.0.1:1", "must be an http or https URL"},
		{"dynamodb://t1?endpoint=", "must be an http or https URL"},
		{"dynamodb://?endpoint=http://127.0.0.1:1", "must be dynamodb://TABLE"},
		{"dynamodb://t1/extra?endpoint=http://127.0.0.1:1", "must be dynamodb://TABLE"},
		{"dynamodb://ab?endpoint=http://127.0.0.1:1", "3 to 255 characters"},
		{"dynamodb://scangate", "no AWS region"},
		{"dynamo://t1", "unknown store scheme"},
	} {
		d, err := urlopen.Store(ctx, tc.url)
		if err == nil {
			d.Close()
			t.Errorf("Store %s succeeded, want an error saying %s", tc.url, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Store %s: %v, want an error saying %s", tc.url, err, tc.want)
		}
	}
}

func TestDynamoDBCreateUnreachable(t *testing.T) {
	noAWSConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := urlopen.Store(ctx, "dynamodb://t1?endpoint=http://127.0.0.1:1&create=true")
	if errcode.Of(err) != errcode.Unavailable {
		t.Errorf("Store with create=true and nothing listening: %v (code %s), want Unavailable", err, errcode.Of(err))
	}
}
