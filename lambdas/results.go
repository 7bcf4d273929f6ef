package lambdas

import (
	"context"
	"time"

	"github.com/scangate/scangate/domain"
)

// ResultEvent is what a final outcome tells the world: one per outcome of
// a record (clean, infected, unscannable, failed, gone; released,
// confirmed, allowlisted). Delivery is at least once: a retried step can
// emit its outcome again, so consumers deduplicate by (RecordID,
// RecordVersion).
type ResultEvent struct {
	RecordID      string    `json:"recordId"`
	RecordVersion int64     `json:"recordVersion"`
	Bucket        string    `json:"bucket"`
	Key           string    `json:"key"`
	VersionID     string    `json:"versionId,omitempty"`
	SHA256        string    `json:"sha256,omitempty"`
	Outcome       string    `json:"outcome"`
	Signatures    []string  `json:"signatures,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	Engine        string    `json:"engine,omitempty"`
	DBVersion     string    `json:"dbVersion,omitempty"`
	At            time.Time `json:"at"`
	// By names who caused a decided outcome (the reviewer).
	By string `json:"by,omitempty"`
	// Review is set when the outcome opened a review item: a reviewer
	// needs to act on it.
	Review bool `json:"review,omitempty"`
	// FirstCleanAt, on a retro-detected event, is when the version was
	// first found clean: it may have been downloaded since.
	FirstCleanAt time.Time `json:"firstCleanAt,omitzero"`
}

// ResultEmitter receives every final outcome. Emit must not block the
// step for long and its failures are its own: a notification that cannot
// be sent never changes a verdict, so Emit returns nothing.
type ResultEmitter interface {
	Emit(ctx context.Context, ev ResultEvent)
}

// emitResult tells cfg.Results about rec's outcome, if anyone listens.
func (h *Handlers) emitResult(ctx context.Context, rec *domain.Record, outcome string, review bool) {
	if h.cfg.Results == nil || rec == nil {
		return
	}
	h.cfg.Results.Emit(context.WithoutCancel(ctx), resultEvent(rec, outcome, review))
}

// resultEvent describes rec's outcome.
func resultEvent(rec *domain.Record, outcome string, review bool) ResultEvent {
	ev := ResultEvent{
		RecordID: rec.ID, RecordVersion: rec.Version, Bucket: rec.Object.Bucket, Key: rec.Object.Key,
		VersionID: rec.Object.VersionID, Outcome: outcome, Reason: rec.Reason, At: rec.UpdatedAt, Review: review,
	}
	if v := rec.Verdict; v != nil {
		ev.SHA256, ev.Signatures, ev.Engine, ev.DBVersion = v.SHA256, v.Signatures, v.Engine, v.DBVersion
		if ev.Reason == "" {
			ev.Reason = v.Reason
		}
	}
	if n := len(rec.History); n > 0 {
		ev.By = rec.History[n-1].Actor
	}
	return ev
}
