package lambdas_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

type countingStarter struct {
	mu  sync.Mutex
	ids []string
}

func (c *countingStarter) Start(ctx context.Context, rec *domain.Record) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids = append(c.ids, rec.ID)
	return "exec-" + rec.ID, nil
}

// The sweep rescans a record that failed for a passing reason once it has
// rested, at most MaxAutoRetries times; other failures stay as they are.
func TestSweepRetriesTransientFailures(t *testing.T) {
	dir := t.TempDir()
	drv, err := embedded.Open(filepath.Join(dir, "db"), &embedded.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	st := store.New(drv, &store.Options{Now: clock})
	t.Cleanup(func() { st.Close() })
	objs, err := localdir.Open(filepath.Join(dir, "b"), &localdir.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	starter := &countingStarter{}
	h, err := lambdas.New(lambdas.Config{Store: st, Objects: objs, Starter: starter, QuarantineBucket: "quarantine"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fail := func(key, reason string) string {
		ref, err := objs.Put(ctx, "uploads", key, strings.NewReader(key), objects.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rec, _, err := st.Ingest(ctx, ref, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.ApplyFresh(ctx, rec.ID, store.Transition{Event: "fail", Actor: "test", Reason: reason}, nil); err != nil {
			t.Fatal(err)
		}
		return rec.ID
	}
	transient, internal := fail("down.bin", domain.ReasonClamdUnavailable), fail("bug.bin", domain.ReasonInternal)
	sweep := func() lambdas.SweepResult {
		t.Helper()
		res, err := h.Sweep(ctx, lambdas.SweepRequest{MinAgeSeconds: 3600, RetryFailedAfterSeconds: 600})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := sweep(); len(res.Retried) != 0 {
		t.Fatalf("retried %v before the record rested", res.Retried)
	}
	for i := range lambdas.MaxAutoRetries {
		advance(11 * time.Minute)
		res := sweep()
		if !slices.Equal(res.Retried, []string{transient}) {
			t.Fatalf("retry %d: retried %v; want only %s", i+1, res.Retried, transient)
		}
		rec, _ := st.Get(ctx, transient)
		if rec.State != domain.StatusPending {
			t.Fatalf("retry %d: state %s; want pending", i+1, rec.State)
		}
		// The retry fails again, as it would while clamd stays down.
		if _, err := st.ApplyFresh(ctx, transient, store.Transition{Event: "fail", Actor: "test", Reason: domain.ReasonClamdUnavailable}, nil); err != nil {
			t.Fatal(err)
		}
	}
	advance(11 * time.Minute)
	if res := sweep(); len(res.Retried) != 0 {
		t.Errorf("retried %v after %d automatic retries; want none", res.Retried, lambdas.MaxAutoRetries)
	}
	if rec, _ := st.Get(ctx, internal); rec.State != domain.StatusFailed {
		t.Errorf("internal failure: state %s; want it left failed", rec.State)
	}
	if len(starter.ids) != lambdas.MaxAutoRetries {
		t.Errorf("%d workflow starts; want %d", len(starter.ids), lambdas.MaxAutoRetries)
	}
}
