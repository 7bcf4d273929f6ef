package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/engine"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// step is one thing a breaker test does, and what it expects after.
type step struct {
	do      string        // "allow", "ok", "fail", "abandon", "wait"
	d       time.Duration // for "wait"
	refused bool          // for "allow": Allow must refuse
	state   string        // the state after the step
	retry   time.Duration // RetryAfter after the step
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	const cool = 30 * time.Second
	allow := step{do: "allow", state: engine.BreakerClosed}
	fail := step{do: "fail", state: engine.BreakerClosed}
	tests := []struct {
		name      string
		threshold int
		cooldown  time.Duration
		steps     []step
	}{
		{
			name: "opens after threshold failures in a row", threshold: 3, cooldown: cool,
			steps: []step{
				allow, fail, allow, fail, allow,
				{do: "fail", state: engine.BreakerOpen, retry: cool},
				{do: "allow", refused: true, state: engine.BreakerOpen, retry: cool},
				{do: "wait", d: 10 * time.Second, state: engine.BreakerOpen, retry: 20 * time.Second},
				{do: "allow", refused: true, state: engine.BreakerOpen, retry: 20 * time.Second},
			},
		},
		{
			name: "a success resets the count", threshold: 3, cooldown: cool,
			steps: []step{
				fail, fail, {do: "ok", state: engine.BreakerClosed}, fail, fail,
				{do: "allow", state: engine.BreakerClosed},
				{do: "fail", state: engine.BreakerOpen, retry: cool},
			},
		},
		{
			name: "half-open after the cooldown lets exactly one probe through", threshold: 1, cooldown: cool,
			steps: []step{
				{do: "fail", state: engine.BreakerOpen, retry: cool},
				{do: "wait", d: cool - time.Nanosecond, state: engine.BreakerOpen, retry: time.Nanosecond},
				{do: "wait", d: time.Nanosecond, state: engine.BreakerHalfOpen},
				{do: "allow", state: engine.BreakerHalfOpen, retry: cool},
				{do: "allow", refused: true, state: engine.BreakerHalfOpen, retry: cool},
				{do: "wait", d: time.Second, state: engine.BreakerHalfOpen, retry: cool - time.Second},
				{do: "ok", state: engine.BreakerClosed},
				allow, allow,
			},
		},
		{
			name: "a failed probe opens it for another cooldown", threshold: 2, cooldown: cool,
			steps: []step{
				fail, {do: "fail", state: engine.BreakerOpen, retry: cool},
				{do: "wait", d: cool, state: engine.BreakerHalfOpen},
				{do: "allow", state: engine.BreakerHalfOpen, retry: cool},
				{do: "wait", d: 5 * time.Second, state: engine.BreakerHalfOpen, retry: cool - 5*time.Second},
				{do: "fail", state: engine.BreakerOpen, retry: cool},
				{do: "allow", refused: true, state: engine.BreakerOpen, retry: cool},
			},
		},
		{
			name: "an abandoned probe lets the next call probe", threshold: 1, cooldown: cool,
			steps: []step{
				{do: "fail", state: engine.BreakerOpen, retry: cool},
				{do: "wait", d: cool, state: engine.BreakerHalfOpen},
				{do: "allow", state: engine.BreakerHalfOpen, retry: cool},
				{do: "abandon", state: engine.BreakerHalfOpen},
				{do: "allow", state: engine.BreakerHalfOpen, retry: cool},
				{do: "ok", state: engine.BreakerClosed},
			},
		},
		{
			name: "a probe silent for a cooldown is presumed lost", threshold: 1, cooldown: cool,
			steps: []step{
				{do: "fail", state: engine.BreakerOpen, retry: cool},
				{do: "wait", d: cool, state: engine.BreakerHalfOpen},
				{do: "allow", state: engine.BreakerHalfOpen, retry: cool},
				{do: "wait", d: cool - time.Millisecond, state: engine.BreakerHalfOpen, retry: time.Millisecond},
				{do: "allow", refused: true, state: engine.BreakerHalfOpen, retry: time.Millisecond},
				{do: "wait", d: time.Millisecond, state: engine.BreakerHalfOpen},
				{do: "allow", state: engine.BreakerHalfOpen, retry: cool},
			},
		},
		{
			name: "a late failure while open does not extend the cooldown", threshold: 1, cooldown: cool,
			steps: []step{
				{do: "fail", state: engine.BreakerOpen, retry: cool},
				{do: "wait", d: 20 * time.Second, state: engine.BreakerOpen, retry: 10 * time.Second},
				{do: "fail", state: engine.BreakerOpen, retry: 10 * time.Second},
				{do: "wait", d: 10 * time.Second, state: engine.BreakerHalfOpen},
			},
		},
		{
			name: "a late success while open closes it", threshold: 1, cooldown: cool,
			steps: []step{
				{do: "fail", state: engine.BreakerOpen, retry: cool},
				{do: "ok", state: engine.BreakerClosed},
				allow,
			},
		},
		{
			name: "defaults: five failures, 30 s",
			steps: []step{
				fail, fail, fail, fail,
				{do: "fail", state: engine.BreakerOpen, retry: 30 * time.Second},
				{do: "wait", d: 30 * time.Second, state: engine.BreakerHalfOpen},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			b := engine.NewBreaker(engine.BreakerOptions{Threshold: tt.threshold, Cooldown: tt.cooldown, Now: clock.Now})
			for i, s := range tt.steps {
				switch s.do {
				case "allow":
					err := b.Allow()
					if refused := err != nil; refused != s.refused {
						t.Fatalf("step %d: Allow() = %v; want refused %v", i, err, s.refused)
					}
					if err != nil && (!errors.Is(err, engine.ErrBreakerOpen) || !errors.Is(err, engine.ErrUnavailable)) {
						t.Fatalf("step %d: Allow() = %v; want ErrBreakerOpen and ErrUnavailable", i, err)
					}
				case "ok":
					b.Record(true)
				case "fail":
					b.Record(false)
				case "abandon":
					b.Abandon()
				case "wait":
					clock.Advance(s.d)
				default:
					t.Fatalf("step %d: unknown %q", i, s.do)
				}
				if got := b.State(); got != s.state {
					t.Fatalf("step %d (%s): State() = %q; want %q", i, s.do, got, s.state)
				}
				if got := b.RetryAfter(); got != s.retry {
					t.Fatalf("step %d (%s): RetryAfter() = %v; want %v", i, s.do, got, s.retry)
				}
			}
		})
	}
}

func TestBreakerOnChange(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var got []string
	b := engine.NewBreaker(engine.BreakerOptions{
		Threshold: 1, Cooldown: time.Second, Now: clock.Now,
		OnChange: func(s string) { got = append(got, s) },
	})
	b.Record(false)
	b.Record(false) // already open: no change
	clock.Advance(time.Second)
	_ = b.Allow() // half-open, probe
	b.Record(false)
	clock.Advance(time.Second)
	_ = b.State()
	b.Record(true)
	want := []string{"open", "half-open", "open", "half-open", "closed"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("OnChange states (-got +want):\n%s", diff)
	}
}

func TestNilBreakerAllowsEverything(t *testing.T) {
	t.Parallel()
	var b *engine.Breaker
	if err := b.Allow(); err != nil {
		t.Fatal(err)
	}
	b.Record(false)
	b.Abandon()
	if b.State() != engine.BreakerClosed || b.RetryAfter() != 0 {
		t.Fatalf("nil breaker: %s, %v", b.State(), b.RetryAfter())
	}
	called := false
	if err := b.Do(context.Background(), func(context.Context) error { called = true; return nil }); err != nil || !called {
		t.Fatalf("Do: %v, called %v", err, called)
	}
}

// TestBreakerDoJudges checks which errors count as engine failures.
func TestBreakerDoJudges(t *testing.T) {
	t.Parallel()
	ctxErr := func(base error) error {
		return fmt.Errorf("clamd: instream: %w: %w", clamd.ErrTimeout, base)
	}
	tests := []struct {
		name string
		err  error
		want string // "success", "failure" or "neither"
	}{
		{"no error", nil, "success"},
		{"stale signatures", fmt.Errorf("engine: old: %w", engine.ErrStale), "success"},
		{"source failed", fmt.Errorf("clamd: instream: %w: %w", clamd.ErrSource, io.ErrUnexpectedEOF), "success"},
		{"clamd unavailable", fmt.Errorf("clamd: dial: %w: refused", clamd.ErrUnavailable), "failure"},
		{"engine unavailable", fmt.Errorf("engine: %w: clamd answered ERROR", engine.ErrUnavailable), "failure"},
		{"io timeout", fmt.Errorf("clamd: read: %w: deadline", clamd.ErrTimeout), "failure"},
		{"protocol", fmt.Errorf("clamd: %w: junk", clamd.ErrProtocol), "failure"},
		{"deadline", ctxErr(context.DeadlineExceeded), "failure"},
		{"caller cancelled", ctxErr(context.Canceled), "neither"},
		{"something else", errors.New("disk on fire"), "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			// One failure opens it; the test starts half-open, so the call
			// is the probe and every outcome shows in the state.
			b := engine.NewBreaker(engine.BreakerOptions{Threshold: 1, Cooldown: time.Second, Now: clock.Now})
			b.Record(false)
			clock.Advance(time.Second)
			err := b.Do(context.Background(), func(context.Context) error { return tt.err })
			if !errors.Is(err, tt.err) && err != tt.err {
				t.Fatalf("Do returned %v; want fn's %v", err, tt.err)
			}
			got := map[string]string{
				engine.BreakerClosed:   "success",
				engine.BreakerOpen:     "failure",
				engine.BreakerHalfOpen: "neither",
			}[b.State()]
			if got != tt.want {
				t.Fatalf("after %v: state %s (%s); want %s", tt.err, b.State(), got, tt.want)
			}
			if got == "neither" {
				if err := b.Allow(); err != nil {
					t.Fatalf("the probe slot was not freed: %v", err)
				}
			}
		})
	}
}

func TestBreakerDoRefusesWithoutCalling(t *testing.T) {
	t.Parallel()
	b := engine.NewBreaker(engine.BreakerOptions{Threshold: 1})
	b.Record(false)
	called := false
	err := b.Do(context.Background(), func(context.Context) error { called = true; return nil })
	if called || !errors.Is(err, engine.ErrBreakerOpen) {
		t.Fatalf("Do while open: called %v, err %v", called, err)
	}
}

// TestBreakerDoNests: an inner Do with the outer call's context is part of
// that call, so a handler and the engine can guard with one breaker.
func TestBreakerDoNests(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := engine.NewBreaker(engine.BreakerOptions{Threshold: 1, Cooldown: time.Second, Now: clock.Now})
	b.Record(false)
	clock.Advance(time.Second) // half-open: one call may go through
	inner := 0
	err := b.Do(context.Background(), func(ctx context.Context) error {
		for range 2 {
			if err := b.Do(ctx, func(context.Context) error { inner++; return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || inner != 2 {
		t.Fatalf("nested Do: %v, inner calls %d; want nil, 2", err, inner)
	}
	if s := b.State(); s != engine.BreakerClosed {
		t.Fatalf("state %s; want closed", s)
	}
	// A failure inside counts once, for the outer call.
	b2 := engine.NewBreaker(engine.BreakerOptions{Threshold: 2})
	_ = b2.Do(context.Background(), func(ctx context.Context) error {
		return b2.Do(ctx, func(context.Context) error { return clamd.ErrUnavailable })
	})
	if s := b2.State(); s != engine.BreakerClosed {
		t.Fatalf("one failed call counted twice: state %s", s)
	}
}

func TestBreakerDoPanicFreesProbe(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := engine.NewBreaker(engine.BreakerOptions{Threshold: 1, Cooldown: time.Second, Now: clock.Now})
	b.Record(false)
	clock.Advance(time.Second)
	func() {
		defer func() { _ = recover() }()
		_ = b.Do(context.Background(), func(context.Context) error { panic("boom") })
	}()
	if err := b.Allow(); err != nil {
		t.Fatalf("probe slot held after a panic: %v", err)
	}
}

// TestBreakerConcurrentProbe: of many callers racing on a half-open
// breaker, exactly one probes.
func TestBreakerConcurrentProbe(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := engine.NewBreaker(engine.BreakerOptions{Threshold: 1, Cooldown: time.Second, Now: clock.Now})
	b.Record(false)
	clock.Advance(time.Second)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if b.Allow() == nil {
				allowed.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := allowed.Load(); n != 1 {
		t.Fatalf("%d callers allowed through a half-open breaker; want 1", n)
	}
}

// TestBreakerConcurrentUse hammers every method at once, for the race
// detector, and checks the breaker still works afterwards.
func TestBreakerConcurrentUse(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := engine.NewBreaker(engine.BreakerOptions{Threshold: 3, Cooldown: time.Millisecond, Now: clock.Now,
		OnChange: func(string) {}})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				switch (g + i) % 5 {
				case 0:
					clock.Advance(time.Millisecond)
				case 1:
					_ = b.Do(context.Background(), func(context.Context) error { return clamd.ErrUnavailable })
				case 2:
					_ = b.Do(context.Background(), func(context.Context) error { return nil })
				case 3:
					_ = b.State()
					_ = b.RetryAfter()
				case 4:
					if b.Allow() == nil {
						b.Abandon()
					}
				}
			}
		}()
	}
	wg.Wait()
	clock.Advance(time.Second)
	if err := b.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if s := b.State(); s != engine.BreakerClosed {
		t.Fatalf("state %s after a success; want closed", s)
	}
}
