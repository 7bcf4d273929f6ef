// Package engine is scangate's scan engine: a clamd client plus the
// knowledge of which signature database answers and whether it may still be
// trusted. It refuses to scan with a database older than the configured age
// (ErrStale): a verdict from months-old signatures is not one scangate will
// stand behind.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/scangate/scangate/internal/clamd"
)

// Errors the Scan step maps onto workflow error types.
var (
	// ErrStale: the signature database is older than MaxAge.
	ErrStale = errors.New("signature database is stale")
	// ErrUnavailable: the engine cannot scan now (clamd down, breaker
	// open).
	ErrUnavailable = errors.New("scan engine unavailable")
)

// Info names what answers a scan.
type Info struct {
	Engine    string    `json:"engine"`
	DBVersion string    `json:"dbVersion"`
	DBTime    time.Time `json:"dbTime"`
	// DevSignatures is true when staleness is waived for test signatures.
	DevSignatures bool `json:"devSignatures,omitempty"`
}

// Options configure an Engine. The zero value is the default.
type Options struct {
	// DatabaseDir is the directory clamd loads. When empty (a clamd run by
	// someone else), the database is described from clamd's VERSION reply,
	// which dates official databases only: custom signatures then count as
	// undated, hence stale outside DevMode.
	DatabaseDir string
	// MaxAge is the oldest database scans are allowed with; 0 means 24h.
	MaxAge time.Duration
	// DevMode waives the age check for custom (non-official) signatures
	// only. Official databases are always checked.
	DevMode bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Refresh is how long a database description is cached; 0 means 30s.
	Refresh time.Duration
	// Breaker, when set, guards every call that dials clamd (Instream, and
	// Describe when it must ask clamd): while it is open they fail at once
	// with an error wrapping ErrUnavailable and ErrBreakerOpen, without
	// dialing. One breaker may be shared with callers that guard a larger
	// call with Breaker.Do: the engine's calls inside count as part of it.
	Breaker *Breaker
	// MaxStreams bounds concurrent Instream calls; 0 means no bound. Set it
	// to clamd's MaxThreads: a stream beyond that waits in clamd's queue
	// with its connection open and its bytes unread, where clamd's
	// ReadTimeout can cut it off. Waiting here instead costs nothing and
	// honours the caller's context.
	MaxStreams int
}

// Engine scans through a clamd client.
type Engine struct {
	client *clamd.Client
	opts   Options

	streams chan struct{} // one token per stream in flight; nil: unbounded

	mu      sync.Mutex
	info    Info
	readAt  time.Time
	lastErr error
}

// New returns an engine over client.
func New(client *clamd.Client, opts Options) (*Engine, error) {
	if client == nil {
		return nil, fmt.Errorf("engine: a clamd client is required")
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 30 * time.Second
	}
	e := &Engine{client: client, opts: opts}
	if opts.MaxStreams > 0 {
		e.streams = make(chan struct{}, opts.MaxStreams)
	}
	return e, nil
}

// MaxStreams returns the bound on concurrent streams, 0 when unbounded.
func (e *Engine) MaxStreams() int { return cap(e.streams) }

// Client returns the clamd client.
func (e *Engine) Client() *clamd.Client { return e.client }

// Breaker returns the breaker guarding the engine, or nil.
func (e *Engine) Breaker() *Breaker { return e.opts.Breaker }

// errReply marks a clamd ERROR reply for the breaker: an engine failure,
// though Instream returns it as a Result, for Classify.
var errReply = fmt.Errorf("engine: clamd answered ERROR: %w", ErrUnavailable)

// Instream scans r. While the breaker is open it fails at once with an
// error wrapping ErrUnavailable and ErrBreakerOpen.
func (e *Engine) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	if e.streams != nil {
		select {
		case e.streams <- struct{}{}:
			defer func() { <-e.streams }()
		case <-ctx.Done():
			return clamd.Result{}, fmt.Errorf("engine: waiting for one of %d clamd threads: %w", cap(e.streams), context.Cause(ctx))
		}
	}
	var res clamd.Result
	err := e.opts.Breaker.Do(ctx, func(ctx context.Context) error {
		var err error
		res, err = e.client.Instream(ctx, r)
		if err == nil && res.Status == clamd.StatusError {
			return errReply
		}
		return err
	})
	if errors.Is(err, errReply) {
		err = nil
	}
	return res, err
}

// Describe returns the engine and database that answer, or ErrStale.
func (e *Engine) Describe(ctx context.Context) (Info, error) {
	now := e.opts.Now()
	e.mu.Lock()
	fresh := !e.readAt.IsZero() && now.Sub(e.readAt) < e.opts.Refresh
	info, lastErr := e.info, e.lastErr
	e.mu.Unlock()
	if !fresh || lastErr != nil {
		// Failures are not cached: the next scan after clamd comes back
		// must see it back.
		info, lastErr = e.describe(ctx)
		e.mu.Lock()
		e.info, e.lastErr = info, lastErr
		if lastErr == nil {
			e.readAt = now
		}
		e.mu.Unlock()
	}
	if lastErr != nil {
		return Info{}, lastErr
	}
	if !info.DevSignatures && now.Sub(info.DBTime) > e.opts.MaxAge {
		return info, fmt.Errorf("engine: database %s built %s is older than %s: %w",
			info.DBVersion, info.DBTime.Format(time.RFC3339), e.opts.MaxAge, ErrStale)
	}
	return info, nil
}

func (e *Engine) describe(ctx context.Context) (Info, error) {
	var ver string
	err := e.opts.Breaker.Do(ctx, func(ctx context.Context) error {
		var err error
		ver, err = e.client.Version(ctx)
		return err
	})
	if errors.Is(err, ErrBreakerOpen) {
		return Info{}, err
	}
	if err != nil {
		return Info{}, fmt.Errorf("engine: %w: %w", ErrUnavailable, err)
	}
	if e.opts.DatabaseDir == "" {
		info := Info{Engine: engineName(ver)}
		if v, t, ok := parseVersionDB(ver); ok {
			info.DBVersion, info.DBTime = "daily:"+v, t
		} else {
			info.DBVersion = "unknown"
			info.DevSignatures = e.opts.DevMode
		}
		return info, nil
	}
	db, err := ReadDatabase(e.opts.DatabaseDir)
	if err != nil {
		return Info{}, err
	}
	info := Info{Engine: engineName(ver), DBVersion: db.Version, DBTime: db.BuiltAt}
	info.DevSignatures = e.opts.DevMode && !db.Official
	return info, nil
}

// parseVersionDB reads "ClamAV 1.4.6/27000/Mon Nov 24 09:00:00 2025".
func parseVersionDB(ver string) (string, time.Time, bool) {
	parts := strings.SplitN(strings.TrimSpace(ver), "/", 3)
	if len(parts) != 3 {
		return "", time.Time{}, false
	}
	t, err := time.Parse("Mon Jan _2 15:04:05 2006", strings.TrimSpace(parts[2]))
	if err != nil {
		return "", time.Time{}, false
	}
	return parts[1], t.UTC(), true
}

// engineName keeps "ClamAV 1.4.6" from "ClamAV 1.4.6/27000/Mon Nov ...".
func engineName(version string) string {
	name, _, _ := strings.Cut(strings.TrimSpace(version), "/")
	return name
}

// Invalidate forgets the cached description, for example after a reload.
func (e *Engine) Invalidate() {
	e.mu.Lock()
	e.readAt = time.Time{}
	e.mu.Unlock()
}
