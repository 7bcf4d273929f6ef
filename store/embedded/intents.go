package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

// CreateIntent implements store.Driver: the intent and both its index
// entries in one transaction.
func (d *Driver) CreateIntent(ctx context.Context, in *domain.UploadIntent) error {
	const op = "embedded: create intent"
	if in == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil intent")
	}
	if err := start(ctx, op, in.ID); err != nil {
		return err
	}
	if err := store.CheckIntent(op, in); err != nil {
		return err
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return errcode.Errorf(errcode.Invalid, op, in.ID, "encode intent: %w", err)
	}
	err = d.c.do(func(tx *bolt.Tx) error {
		intents := tx.Bucket(bucketIntents)
		if intents.Get([]byte(in.ID)) != nil {
			return errcode.Errorf(errcode.AlreadyExists, op, in.ID, "an intent with this id exists")
		}
		if err := intents.Put([]byte(in.ID), raw); err != nil {
			return err
		}
		if err := tx.Bucket(bucketIntState).Put(intentStateKey(in.State, in.ExpiresAt, in.ID), nil); err != nil {
			return err
		}
		return tx.Bucket(bucketIntKey).Put(intentKeyKey(in.KeyHash(), in.IssuedAt, in.ID), nil)
	})
	return wrap(op, in.ID, err)
}

// GetIntent implements store.Driver.
func (d *Driver) GetIntent(ctx context.Context, id string) (*domain.UploadIntent, error) {
	const op = "embedded: get intent"
	if err := start(ctx, op, id); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	return get[domain.UploadIntent](d, op, id, bucketIntents, []byte(id))
}

// ResolveIntent implements store.Driver: the state is checked and the
// intent and its state-index entry rewritten in one transaction.
func (d *Driver) ResolveIntent(ctx context.Context, id string, r store.IntentResolution) (*domain.UploadIntent, error) {
	const op = "embedded: resolve intent"
	if err := start(ctx, op, id); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	if err := store.CheckIntentResolution(op, id, r); err != nil {
		return nil, err
	}
	var written []byte
	err := d.c.do(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketIntents).Get([]byte(id))
		if raw == nil {
			return errcode.Errorf(errcode.NotFound, op, id, "no such intent")
		}
		in, err := decode[domain.UploadIntent](op, id, raw)
		if err != nil {
			return err
		}
		if in.State != domain.IntentExpected {
			return errcode.Errorf(errcode.ConditionFailed, op, id, "intent is %s, not expected", in.State)
		}
		idx := tx.Bucket(bucketIntState)
		if err := idx.Delete(intentStateKey(in.State, in.ExpiresAt, in.ID)); err != nil {
			return err
		}
		in.State, in.RecordID, in.ResolvedAt, in.ResolvedBy = r.State, r.RecordID, r.At, r.By
		if written, err = json.Marshal(in); err != nil {
			return errcode.Errorf(errcode.Invalid, op, id, "encode intent: %w", err)
		}
		if err := tx.Bucket(bucketIntents).Put([]byte(id), written); err != nil {
			return err
		}
		return idx.Put(intentStateKey(in.State, in.ExpiresAt, in.ID), nil)
	})
	if err != nil {
		return nil, wrap(op, id, err)
	}
	return decode[domain.UploadIntent](op, id, written)
}

// ListIntents implements store.Driver.
func (d *Driver) ListIntents(ctx context.Context, state domain.IntentState, expiresBy time.Time, page store.Page) ([]*domain.UploadIntent, string, error) {
	const op = "embedded: list intents"
	if err := start(ctx, op, string(state)); err != nil {
		return nil, "", err
	}
	if !state.Valid() {
		return nil, "", errcode.Errorf(errcode.Invalid, op, string(state), "unknown intent state %q", state)
	}
	prefix := append([]byte(state), 0)
	var limit []byte
	if !expiresBy.IsZero() {
		limit = appendTime(nil, expiresBy)
	}
	var (
		out    []*domain.UploadIntent
		cursor string
	)
	err := d.db.View(func(tx *bolt.Tx) error {
		intents := tx.Bucket(bucketIntents)
		var err error
		cursor, err = scan(tx.Bucket(bucketIntState), op, string(state), prefix, page, func(k, _ []byte) error {
			if limit != nil && bytes.Compare(k[len(prefix):len(prefix)+timeLen], limit) > 0 {
				return errStop
			}
			in, err := loadIntent(intents, op, k[len(prefix)+timeLen+1:])
			if err != nil {
				return err
			}
			out = append(out, in)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, "", wrap(op, string(state), err)
	}
	return out, cursor, nil
}

// ListKeyIntents implements store.Driver.
func (d *Driver) ListKeyIntents(ctx context.Context, bucket, key string, since time.Time, page store.Page) ([]*domain.UploadIntent, string, error) {
	const op = "embedded: list key intents"
	id := bucket + "/" + key
	if err := start(ctx, op, id); err != nil {
		return nil, "", err
	}
	if bucket == "" || key == "" {
		return nil, "", errcode.Errorf(errcode.Invalid, op, id, "a bucket and a key are required")
	}
	prefix := append([]byte(domain.KeyHash(bucket, key)), 0)
	var first []byte
	if !since.IsZero() {
		first = appendTime(bytes.Clone(prefix), since)
	}
	var (
		out    []*domain.UploadIntent
		cursor string
	)
	err := d.db.View(func(tx *bolt.Tx) error {
		intents := tx.Bucket(bucketIntents)
		var err error
		cursor, err = scanFrom(tx.Bucket(bucketIntKey), op, id, prefix, first, page, func(k, _ []byte) error {
			in, err := loadIntent(intents, op, k[len(prefix)+timeLen+1:])
			if err != nil {
				return err
			}
			if in.Bucket == bucket && in.Key == key {
				out = append(out, in)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, "", wrap(op, id, err)
	}
	return out, cursor, nil
}

func loadIntent(b *bolt.Bucket, op string, id []byte) (*domain.UploadIntent, error) {
	raw := b.Get(id)
	if raw == nil {
		return nil, errcode.Errorf(errcode.Unknown, op, string(id), "index entry without an intent")
	}
	return decode[domain.UploadIntent](op, string(id), raw)
}

// intentStateKey is the intents-state index key: state 0x00 time 0x00 id.
func intentStateKey(state domain.IntentState, expires time.Time, id string) []byte {
	return stateKey(domain.Status(state), expires, id)
}

// intentKeyKey is the intents-key index key: keyHash 0x00 time 0x00 id.
func intentKeyKey(keyHash string, issued time.Time, id string) []byte {
	return stateKey(domain.Status(keyHash), issued, id)
}
