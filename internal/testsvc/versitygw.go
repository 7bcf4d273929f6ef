package testsvc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// VersityGWEnv names the environment variable that points at a versitygw
// binary. Without it the binary is <module root>/.cache/bin/versitygw,
// which `make versitygw` builds (go install
// github.com/versity/versitygw/cmd/versitygw@v1.8.0, 3 to 4 minutes, once).
const VersityGWEnv = "SCANGATE_VERSITYGW"

// S3 is an S3 endpoint started for a test.
type S3 struct {
	// Endpoint is the base URL, such as http://127.0.0.1:40123. Buckets
	// are addressed by path.
	Endpoint  string
	AccessKey string
	Secret    string
	Region    string
}

// VersityGWOptions configure VersityGW. The zero value means the defaults.
type VersityGWOptions struct {
	// EventWebhookURL, when set, is passed as --event-webhook-url:
	// versitygw POSTs S3-notification-style {"Records": [...]} for every
	// bucket. The webhook must already be listening: versitygw sends a
	// test event at start-up and exits when it fails, and VersityGW then
	// fails the test with its output. Unlike S3's, versitygw 1.8.0's
	// records name events "s3:ObjectCreated:Put" (S3: "ObjectCreated:Put"),
	// quote the eTag, carry "versionId": null even in versioned buckets,
	// count the sequencer in decimal from 1, and report copies with size 0.
	EventWebhookURL string

	// AccessKey and Secret are the root credentials the gateway accepts.
	// Empty means a fixed access key and a random secret.
	AccessKey, Secret string

	// KeepAlive passes --keep-alive. Without it versitygw 1.8.0 answers
	// every request with "Connection: close", so each request costs a new
	// TCP connection in the client and in the gateway, which S3 does not
	// charge; benchmarks that count the cost per request want it.
	KeepAlive bool
}

// VersityGW starts versitygw (an open-source S3 gateway) with its posix
// backend on a free port, in its own temporary folders, with versioning
// available (buckets start unversioned; PutBucketVersioning enables it).
// It waits until /health answers and stops the gateway when the test ends.
// opts may be nil.
//
// The binary comes from $SCANGATE_VERSITYGW or
// <module root>/.cache/bin/versitygw; when it is missing the test fails
// with the command that builds it. Tests never build it.
//
// versitygw stores each key as a file path, so it refuses keys that real
// S3 takes: a path segment longer than 255 bytes (KeyTooLongError) and a
// key ending in "/" with data (DirectoryObjectContainsData); "a//b" is the
// path a/b; and "a" and "a/b" cannot both exist, since "a" would be a file
// and a folder.
func VersityGW(t testing.TB, opts *VersityGWOptions) *S3 {
	t.Helper()
	if opts == nil {
		opts = &VersityGWOptions{}
	}
	bin := VersityGWBinary(t)
	dir := t.TempDir()
	data, versions := filepath.Join(dir, "data"), filepath.Join(dir, "versions")
	for _, d := range []string{data, versions} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s := &S3{AccessKey: opts.AccessKey, Secret: opts.Secret, Region: "us-east-1"}
	if s.AccessKey == "" {
		s.AccessKey = "scangate-test"
	}
	if s.Secret == "" {
		s.Secret = randomSecret(t)
	}
	port := FreePort(t)
	args := []string{
		"--port", Addr(port),
		"--access", s.AccessKey,
		"--secret", s.Secret,
		"--region", s.Region,
		"--health", "/health",
		"--quiet",
	}
	if opts.EventWebhookURL != "" {
		args = append(args, "--event-webhook-url", opts.EventWebhookURL)
	}
	if opts.KeepAlive {
		args = append(args, "--keep-alive")
	}
	args = append(args, "posix", "--versioning-dir", versions, data)
	p := Start(t, dir, bin, args, nil)
	s.Endpoint = "http://" + Addr(port)
	p.waitHealth(t, s.Endpoint+"/health", 30*time.Second)
	return s
}

// VersityGWBinary returns the path of the versitygw binary, failing the
// test with the command that builds it when there is none.
func VersityGWBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(VersityGWEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("testsvc: $%s=%s: %v", VersityGWEnv, p, err)
		}
		return p
	}
	p := filepath.Join(ModuleRoot(t), ".cache", "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testsvc: %s is missing; run `make versitygw` (GOBIN=$PWD/.cache/bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0, once, 3 to 4 minutes) or set $%s", p, VersityGWEnv)
	}
	return p
}

func randomSecret(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// waitHealth waits until url answers 200 or the child exits.
func (p *Process) waitHealth(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.exited:
			t.Fatalf("testsvc: %s exited before %s answered:\n%s", p.cmd.Path, url, p.Output())
		case <-ctx.Done():
			t.Fatalf("testsvc: %s did not answer 200 within %s (last: %s):\n%s", url, timeout, last, p.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Client returns an S3 client for s: path-style addressing, static
// credentials, s.Region. Its idle connections are closed when the test
// ends, so that goroutine leak checks pass.
func (s *S3) Client(t testing.TB) *s3.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.Secret, ""),
		HTTPClient:   &http.Client{Transport: tr},
	})
}

// CreateBucket creates bucket, with versioning enabled when versioned is
// set, and fails the test when it cannot.
func (s *S3) CreateBucket(t testing.TB, c *s3.Client, bucket string, versioned bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("testsvc: create bucket %s: %v", bucket, err)
	}
	if !versioned {
		return
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		t.Fatalf("testsvc: enable versioning on %s: %v", bucket, err)
	}
}

// URL returns an s3:// URL for bucket on s, in the form connect.OpenBucket
// takes.
func (s *S3) URL(bucket string) string {
	return "s3://" + bucket + "?endpoint=" + url.QueryEscape(s.Endpoint) + "&region=" + url.QueryEscape(s.Region)
}
