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
// is at since or later, oldest first, at most limit of them: a seek in the
// by-state index, whose keys are ordered by time within a state. The local
// runtime reads the records decided just before it started with it (see
// lambdas.Handlers.Retag).
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
	var out []*domain.Record
	err := d.db.View(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		c := tx.Bucket(bucketByState).Cursor()
		for k, _ := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
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
