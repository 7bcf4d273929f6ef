package local

import (
	"context"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
)

// TestRunRetagsAtStart checks that Run, with the embedded store, tags the
// object of a record that a stop left decided clean and untagged. The
// record is decided by the runtime's own handlers before Run starts.
func TestRunRetagsAtStart(t *testing.T) {
	ctx := t.Context()
	env := localtest.Open(t, nil)
	st, objs := env.Store, env.Bucket

	w, hs, err := New(st, lambdas.Config{Store: st, Objects: objs, Scanner: benchScanner{}, QuarantineBucket: "quarantine"},
		WorkflowOptions{SweepEvery: time.Hour, Drain: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rec := localtest.Ingested(t, st, objs, "uploads", "report.txt", "quarterly numbers")
	ref := rec.Object
	if _, err := localtest.Steps(ctx, rec, hs.Claim, hs.Scan, hs.Record); err != nil {
		t.Fatal(err)
	}
	// As a stop between the verdict's commit and its tag write leaves it.
	if err := objs.SetTags(ctx, ref, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	status := func() string {
		t.Helper()
		tags, err := objs.Tags(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return tags[objects.TagStatus]
	}
	if got, err := st.Get(ctx, rec.ID); err != nil || got.State != domain.StatusClean || status() != "" {
		t.Fatalf("before the restart: record %v, %v, object status %q; want clean and untagged", got, err, status())
	}

	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for status() == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if got := status(); got != string(domain.StatusClean) {
		t.Errorf("after the restart the object's status tag is %q, want clean", got)
	}
}
