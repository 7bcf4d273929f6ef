package embedded

import (
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

// accountDoc and tokenDoc are accounts and tokens as stored: the domain
// types leave their hashes out of JSON, which is what the API serves, so
// the documents carry them explicitly.
type accountDoc struct {
	Name         string      `json:"name"`
	Role         domain.Role `json:"role"`
	PasswordHash string      `json:"passwordHash"`
	CreatedAt    time.Time   `json:"createdAt"`
	UpdatedAt    time.Time   `json:"updatedAt"`
	Disabled     bool        `json:"disabled,omitempty"`
}

func toAccountDoc(a *domain.Account) accountDoc {
	return accountDoc{a.Name, a.Role, a.PasswordHash, a.CreatedAt, a.UpdatedAt, a.Disabled}
}

func (d *accountDoc) domain() *domain.Account {
	return &domain.Account{Name: d.Name, Role: d.Role, PasswordHash: d.PasswordHash,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Disabled: d.Disabled}
}

type tokenDoc struct {
	ID        string     `json:"id"`
	Account   string     `json:"account"`
	Hash      string     `json:"hash"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	Label     string     `json:"label,omitempty"`
}

func toTokenDoc(t *domain.APIToken) tokenDoc {
	return tokenDoc{t.ID, t.Account, t.Hash, t.CreatedAt, t.RevokedAt, t.Label}
}

func (d *tokenDoc) domain() *domain.APIToken {
	return &domain.APIToken{ID: d.ID, Account: d.Account, Hash: d.Hash, CreatedAt: d.CreatedAt,
		RevokedAt: d.RevokedAt, Label: d.Label}
}

// create stores v under key in bucket unless the key is taken.
func (d *Driver) create(op, id string, bucket, key []byte, v any, what string) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return errcode.Errorf(errcode.Invalid, op, id, "encode %s: %w", what, err)
	}
	err = d.c.do(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b.Get(key) != nil {
			return errcode.Errorf(errcode.AlreadyExists, op, id, "a %s with this key exists", what)
		}
		return b.Put(key, raw)
	})
	return wrap(op, id, err)
}

// CreateAccount implements store.Driver.
func (d *Driver) CreateAccount(ctx context.Context, a *domain.Account) error {
	const op = "embedded: create account"
	if a == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil account")
	}
	if err := start(ctx, op, a.Name); err != nil {
		return err
	}
	if a.Name == "" {
		return errcode.Errorf(errcode.Invalid, op, "", "account has no name")
	}
	return d.create(op, a.Name, bucketAccounts, []byte(a.Name), toAccountDoc(a), "account")
}

// GetAccount implements store.Driver.
func (d *Driver) GetAccount(ctx context.Context, name string) (*domain.Account, error) {
	const op = "embedded: get account"
	if err := start(ctx, op, name); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, "", "empty name")
	}
	doc, err := get[accountDoc](d, op, name, bucketAccounts, []byte(name))
	if err != nil {
		return nil, err
	}
	return doc.domain(), nil
}

// UpdateAccount implements store.Driver: the stored UpdatedAt is checked
// and the account replaced in one transaction.
func (d *Driver) UpdateAccount(ctx context.Context, a *domain.Account, prevUpdatedAt time.Time) error {
	const op = "embedded: update account"
	if a == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil account")
	}
	if err := start(ctx, op, a.Name); err != nil {
		return err
	}
	if a.Name == "" {
		return errcode.Errorf(errcode.Invalid, op, "", "account has no name")
	}
	if a.UpdatedAt.Equal(prevUpdatedAt) {
		return errcode.Errorf(errcode.Invalid, op, a.Name, "the new UpdatedAt must differ from the one it replaces")
	}
	raw, err := json.Marshal(toAccountDoc(a))
	if err != nil {
		return errcode.Errorf(errcode.Invalid, op, a.Name, "encode account: %w", err)
	}
	err = d.c.do(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAccounts)
		old := b.Get([]byte(a.Name))
		if old == nil {
			return errcode.Errorf(errcode.NotFound, op, a.Name, "no such account")
		}
		cur, err := decode[accountDoc](op, a.Name, old)
		if err != nil {
			return err
		}
		if !cur.UpdatedAt.Equal(prevUpdatedAt) {
			return errcode.Errorf(errcode.ConditionFailed, op, a.Name, "account was updated at %s, not %s",
				cur.UpdatedAt.Format(time.RFC3339Nano), prevUpdatedAt.Format(time.RFC3339Nano))
		}
		return b.Put([]byte(a.Name), raw)
	})
	return wrap(op, a.Name, err)
}

// ListAccounts implements store.Driver.
func (d *Driver) ListAccounts(ctx context.Context, page store.Page) ([]*domain.Account, string, error) {
	const op = "embedded: list accounts"
	if err := start(ctx, op, ""); err != nil {
		return nil, "", err
	}
	var out []*domain.Account
	cursor, err := d.list(op, bucketAccounts, page, func(k, v []byte) error {
		doc, err := decode[accountDoc](op, string(k), v)
		if err == nil {
			out = append(out, doc.domain())
		}
		return err
	})
	return out, cursor, err
}

// list walks a whole bucket in key order.
func (d *Driver) list(op string, bucket []byte, page store.Page, fn func(k, v []byte) error) (string, error) {
	var cursor string
	err := d.db.View(func(tx *bolt.Tx) error {
		var err error
		cursor, err = scan(tx.Bucket(bucket), op, "", nil, page, fn)
		return err
	})
	if err != nil {
		return "", wrap(op, "", err)
	}
	return cursor, nil
}

// CreateToken implements store.Driver.
func (d *Driver) CreateToken(ctx context.Context, t *domain.APIToken) error {
	const op = "embedded: create token"
	if t == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil token")
	}
	if err := start(ctx, op, t.ID); err != nil {
		return err
	}
	if t.ID == "" || t.Account == "" {
		return errcode.Errorf(errcode.Invalid, op, t.ID, "token has no id or no account")
	}
	return d.create(op, t.ID, bucketTokens, []byte(t.ID), toTokenDoc(t), "token")
}

// GetToken implements store.Driver.
func (d *Driver) GetToken(ctx context.Context, id string) (*domain.APIToken, error) {
	const op = "embedded: get token"
	if err := start(ctx, op, id); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	doc, err := get[tokenDoc](d, op, id, bucketTokens, []byte(id))
	if err != nil {
		return nil, err
	}
	return doc.domain(), nil
}

// RevokeToken implements store.Driver.
func (d *Driver) RevokeToken(ctx context.Context, id string, at time.Time) error {
	const op = "embedded: revoke token"
	if err := start(ctx, op, id); err != nil {
		return err
	}
	if id == "" {
		return errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	err := d.c.do(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		old := b.Get([]byte(id))
		if old == nil {
			return errcode.Errorf(errcode.NotFound, op, id, "no such token")
		}
		doc, err := decode[tokenDoc](op, id, old)
		if err != nil {
			return err
		}
		if doc.RevokedAt != nil {
			return errcode.Errorf(errcode.ConditionFailed, op, id, "revoked at %s", doc.RevokedAt.Format(time.RFC3339Nano))
		}
		doc.RevokedAt = &at
		raw, err := json.Marshal(doc)
		if err != nil {
			return errcode.Errorf(errcode.Invalid, op, id, "encode token: %w", err)
		}
		return b.Put([]byte(id), raw)
	})
	return wrap(op, id, err)
}

// ListTokens implements store.Driver.
func (d *Driver) ListTokens(ctx context.Context, page store.Page) ([]*domain.APIToken, string, error) {
	const op = "embedded: list tokens"
	if err := start(ctx, op, ""); err != nil {
		return nil, "", err
	}
	var out []*domain.APIToken
	cursor, err := d.list(op, bucketTokens, page, func(k, v []byte) error {
		doc, err := decode[tokenDoc](op, string(k), v)
		if err == nil {
			out = append(out, doc.domain())
		}
		return err
	})
	return out, cursor, err
}

// CreateReleaseProof implements store.Driver.
func (d *Driver) CreateReleaseProof(ctx context.Context, p *domain.ReleaseProof) error {
	const op = "embedded: create release proof"
	if p == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil release proof")
	}
	id := p.ID()
	if err := start(ctx, op, id); err != nil {
		return err
	}
	if p.Bucket == "" || p.Key == "" || p.VersionID == "" {
		return errcode.Errorf(errcode.Invalid, op, id, "a release proof needs a bucket, a key and a version")
	}
	return d.create(op, id, bucketReleases, []byte(id), p, "release proof")
}

// GetReleaseProof implements store.Driver.
func (d *Driver) GetReleaseProof(ctx context.Context, id string) (*domain.ReleaseProof, error) {
	const op = "embedded: get release proof"
	if err := start(ctx, op, id); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	return get[domain.ReleaseProof](d, op, id, bucketReleases, []byte(id))
}
