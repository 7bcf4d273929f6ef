package local

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

// TestRunRetagsAtStart checks that Run, with the embedded store, tags the
// object of a record that a stop left decided clean and untagged. The
// record is decided by the runtime's own handlers before Run starts.
func TestRunRetagsAtStart(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	drv, err := embedded.Open(filepath.Join(dir, "scangate.db"), &embedded.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(drv, nil)
	t.Cleanup(func() { st.Close() })
	objs, err := localdir.Open(filepath.Join(dir, "buckets"), &localdir.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })

	w, hs, err := New(st, lambdas.Config{Store: st, Objects: objs, Scanner: benchScanner{}, QuarantineBucket: "quarantine"},
		WorkflowOptions{SweepEvery: time.Hour, Drain: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := objs.Put(ctx, "uploads", "report.txt", strings.NewReader("quarterly numbers"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := st.Ingest(ctx, ref, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	doc := asl.Document{ID: rec.ID, Object: rec.Object}
	for _, step := range []func(context.Context, asl.Document) (asl.Document, error){hs.Claim, hs.Scan, hs.Record} {
		if doc, err = step(ctx, doc); err != nil {
			t.Fatal(err)
		}
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
