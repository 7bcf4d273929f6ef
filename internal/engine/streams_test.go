package engine_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/engine"
)

// gatedReader counts the streams being read at once and holds each open
// until release closes.
type gatedReader struct {
	r        io.Reader
	started  bool
	inFlight *atomic.Int32
	peak     *atomic.Int32
	release  <-chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if !g.started {
		g.started = true
		n := g.inFlight.Add(1)
		for {
			old := g.peak.Load()
			if n <= old || g.peak.CompareAndSwap(old, n) {
				break
			}
		}
		<-g.release
	}
	n, err := g.r.Read(p)
	if err == io.EOF {
		g.inFlight.Add(-1)
	}
	return n, err
}

// Streams beyond clamd's MaxThreads wait in the engine, not in clamd's
// queue, and every one of them still gets its verdict.
func TestMaxStreamsBoundsConcurrency(t *testing.T) {
	t.Parallel()
	const threads = 2
	d := clamdtest.Start(t, &clamdtest.Options{MaxThreads: threads})
	c := clamdtest.Client(t, d, clamd.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	th, err := c.Threads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(c, engine.Options{MaxStreams: th.Max})
	if err != nil {
		t.Fatal(err)
	}
	if eng.MaxStreams() != threads {
		t.Fatalf("MaxStreams() = %d; want %d from clamd's STATS", eng.MaxStreams(), threads)
	}
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	results := make(chan clamd.Result, 3*threads)
	for range 3 * threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &gatedReader{r: strings.NewReader(clamdtest.EICAR), inFlight: &inFlight, peak: &peak, release: release}
			res, err := eng.Instream(ctx, r)
			if err != nil {
				t.Errorf("Instream: %v", err)
			}
			results <- res
		}()
	}
	// Let every goroutine reach the engine; only threads of them may be
	// reading.
	deadline := time.Now().Add(5 * time.Second)
	for inFlight.Load() < threads && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if got := inFlight.Load(); got != threads {
		t.Errorf("%d streams open before release; want %d", got, threads)
	}
	close(release)
	wg.Wait()
	close(results)
	if p := peak.Load(); p != threads {
		t.Errorf("peak of %d streams at once; want %d", p, threads)
	}
	for res := range results {
		if res.Status != clamd.StatusFound {
			t.Errorf("result %+v; want EICAR found", res)
		}
	}
}

// A stream waiting for a free clamd thread gives up with its context.
func TestMaxStreamsWaitHonoursContext(t *testing.T) {
	t.Parallel()
	d := clamdtest.Start(t, &clamdtest.Options{MaxThreads: 1})
	c := clamdtest.Client(t, d, clamd.Options{})
	eng, err := engine.New(c, engine.Options{MaxStreams: 1})
	if err != nil {
		t.Fatal(err)
	}
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := eng.Instream(t.Context(), &gatedReader{r: strings.NewReader("hello"), inFlight: &inFlight, peak: &peak, release: release})
		done <- err
	}()
	for inFlight.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = eng.Instream(ctx, strings.NewReader("world"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting Instream = %v; want the context's deadline", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("first stream: %v", err)
	}
}
