package s3obj_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/s3obj"
)

// faultClient returns an S3 client for url that tries each request once.
func faultClient(t *testing.T, url string) *s3.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider("k", "s", ""),
		HTTPClient:       &http.Client{Transport: tr},
		RetryMaxAttempts: 1,
	})
}

func faultDriver(t *testing.T, h http.Handler) *s3obj.Driver {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	d, err := s3obj.New(faultClient(t, srv.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestErrorCodes answers every request with one canned S3 error and checks
// the code each driver method reports.
func TestErrorCodes(t *testing.T) {
	cases := []struct {
		status int
		code   string // S3's error code; none for a HEAD, which has no body
		want   errcode.Code
	}{
		{404, "NoSuchKey", errcode.NotFound},
		{404, "NoSuchVersion", errcode.NotFound},
		{404, "NoSuchBucket", errcode.NotFound},
		{405, "MethodNotAllowed", errcode.NotFound},
		{412, "PreconditionFailed", errcode.Changed},
		{400, "InvalidArgument", errcode.Invalid},
		{400, "KeyTooLongError", errcode.Invalid},
		{400, "RequestTimeout", errcode.Unavailable},
		{400, "BadDigest", errcode.Unavailable},
		{503, "SlowDown", errcode.Unavailable},
		{503, "ServiceUnavailable", errcode.Unavailable},
		{500, "InternalError", errcode.Unavailable},
		{429, "TooManyRequests", errcode.Unavailable},
		{404, "NoSuchUpload", errcode.Unavailable},
		{403, "AccessDenied", errcode.Unknown},
		{501, "NotImplemented", errcode.Unknown},
	}
	ref := domain.ObjectRef{Bucket: "b", Key: "k", VersionID: "v", ETag: `"e"`}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d-%s", tc.status, tc.code), func(t *testing.T) {
			d := faultDriver(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(tc.status)
				if r.Method != http.MethodHead {
					fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>canned</Message></Error>`, tc.code)
				}
			}))
			ctx := t.Context()
			_, _, err := d.Open(ctx, ref)
			wantCode(t, err, tc.want, "Open")
			if tc.code != "NoSuchUpload" {
				// A HEAD answer has no body: only the status is left.
				want := tc.want
				switch tc.status {
				case 400:
					want = errcode.Invalid
				case 404:
					want = errcode.NotFound
				}
				_, err = d.Head(ctx, ref)
				wantCode(t, err, want, "Head")
			}
			_, err = d.Put(ctx, "b", "k", strings.NewReader("x"), objects.PutOptions{})
			wantCode(t, err, tc.want, "Put")
			if tc.want == errcode.NotFound || tc.want == errcode.Changed {
				return // Tags, Copy and Delete start with a Head
			}
			_, err = d.Tags(ctx, domain.ObjectRef{Bucket: "b", Key: "k", VersionID: "v"})
			wantCode(t, err, tc.want, "Tags")
		})
	}
}

// TestTransportFailures covers what never reaches S3's error handling: a
// refused connection, a cut stream and an ended ctx.
func TestTransportFailures(t *testing.T) {
	ref := domain.ObjectRef{Bucket: "b", Key: "k"}

	t.Run("refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		d, err := s3obj.New(faultClient(t, url), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Head(t.Context(), ref)
		wantCode(t, err, errcode.Unavailable, "Head with the server gone")
	})

	t.Run("cut stream", func(t *testing.T) {
		d := faultDriver(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			w.Header().Set("ETag", `"e"`)
			w.WriteHeader(200)
			w.Write([]byte("only ten b"))
			// Returning with less than Content-Length closes the
			// connection.
		}))
		rc, _, err := d.Open(t.Context(), ref)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer rc.Close()
		_, err = io.ReadAll(rc)
		wantCode(t, err, errcode.Unavailable, "reading a cut stream")
	})

	t.Run("ctx ends", func(t *testing.T) {
		release := make(chan struct{})
		d := faultDriver(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer close(release)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := d.Head(ctx, ref)
		wantCode(t, err, errcode.Unavailable, "Head past its deadline")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Head past its deadline: error %v does not wrap context.DeadlineExceeded", err)
		}
	})
}

func TestNewOptions(t *testing.T) {
	c := faultClient(t, "http://127.0.0.1:1")
	if _, err := s3obj.New(nil, nil); errcode.Of(err) != errcode.Invalid {
		t.Errorf("New(nil client): %v, want Invalid", err)
	}
	for _, o := range []s3obj.Options{
		{MultipartCopyThreshold: -1},
		{MultipartCopyThreshold: 6 << 30},
		{PartSize: 1 << 20},
		{PartSize: 6 << 30},
		{CopyConcurrency: -1},
		{UploadPartSize: 4 << 20},
	} {
		if _, err := s3obj.New(c, &o); errcode.Of(err) != errcode.Invalid {
			t.Errorf("New(%+v): %v, want Invalid", o, err)
		}
	}
	if _, err := s3obj.New(c, &s3obj.Options{}); err != nil {
		t.Errorf("New with zero Options: %v", err)
	}
}
