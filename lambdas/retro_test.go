package lambdas_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/lambdas"
)

// swappingScanner answers with database db until Refresh, which moves it
// to next (when next is set); it records what the Scan step asked of it.
type swappingScanner struct {
	mu        sync.Mutex
	db, next  string
	refreshes int
	leases    int
}

func (s *swappingScanner) Describe(context.Context) (engine.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return engine.Info{Engine: "ClamAV 1.4.6", DBVersion: s.db, DBTime: time.Now()}, nil
}

func (s *swappingScanner) Instream(_ context.Context, r io.Reader) (clamd.Result, error) {
	n, err := io.Copy(io.Discard, r)
	return clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK", Bytes: n}, err
}

func (s *swappingScanner) Lease(context.Context) (lambdas.Scanner, func(), error) {
	s.mu.Lock()
	s.leases++
	s.mu.Unlock()
	return s, func() {}, nil
}

func (s *swappingScanner) Refresh(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes++
	if s.next != "" {
		s.db = s.next
	}
	return nil
}

// recordingStarter starts nothing; it notes the records it was asked to
// start.
type recordingStarter struct {
	mu  sync.Mutex
	ids []string
}

func (r *recordingStarter) Start(_ context.Context, rec *domain.Record) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, rec.ID)
	return "exec-" + rec.ID, nil
}

// setSource is a fixed current signature set.
type setSource struct{ db string }

func (s setSource) Current(context.Context) (string, error) { return s.db, nil }

// A retro-hunt's rescan never takes a verdict from the database it
// hunts: a scanner that still answers with it is asked to refresh, and
// one that cannot fails the step as stale signatures (retried), while an
// ordinary scan with the same database goes on.
func TestRetroRescanNeedsTheNewDatabase(t *testing.T) {
	tests := []struct {
		name      string
		next      string // what Refresh moves to; "" means it finds nothing newer
		retroFrom string
		wantErr   string
		wantDB    string
	}{
		{name: "refreshed", next: "custom:new", retroFrom: "custom:old", wantDB: "custom:new"},
		{name: "still old", retroFrom: "custom:old", wantErr: lambdas.ErrStaleSignatures},
		{name: "already new", retroFrom: "custom:older", wantDB: "custom:old"},
		{name: "not retro", wantDB: "custom:old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			sc := &swappingScanner{db: "custom:old", next: tt.next}
			h, err := lambdas.New(lambdas.Config{Store: f.st, Objects: f.objs, Scanner: sc, QuarantineBucket: "quarantine", DisableVerdictCache: true})
			if err != nil {
				t.Fatal(err)
			}
			st := f.ingest(t, "report.pdf", "quarterly numbers")
			st.Retro, st.RetroFrom = tt.retroFrom != "", tt.retroFrom
			out, err := h.Scan(t.Context(), st)
			if tt.wantErr != "" {
				if got := lambdas.TypeOf(err); got != tt.wantErr {
					t.Fatalf("Scan error %v (type %q), want type %q", err, got, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if out.Verdict == nil || out.Verdict.DBVersion != tt.wantDB || out.Verdict.Outcome != domain.OutcomeClean {
				t.Fatalf("verdict %+v, want clean with %s", out.Verdict, tt.wantDB)
			}
			if wantRefresh := tt.retroFrom == "custom:old"; (sc.refreshes > 0) != wantRefresh {
				t.Errorf("refreshes = %d, want a refresh: %v", sc.refreshes, wantRefresh)
			}
			if sc.leases == 0 {
				t.Error("the Scan step did not lease the engine it described")
			}
		})
	}
}

// Where nothing scans (the sweep on AWS), the retro-hunt hunts with the
// current set's database: once per new database, rescanning the clean
// versions of older ones within the window, marked as the retro-hunt's so
// that Claim tells the Scan step which database it hunts.
func TestSweepRetroHuntsWithTheCurrentSet(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	// Two versions found clean with database A.
	var ids []string
	for _, key := range []string{"a.txt", "b.txt"} {
		ids = append(ids, f.verdict(t, key, "bytes of "+key).ID)
	}
	starter := &recordingStarter{}
	src := &setSource{db: "custom:abc"} // the fake scanner's: nothing to hunt yet
	h, err := lambdas.New(lambdas.Config{Store: f.st, Objects: f.objs, Starter: starter, Signatures: src, QuarantineBucket: "quarantine"})
	if err != nil {
		t.Fatal(err)
	}
	sweep := func() lambdas.SweepResult {
		t.Helper()
		res, err := h.Sweep(ctx, lambdas.SweepRequest{MinAgeSeconds: 3600, RetroPerSecond: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := sweep(); res.RetroStarted != 0 || len(starter.ids) != 0 {
		t.Fatalf("same database: %+v, started %v; want nothing", res, starter.ids)
	}
	src.db = "custom:def"
	res := sweep()
	if res.RetroDB != "custom:def" || res.RetroCandidates != 2 || res.RetroStarted != 2 || len(starter.ids) != 2 {
		t.Fatalf("new database: %+v, started %v; want both versions rescanned", res, starter.ids)
	}
	if res := sweep(); res.RetroStarted != 0 || len(starter.ids) != 2 {
		t.Fatalf("second sweep with the same database: %+v; want nothing more", res)
	}
	for _, id := range ids {
		rec, err := f.st.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != domain.StatusPending {
			t.Errorf("%s is %s, want pending for its rescan", id, rec.State)
		}
		st, err := f.h.Claim(ctx, asl.Document{ID: id, Object: rec.Object})
		if err != nil {
			t.Fatal(err)
		}
		if !st.Retro || st.RetroFrom != "custom:abc" {
			t.Errorf("Claim of %s: retro %v from %q, want the retro-hunt's rescan of custom:abc", id, st.Retro, st.RetroFrom)
		}
	}
	// A pass cut short by its limit resumes at the next sweep, from the
	// checkpoint, until every candidate has been started.
	f2 := newFixture(t)
	for _, key := range []string{"c.txt", "d.txt", "e.txt"} {
		f2.verdict(t, key, "bytes of "+key)
	}
	starter2 := &recordingStarter{}
	h2, err := lambdas.New(lambdas.Config{Store: f2.st, Objects: f2.objs, Starter: starter2, Signatures: &setSource{db: "custom:new"}, QuarantineBucket: "quarantine"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 1, 1, 0} {
		res, err := h2.Sweep(ctx, lambdas.SweepRequest{MinAgeSeconds: 3600, RetroPerSecond: 1000, RetroLimit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.RetroStarted != want {
			t.Fatalf("sweep %d: %+v, want %d started", i+1, res, want)
		}
	}
	if len(starter2.ids) != 3 {
		t.Fatalf("started %v, want each of the 3 versions once", starter2.ids)
	}
	cp, err := f2.st.Checkpoint(ctx, "retro-hunt")
	if err != nil || cp.State != "done" || cp.Detail != "custom:new" {
		t.Fatalf("checkpoint %+v, %v; want done with custom:new", cp, err)
	}

	// Off: a negative window.
	src.db = "custom:ghi"
	if res, err := h.Sweep(ctx, lambdas.SweepRequest{MinAgeSeconds: 3600, RetroWindowSeconds: -1}); err != nil || res.RetroDB != "" {
		t.Fatalf("retro-hunt off: %+v, %v", res, err)
	}
}

// An idle process hunts too: RetroLoop asks a scanner that can swap
// databases to look for a newer one at every tick, rather than waiting
// for a scan's lease to notice it.
func TestRetroLoopRefreshesTheScanner(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.verdict(t, "idle.txt", "found clean, then nobody uploads")
	// Describe says custom:abc (the fake scanner's) until Refresh.
	sc := &swappingScanner{db: "custom:abc", next: "custom:new"}
	starter := &recordingStarter{}
	h, err := lambdas.New(lambdas.Config{Store: f.st, Objects: f.objs, Scanner: sc, Starter: starter, QuarantineBucket: "quarantine"})
	if err != nil {
		t.Fatal(err)
	}
	loopCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- h.RetroLoop(loopCtx, lambdas.RetroOptions{Window: time.Hour, Every: 10 * time.Millisecond, Rate: 1000})
	}()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		starter.mu.Lock()
		n := len(starter.ids)
		starter.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no retro rescan started; refreshes %d", sc.refreshes)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
