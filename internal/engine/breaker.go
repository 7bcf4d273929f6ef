package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/scangate/scangate/internal/clamd"
)

// ErrBreakerOpen means a Breaker refused a call without trying it: the
// engine failed too often in a row, and the cooldown has not passed. Errors
// that wrap it also wrap ErrUnavailable, so callers that retry on
// ErrUnavailable need no new case.
var ErrBreakerOpen = errors.New("circuit breaker open")

// Breaker states, as State reports them.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

// BreakerOptions configure a Breaker. The zero value is the default.
type BreakerOptions struct {
	// Threshold is how many engine failures in a row open the breaker;
	// 0 means 5.
	Threshold int
	// Cooldown is how long the breaker stays open before it lets one probe
	// through; 0 means 30 s. A probe that has not reported after another
	// Cooldown is presumed lost, and the next call probes instead.
	Cooldown time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnChange, when set, is called with the new state on every change of
	// state. It runs with the breaker's lock held, so that changes are
	// reported in order: it must be quick and must not call the breaker.
	OnChange func(state string)
}

// Breaker is a circuit breaker for the scan engine. After Threshold
// engine failures in a row it opens: Allow refuses every call, without
// dialing clamd, until Cooldown has passed. Then it is half-open and lets
// exactly one call through as a probe: a success closes it, a failure opens
// it again for another Cooldown.
//
// Only failures of the engine count: clamd unreachable, timeouts, protocol
// errors, ERROR replies. A verdict of any kind (infected, a limit), stale
// signatures (clamd answered) and a failing source are the engine working,
// and count as successes. Do applies these rules; callers of Allow and
// Record apply them themselves.
//
// A nil *Breaker allows everything. A Breaker is safe for concurrent use.
type Breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time
	onChange  func(string)

	mu       sync.Mutex
	state    string
	failures int       // engine failures in a row
	openedAt time.Time // when the breaker last opened
	probing  bool      // a half-open probe is under way
	probeAt  time.Time // when it started
}

// NewBreaker returns a closed breaker.
func NewBreaker(opts BreakerOptions) *Breaker {
	b := &Breaker{
		threshold: opts.Threshold,
		cooldown:  opts.Cooldown,
		now:       opts.Now,
		onChange:  opts.OnChange,
		state:     BreakerClosed,
	}
	if b.threshold <= 0 {
		b.threshold = 5
	}
	if b.cooldown <= 0 {
		b.cooldown = 30 * time.Second
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// Allow asks to make one call to the engine. It returns nil when the call
// may go ahead, and then Record or Abandon must follow once it is done; or
// an error wrapping ErrUnavailable and ErrBreakerOpen while the breaker is
// open, or half-open with its probe under way.
func (b *Breaker) Allow() error {
	_, err := b.allow()
	return err
}

// allow is Allow, also saying whether the call is the half-open probe.
func (b *Breaker) allow() (probe bool, err error) {
	if b == nil {
		return false, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.advance(now)
	switch b.state {
	case BreakerClosed:
		return false, nil
	case BreakerHalfOpen:
		if !b.probing || now.Sub(b.probeAt) >= b.cooldown {
			b.probing, b.probeAt = true, now
			return true, nil
		}
	}
	return false, fmt.Errorf("engine: %w: %w after %d failures in a row; retry in %s",
		ErrUnavailable, ErrBreakerOpen, b.failures, b.retryAfter(now).Round(time.Millisecond))
}

// Record reports how an allowed call went for the engine: ok is false only
// for an engine failure. A success closes the breaker from any state; a
// failure opens it after Threshold in a row, and at once when half-open.
func (b *Breaker) Record(ok bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.advance(now)
	if ok {
		b.failures, b.probing = 0, false
		b.set(BreakerClosed)
		return
	}
	b.failures++
	switch b.state {
	case BreakerClosed:
		if b.failures >= b.threshold {
			b.open(now)
		}
	case BreakerHalfOpen:
		b.open(now)
	}
	// Already open: a late failure of a call allowed before the breaker
	// opened does not extend the cooldown.
}

// Abandon ends an allowed call whose outcome says nothing about the engine
// (the caller gave up, say). It counts neither way; a half-open breaker
// lets its next call probe.
func (b *Breaker) Abandon() { b.release(true) }

func (b *Breaker) release(probe bool) {
	if b == nil || !probe {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerHalfOpen {
		b.probing = false
	}
}

// State returns BreakerClosed, BreakerOpen or BreakerHalfOpen. A nil
// breaker is always closed.
func (b *Breaker) State() string {
	if b == nil {
		return BreakerClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(b.now())
	return b.state
}

// RetryAfter returns how long until Allow may let a call through again: 0
// when closed, or half-open with no probe under way; the rest of the
// cooldown when open; until the probe under way is presumed lost when
// half-open.
func (b *Breaker) RetryAfter() time.Duration {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.advance(now)
	return b.retryAfter(now)
}

func (b *Breaker) retryAfter(now time.Time) time.Duration {
	switch {
	case b.state == BreakerOpen:
		return max(b.openedAt.Add(b.cooldown).Sub(now), 0)
	case b.state == BreakerHalfOpen && b.probing:
		return max(b.probeAt.Add(b.cooldown).Sub(now), 0)
	}
	return 0
}

// advance turns an open breaker whose cooldown has passed half-open.
func (b *Breaker) advance(now time.Time) {
	if b.state == BreakerOpen && !now.Before(b.openedAt.Add(b.cooldown)) {
		b.probing = false
		b.set(BreakerHalfOpen)
	}
}

func (b *Breaker) open(now time.Time) {
	b.openedAt, b.probing = now, false
	b.set(BreakerOpen)
}

func (b *Breaker) set(state string) {
	if b.state == state {
		return
	}
	b.state = state
	if b.onChange != nil {
		b.onChange(state)
	}
}

// admittedKey marks a context whose call a Breaker already admitted.
type admittedKey struct{}

// Do runs fn as one call under the breaker: Allow, fn, then Record or
// Abandon according to fn's error:
//
//   - nil, or an error wrapping ErrStale or clamd.ErrSource: a success
//     (clamd answered, or the source failed, not the engine);
//   - clamd.ErrUnavailable, clamd.ErrTimeout, clamd.ErrProtocol,
//     ErrUnavailable, context.DeadlineExceeded: a failure;
//   - context.Canceled (the caller gave up) and anything else: neither.
//
// fn that gets a clamd ERROR reply should return an error wrapping
// ErrUnavailable, so that it counts.
//
// Calls nest: Do inside fn with the context fn was given runs the inner
// function directly, as part of the outer call, so that a handler and the
// engine under it can both guard with the same breaker. When the breaker
// refuses, Do returns Allow's error without calling fn. A nil breaker
// calls fn.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	if b == nil {
		return fn(ctx)
	}
	if held, _ := ctx.Value(admittedKey{}).(*Breaker); held == b {
		return fn(ctx)
	}
	probe, err := b.allow()
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done { // fn panicked
			b.release(probe)
		}
	}()
	err = fn(context.WithValue(ctx, admittedKey{}, b))
	done = true
	switch judge(err) {
	case healthy:
		b.Record(true)
	case failing:
		b.Record(false)
	default:
		b.release(probe)
	}
	return err
}

type health int

const (
	unknown health = iota
	healthy
	failing
)

// judge says what a call's error tells about the engine (see Do).
func judge(err error) health {
	switch {
	case err == nil, errors.Is(err, ErrStale), errors.Is(err, clamd.ErrSource):
		return healthy
	case errors.Is(err, context.Canceled), errors.Is(err, ErrBreakerOpen):
		return unknown
	case errors.Is(err, clamd.ErrUnavailable), errors.Is(err, clamd.ErrTimeout),
		errors.Is(err, clamd.ErrProtocol), errors.Is(err, ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded):
		return failing
	}
	return unknown
}
