package lambdas

import (
	"context"
	"time"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/statemachine"
	"github.com/scangate/scangate/store"
)

// SweepRequest tunes a sweep.
type SweepRequest struct {
	// MinAgeSeconds: pending, infected and unscannable records younger than
	// this are left alone, since their execution may still be starting.
	// In AWS it should exceed the Express workflow's 5-minute limit.
	MinAgeSeconds int `json:"minAgeSeconds"`
	// Limit bounds the records started in one sweep, and separately the
	// upload intents settled; 0 means 1000.
	Limit int `json:"limit"`
	// RetryFailedAfterSeconds: a record that failed for a passing reason
	// (clamd down, stale signatures, a source, backend or offload error, a
	// timeout, a quarantine that did not finish) is rescanned once it has
	// rested this long; each further automatic rescan waits twice as long
	// as the one before, up to MaxRetryRest. 0 means 600; negative turns
	// automatic retries off.
	RetryFailedAfterSeconds int `json:"retryFailedAfterSeconds"`
	// RetryWindowSeconds: how long after its first failure a record is
	// still rescanned automatically; past it, a failure that keeps coming
	// back stays failed, for an operator (SweepResult.GivenUp counts
	// them). 0 means DefaultRetryWindow.
	RetryWindowSeconds int `json:"retryWindowSeconds"`
	// RetroWindowSeconds: with Config.Signatures set, records found clean
	// within this long under another database than the current set's are
	// rescanned (the retro-hunt). 0 means DefaultRetroWindow; negative
	// turns it off.
	RetroWindowSeconds int `json:"retroWindowSeconds"`
	// RetroLimit bounds the retro-hunt's rescans per sweep (0 means 500),
	// RetroPerSecond the rate it starts them at (0 means 5).
	RetroLimit     int     `json:"retroLimit"`
	RetroPerSecond float64 `json:"retroPerSecond"`
}

// DefaultRetryWindow is how long the sweep keeps rescanning a record that
// failed for a passing reason.
const DefaultRetryWindow = 24 * time.Hour

// MaxRetryRest caps the backoff between two automatic rescans.
const MaxRetryRest = 4 * time.Hour

// sweepActor names the sweep in the history of the rescans it makes.
const sweepActor = "sweep"

// Transient reports whether time can cure a failure of this reason: an
// outage of clamd, the source, the store or ECS, stale signatures, a
// timeout, a quarantine that did not finish. Permanent causes (the object
// is gone, too large, against policy) are not failures at all but
// verdicts or gone; internal errors are for an operator.
func Transient(reason string) bool {
	switch reason {
	case domain.ReasonClamdUnavailable, domain.ReasonStaleSignatures, domain.ReasonSourceError,
		domain.ReasonTimeout, domain.ReasonOffloadFailed, domain.ReasonBackendUnavailable,
		domain.ReasonQuarantineFailed:
		return true
	}
	return false
}

// SweepResult reports what a sweep started and settled.
type SweepResult struct {
	Started int      `json:"started"`
	IDs     []string `json:"ids,omitempty"`
	// Retried names the failed records rescanned automatically (each also
	// counts in Started).
	Retried []string `json:"retried,omitempty"`
	// GivenUp counts records failed for a passing reason that are past
	// their retry window: they stay failed until an operator acts.
	GivenUp int `json:"givenUp,omitempty"`
	// IntentsArrived and IntentsExpired count the upload intents the sweep
	// settled; Recovered names the records it created for versions whose
	// event never came (each also counts in IntentsArrived, unless ingest
	// linked its intent meanwhile). IntentErrors counts intents left
	// expected for the next sweep.
	IntentsArrived int      `json:"intentsArrived"`
	IntentsExpired int      `json:"intentsExpired"`
	Recovered      []string `json:"recovered,omitempty"`
	IntentErrors   int      `json:"intentErrors"`
	// RetroDB is the database the retro-hunt hunted with this sweep, if it
	// ran; RetroCandidates and RetroStarted are its pass's counts.
	RetroDB         string `json:"retroDb,omitempty"`
	RetroCandidates int    `json:"retroCandidates,omitempty"`
	RetroStarted    int    `json:"retroStarted,omitempty"`
}

// Sweep finds records that no execution is driving and starts their
// workflow again: pending ones, scanning ones whose lease expired (the
// scanner died), and infected or unscannable ones whose quarantine or block
// did not finish. Then it settles the upload intents whose URL expired
// (see sweepIntents): a version uploaded through one whose event never
// came is ingested here. It is what makes "nothing lost" hold when a
// process, an execution or an event delivery was lost; in AWS a schedule
// runs it.
func (h *Handlers) Sweep(ctx context.Context, req SweepRequest) (SweepResult, error) {
	var res SweepResult
	if h.cfg.Starter == nil {
		return res, &StepError{Type: ErrInvalidInput, Msg: "sweep needs a starter"}
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 1000
	}
	now := h.cfg.Store.Now()
	if err := h.sweepRecords(ctx, now, time.Duration(req.MinAgeSeconds)*time.Second, limit, &res); err != nil {
		return res, err
	}
	if req.RetryFailedAfterSeconds >= 0 {
		after := time.Duration(req.RetryFailedAfterSeconds) * time.Second
		if after == 0 {
			after = 10 * time.Minute
		}
		window := time.Duration(req.RetryWindowSeconds) * time.Second
		if window <= 0 {
			window = DefaultRetryWindow
		}
		if err := h.retryFailed(ctx, now, after, window, limit, &res); err != nil {
			return res, err
		}
		if res.GivenUp > 0 {
			// The alarm on AWS counts this line.
			h.log.Warn(LogFailedGivenUp, "count", res.GivenUp, "window", window)
		}
	}
	err := h.sweepIntents(ctx, now, limit, &res)
	if res.IntentsArrived+res.IntentsExpired+res.IntentErrors > 0 {
		h.log.Info("sweep settled upload intents", "arrived", res.IntentsArrived, "expired", res.IntentsExpired,
			"recovered", len(res.Recovered), "errors", res.IntentErrors)
	}
	if err != nil || h.cfg.Signatures == nil || req.RetroWindowSeconds < 0 {
		return res, err
	}
	window := time.Duration(req.RetroWindowSeconds) * time.Second
	if window == 0 {
		window = DefaultRetroWindow
	}
	rlimit, perSecond := req.RetroLimit, req.RetroPerSecond
	if rlimit <= 0 {
		rlimit = 500
	}
	if perSecond <= 0 {
		perSecond = 5
	}
	return res, h.retroScheduled(ctx, window, rlimit, perSecond, &res)
}

// The sweep's log messages that metric filters on AWS count (cdk/gate's
// alarms). Both are warnings, so that a function log level of WARN keeps
// them.
const (
	LogSweepRestarted = "sweep restarted record"
	LogFailedGivenUp  = "sweep: failed records past their retry window"
)

// sweepRecords restarts the workflow of stranded records.
func (h *Handlers) sweepRecords(ctx context.Context, now time.Time, minAge time.Duration, limit int, res *SweepResult) error {
	states := []domain.Status{domain.StatusPending, domain.StatusScanning, domain.StatusInfected, domain.StatusUnscannable}
	for _, state := range states {

		cursor := ""
		for {
			recs, next, err := h.cfg.Store.ListByState(ctx, state, store.Page{Cursor: cursor, Limit: 200})
			if err != nil {
				return fromBackend(err)
			}
			for _, rec := range recs {
				if len(res.IDs) >= limit {
					return nil
				}
				if h.routeFor(rec.State, rec.Verdict) == asl.RouteBlock {
					// Blocked in place is where such an object rests.
					continue
				}
				stranded := now.Sub(rec.UpdatedAt) >= minAge
				if state == domain.StatusScanning {
					stranded = rec.Lease.Expired(now)
				}
				if !stranded {
					continue
				}
				if _, err := h.cfg.Starter.Start(ctx, rec); err != nil {
					return fromBackend(err)
				}
				res.Started++
				res.IDs = append(res.IDs, rec.ID)
				// A warning: a record that had to be restarted was stuck,
				// and the alarm on AWS counts this line whatever the
				// functions' log level.
				h.log.Warn(LogSweepRestarted, "id", rec.ID, "state", rec.State)
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return nil
}

// retryFailed rescans records that failed for a transient reason once
// they have rested, with a backoff that doubles from after up to
// MaxRetryRest, for as long as their first failure is less than window
// ago: an outage heals without an operator, and a failure that keeps
// coming back ends visible.
func (h *Handlers) retryFailed(ctx context.Context, now time.Time, after, window time.Duration, limit int, res *SweepResult) error {
	cursor := ""
	for {
		recs, next, err := h.cfg.Store.ListByState(ctx, domain.StatusFailed, store.Page{Cursor: cursor, Limit: 200})
		if err != nil {
			return fromBackend(err)
		}
		for _, rec := range recs {
			if len(res.IDs) >= limit {
				return nil
			}
			if !Transient(rec.Reason) {
				continue
			}
			first, retries := failureRun(rec)
			if now.Sub(first) > window {
				res.GivenUp++
				continue
			}
			if now.Sub(rec.UpdatedAt) < retryRest(after, retries) {
				continue
			}
			got, err := h.rescan(ctx, rec, sweepActor, "automatic retry after "+rec.Reason)
			if err != nil {
				if errcode.Of(err) == errcode.ConditionFailed {
					continue // moved on meanwhile
				}
				return err
			}
			res.Started++
			res.IDs = append(res.IDs, got.ID)
			res.Retried = append(res.Retried, got.ID)
			h.log.Info("sweep retried a failed record", "id", got.ID, "reason", rec.Reason, "retry", retries+1,
				"failingFor", now.Sub(first).Round(time.Second))
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// retryRest is how long a record rests before its retries+1st automatic
// rescan: after, doubled per earlier retry, at most MaxRetryRest.
func retryRest(after time.Duration, retries int) time.Duration {
	rest := after
	for range retries {
		if rest >= MaxRetryRest/2 {
			return MaxRetryRest
		}
		rest *= 2
	}
	return min(rest, MaxRetryRest)
}

// failureRun reads rec's history for its current run of failures: when
// the first of them happened, and how many automatic rescans the sweep
// made since. A person's rescan, or the record's ingest, starts a new run.
func failureRun(rec *domain.Record) (first time.Time, retries int) {
	for _, e := range rec.History {
		switch {
		case e.Event == "ingest" || (e.Event == string(statemachine.Rescan) && e.Actor != sweepActor):
			first, retries = time.Time{}, 0
		case e.Event == string(statemachine.Rescan):
			retries++
		case e.Event == string(statemachine.Fail) && first.IsZero():
			first = e.At
		}
	}
	if first.IsZero() {
		first = rec.UpdatedAt
	}
	return first, retries
}
