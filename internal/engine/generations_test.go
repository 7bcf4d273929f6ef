package engine_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/engine"
)

// namedScanner answers every stream clean, naming its database.
type namedScanner struct{ db string }

func (s namedScanner) Instream(_ context.Context, r io.Reader) (clamd.Result, error) {
	_, err := io.Copy(io.Discard, r)
	return clamd.Result{Status: clamd.StatusClean}, err
}

func (s namedScanner) Describe(context.Context) (engine.Info, error) {
	return engine.Info{DBVersion: s.db}, nil
}

// fakeSource holds a database name that tests change; Start fails while
// fail is set.
type fakeSource struct {
	mu      sync.Mutex
	latest  string
	fail    error
	starts  atomic.Int32
	stopped sync.Map // database name -> true once its generation stopped
}

func (s *fakeSource) Latest(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest, nil
}

func (s *fakeSource) set(db string, fail error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest, s.fail = db, fail
}

func (s *fakeSource) Start(context.Context, int) (*engine.Generation, error) {
	s.starts.Add(1)
	s.mu.Lock()
	db, fail := s.latest, s.fail
	s.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return &engine.Generation{
		Scanner: namedScanner{db},
		ID:      func() string { return db },
		Stop:    func() { s.stopped.Store(db, true) },
	}, nil
}

func (s *fakeSource) isStopped(db string) bool {
	_, ok := s.stopped.Load(db)
	return ok
}

func describe(t *testing.T, sc engine.Scanner) string {
	t.Helper()
	info, err := sc.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.DBVersion
}

func TestGenerations(t *testing.T) {
	src := &fakeSource{latest: "a"}
	g, err := engine.NewGenerations(t.Context(), src, engine.GenerationsOptions{Every: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// Unchanged: no new generation.
	if err := g.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if n := src.starts.Load(); n != 1 {
		t.Fatalf("%d starts with an unchanged database, want 1", n)
	}

	// A new database whose generation fails to start: the old one keeps
	// answering.
	src.set("b", errors.New("clamd would not start"))
	if err := g.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if db := describe(t, g); db != "a" {
		t.Fatalf("after a failed start the scanner names %q, want a", db)
	}

	// It starts: a scan that leased the old one keeps it until release,
	// and the old one stops only then.
	old, release, err := g.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src.set("b", nil)
	// Concurrent checks share one swap.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := g.Refresh(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if db := describe(t, g); db != "b" {
		t.Fatalf("after the swap the scanner names %q, want b", db)
	}
	if db := describe(t, old); db != "a" {
		t.Fatalf("the old lease names %q, want a", db)
	}
	if n := src.starts.Load(); n != 3 {
		t.Errorf("%d starts, want 3 (a, the failed b, b)", n)
	}
	time.Sleep(20 * time.Millisecond)
	if src.isStopped("a") {
		t.Fatal("the old generation stopped while a scan held it")
	}
	release()
	release() // a second release changes nothing
	deadline := time.Now().Add(5 * time.Second)
	for !src.isStopped("a") {
		if time.Now().After(deadline) {
			t.Fatal("the old generation did not stop after its last scan")
		}
		time.Sleep(time.Millisecond)
	}

	// Close stops the current one.
	g.Close()
	if !src.isStopped("b") {
		t.Error("Close left the current generation running")
	}
}

// A lease starts a check when one is due, in the background.
func TestGenerationsCheckOnLease(t *testing.T) {
	src := &fakeSource{latest: "a"}
	g, err := engine.NewGenerations(t.Context(), src, engine.GenerationsOptions{Every: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	src.set("b", nil)
	deadline := time.Now().Add(5 * time.Second)
	for describe(t, g) != "b" {
		if time.Now().After(deadline) {
			t.Fatal("leases never swapped in the newer database")
		}
		time.Sleep(time.Millisecond)
	}
}

// One at a time: the old generation stops before the new one starts, and
// leases taken meanwhile wait for the new one rather than scan with the
// old one or fail; a failed start leaves a generation that refuses scans
// as unavailable until a later check starts one that works.
func TestGenerationsOneAtATime(t *testing.T) {
	src := &fakeSource{latest: "a"}
	live := &liveCount{}
	g, err := engine.NewGenerations(t.Context(), counting{src, live}, engine.GenerationsOptions{Every: time.Hour, OneAtATime: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	held, release, err := g.Lease(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer release() // a failure below must not leave Close waiting for it
	src.set("b", nil)
	refreshed := make(chan error, 1)
	go func() { refreshed <- g.Refresh(t.Context()) }()

	// The old generation keeps its scan: it is not stopped under it.
	time.Sleep(50 * time.Millisecond)
	if src.isStopped("a") {
		t.Fatal("the old generation stopped while a scan held it")
	}
	if got := describe(t, held); got != "a" {
		t.Fatalf("the held scanner answers with %q, want a", got)
	}
	// A lease taken now waits for the new generation.
	leased := make(chan string, 1)
	go func() {
		sc, rel, err := g.Lease(t.Context())
		if err != nil {
			leased <- "error: " + err.Error()
			return
		}
		defer rel()
		leased <- describe(t, sc)
	}()
	select {
	case got := <-leased:
		t.Fatalf("a lease during the swap returned %q before the old scan ended", got)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-refreshed; err != nil {
		t.Fatal(err)
	}
	if got := <-leased; got != "b" {
		t.Fatalf("the waiting lease got %q, want b", got)
	}
	if !src.isStopped("a") {
		t.Error("the old generation was not stopped")
	}
	if n := live.n.Load(); n != 1 {
		t.Errorf("%d generations live, want 1", n)
	}
	if max := live.max.Load(); max > 1 {
		t.Errorf("%d generations were live at once, want 1", max)
	}

	// A start that fails: scans are refused as unavailable, then a later
	// check recovers.
	src.set("c", errors.New("the set's download failed"))
	if err := g.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Describe(t.Context()); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("after a failed start: %v, want ErrUnavailable", err)
	}
	src.set("c", nil)
	if err := g.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, g); got != "c" {
		t.Fatalf("after the retry: %q, want c", got)
	}

	// A lease whose context ends while it waits fails as unavailable.
	held2, release2, err := g.Lease(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer release2()
	_ = held2
	src.set("d", nil)
	go func() { _ = g.Refresh(context.Background()) }() // the swap waits for held
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := g.Lease(ctx); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("a lease that timed out waiting: %v, want ErrUnavailable", err)
	}
}

// liveCount counts the generations started and not stopped, and the most
// alive at once.
type liveCount struct{ n, max atomic.Int32 }

// counting wraps a source to count its generations.
type counting struct {
	*fakeSource
	live *liveCount
}

func (c counting) Start(ctx context.Context, n int) (*engine.Generation, error) {
	gen, err := c.fakeSource.Start(ctx, n)
	if err != nil {
		return nil, err
	}
	now := c.live.n.Add(1)
	for {
		m := c.live.max.Load()
		if now <= m || c.live.max.CompareAndSwap(m, now) {
			break
		}
	}
	stop := gen.Stop
	gen.Stop = func() { stop(); c.live.n.Add(-1) }
	return gen, nil
}

// One at a time, a lease that finds the generation unable to scan after a
// failed start does not fail until the next check is due: past
// RetryFailed it starts a check and waits for it.
func TestGenerationsOneAtATimeRetriesAFailedStart(t *testing.T) {
	src := &fakeSource{latest: "a"}
	g, err := engine.NewGenerations(t.Context(), src, engine.GenerationsOptions{
		Every: time.Hour, OneAtATime: true, RetryFailed: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	src.set("b", errors.New("the set's download failed"))
	if err := g.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Within RetryFailed of that check: refused, without a new start.
	starts := src.starts.Load()
	if _, err := g.Describe(t.Context()); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("right after the failed start: %v, want ErrUnavailable", err)
	}
	if n := src.starts.Load(); n != starts {
		t.Errorf("%d starts within RetryFailed of the last check, want none", n-starts)
	}
	src.set("b", nil)
	time.Sleep(30 * time.Millisecond)
	if got := describe(t, g); got != "b" {
		t.Fatalf("a lease past RetryFailed: %q, want b", got)
	}
}
