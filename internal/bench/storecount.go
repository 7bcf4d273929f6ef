package bench

import (
	"context"
	"sync"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/store"
)

// countingDriver wraps a store driver and counts its calls by what they
// touch: a record's ID, or "sha:"+SHA-256 for the allowlist and the
// verdict cache, which are keyed by the bytes. The pipeline adds up both
// keys of an object to get its reads and writes.
//
// It also tells the pipeline when an object's scan workflow made its last
// write (see onLast), which is when the pipeline counts the object as done.
type countingDriver struct {
	store.Driver

	// onLast is called after the write that ends a scan workflow: the
	// clean verdict cached by a write of its own (Record's last write,
	// after tagging), or the record moved to a final state other than
	// clean (reviewing after Quarantine, or failed, gone, allowlisted).
	// Where the verdict's write caches it, a clean object's last write is
	// its tagging, which tagWatch reports.
	onLast func(key string)

	mu     sync.Mutex
	writes map[string]int
	// refused counts the writes whose condition did not hold (or whose
	// item existed): attempts that changed nothing, but that DynamoDB
	// bills all the same.
	refused map[string]int
	reads   map[string]int
	ops     map[string]int // by operation, for the totals
	// tokens holds the records whose review task token was stored.
	tokens map[string]bool
}

func newCountingDriver(d store.Driver) *countingDriver {
	return &countingDriver{Driver: d, writes: map[string]int{}, refused: map[string]int{}, reads: map[string]int{}, ops: map[string]int{}, tokens: map[string]bool{}}
}

func (c *countingDriver) count(m map[string]int, op, key string) {
	c.mu.Lock()
	m[key]++
	c.ops[op]++
	c.mu.Unlock()
}

// write counts one write attempt and its outcome, and returns err.
func (c *countingDriver) write(op, key string, err error) error {
	c.count(c.writes, op, key)
	switch errcode.Of(err) {
	case errcode.ConditionFailed, errcode.AlreadyExists:
		c.count(c.refused, op+" refused", key)
	}
	return err
}

// counts returns the write attempts, the refused ones among them, and the
// reads of the given keys.
func (c *countingDriver) counts(keys ...string) (writes, refused, reads int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		writes += c.writes[k]
		refused += c.refused[k]
		reads += c.reads[k]
	}
	return writes, refused, reads
}

// hasToken reports whether the review task token of record id was stored.
func (c *countingDriver) hasToken(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tokens[id]
}

func shaKey(sum string) string { return "sha:" + sum }

func (c *countingDriver) Create(ctx context.Context, rec *domain.Record) error {
	return c.write("create", rec.ID, c.Driver.Create(ctx, rec))
}

func (c *countingDriver) Get(ctx context.Context, id string) (*domain.Record, error) {
	c.count(c.reads, "get", id)
	return c.Driver.Get(ctx, id)
}

func (c *countingDriver) Update(ctx context.Context, id string, cond store.Condition, m store.Mutation) (*domain.Record, error) {
	rec, err := c.Driver.Update(ctx, id, cond, m)
	c.write("update", id, err)
	if err == nil && c.onLast != nil {
		switch m.State {
		case domain.StatusReviewing, domain.StatusFailed, domain.StatusGone, domain.StatusAllowlisted:
			c.onLast(id)
		}
	}
	return rec, err
}

// UpdateCachingVerdict counts one write, of the record: the verdict cache
// entry is part of it.
func (c *countingDriver) UpdateCachingVerdict(ctx context.Context, id string, cond store.Condition, m store.Mutation, sum, dbVersion string, v *domain.Verdict) (*domain.Record, error) {
	cd, ok := c.Driver.(store.VerdictCachingDriver)
	if !ok {
		rec, err := c.Update(ctx, id, cond, m)
		if err == nil {
			err = c.PutCachedVerdict(ctx, sum, dbVersion, v)
		}
		return rec, err
	}
	rec, err := cd.UpdateCachingVerdict(ctx, id, cond, m, sum, dbVersion, v)
	c.write("update caching verdict", id, err)
	return rec, err
}

func (c *countingDriver) ListByState(ctx context.Context, state domain.Status, page store.Page) ([]*domain.Record, string, error) {
	c.count(c.reads, "list", "list")
	return c.Driver.ListByState(ctx, state, page)
}

func (c *countingDriver) GetAllowlist(ctx context.Context, sum string) (*domain.AllowlistEntry, error) {
	c.count(c.reads, "get allowlist", shaKey(sum))
	return c.Driver.GetAllowlist(ctx, sum)
}

func (c *countingDriver) PutAllowlist(ctx context.Context, e *domain.AllowlistEntry) error {
	return c.write("put allowlist", shaKey(e.SHA256), c.Driver.PutAllowlist(ctx, e))
}

func (c *countingDriver) DeleteAllowlist(ctx context.Context, sum string) error {
	return c.write("delete allowlist", shaKey(sum), c.Driver.DeleteAllowlist(ctx, sum))
}

func (c *countingDriver) CreateReview(ctx context.Context, item *domain.ReviewItem) error {
	return c.write("create review", item.ID, c.Driver.CreateReview(ctx, item))
}

func (c *countingDriver) GetReview(ctx context.Context, id string) (*domain.ReviewItem, error) {
	c.count(c.reads, "get review", id)
	return c.Driver.GetReview(ctx, id)
}

func (c *countingDriver) DecideReview(ctx context.Context, id string, d store.ReviewDecision) (*domain.ReviewItem, error) {
	item, err := c.Driver.DecideReview(ctx, id, d)
	return item, c.write("decide review", id, err)
}

func (c *countingDriver) SetReviewToken(ctx context.Context, id, token string) error {
	err := c.write("set review token", id, c.Driver.SetReviewToken(ctx, id, token))
	if err == nil {
		c.mu.Lock()
		c.tokens[id] = true
		c.mu.Unlock()
	}
	return err
}

func (c *countingDriver) PutCachedVerdict(ctx context.Context, sum, dbVersion string, v *domain.Verdict) error {
	err := c.write("put verdict", shaKey(sum), c.Driver.PutCachedVerdict(ctx, sum, dbVersion, v))
	if err == nil && c.onLast != nil {
		c.onLast(shaKey(sum))
	}
	return err
}

func (c *countingDriver) GetCachedVerdict(ctx context.Context, sum, dbVersion string) (*domain.Verdict, error) {
	c.count(c.reads, "get verdict", shaKey(sum))
	return c.Driver.GetCachedVerdict(ctx, sum, dbVersion)
}

// tagWatch wraps the pipeline's bucket and reports, after it is written,
// the tag that ends a clean object's workflow: its status tag, clean.
type tagWatch struct {
	objects.Driver
	onClean func(id string)
}

func (w *tagWatch) SetTags(ctx context.Context, ref domain.ObjectRef, tags map[string]string) error {
	err := w.Driver.SetTags(ctx, ref, tags)
	if err == nil && tags[objects.TagStatus] == string(domain.StatusClean) {
		w.onClean(ref.ID())
	}
	return err
}

// Versions keeps the bucket's listing of versions visible to ingest.
func (w *tagWatch) Versions(ctx context.Context, bucket, key string) ([]objects.Info, error) {
	vl, ok := w.Driver.(interface {
		Versions(ctx context.Context, bucket, key string) ([]objects.Info, error)
	})
	if !ok {
		return nil, errcode.Errorf(errcode.Invalid, "bench: versions", bucket, "the bucket lists no versions")
	}
	return vl.Versions(ctx, bucket, key)
}
