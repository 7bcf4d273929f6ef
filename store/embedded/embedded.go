// Package embedded is the store driver for running scangate on one machine:
// every record lives in a single bbolt file.
//
// # Why bbolt
//
// bbolt (go.etcd.io/bbolt) is pure Go, so the binary needs no cgo and cross
// compiles like the rest of scangate. The whole database is one file. Its
// transactions are serializable with a single writer: Update reads the
// record, checks every part of the store.Condition and writes the record and
// its index entries inside one read-write transaction, so the
// compare-and-set that the lifecycle relies on is atomic without any locking
// of our own. Commits are copy-on-write and fsynced, so a crash leaves either
// the whole transaction on disk or none of it, and the secondary indexes
// never disagree with the records.
//
// # Limits
//
// One process at a time holds the file: bbolt takes an exclusive flock on
// it. A second Open of the same path, from this process or another, waits
// Options.LockTimeout and then fails with code Unavailable, naming the path.
// Writes are serialized, and a commit is bbolt's pair of fdatasyncs. Writes
// of concurrent callers share a transaction and its commit (group commit,
// see committer): each caller is answered only once the commit that holds
// its write is on disk, and a refused conditional write does not disturb
// the others of its batch. So a single writer pays one commit per write,
// and many writers share commits instead of queueing for the disk's sync
// rate; reads run concurrently with the writer.
// The file is not meant for network file systems or for sharing between
// machines; a deployment with more than one process uses the DynamoDB driver.
// The file never shrinks when records are deleted; bbolt reuses the space.
//
// # Layout
//
// Each bucket maps a key to a JSON document or to nothing (index buckets):
//
//	records       id -> domain.Record
//	records-state state 0x00 updatedAt 0x00 id -> (empty)
//	allowlist     sha256 -> domain.AllowlistEntry
//	reviews       id -> domain.ReviewItem
//	reviews-open  openedAt 0x00 id -> (empty), open items only
//	verdicts      sha256 0x00 dbVersion -> domain.Verdict
//	intents       id -> domain.UploadIntent
//	intents-state state 0x00 expiresAt 0x00 id -> (empty)
//	intents-key   keyHash 0x00 issuedAt 0x00 id -> (empty)
//	accounts      name -> account (with its password hash)
//	tokens        id -> API token (with its hash)
//	releases      domain.ReleaseProof.ID() -> domain.ReleaseProof
//	meta          "layout" -> layout version
//	checkpoints   id -> domain.Checkpoint (a backfill's position)
//	histories     recordKey 0x00 execution 0x00 seq -> JSON lines
//
// A history's seq is the time its piece was written, in Unix nanoseconds as
// a big-endian uint64 (made unique and increasing): PruneHistories deletes
// the executions whose last piece is older than it is told.
//
// keyHash is domain.KeyHash(bucket, key), 32 hex digits: keys may hold any
// byte and be 1 KiB long, and a fixed-width prefix keeps one key's
// entries apart from another's. Listings compare the stored bucket and key
// exactly, so even a collision would not mix two keys' intents. The
// intent, account, token, release, checkpoint and history buckets were
// added without a layout change: Open creates missing buckets, and a build
// without them ignores them. Accounts and tokens are listed in key order, which is name and ID
// order.
//
// A time in a key is 12 bytes: the Unix seconds as a big-endian uint64 with
// the sign bit flipped, then the nanoseconds as a big-endian uint32, so byte
// order is time order for every time.Time value. Index entries are written
// in the same transaction as the document they point to. A listing cursor is
// the base64 (URL alphabet, no padding) of the last key returned.
//
// # Errors
//
// Errors are *errcode.Error values with the op "embedded: <operation>" and
// the item's ID: NotFound, AlreadyExists and ConditionFailed as the
// store.Driver contract says; Invalid for a malformed argument or cursor and
// for a call after Close; Unavailable when the file lock could not be had in
// time or the context was done before the call started (the context error
// is wrapped, so errors.Is(err, context.Canceled) holds); Unknown for I/O
// errors and undecodable documents.
package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

var _ store.Driver = (*Driver)(nil)

// DefaultLockTimeout is how long Open waits for the file lock by default.
const DefaultLockTimeout = 5 * time.Second

// layoutVersion names the bucket layout described in the package doc. Open
// refuses a file written with a different layout.
const layoutVersion = "1"

var (
	bucketRecords    = []byte("records")
	bucketByState    = []byte("records-state")
	bucketAllowlist  = []byte("allowlist")
	bucketReviews    = []byte("reviews")
	bucketOpen       = []byte("reviews-open")
	bucketVerdicts   = []byte("verdicts")
	bucketIntents    = []byte("intents")
	bucketIntState   = []byte("intents-state")
	bucketIntKey     = []byte("intents-key")
	bucketAccounts   = []byte("accounts")
	bucketTokens     = []byte("tokens")
	bucketReleases   = []byte("releases")
	bucketMeta       = []byte("meta")
	bucketCheckpts   = []byte("checkpoints")
	bucketHistories  = []byte("histories")
	keyLayoutVersion = []byte("layout")

	allBuckets = [][]byte{
		bucketRecords, bucketByState, bucketAllowlist, bucketReviews,
		bucketOpen, bucketVerdicts, bucketIntents, bucketIntState, bucketIntKey,
		bucketAccounts, bucketTokens, bucketReleases, bucketMeta, bucketCheckpts,
		bucketHistories,
	}
)

// Options configure Open. The zero value is the default.
type Options struct {
	// LockTimeout bounds the wait for the file lock that another Driver (in
	// this process or another) holds; 0 means DefaultLockTimeout. Open
	// then fails with code Unavailable rather than hanging.
	LockTimeout time.Duration
	// NoSync skips the fsync after each commit. It makes writes much faster
	// and a crash may then lose or corrupt recent commits: for tests only.
	NoSync bool
}

// Driver is a store.Driver over one bbolt file. It is safe for concurrent
// use by multiple goroutines.
type Driver struct {
	db    *bolt.DB
	path  string
	c     *committer
	hseq  atomic.Uint64 // see historySeq
	now   func() time.Time
	hmu   sync.Mutex
	hpend map[string][]*piece // AppendHistory's lines not committed yet, by record key
}

// Open opens the bbolt file at path, creating it (mode 0600) and its buckets
// if needed. The directory must exist.
func Open(path string, opts *Options) (*Driver, error) {
	const op = "embedded: open"
	if opts == nil {
		opts = &Options{}
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: opts.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, errcode.Errorf(errcode.Unavailable, op, path,
			"the file is locked by another process or driver; gave up after %s", timeout)
	}
	if err != nil {
		return nil, &errcode.Error{Code: errcode.Unknown, Op: op, ID: path, Err: err}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keyLayoutVersion); {
		case v == nil:
			return meta.Put(keyLayoutVersion, []byte(layoutVersion))
		case string(v) != layoutVersion:
			return errcode.Errorf(errcode.Invalid, op, path, "file has layout version %q; this build reads %q", v, layoutVersion)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, wrap(op, path, err)
	}
	return &Driver{db: db, path: path, c: &committer{update: db.Update}, now: time.Now}, nil
}

// Path returns the file the driver holds.
func (d *Driver) Path() string { return d.path }

// Close releases the file and its lock. Closing twice is safe; any other
// call after Close gives code Invalid.
func (d *Driver) Close() error {
	// Posted history lines are committed before the file closes.
	d.c.close()
	err := d.db.Close()
	// Writes still queued fail on the closed file; their batches end.
	d.c.wait()
	if err != nil {
		return &errcode.Error{Code: errcode.Unknown, Op: "embedded: close", ID: d.path, Err: err}
	}
	return nil
}

// Create implements store.Driver.
func (d *Driver) Create(ctx context.Context, rec *domain.Record) error {
	const op = "embedded: create"
	if rec == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil record")
	}
	if err := start(ctx, op, rec.ID); err != nil {
		return err
	}
	if err := store.CheckRecord(op, rec.ID, rec.State); err != nil {
		return err
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return &errcode.Error{Code: errcode.Invalid, Op: op, ID: rec.ID, Err: err}
	}
	err = d.c.do(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		if recs.Get([]byte(rec.ID)) != nil {
			return refuse(errcode.Errorf(errcode.AlreadyExists, op, rec.ID, "a record with this id exists"))
		}
		if err := recs.Put([]byte(rec.ID), raw); err != nil {
			return err
		}
		return tx.Bucket(bucketByState).Put(stateKey(rec.State, rec.UpdatedAt, rec.ID), nil)
	})
	return wrap(op, rec.ID, err)
}

// Get implements store.Driver.
func (d *Driver) Get(ctx context.Context, id string) (*domain.Record, error) {
	const op = "embedded: get"
	if err := start(ctx, op, id); err != nil {
		return nil, err
	}
	var rec *domain.Record
	err := d.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = loadRecord(tx, op, id)
		return err
	})
	if err != nil {
		return nil, wrap(op, id, err)
	}
	return rec, nil
}

// Update implements store.Driver. The record is read, cond is checked and
// the new record and its index entry are written in one read-write
// transaction.
func (d *Driver) Update(ctx context.Context, id string, cond store.Condition, m store.Mutation) (*domain.Record, error) {
	const op = "embedded: update"
	if err := start(ctx, op, id); err != nil {
		return nil, err
	}
	if err := cond.Check(op, id); err != nil {
		return nil, err
	}
	if err := store.CheckRecord(op, id, m.State); err != nil {
		return nil, err
	}
	var written []byte
	err := d.c.do(func(tx *bolt.Tx) (err error) {
		written, err = update(tx, op, id, cond, m)
		return err
	})
	if err != nil {
		return nil, wrap(op, id, err)
	}
	// Decode what was written, so the caller gets exactly the stored record
	// and shares no pointer with m.
	return decode[domain.Record](op, id, written)
}

var _ store.VerdictCachingDriver = (*Driver)(nil)

// UpdateCachingVerdict implements store.VerdictCachingDriver: the record
// and the cache entry are written in one transaction.
func (d *Driver) UpdateCachingVerdict(ctx context.Context, id string, cond store.Condition, m store.Mutation, sha256, dbVersion string, v *domain.Verdict) (*domain.Record, error) {
	const op = "embedded: update"
	if v == nil {
		return nil, errcode.Errorf(errcode.Invalid, op, id, "nil verdict")
	}
	if err := start(ctx, op, id); err != nil {
		return nil, err
	}
	if err := cond.Check(op, id); err != nil {
		return nil, err
	}
	if err := store.CheckRecord(op, id, m.State); err != nil {
		return nil, err
	}
	key, err := verdictKey(op, sha256, dbVersion)
	if err != nil {
		return nil, err
	}
	cached, err := json.Marshal(v)
	if err != nil {
		return nil, errcode.Errorf(errcode.Invalid, op, id, "encode verdict: %w", err)
	}
	var written []byte
	err = d.c.do(func(tx *bolt.Tx) (err error) {
		if written, err = update(tx, op, id, cond, m); err != nil {
			return err
		}
		return tx.Bucket(bucketVerdicts).Put(key, cached)
	})
	if err != nil {
		return nil, wrap(op, id, err)
	}
	return decode[domain.Record](op, id, written)
}

// update is Update's write inside tx; it returns the record as written.
// A record that is missing or fails cond is refused before anything is
// written.
func update(tx *bolt.Tx, op, id string, cond store.Condition, m store.Mutation) ([]byte, error) {
	rec, err := loadRecord(tx, op, id)
	if err != nil {
		return nil, refuse(err)
	}
	if why := cond.Unmet(rec); why != "" {
		return nil, refuse(errcode.Errorf(errcode.ConditionFailed, op, id, "%s", why))
	}
	oldKey := stateKey(rec.State, rec.UpdatedAt, rec.ID)
	rec.State = m.State
	rec.Reason = m.Reason
	rec.Attempts = m.Attempts
	rec.Lease = m.Lease
	rec.Verdict = m.Verdict
	rec.Quarantine = m.Quarantine
	rec.ExecutionARN = m.ExecutionARN
	rec.UpdatedAt = m.UpdatedAt
	rec.Version++
	if m.History != nil {
		rec.History = append(rec.History, *m.History)
	}
	if m.Verdicts != nil {
		rec.Verdicts = m.Verdicts
	}
	written, err := json.Marshal(rec)
	if err != nil {
		return nil, errcode.Errorf(errcode.Invalid, op, id, "encode record: %w", err)
	}
	if err := tx.Bucket(bucketRecords).Put([]byte(id), written); err != nil {
		return nil, err
	}
	idx := tx.Bucket(bucketByState)
	if err := idx.Delete(oldKey); err != nil {
		return nil, err
	}
	return written, idx.Put(stateKey(rec.State, rec.UpdatedAt, rec.ID), nil)
}

// ListByState implements store.Driver.
func (d *Driver) ListByState(ctx context.Context, state domain.Status, page store.Page) ([]*domain.Record, string, error) {
	const op = "embedded: list"
	if err := start(ctx, op, string(state)); err != nil {
		return nil, "", err
	}
	prefix := append([]byte(state), 0)
	var (
		out    []*domain.Record
		cursor string
	)
	err := d.db.View(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		var err error
		cursor, err = scan(tx.Bucket(bucketByState), op, string(state), prefix, page, func(k, _ []byte) error {
			rec, err := indexedRecord(recs, op, k[len(prefix)+timeLen+1:])
			if err != nil {
				return err
			}
			out = append(out, rec)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, "", wrap(op, string(state), err)
	}
	return out, cursor, nil
}

// PutAllowlist implements store.Driver.
func (d *Driver) PutAllowlist(ctx context.Context, e *domain.AllowlistEntry) error {
	const op = "embedded: put allowlist"
	if e == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil entry")
	}
	if err := start(ctx, op, e.SHA256); err != nil {
		return err
	}
	if e.SHA256 == "" {
		return errcode.Errorf(errcode.Invalid, op, "", "entry has no sha256")
	}
	return d.put(op, e.SHA256, bucketAllowlist, []byte(e.SHA256), e)
}

// GetAllowlist implements store.Driver.
func (d *Driver) GetAllowlist(ctx context.Context, sha256 string) (*domain.AllowlistEntry, error) {
	const op = "embedded: get allowlist"
	if err := start(ctx, op, sha256); err != nil {
		return nil, err
	}
	return get[domain.AllowlistEntry](d, op, sha256, bucketAllowlist, []byte(sha256))
}

// DeleteAllowlist implements store.Driver.
func (d *Driver) DeleteAllowlist(ctx context.Context, sha256 string) error {
	const op = "embedded: delete allowlist"
	if err := start(ctx, op, sha256); err != nil {
		return err
	}
	if sha256 == "" {
		return nil // no entry can have an empty key
	}
	err := d.c.do(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAllowlist).Delete([]byte(sha256))
	})
	return wrap(op, sha256, err)
}

// ListAllowlist implements store.Driver.
func (d *Driver) ListAllowlist(ctx context.Context, page store.Page) ([]*domain.AllowlistEntry, string, error) {
	const op = "embedded: list allowlist"
	if err := start(ctx, op, ""); err != nil {
		return nil, "", err
	}
	var (
		out    []*domain.AllowlistEntry
		cursor string
	)
	err := d.db.View(func(tx *bolt.Tx) error {
		var err error
		cursor, err = scan(tx.Bucket(bucketAllowlist), op, "", nil, page, func(k, v []byte) error {
			e, err := decode[domain.AllowlistEntry](op, string(k), v)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, "", wrap(op, "", err)
	}
	return out, cursor, nil
}

// CreateReview implements store.Driver.
func (d *Driver) CreateReview(ctx context.Context, item *domain.ReviewItem) error {
	const op = "embedded: create review"
	if item == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil review item")
	}
	if err := start(ctx, op, item.ID); err != nil {
		return err
	}
	if item.ID == "" {
		return errcode.Errorf(errcode.Invalid, op, "", "review item has no id")
	}
	raw, err := json.Marshal(item)
	if err != nil {
		return &errcode.Error{Code: errcode.Invalid, Op: op, ID: item.ID, Err: err}
	}
	err = d.c.do(func(tx *bolt.Tx) error {
		reviews, open := tx.Bucket(bucketReviews), tx.Bucket(bucketOpen)
		if old := reviews.Get([]byte(item.ID)); old != nil {
			prev, err := decode[domain.ReviewItem](op, item.ID, old)
			if err != nil {
				return err
			}
			if prev.Open() {
				return refuse(errcode.Errorf(errcode.AlreadyExists, op, item.ID, "an open review item with this id exists"))
			}
			// A decided item has no open-index entry; it is simply replaced.
		}
		if err := reviews.Put([]byte(item.ID), raw); err != nil {
			return err
		}
		if item.Open() {
			return open.Put(openKey(item.OpenedAt, item.ID), nil)
		}
		return nil
	})
	return wrap(op, item.ID, err)
}

// GetReview implements store.Driver.
func (d *Driver) GetReview(ctx context.Context, id string) (*domain.ReviewItem, error) {
	const op = "embedded: get review"
	if err := start(ctx, op, id); err != nil {
		return nil, err
	}
	return get[domain.ReviewItem](d, op, id, bucketReviews, []byte(id))
}

// DecideReview implements store.Driver.
func (d *Driver) DecideReview(ctx context.Context, id string, dec store.ReviewDecision) (*domain.ReviewItem, error) {
	const op = "embedded: decide review"
	if err := start(ctx, op, id); err != nil {
		return nil, err
	}
	if dec.Decision == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, id, "empty decision")
	}
	var written []byte
	err := d.c.do(func(tx *bolt.Tx) error {
		item, err := loadReview(tx, op, id)
		if err != nil {
			return refuse(err)
		}
		if !item.Open() {
			return refuse(errcode.Errorf(errcode.ConditionFailed, op, id, "already decided (%s by %s)", item.Decision, item.Reviewer))
		}
		if err := tx.Bucket(bucketOpen).Delete(openKey(item.OpenedAt, item.ID)); err != nil {
			return err
		}
		item.Decision = dec.Decision
		item.Reviewer = dec.Reviewer
		item.Comment = dec.Comment
		item.DecidedAt = dec.DecidedAt
		if written, err = json.Marshal(item); err != nil {
			return errcode.Errorf(errcode.Invalid, op, id, "encode review item: %w", err)
		}
		return tx.Bucket(bucketReviews).Put([]byte(id), written)
	})
	if err != nil {
		return nil, wrap(op, id, err)
	}
	return decode[domain.ReviewItem](op, id, written)
}

// SetReviewToken implements store.Driver. A missing item gives NotFound.
func (d *Driver) SetReviewToken(ctx context.Context, id, token string) error {
	const op = "embedded: set review token"
	if err := start(ctx, op, id); err != nil {
		return err
	}
	err := d.c.do(func(tx *bolt.Tx) error {
		item, err := loadReview(tx, op, id)
		if err != nil {
			return err
		}
		item.TaskToken = token
		raw, err := json.Marshal(item)
		if err != nil {
			return errcode.Errorf(errcode.Invalid, op, id, "encode review item: %w", err)
		}
		return tx.Bucket(bucketReviews).Put([]byte(id), raw)
	})
	return wrap(op, id, err)
}

// ListOpenReviews implements store.Driver.
func (d *Driver) ListOpenReviews(ctx context.Context, page store.Page) ([]*domain.ReviewItem, string, error) {
	const op = "embedded: list reviews"
	if err := start(ctx, op, ""); err != nil {
		return nil, "", err
	}
	var (
		out    []*domain.ReviewItem
		cursor string
	)
	err := d.db.View(func(tx *bolt.Tx) error {
		reviews := tx.Bucket(bucketReviews)
		var err error
		cursor, err = scan(tx.Bucket(bucketOpen), op, "", nil, page, func(k, _ []byte) error {
			id := k[timeLen+1:]
			raw := reviews.Get(id)
			if raw == nil {
				return errcode.Errorf(errcode.Unknown, op, string(id), "open-review index entry without an item")
			}
			item, err := decode[domain.ReviewItem](op, string(id), raw)
			if err != nil {
				return err
			}
			out = append(out, item)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, "", wrap(op, "", err)
	}
	return out, cursor, nil
}

// PutCachedVerdict implements store.Driver.
func (d *Driver) PutCachedVerdict(ctx context.Context, sha256, dbVersion string, v *domain.Verdict) error {
	const op = "embedded: put verdict"
	if v == nil {
		return errcode.Errorf(errcode.Invalid, op, sha256, "nil verdict")
	}
	if err := start(ctx, op, sha256); err != nil {
		return err
	}
	key, err := verdictKey(op, sha256, dbVersion)
	if err != nil {
		return err
	}
	return d.put(op, sha256, bucketVerdicts, key, v)
}

// GetCachedVerdict implements store.Driver.
func (d *Driver) GetCachedVerdict(ctx context.Context, sha256, dbVersion string) (*domain.Verdict, error) {
	const op = "embedded: get verdict"
	if err := start(ctx, op, sha256); err != nil {
		return nil, err
	}
	key, err := verdictKey(op, sha256, dbVersion)
	if err != nil {
		return nil, err
	}
	return get[domain.Verdict](d, op, sha256, bucketVerdicts, key)
}

func verdictKey(op, sha256, dbVersion string) ([]byte, error) {
	if sha256 == "" || bytes.IndexByte([]byte(sha256), 0) >= 0 {
		return nil, errcode.Errorf(errcode.Invalid, op, sha256, "sha256 is empty or holds a NUL byte")
	}
	return []byte(sha256 + "\x00" + dbVersion), nil
}

// put stores v as JSON under key in bucket, replacing any value.
func (d *Driver) put(op, id string, bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return errcode.Errorf(errcode.Invalid, op, id, "encode: %w", err)
	}
	err = d.c.do(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put(key, raw)
	})
	return wrap(op, id, err)
}

// get decodes the JSON under key in bucket, or gives NotFound.
func get[T any](d *Driver, op, id string, bucket, key []byte) (*T, error) {
	var out *T
	err := d.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucket).Get(key)
		if raw == nil {
			return errcode.Errorf(errcode.NotFound, op, id, "not found")
		}
		var err error
		out, err = decode[T](op, id, raw)
		return err
	})
	if err != nil {
		return nil, wrap(op, id, err)
	}
	return out, nil
}

// indexedRecord returns the record with id, which an index entry names.
func indexedRecord(recs *bolt.Bucket, op string, id []byte) (*domain.Record, error) {
	raw := recs.Get(id)
	if raw == nil {
		return nil, errcode.Errorf(errcode.Unknown, op, string(id), "index entry without a record")
	}
	return decode[domain.Record](op, string(id), raw)
}

func loadRecord(tx *bolt.Tx, op, id string) (*domain.Record, error) {
	raw := tx.Bucket(bucketRecords).Get([]byte(id))
	if raw == nil {
		return nil, errcode.Errorf(errcode.NotFound, op, id, "no such record")
	}
	return decode[domain.Record](op, id, raw)
}

func loadReview(tx *bolt.Tx, op, id string) (*domain.ReviewItem, error) {
	raw := tx.Bucket(bucketReviews).Get([]byte(id))
	if raw == nil {
		return nil, errcode.Errorf(errcode.NotFound, op, id, "no such review item")
	}
	return decode[domain.ReviewItem](op, id, raw)
}

// decode unmarshals raw into a new T. The result shares no memory with raw,
// which may belong to a bbolt transaction.
func decode[T any](op, id string, raw []byte) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, errcode.Errorf(errcode.Unknown, op, id, "stored document does not decode: %w", err)
	}
	return v, nil
}

// errStop, returned by a scan's fn, ends the listing before the key it was
// given: no cursor is handed out.
var errStop = errors.New("end of listing")

// scan walks the keys of b that start with prefix, beginning after the
// page's cursor, calling fn for at most page.Size() of them. It returns the
// cursor for the next page, or "" when no further key has the prefix.
func scan(b *bolt.Bucket, op, id string, prefix []byte, page store.Page, fn func(k, v []byte) error) (string, error) {
	return scanFrom(b, op, id, prefix, nil, page, fn)
}

// scanFrom is scan starting, on the first page, at start (a key with the
// prefix) rather than at the prefix itself.
func scanFrom(b *bolt.Bucket, op, id string, prefix, start []byte, page store.Page, fn func(k, v []byte) error) (string, error) {
	from := prefix
	if start != nil {
		from = start
	}
	after := false
	if page.Cursor != "" {
		k, err := base64.RawURLEncoding.DecodeString(page.Cursor)
		if err != nil || len(k) == 0 || !bytes.HasPrefix(k, prefix) {
			return "", errcode.Errorf(errcode.Invalid, op, id, "malformed cursor %q", page.Cursor)
		}
		from, after = k, true
	}
	size := page.Size()
	c := b.Cursor()
	var (
		k, v []byte
		last []byte
		n    int
	)
	if len(from) == 0 {
		k, v = c.First()
	} else {
		k, v = c.Seek(from)
	}
	if after && k != nil && bytes.Equal(k, from) {
		k, v = c.Next()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if n == size {
			// Another key follows the page: hand out a cursor.
			return base64.RawURLEncoding.EncodeToString(last), nil
		}
		if err := fn(k, v); errors.Is(err, errStop) {
			return "", nil
		} else if err != nil {
			return "", err
		}
		last = k
		n++
	}
	return "", nil
}

// timeLen is the length of an encoded time in a key.
const timeLen = 12

// appendTime appends t so that byte order is time order.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// stateKey is the records-state index key: state 0x00 time 0x00 id.
func stateKey(state domain.Status, updated time.Time, id string) []byte {
	k := make([]byte, 0, len(state)+timeLen+2+len(id))
	k = append(k, state...)
	k = append(k, 0)
	k = appendTime(k, updated)
	k = append(k, 0)
	return append(k, id...)
}

// openKey is the reviews-open index key: time 0x00 id.
func openKey(opened time.Time, id string) []byte {
	k := make([]byte, 0, timeLen+1+len(id))
	k = appendTime(k, opened)
	k = append(k, 0)
	return append(k, id...)
}

// start reports a done context before any work begins. bbolt takes no
// context, and a started transaction is short, so it is not interrupted.
func start(ctx context.Context, op, id string) error {
	if err := ctx.Err(); err != nil {
		return &errcode.Error{Code: errcode.Unavailable, Op: op, ID: id, Err: err}
	}
	return nil
}

// wrap gives err an errcode code. Errors that already carry one pass through.
func wrap(op, id string, err error) error {
	if err == nil {
		return nil
	}
	var e *errcode.Error
	if errors.As(err, &e) {
		return err
	}
	code := errcode.Unknown
	switch {
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return errcode.Errorf(errcode.Invalid, op, id, "driver is closed")
	case errors.Is(err, bolterrors.ErrKeyRequired), errors.Is(err, bolterrors.ErrKeyTooLarge),
		errors.Is(err, bolterrors.ErrValueTooLarge):
		code = errcode.Invalid
	}
	return &errcode.Error{Code: code, Op: op, ID: id, Err: err}
}
