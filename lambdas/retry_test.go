package lambdas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
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

// sweepEnv is an embedded store on a clock the test moves and a local
// bucket, for sweep tests.
func sweepEnv(t *testing.T) (*store.Store, *localdir.Driver, func(time.Duration)) {
	t.Helper()
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	env := localtest.Open(t, &localtest.Options{Store: &store.Options{Now: clock}})
	return env.Store, env.Bucket, advance
}

// ingested uploads key to the local bucket and records its version,
// pending, with no execution driving it.
func ingested(t *testing.T, st *store.Store, objs *localdir.Driver, key string) *domain.Record {
	t.Helper()
	return localtest.Ingested(t, st, objs, "uploads", key, key)
}

// The sweep rescans a record that failed for a passing reason once it has
// rested, with a doubling rest, within its retry window; other failures
// stay as they are.
func TestSweepRetriesTransientFailures(t *testing.T) {
	st, objs, advance := sweepEnv(t)
	starter := &countingStarter{}
	h, err := lambdas.New(lambdas.Config{Store: st, Objects: objs, Starter: starter, QuarantineBucket: "quarantine"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fail := func(key, reason string) string {
		rec := ingested(t, st, objs, key)
		if _, err := st.ApplyFresh(ctx, rec.ID, store.Transition{Event: "fail", Actor: "test", Reason: reason}, nil); err != nil {
			t.Fatal(err)
		}
		return rec.ID
	}
	transient, internal := fail("down.bin", domain.ReasonClamdUnavailable), fail("bug.bin", domain.ReasonInternal)
	sweep := func() lambdas.SweepResult {
		t.Helper()
		res, err := h.Sweep(ctx, lambdas.SweepRequest{MinAgeSeconds: 3600, RetryFailedAfterSeconds: 600, RetryWindowSeconds: 6 * 3600})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := sweep(); len(res.Retried) != 0 {
		t.Fatalf("retried %v before the record rested", res.Retried)
	}
	// The rests double: 10m, 20m, 40m, ... while the first failure is
	// less than the 6 h window ago.
	rest, waited, retries := 10*time.Minute, time.Duration(0), 0
	for waited+rest <= 6*time.Hour {
		advance(rest - time.Minute)
		if res := sweep(); len(res.Retried) != 0 {
			t.Fatalf("retry %d: retried %v a minute before its %s rest was over", retries+1, res.Retried, rest)
		}
		advance(time.Minute)
		waited += rest
		res := sweep()
		if !slices.Equal(res.Retried, []string{transient}) {
			t.Fatalf("retry %d after %s: retried %v; want only %s", retries+1, waited, res.Retried, transient)
		}
		retries++
		rec, _ := st.Get(ctx, transient)
		if rec.State != domain.StatusPending {
			t.Fatalf("retry %d: state %s; want pending", retries, rec.State)
		}
		// The retry fails again, as it would while clamd stays down.
		if _, err := st.ApplyFresh(ctx, transient, store.Transition{Event: "fail", Actor: "test", Reason: domain.ReasonClamdUnavailable}, nil); err != nil {
			t.Fatal(err)
		}
		rest = min(2*rest, lambdas.MaxRetryRest)
	}
	if retries != 5 {
		t.Errorf("%d automatic retries in the 6 h window; want 5 (after 10m, 20m, 40m, 80m, 160m)", retries)
	}
	advance(lambdas.MaxRetryRest + time.Hour)
	if res := sweep(); len(res.Retried) != 0 || res.GivenUp != 1 {
		t.Errorf("past the window: retried %v, given up %d; want none retried, one given up", res.Retried, res.GivenUp)
	}
	if rec, _ := st.Get(ctx, internal); rec.State != domain.StatusFailed {
		t.Errorf("internal failure: state %s; want it left failed", rec.State)
	}
	if len(starter.ids) != retries {
		t.Errorf("%d workflow starts; want %d", len(starter.ids), retries)
	}
	// A person's rescan starts a new run of failures, with its own window.
	rec, _ := st.Get(ctx, transient)
	if _, err := h.Rescan(ctx, rec.ID, "rita", "clamd is back"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApplyFresh(ctx, transient, store.Transition{Event: "fail", Actor: "test", Reason: domain.ReasonClamdUnavailable}, nil); err != nil {
		t.Fatal(err)
	}
	advance(10 * time.Minute)
	if res := sweep(); !slices.Equal(res.Retried, []string{transient}) {
		t.Errorf("after a person's rescan failed again: retried %v; want %s after the first rest", res.Retried, transient)
	}
}

func TestTransient(t *testing.T) {
	for reason, want := range map[string]bool{
		domain.ReasonClamdUnavailable: true, domain.ReasonSourceError: true, domain.ReasonBackendUnavailable: true,
		domain.ReasonTimeout: true, domain.ReasonStaleSignatures: true, domain.ReasonOffloadFailed: true,
		domain.ReasonQuarantineFailed: true,
		domain.ReasonInternal:         false, domain.ReasonObjectGone: false, domain.ReasonTooLarge: false, domain.ReasonScanError: false,
	} {
		if got := lambdas.Transient(reason); got != want {
			t.Errorf("Transient(%q) = %v; want %v", reason, got, want)
		}
	}
}

// The two lines the alarms on AWS count are written at a log level of
// WARN too: a deployment that quiets its functions keeps its alarms.
func TestSweepAlarmLinesAtWarn(t *testing.T) {
	st, objs, advance := sweepEnv(t)
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := lambdas.New(lambdas.Config{Store: st, Objects: objs, Starter: &countingStarter{}, QuarantineBucket: "quarantine", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(key string) *domain.Record { return ingested(t, st, objs, key) }
	stranded := put("stranded.bin") // pending, and no execution drives it
	failed := put("down.bin")
	if _, err := st.ApplyFresh(ctx, failed.ID, store.Transition{Event: "fail", Actor: "test", Reason: domain.ReasonClamdUnavailable}, nil); err != nil {
		t.Fatal(err)
	}
	advance(2 * time.Hour)
	res, err := h.Sweep(ctx, lambdas.SweepRequest{MinAgeSeconds: 3600, RetryFailedAfterSeconds: 600, RetryWindowSeconds: 1800})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.IDs, stranded.ID) || res.GivenUp != 1 {
		t.Fatalf("sweep: restarted %v, given up %d; want %s restarted and one given up", res.IDs, res.GivenUp, stranded.ID)
	}
	msgs := map[string]bool{}
	for line := range strings.Lines(out.String()) {
		var m struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		msgs[m.Msg] = true
	}
	for _, want := range []string{lambdas.LogSweepRestarted, lambdas.LogFailedGivenUp} {
		if !msgs[want] {
			t.Errorf("no %q line at level WARN; the lines were:\n%s", want, out.String())
		}
	}
}
