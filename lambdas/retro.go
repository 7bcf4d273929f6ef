package lambdas

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/statemachine"
	"github.com/scangate/scangate/store"
)

// retroActor names the retro-hunt in the history of the rescans it makes;
// Claim recognises its rescans by it.
const retroActor = "retro-hunt"

// DefaultRetroWindow is how far back a retro-hunt looks for clean
// verdicts: files found clean in the last week are the ones most likely
// still being downloaded.
const DefaultRetroWindow = 7 * 24 * time.Hour

// RetroRequest tunes one retro-hunt pass.
type RetroRequest struct {
	// Window: clean verdicts made within this long before now are
	// rescanned; older ones are left alone. 0 means DefaultRetroWindow.
	Window time.Duration
	// Limit bounds the rescans one pass starts; 0 means 1000.
	Limit int
	// Wait is called before each rescan starts; it is where the caller
	// rate-limits and yields to new uploads. An error ends the pass.
	Wait func(ctx context.Context) error
	// Cursor resumes a pass cut short (RetroResult.Next); "" starts at
	// the beginning.
	Cursor string
	// DBVersion is the database to hunt with; "" asks the scanner
	// (Describe). Where nothing here scans (the sweep function on AWS), it
	// is the current signature set's (Config.Signatures).
	DBVersion string
}

// RetroResult says what one pass found and started.
type RetroResult struct {
	// DBVersion is the signature database the pass hunted with.
	DBVersion string `json:"dbVersion"`
	// Candidates counts clean records of an older database within the
	// window; Started the rescans started (the rest wait for the next
	// pass: the limit, or a record that moved meanwhile).
	Candidates int      `json:"candidates"`
	Started    int      `json:"started"`
	IDs        []string `json:"ids,omitempty"`
	// Done: the pass went through every clean record. Otherwise Next is
	// where the next pass with the same database resumes (RetroRequest.Cursor).
	Done bool   `json:"done"`
	Next string `json:"next,omitempty"`
}

// RetroProgress is what the retro-hunt has done since the process
// started, for the console and the metrics.
type RetroProgress struct {
	// DBVersion is the database the latest pass hunted with.
	DBVersion string `json:"dbVersion"`
	// Pending counts the candidates the latest pass found and had not yet
	// started when it was last updated.
	Pending int64 `json:"pending"`
	// Started counts the rescans started, Detected the ones whose new
	// verdict was infected.
	Started  int64 `json:"started"`
	Detected int64 `json:"detected"`
}

// retroCounters back RetroProgress; they are process-wide per Handlers.
type retroCounters struct {
	db                         atomic.Value // string
	pending, started, detected atomic.Int64
}

// RetroProgress returns the retro-hunt's counters.
func (h *Handlers) RetroProgress() RetroProgress {
	db, _ := h.retro.db.Load().(string)
	return RetroProgress{DBVersion: db, Pending: h.retro.pending.Load(),
		Started: h.retro.started.Load(), Detected: h.retro.detected.Load()}
}

// RetroHunt rescans, with the database that answers now, every record
// found clean under another database within the window. A rescan is an
// ordinary one (Rescan, then the scan workflow), recorded with the
// retro-hunt as actor: the new verdict joins the record's verdicts, an
// infected one is quarantined like any upload, and its review item is
// marked retro-detected. The verdict cache is keyed by the database, so a
// rescan is never answered by a verdict of the older one.
func (h *Handlers) RetroHunt(ctx context.Context, req RetroRequest) (RetroResult, error) {
	var res RetroResult
	if h.cfg.Starter == nil {
		return res, &StepError{Type: ErrInvalidInput, Msg: "retro-hunt needs a starter"}
	}
	db := req.DBVersion
	if db == "" {
		if h.cfg.Scanner == nil {
			return res, &StepError{Type: ErrInvalidInput, Msg: "retro-hunt needs a scanner or the database to hunt with"}
		}
		info, err := h.cfg.Scanner.Describe(ctx)
		if err != nil {
			return res, h.engineErr(err)
		}
		db = info.DBVersion
	}
	res.DBVersion = db
	h.retro.db.Store(db)
	h.retro.pending.Store(0)
	window, limit := req.Window, req.Limit
	if window <= 0 {
		window = DefaultRetroWindow
	}
	if limit <= 0 {
		limit = 1000
	}
	since := h.cfg.Store.Now().Add(-window)
	// Candidates are started page by page, so that a pass cut short (the
	// limit, the caller's deadline) can resume from its page instead of
	// listing every clean record again.
	cursor := req.Cursor
	for {
		res.Next = cursor
		recs, next, err := h.cfg.Store.ListByState(ctx, domain.StatusClean, store.Page{Cursor: cursor, Limit: 200})
		if err != nil {
			return res, fromBackend(err)
		}
		var due []*domain.Record
		for _, rec := range recs {
			v := rec.Verdict
			if v == nil || v.DBVersion == db || v.ScannedAt.Before(since) {
				continue
			}
			due = append(due, rec)
		}
		res.Candidates += len(due)
		h.retro.pending.Add(int64(len(due)))
		for _, rec := range due {
			if res.Started >= limit {
				// This page again next time: what was started here is
				// no longer clean under the old database.
				return res, nil
			}
			if req.Wait != nil {
				if err := req.Wait(ctx); err != nil {
					return res, err
				}
			}
			got, err := h.rescan(ctx, rec, retroActor, "retro-hunt: found clean with database "+rec.Verdict.DBVersion+", rescanning with "+db)
			h.retro.pending.Add(-1)
			if err != nil {
				var se *StepError
				if errcode.Of(err) == errcode.ConditionFailed || (errors.As(err, &se) && se.Type == ErrInvalidInput) {
					continue // moved on meanwhile
				}
				return res, err
			}
			res.Started++
			res.IDs = append(res.IDs, got.ID)
			h.retro.started.Add(1)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	res.Done, res.Next = true, ""
	if res.Candidates > 0 {
		h.log.Info("retro-hunt pass", "db", db, "candidates", res.Candidates, "started", res.Started)
	}
	return res, nil
}

// retroRescan reports whether rec's current scan is a retro-hunt's: its
// last rescan was the retro-hunt's.
func retroRescan(rec *domain.Record) bool {
	for i := len(rec.History) - 1; i >= 0; i-- {
		if e := rec.History[i]; e.Event == string(statemachine.Rescan) {
			return e.Actor == retroActor
		}
	}
	return false
}

// RetroOptions configure RetroLoop.
type RetroOptions struct {
	// Window is RetroRequest.Window; 0 turns the retro-hunt off.
	Window time.Duration
	// Every is how often the loaded database is checked; 0 means 1m.
	Every time.Duration
	// Rate bounds rescans started per second; 0 means 5.
	Rate float64
	// Busy, when set, reports that new uploads are using the scanners:
	// the retro-hunt then waits, since it runs below them.
	Busy func() bool
}

// RetroLoop watches the signature database that answers (Describe, every
// opts.Every) and runs a retro-hunt pass whenever it differs from the one
// the last pass hunted with, including at start: a restart with other
// files, `scangate update` and its RELOAD, or any reload, all show as a new
// database identity. A pass that could not start everything runs again on
// the next tick. It returns when ctx ends.
func (h *Handlers) RetroLoop(ctx context.Context, opts RetroOptions) error {
	if opts.Window <= 0 {
		return nil
	}
	if opts.Every <= 0 {
		opts.Every = time.Minute
	}
	if opts.Rate <= 0 {
		opts.Rate = 5
	}
	lim := rate.NewLimiter(rate.Limit(opts.Rate), 1)
	wait := func(ctx context.Context) error {
		for opts.Busy != nil && opts.Busy() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		return lim.Wait(ctx)
	}
	hunted := ""
	tick := time.NewTicker(opts.Every)
	defer tick.Stop()
	for {
		if r, ok := h.cfg.Scanner.(Refresher); ok {
			// A scanner that swaps databases (engine.Generations) checks
			// for a new one now rather than at its next scan's lease: an
			// idle server still hunts within one tick.
			rctx, cancel := context.WithTimeout(ctx, opts.Every)
			if err := r.Refresh(rctx); err != nil && ctx.Err() == nil {
				h.log.Warn("retro-hunt: looking for a newer signature database", "err", err)
			}
			cancel()
		}
		info, err := h.cfg.Scanner.Describe(ctx)
		if err == nil && info.DBVersion != hunted {
			res, err := h.RetroHunt(ctx, RetroRequest{Window: opts.Window, Wait: wait})
			switch {
			case err != nil && ctx.Err() == nil:
				h.log.Warn("retro-hunt pass failed; trying again", "err", err)
			case err == nil && res.Done:
				hunted = res.DBVersion
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Signatures names the signature database scanners load now, where
// nothing in this process scans: on AWS, the current set in the
// signatures bucket (package sigset), which every scan function loads
// within its check interval.
type Signatures interface {
	// Current returns "" when no database has been published yet.
	Current(ctx context.Context) (dbVersion string, err error)
}

// retroCheckpoint is the store checkpoint of the scheduled retro-hunt:
// its Detail is the database last hunted to the end.
const retroCheckpoint = "retro-hunt"

// retroScheduled is the sweep's retro-hunt pass on AWS, where the
// database changes in the signatures bucket rather than in a clamd here.
// It hunts when the current set's database differs from the one the last
// complete pass hunted with (a checkpoint in the store, so that a sweep
// every few minutes does not list every clean record each time), at
// most limit rescans per sweep at perSecond: the rest wait for the next
// sweep, below the uploads' own scans.
func (h *Handlers) retroScheduled(ctx context.Context, window time.Duration, limit int, perSecond float64, res *SweepResult) error {
	db, err := h.cfg.Signatures.Current(ctx)
	if err != nil {
		return fromBackend(err)
	}
	if db == "" {
		// Before the updater's first set there is nothing to hunt with
		// (and no scan succeeds either).
		return nil
	}
	cp, err := h.cfg.Store.Checkpoint(ctx, retroCheckpoint)
	switch {
	case errcode.Of(err) == errcode.NotFound:
		cp = &domain.Checkpoint{ID: retroCheckpoint}
	case err != nil:
		return fromBackend(err)
	}
	if cp.Detail != db {
		cp.Cursor, cp.State, cp.Counters = "", "", map[string]int64{}
	}
	if cp.State == "done" {
		return nil
	}
	lim := rate.NewLimiter(rate.Limit(perSecond), 1)
	hctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		// Keep time to save the checkpoint: the next sweep goes on.
		var cancel context.CancelFunc
		hctx, cancel = context.WithDeadline(ctx, dl.Add(-10*time.Second))
		defer cancel()
	}
	r, err := h.RetroHunt(hctx, RetroRequest{Window: window, Limit: limit, DBVersion: db, Wait: lim.Wait, Cursor: cp.Cursor})
	res.RetroDB, res.RetroCandidates, res.RetroStarted = db, r.Candidates, r.Started
	if err != nil && (hctx.Err() == nil || ctx.Err() != nil) {
		return err
	}
	state := "running"
	if r.Done {
		state = "done"
	}
	if cp.Counters == nil {
		cp.Counters = map[string]int64{}
	}
	cp.Detail, cp.State, cp.Cursor = db, state, r.Next
	cp.Counters["started"] += int64(r.Started)
	if err := h.cfg.Store.SaveCheckpoint(ctx, cp); err != nil && errcode.Of(err) != errcode.ConditionFailed {
		// Another sweep saved meanwhile: its pass stands, this one's
		// rescans are started and harmless.
		return fromBackend(err)
	}
	return nil
}
