package drill

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

// errInjected marks every error a FaultStore makes up, so that a report can
// tell an injected failure from a real one.
var errInjected = errors.New("drill: injected fault")

// Injected reports whether err is, or wraps, an error a FaultStore made up.
func Injected(err error) bool { return errors.Is(err, errInjected) }

// StoreFaults are the chances, per conditional write (Create, Update,
// CreateReview), of each fault a FaultStore injects. At most one fault is
// injected into one write.
type StoreFaults struct {
	// Throttle refuses the write, unapplied, with code Throttled: DynamoDB
	// throttling that outlasted the SDK's own retries.
	Throttle float64
	// Conflict lets a rival bookkeeping write land on the record first (an
	// unchanged record with its version bumped, as Store.SetExecution
	// writes it), so that an Update conditional on the version meets a
	// real conflict in the backend. Only Updates with a version condition
	// can conflict.
	Conflict float64
	// LostAnswer applies the write and then reports code Unavailable, as
	// when the answer is lost after the SDK's retries: the caller cannot
	// know that it won.
	LostAnswer float64
}

// StoreFaultStats counts what a FaultStore did.
type StoreFaultStats struct {
	Writes      int64 // conditional writes seen
	Throttled   int64
	Conflicts   int64 // rival writes that landed before the caller's
	LostAnswers int64
}

// FaultStore is a store.Driver that injects StoreFaults into the
// conditional writes of the driver it wraps; reads and everything else
// pass through untouched. It is safe for concurrent use.
type FaultStore struct {
	store.Driver

	mu     sync.Mutex
	faults StoreFaults
	rng    *rand.Rand

	writes, throttled, conflicts, lost atomic.Int64
}

var _ store.Driver = (*FaultStore)(nil)

// NewFaultStore wraps d. seed seeds the draws.
func NewFaultStore(d store.Driver, faults StoreFaults, seed uint64) *FaultStore {
	return &FaultStore{Driver: d, faults: faults, rng: rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))}
}

// SetFaults replaces the chances for the writes that follow.
func (f *FaultStore) SetFaults(faults StoreFaults) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = faults
}

// Stats returns the counts so far.
func (f *FaultStore) Stats() StoreFaultStats {
	return StoreFaultStats{Writes: f.writes.Load(), Throttled: f.throttled.Load(), Conflicts: f.conflicts.Load(), LostAnswers: f.lost.Load()}
}

type fault int

const (
	faultNone fault = iota
	faultThrottle
	faultConflict
	faultLost
)

// draw picks the fault for one write.
func (f *FaultStore) draw(canConflict bool) fault {
	f.writes.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	x := f.rng.Float64()
	switch fs := f.faults; {
	case x < fs.Throttle:
		return faultThrottle
	case x < fs.Throttle+fs.LostAnswer:
		return faultLost
	case canConflict && x < fs.Throttle+fs.LostAnswer+fs.Conflict:
		return faultConflict
	}
	return faultNone
}

func (f *FaultStore) throttle(op, id string) error {
	f.throttled.Add(1)
	return &errcode.Error{Code: errcode.Throttled, Op: op, ID: id, Err: fmt.Errorf("throttled: %w", errInjected)}
}

func (f *FaultStore) loseAnswer(op, id string) error {
	f.lost.Add(1)
	return &errcode.Error{Code: errcode.Unavailable, Op: op, ID: id, Err: fmt.Errorf("the write was applied but its answer was lost: %w", errInjected)}
}

// Create implements store.Driver.
func (f *FaultStore) Create(ctx context.Context, rec *domain.Record) error {
	const op = "drill: create"
	switch f.draw(false) {
	case faultThrottle:
		return f.throttle(op, rec.ID)
	case faultLost:
		if err := f.Driver.Create(ctx, rec); err != nil {
			return err
		}
		return f.loseAnswer(op, rec.ID)
	}
	return f.Driver.Create(ctx, rec)
}

// Update implements store.Driver.
func (f *FaultStore) Update(ctx context.Context, id string, cond store.Condition, m store.Mutation) (*domain.Record, error) {
	const op = "drill: update"
	switch f.draw(cond.Version != 0) {
	case faultThrottle:
		return nil, f.throttle(op, id)
	case faultLost:
		if _, err := f.Driver.Update(ctx, id, cond, m); err != nil {
			return nil, err
		}
		return nil, f.loseAnswer(op, id)
	case faultConflict:
		f.rival(ctx, id, cond.Version)
	}
	return f.Driver.Update(ctx, id, cond, m)
}

// rival bumps the record's version without changing it, if the record is
// still at version: the bookkeeping write a concurrent ingest makes when
// it links an execution.
func (f *FaultStore) rival(ctx context.Context, id string, version int64) {
	cur, err := f.Driver.Get(ctx, id)
	if err != nil || cur.Version != version {
		return
	}
	m := store.Mutation{
		State: cur.State, Reason: cur.Reason, Attempts: cur.Attempts, Lease: cur.Lease, Verdict: cur.Verdict,
		Quarantine: cur.Quarantine, ExecutionARN: cur.ExecutionARN, UpdatedAt: cur.UpdatedAt,
	}
	if _, err := f.Driver.Update(ctx, id, store.Condition{States: []domain.Status{cur.State}, Version: cur.Version}, m); err == nil {
		f.conflicts.Add(1)
	}
}

// CreateReview implements store.Driver.
func (f *FaultStore) CreateReview(ctx context.Context, item *domain.ReviewItem) error {
	const op = "drill: create review"
	switch f.draw(false) {
	case faultThrottle:
		return f.throttle(op, item.ID)
	case faultLost:
		if err := f.Driver.CreateReview(ctx, item); err != nil {
			return err
		}
		return f.loseAnswer(op, item.ID)
	}
	return f.Driver.CreateReview(ctx, item)
}
