package embedded

import (
	"bytes"
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
)

// RecordsUpdatedSince returns the records in state whose last transition
// is at since or later, newest first, at most limit of them: a walk back
// from the end of the state's part of the by-state index, whose keys are
// ordered by time within a state. The local runtime reads the records
// decided just before it last stopped with it (see
// lambdas.Handlers.Retag): the newest are the ones a stop can have left
// untagged, so they come first whatever the limit.
func (d *Driver) RecordsUpdatedSince(ctx context.Context, state domain.Status, since time.Time, limit int) ([]*domain.Record, error) {
	const op = "embedded: records updated since"
	if err := start(ctx, op, string(state)); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, errcode.Errorf(errcode.Invalid, op, string(state), "limit %d", limit)
	}
	prefix := append([]byte(state), 0)
	from := appendTime(bytes.Clone(prefix), since)
	// The first key after the state's: its name followed by 1 instead of
	// the separator 0.
	past := append([]byte(state), 1)
	var out []*domain.Record
	err := d.db.View(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		c := tx.Bucket(bucketByState).Cursor()
		k, _ := c.Seek(past)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && bytes.Compare(k, from) >= 0 && len(out) < limit; k, _ = c.Prev() {
			if len(k) < len(prefix)+timeLen+1 {
				continue
			}
			rec, err := indexedRecord(recs, op, k[len(prefix)+timeLen+1:])
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, string(state), err)
	}
	return out, nil
}
