package lambdas_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/stepfunctions"
	"github.com/scangate/scangate/objects"
)

// arnStarter answers Start with the execution ARN the real runner would
// return, so the ingest log line has its real length.
type arnStarter struct{ machine string }

func (s arnStarter) Start(ctx context.Context, rec *domain.Record) (string, error) {
	return stepfunctions.ExecutionARN(s.machine, asl.ExecutionName("scan", rec.Object.Key, rec.ID, stepfunctions.Generation(rec))), nil
}

// TestLogBytesPerObject measures what the handlers write to stdout for one
// clean object on the scan path, as in Lambda (lambdaenv.Main): slog JSON
// lines and the Scan step's CloudWatch EMF lines. The figures are for
// docs/cost.md (run with -v); Lambda's own START/END/REPORT lines come on
// top and are not measured here.
func TestLogBytesPerObject(t *testing.T) {
	ctx := context.Background()
	env := localtest.Open(t, nil)
	st, objs := env.Store, env.Bucket

	var out bytes.Buffer
	h, err := lambdas.New(lambdas.Config{
		Store: st, Objects: objs, QuarantineBucket: "uploads-quarantine",
		Scanner: &fakeScanner{res: clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK"}},
		Starter: arnStarter{machine: "arn:aws:states:us-east-1:123456789012:stateMachine:scangate-scan"},
		Logger:  slog.New(slog.NewJSONHandler(&out, nil)),
		Metrics: metrics.NewEMF(&out, metrics.EMFOptions{}),
		Owner:   "lambda:scangate-scan",
	})
	if err != nil {
		t.Fatal(err)
	}
	// A typical key; every line that names the object carries the
	// bucket, key and versionId, so longer keys add to each of them.
	key := "incoming/2026/05/01/report-0001.pdf"
	ref, err := objs.Put(ctx, "uploads", key, bytes.NewReader(bytes.Repeat([]byte("x"), 1<<20)), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}

	var lines []string
	total := 0
	step := func(name string, fn func() error) {
		before, n := out.Len(), strings.Count(out.String(), "\n")
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, l := out.Len()-before, strings.Count(out.String(), "\n")-n
		total += b
		lines = append(lines, fmt.Sprintf("%-7s %d lines, %4d B", name, l, b))
	}
	var s asl.Document
	step("Ingest", func() error {
		res, err := h.Ingest(ctx, intake.S3Notification(ref))
		if err == nil && len(res.IDs) == 1 {
			s = asl.Document{ID: res.IDs[0], Object: ref}
		}
		return err
	})
	step("Claim", func() (err error) { s, err = h.Claim(ctx, s); return })
	step("Scan", func() (err error) { s, err = h.Scan(ctx, s); return })
	step("Record", func() (err error) { s, err = h.Record(ctx, s); return })
	if s.Status != domain.StatusClean {
		t.Fatalf("status %s, want clean", s.Status)
	}
	t.Logf("clean object (key %d B, versionId %d B): %d B of slog JSON and EMF in total\n  %s\n%s",
		len(key), len(ref.VersionID), total, strings.Join(lines, "\n  "), out.String())
	if total == 0 {
		t.Error("no log output measured")
	}
}
