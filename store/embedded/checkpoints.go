package embedded

import (
	"context"
	"encoding/json"

	bolt "go.etcd.io/bbolt"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
)

// GetCheckpoint implements store.Driver.
func (d *Driver) GetCheckpoint(ctx context.Context, id string) (*domain.Checkpoint, error) {
	const op = "embedded: get checkpoint"
	if err := start(ctx, op, id); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	return get[domain.Checkpoint](d, op, id, bucketCheckpts, []byte(id))
}

// PutCheckpoint implements store.Driver: the stored version is read and
// compared and the checkpoint written in one transaction.
func (d *Driver) PutCheckpoint(ctx context.Context, c *domain.Checkpoint) error {
	const op = "embedded: put checkpoint"
	if c == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil checkpoint")
	}
	if err := start(ctx, op, c.ID); err != nil {
		return err
	}
	if c.ID == "" || c.Version < 1 {
		return errcode.Errorf(errcode.Invalid, op, c.ID, "a checkpoint needs an id and a version of at least 1")
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return errcode.Errorf(errcode.Invalid, op, c.ID, "encode checkpoint: %w", err)
	}
	err = d.c.do(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCheckpts)
		var stored int64
		if prev := b.Get([]byte(c.ID)); prev != nil {
			old, err := decode[domain.Checkpoint](op, c.ID, prev)
			if err != nil {
				return err
			}
			stored = old.Version
		}
		if stored != c.Version-1 {
			return errcode.Errorf(errcode.ConditionFailed, op, c.ID, "stored version is %d, not %d", stored, c.Version-1)
		}
		return b.Put([]byte(c.ID), raw)
	})
	return wrap(op, c.ID, err)
}
