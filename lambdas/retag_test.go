package lambdas_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
)

// stopBeforeTags fails every tag write, as a process that stops between a
// verdict's commit and its tag write leaves things.
type stopBeforeTags struct{ objects.Driver }

func (stopBeforeTags) SetTags(context.Context, domain.ObjectRef, map[string]string) error {
	return errors.New("stopped")
}

// TestRetag checks that Retag tags the objects of records decided clean
// but left untagged, within its window back from the newest decision (not
// from now: a machine can stay down for days), passes over a version that
// is gone and objects already tagged, and changes nothing the second time.
func TestRetag(t *testing.T) {
	ctx := t.Context()
	st, objs, advance := sweepEnv(t)
	recent, ok := st.Driver().(lambdas.RecentRecords)
	if !ok {
		t.Fatal("the embedded driver lists no records by time")
	}
	handlers := func(o objects.Driver) *lambdas.Handlers {
		sc := &fakeScanner{res: clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK"}}
		h, err := lambdas.New(lambdas.Config{Store: st, Objects: o, Scanner: sc, QuarantineBucket: "quarantine", DisableVerdictCache: true})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h, stopped := handlers(objs), handlers(stopBeforeTags{objs})
	run := func(h *lambdas.Handlers, key string) domain.ObjectRef {
		t.Helper()
		rec := ingested(t, st, objs, key)
		// A stopped Record fails; its verdict is committed all the same.
		_, _ = localtest.Steps(ctx, rec, h.Claim, h.Scan, h.Record)
		if got, err := st.Get(ctx, rec.ID); err != nil || got.State != domain.StatusClean {
			t.Fatalf("%s: record %v, %v; want clean", key, got, err)
		}
		return rec.Object
	}
	status := func(ref domain.ObjectRef) string {
		t.Helper()
		tags, err := objs.Tags(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return tags[objects.TagStatus]
	}
	older := run(stopped, "older.txt")
	advance(2 * time.Hour)
	untagged := run(stopped, "untagged.txt")
	tagged := run(h, "tagged.txt")
	deleted := run(stopped, "deleted.txt")
	if err := objs.Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	if got := status(untagged); got != "" {
		t.Fatalf("the stopped Record tagged its object %q", got)
	}

	// The store's clock stands weeks before the wall clock: a window
	// back from now would hold none of these records.
	if n, err := h.Retag(ctx, recent, time.Hour, 100); err != nil || n != 1 {
		t.Errorf("Retag of the last hour's decisions = %d, %v; want 1, nil", n, err)
	}
	if got := status(untagged); got != string(domain.StatusClean) {
		t.Errorf("untagged object's status tag = %q, want clean", got)
	}
	if got := status(older); got != "" {
		t.Errorf("a record decided outside the window was retagged: %q", got)
	}
	if got := status(tagged); got != string(domain.StatusClean) {
		t.Errorf("tagged object's status tag = %q, want clean", got)
	}
	if n, err := h.Retag(ctx, recent, time.Hour, 100); err != nil || n != 0 {
		t.Errorf("second Retag = %d, %v; want 0, nil", n, err)
	}
	if n, err := h.Retag(ctx, recent, 3*time.Hour, 100); err != nil || n != 1 {
		t.Errorf("Retag of three hours = %d, %v; want 1 (the older record), nil", n, err)
	}
}
