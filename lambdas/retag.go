package lambdas

import (
	"context"
	"fmt"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
)

// RecentRecords lists the records in a state by their last transition,
// newest first. The embedded store's driver implements it.
type RecentRecords interface {
	RecordsUpdatedSince(ctx context.Context, state domain.Status, since time.Time, limit int) ([]*domain.Record, error)
}

// Retag writes the verdict's tags again on the objects of the clean and
// allowlisted records decided within window of the newest decision in
// their state, where the object does not carry them, and returns how many
// objects it tagged. It looks at the newest limit records of each state
// at most. The Record step commits a verdict and then tags the object: a
// process that stops between the two leaves a record that says clean and
// an object that no tag lets anyone read, which fails closed, but for
// good, since no sweep looks at decided records. That happens to the last
// decisions before a stop, which is why the window ends at the newest
// decision and not at the time Retag runs: a machine may stay down for
// days, and the newest records come first whatever the limit. On AWS
// the interrupted execution fails and its alarm counts it; the local
// runtime calls Retag when it starts.
//
// Each record is read again before its object is tagged, and only a
// record still decided in the same way, not under quarantine, has its
// object tagged; a version that is gone is passed over.
func (h *Handlers) Retag(ctx context.Context, l RecentRecords, window time.Duration, limit int) (int, error) {
	tagged := 0
	for _, state := range []domain.Status{domain.StatusClean, domain.StatusAllowlisted} {
		newest, err := l.RecordsUpdatedSince(ctx, state, time.Time{}, 1)
		if err != nil {
			return tagged, fmt.Errorf("retag: listing %s records: %w", state, err)
		}
		if len(newest) == 0 {
			continue
		}
		recs, err := l.RecordsUpdatedSince(ctx, state, newest[0].UpdatedAt.Add(-window), limit)
		if err != nil {
			return tagged, fmt.Errorf("retag: listing %s records: %w", state, err)
		}
		for _, listed := range recs {
			ok, err := h.retagOne(ctx, listed)
			if err != nil {
				return tagged, fmt.Errorf("retag %s: %w", listed.ID, err)
			}
			if ok {
				tagged++
			}
		}
	}
	return tagged, nil
}

// retagOne tags rec's object if rec is still as listed and the object
// lacks its verdict's status tag.
func (h *Handlers) retagOne(ctx context.Context, listed *domain.Record) (bool, error) {
	rec, err := h.cfg.Store.Get(ctx, listed.ID)
	if errcode.Of(err) == errcode.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if rec.Version != listed.Version || rec.State != listed.State || rec.Quarantine != nil {
		return false, nil
	}
	tags, err := h.cfg.Objects.Tags(ctx, rec.Object)
	if err != nil {
		if gone(err) {
			return false, nil
		}
		return false, err
	}
	if tags[objects.TagStatus] == string(rec.State) {
		return false, nil
	}
	if err := objects.MergeTags(ctx, h.cfg.Objects, rec.Object, verdictTags(rec)); err != nil {
		if gone(err) {
			return false, nil
		}
		return false, err
	}
	h.log.Warn("retagged an object its verdict had not tagged", "id", rec.ID, "object", rec.Object.String(), "state", rec.State)
	return true, nil
}

// gone reports whether err says the version is no longer there as it was.
func gone(err error) bool {
	c := errcode.Of(err)
	return c == errcode.NotFound || c == errcode.Changed
}
