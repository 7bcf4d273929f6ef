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
