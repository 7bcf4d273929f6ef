package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/scangate/scangate/internal/clamd"
)

// Scanner scans streams and names the database that answers them.
type Scanner interface {
	// Instream scans r as one stream.
	Instream(ctx context.Context, r io.Reader) (clamd.Result, error)
	// Describe names the engine and signature database that answer, and
	// fails with ErrStale when the database is too old to trust.
	Describe(ctx context.Context) (Info, error)
}

// Leaser is a Scanner whose engine can be replaced while it runs. Lease
// returns one engine for one scan, kept until release, so that the
// database a verdict names is the one that answered it.
type Leaser interface {
	Lease(ctx context.Context) (Scanner, func(), error)
}

// Refresher is a Scanner that can look for a newer signature database
// than the one it answers with, and load it. Refresh returns when the
// newest one answers, or when ctx ends.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// Generation is one clamd on one signature database that does not change
// while it runs: a folder of its own, which nothing else writes.
type Generation struct {
	// Scanner scans with this generation's clamd.
	Scanner Scanner
	// Client is its clamd's client, for health checks; nil when the
	// generation's clamd is not up yet.
	Client *clamd.Client
	// Ready, when set, waits until the generation can scan (a clamd
	// loading its database in the background) and reports why it cannot.
	Ready func(ctx context.Context) error
	// ID names the database loaded, as Source.Latest names it; it is
	// read once Ready returned.
	ID func() string
	// Stop stops the generation's clamd and frees its folder.
	Stop func()

	refs sync.WaitGroup
}

func (g *Generation) ready(ctx context.Context) error {
	if g.Ready == nil {
		return nil
	}
	return g.Ready(ctx)
}

// Source is where signature databases come from: the signatures bucket's
// current set on AWS, a directory on one machine.
type Source interface {
	// Latest names the newest database; "" when there is none yet.
	Latest(ctx context.Context) (string, error)
	// Start starts generation n on the newest database, in a folder of
	// its own. It may return before the generation can scan (see
	// Generation.Ready).
	Start(ctx context.Context, n int) (*Generation, error)
}

// GenerationsOptions configure Generations. The zero value is the default.
type GenerationsOptions struct {
	// Every is how often a lease looks for a newer database (in the
	// background); 0 means 5 minutes.
	Every time.Duration
	// SwapTimeout bounds starting a generation; 0 means 10 minutes.
	SwapTimeout time.Duration
	// OneAtATime stops the old generation before the new one starts, for
	// a host that cannot hold two databases: a Lambda environment, which
	// runs one scan at a time anyway. New leases wait until the new
	// generation can scan (the database's load, some 20 to 40 s with the
	// official one), instead of scanning with the old one meanwhile.
	OneAtATime bool
	// RetryFailed, with OneAtATime, is how soon after the last check a
	// lease that finds the generation unable to scan (its start failed:
	// there is no older one to fall back on) starts another check and
	// waits for it, instead of failing until the next check is due; 0
	// means 30 seconds.
	RetryFailed time.Duration
	Logger      *slog.Logger
}

// Generations scans with one generation at a time and swaps in a new one
// when the source has a newer database. The new generation's clamd loads
// the new database while the old one keeps scanning; once it answers, new
// scans lease it, and the old one stops when its last scan ends.
//
// Every generation only ever sees its own folder, so the database a
// verdict names (read from that folder) is the one that answered. clamd's
// RELOAD of a folder that is updated in place cannot promise that: while
// clamd reloads, the folder holds the new files and clamd answers with the
// old ones, and a retro-hunt's rescan in that moment would be recorded
// under the new database without its signatures. The price is two
// databases in memory and on disk during a swap, or, with
// GenerationsOptions.OneAtATime, scans that wait for the new one's load.
type Generations struct {
	src  Source
	opts GenerationsOptions

	mu      sync.Mutex
	cur     *Generation
	n       int
	checked time.Time
	swap    chan struct{} // non-nil while a check runs; closed at its end
	// between is non-nil while a one-at-a-time swap has no generation to
	// lease: closed when the new one is in place.
	between chan struct{}
	closed  bool
	retired sync.WaitGroup
}

var (
	_ Leaser    = (*Generations)(nil)
	_ Refresher = (*Generations)(nil)
)

// NewGenerations starts generation 0 from src.
func NewGenerations(ctx context.Context, src Source, opts GenerationsOptions) (*Generations, error) {
	if opts.Every <= 0 {
		opts.Every = 5 * time.Minute
	}
	if opts.SwapTimeout <= 0 {
		opts.SwapTimeout = 10 * time.Minute
	}
	if opts.RetryFailed <= 0 {
		opts.RetryFailed = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	g, err := src.Start(ctx, 0)
	if err != nil {
		return nil, err
	}
	return &Generations{src: src, opts: opts, cur: g, checked: time.Now()}, nil
}

// Lease returns the current generation's scanner for one scan. When a
// check is due it starts one in the background: this scan does not wait
// for it. During a one-at-a-time swap it waits for the new generation to
// be able to scan, or for ctx to end; and when that generation cannot
// (its start failed), it starts a new check and waits for it once, at
// most every RetryFailed.
func (s *Generations) Lease(ctx context.Context) (Scanner, func(), error) {
	retried := false
	for {
		s.mu.Lock()
		if between := s.between; between != nil {
			s.mu.Unlock()
			select {
			case <-between:
				continue
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("engine: waiting for a new signature database to load: %w: %w", ErrUnavailable, context.Cause(ctx))
			}
		}
		g := s.cur
		g.refs.Add(1)
		due := s.swap == nil && !s.closed && time.Since(s.checked) >= s.opts.Every
		s.mu.Unlock()
		if due {
			s.check()
		}
		var once sync.Once
		release := func() { once.Do(g.refs.Done) }
		if !s.opts.OneAtATime {
			return g.Scanner, release, nil
		}
		// The generation may still be loading (it was put in place
		// before its load, the old one being gone).
		err := g.ready(ctx)
		if err == nil {
			return g.Scanner, release, nil
		}
		release()
		if retried || ctx.Err() != nil || !s.retryDue() {
			return nil, nil, err
		}
		retried = true
		select {
		case <-s.check():
		case <-ctx.Done():
			return nil, nil, err
		}
	}
}

// retryDue reports whether a lease that found the generation unable to
// scan may start a check now.
func (s *Generations) retryDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && (s.swap != nil || time.Since(s.checked) >= s.opts.RetryFailed)
}

// Describe and Instream serve callers that do not lease (health checks,
// one-off scans): they use the current generation.
func (s *Generations) Describe(ctx context.Context) (Info, error) {
	sc, release, err := s.Lease(ctx)
	if err != nil {
		return Info{}, err
	}
	defer release()
	return sc.Describe(ctx)
}

// Instream scans r with the current generation.
func (s *Generations) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	sc, release, err := s.Lease(ctx)
	if err != nil {
		return clamd.Result{}, err
	}
	defer release()
	return sc.Instream(ctx, r)
}

// Client returns the current generation's clamd client, or nil.
func (s *Generations) Client() *clamd.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.Client
}

// Ping asks the current generation's clamd whether it answers.
func (s *Generations) Ping(ctx context.Context) error {
	c := s.Client()
	if c == nil {
		return fmt.Errorf("engine: clamd is still starting: %w", ErrUnavailable)
	}
	return c.Ping(ctx)
}

// Current returns the generation scans lease now.
func (s *Generations) Current() *Generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Refresh looks for a newer database now and waits until the newest one
// answers, or ctx ends. With OneAtATime, a caller must not hold a lease
// while it waits: the swap waits for that lease to end.
func (s *Generations) Refresh(ctx context.Context) error {
	done := s.check()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("engine: waiting for a newer signature database: %w", context.Cause(ctx))
	}
}

// check starts a check unless one runs, and returns the channel closed
// when that check (and the swap it makes) ends.
func (s *Generations) check() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.swap != nil {
		return s.swap
	}
	done := make(chan struct{})
	if s.closed {
		close(done)
		return done
	}
	s.swap, s.checked = done, time.Now()
	cur := s.cur
	go func() {
		defer func() {
			s.mu.Lock()
			s.swap = nil
			s.mu.Unlock()
			close(done)
		}()
		if err := s.renew(cur); err != nil {
			s.opts.Logger.Warn("signature database check failed; the loaded database keeps answering", "err", err)
		}
	}()
	return done
}

// renew swaps in a generation on the newest database when cur holds
// another (or none: a generation that failed to start).
func (s *Generations) renew(cur *Generation) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.SwapTimeout)
	defer cancel()
	latest, err := s.src.Latest(ctx)
	if err != nil {
		return err
	}
	if latest == "" {
		return nil
	}
	if cur.Ready != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		rctx, rcancel := context.WithTimeout(ctx, time.Millisecond)
		err := cur.Ready(rctx)
		rcancel()
		if errors.Is(err, context.DeadlineExceeded) {
			// Still loading the database it found moments ago.
			return nil
		}
		if err == nil && cur.ID() == latest {
			return nil
		}
	} else if cur.ID() == latest {
		return nil
	}
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	if s.opts.OneAtATime {
		return s.replace(ctx, n, latest)
	}
	g, err := s.src.Start(ctx, n)
	if err != nil {
		return err
	}
	if err := g.ready(ctx); err != nil {
		g.Stop()
		return fmt.Errorf("engine: database %s: %w", latest, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		g.Stop()
		return nil
	}
	old := s.cur
	s.cur = g
	s.retired.Add(1)
	s.mu.Unlock()
	s.opts.Logger.Info("signature database swapped in", "database", g.ID(), "generation", n)
	go func() {
		defer s.retired.Done()
		old.refs.Wait()
		old.Stop()
	}()
	return nil
}

// replace is a one-at-a-time swap: new leases wait, the old generation
// stops once its scans end, and generation n starts in its place. A
// generation that fails to start is put in place all the same, as one
// that cannot scan: scans fail as unavailable (and are retried) until a
// later check starts another.
func (s *Generations) replace(ctx context.Context, n int, latest string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	between := make(chan struct{})
	old := s.cur
	s.between = between
	s.mu.Unlock()
	old.refs.Wait()
	old.Stop()
	g, err := s.src.Start(ctx, n)
	if err != nil {
		err = fmt.Errorf("engine: database %s: %w", latest, err)
		g = unavailable(err)
	}
	s.mu.Lock()
	s.cur, s.between = g, nil
	s.mu.Unlock()
	close(between)
	if err == nil {
		s.opts.Logger.Info("signature database swapped in, one at a time", "database", latest, "generation", n)
	}
	return err
}

// unavailable is a generation that cannot scan because it failed to start.
func unavailable(err error) *Generation {
	return &Generation{
		Scanner: failedScanner{err},
		Ready:   func(context.Context) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) },
		ID:      func() string { return "" },
		Stop:    func() {},
	}
}

type failedScanner struct{ err error }

func (f failedScanner) Instream(context.Context, io.Reader) (clamd.Result, error) {
	return clamd.Result{}, fmt.Errorf("%w: %w", ErrUnavailable, f.err)
}

func (f failedScanner) Describe(context.Context) (Info, error) {
	return Info{}, fmt.Errorf("%w: %w", ErrUnavailable, f.err)
}

// Close stops the current generation, after a swap in progress and the
// retirement of the previous ones.
func (s *Generations) Close() {
	s.mu.Lock()
	s.closed = true
	done := s.swap
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	s.retired.Wait()
	s.mu.Lock()
	g := s.cur
	s.mu.Unlock()
	g.Stop()
}
