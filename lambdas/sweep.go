package lambdas

import (
	"context"
	"github.com/scangate/scangate/asl"
	"time"

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
	// (clamd down, stale signatures, a source or offload error, a timeout)
	// is rescanned once it has rested this long, at most MaxAutoRetries
	// times. 0 means 600; negative turns automatic retries off.
	RetryFailedAfterSeconds int `json:"retryFailedAfterSeconds"`
}

// MaxAutoRetries bounds the sweep's automatic rescans of one record: a
// failure that keeps coming back is for an operator to look at.
const MaxAutoRetries = 3

// sweepActor names the sweep in the history of the rescans it makes.
const sweepActor = "sweep"

// transient are the failure reasons that time can cure.
var transient = map[string]bool{
	domain.ReasonClamdUnavailable: true,
	domain.ReasonStaleSignatures:  true,
	domain.ReasonSourceError:      true,
	domain.ReasonTimeout:          true,
	domain.ReasonOffloadFailed:    true,
}

// SweepResult reports what a sweep started and settled.
type SweepResult struct {
	Started int      `json:"started"`
	IDs     []string `json:"ids,omitempty"`
	// Retried names the failed records rescanned automatically (each also
	// counts in Started).
	Retried []string `json:"retried,omitempty"`
	// IntentsArrived and IntentsExpired count the upload intents the sweep
	// settled; Recovered names the records it created for versions whose
	// event never came (each also counts in IntentsArrived, unless ingest
	// linked its intent meanwhile). IntentErrors counts intents left
	// expected for the next sweep.
	IntentsArrived int      `json:"intentsArrived"`
	IntentsExpired int      `json:"intentsExpired"`
	Recovered      []string `json:"recovered,omitempty"`
	IntentErrors   int      `json:"intentErrors"`
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
		if err := h.retryFailed(ctx, now, after, limit, &res); err != nil {
			return res, err
		}
	}
	err := h.sweepIntents(ctx, now, limit, &res)
	if res.IntentsArrived+res.IntentsExpired+res.IntentErrors > 0 {
		h.log.Info("sweep settled upload intents", "arrived", res.IntentsArrived, "expired", res.IntentsExpired,
			"recovered", len(res.Recovered), "errors", res.IntentErrors)
	}
	return res, err
}

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
				h.log.Info("sweep restarted record", "id", rec.ID, "state", rec.State)
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return nil
}

// retryFailed rescans records that failed for a transient reason and have
// rested for after, at most MaxAutoRetries times each: an outage of clamd
// or of the source heals without an operator, and a failure that keeps
// coming back stays visible.
func (h *Handlers) retryFailed(ctx context.Context, now time.Time, after time.Duration, limit int, res *SweepResult) error {
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
			if !transient[rec.Reason] || now.Sub(rec.UpdatedAt) < after || autoRetries(rec) >= MaxAutoRetries {
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
			h.log.Info("sweep retried a failed record", "id", got.ID, "reason", rec.Reason, "retry", autoRetries(got))
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// autoRetries counts the sweep's rescans in rec's history.
func autoRetries(rec *domain.Record) int {
	n := 0
	for _, e := range rec.History {
		if e.Event == string(statemachine.Rescan) && e.Actor == sweepActor {
			n++
		}
	}
	return n
}
