package console

import (
	"sync"
	"time"
)

// limiter counts failed sign-ins per key (an account name, an address) in
// a sliding window and refuses further attempts once a key has too many.
// A refused attempt does not check the password at all, so guessing
// cannot continue at bcrypt speed; the limit applies to names that do not
// exist as well, so a lock-out does not tell which accounts exist.
type limiter struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	now    func() time.Time
	fails  map[string][]time.Time
	// cap bounds the keys held, so that a flood of addresses cannot
	// exhaust memory; beyond it the oldest key is dropped.
	cap int
}

func newLimiter(max int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{window: window, max: max, now: now, fails: map[string][]time.Time{}, cap: 100000}
}

// retryAfter returns how long key must wait, 0 when it may try now.
func (l *limiter) retryAfter(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.live(key)
	if len(ts) < l.max {
		return 0
	}
	return ts[len(ts)-l.max].Add(l.window).Sub(l.now())
}

// fail records a failed attempt of key.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.live(key)
	if _, ok := l.fails[key]; !ok && len(l.fails) >= l.cap {
		l.evict()
	}
	l.fails[key] = append(ts, l.now())
}

// reset forgets key's failures: a successful sign-in of the account.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

// live drops key's failures older than the window and returns the rest.
func (l *limiter) live(key string) []time.Time {
	ts := l.fails[key]
	cut := l.now().Add(-l.window)
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
		return nil
	}
	// Keep no more than needed to decide.
	if len(ts) > l.max {
		ts = ts[len(ts)-l.max:]
	}
	l.fails[key] = ts
	return ts
}

func (l *limiter) evict() {
	var oldest string
	var at time.Time
	for k, ts := range l.fails {
		if last := ts[len(ts)-1]; oldest == "" || last.Before(at) {
			oldest, at = k, last
		}
	}
	delete(l.fails, oldest)
}
