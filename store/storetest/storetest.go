// Package storetest is the conformance suite that every store.Driver must
// pass, in the manner of gocloud.dev's blob/drivertest. A driver's test calls
// it with a function that makes a fresh driver:
//
//	func TestConformance(t *testing.T) {
//		t.Run("embedded", func(t *testing.T) {
//			storetest.RunConformanceTests(t, newDriver)
//			storetest.RunPropertyTests(t, newDriver, nil)
//		})
//	}
//
// The suite checks only the contract written in store/driver.go and the
// behaviour of the portable *store.Store on top of it, so the embedded
// driver and the DynamoDB driver are held to exactly the same rules.
//
// # What a driver must provide
//
//   - newDriver returns a driver that shares nothing with any other driver
//     it returned (its own file, its own table). Subtests run in parallel,
//     each with its own driver. The suite closes the driver when the subtest
//     ends; cleanups that newDriver registers with t.Cleanup run after that.
//   - Times round-trip to at least millisecond precision: a time with no
//     sub-millisecond part must come back Equal. The suite builds every time
//     on whole milliseconds and compares times truncated to the millisecond,
//     so a driver may keep nanoseconds or milliseconds, in any location.
//     Orderings (ListByState, ListOpenReviews) are only tested between times
//     at least a millisecond apart, or exactly equal.
//   - Empty and nil slices are interchangeable.
//   - A listing may return fewer items than the page's limit, and a non-empty
//     cursor followed by an empty last page; it must never return more items
//     than Page.Size(), repeat an item, or skip one.
//   - Where the contract allows either NotFound or ConditionFailed (Update of
//     a missing record), the suite accepts either. It does the same for
//     DecideReview and SetReviewToken of a missing item, which the contract
//     leaves open, but it requires an error: neither may create an item.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

// RunConformanceTests runs the contract tests, the portable-layer tests and
// the race tests against drivers made by newDriver. Every leaf subtest gets a
// fresh driver and runs in parallel with the others.
func RunConformanceTests(t *testing.T, newDriver func(t *testing.T) store.Driver) {
	t.Helper()
	groups := []struct {
		name  string
		tests []namedTest
	}{
		{"Driver", slices.Concat(driverTests(), intentDriverTests(), identityDriverTests(), checkpointDriverTests())},
		{"Store", slices.Concat(storeTests(), intentStoreTests(), identityStoreTests())},
		{"Race", slices.Concat(raceTests(), intentRaceTests(), identityRaceTests(), checkpointRaceTests())},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(t, openDriver(t, newDriver))
				})
			}
		})
	}
}

type namedTest struct {
	name string
	fn   func(t *testing.T, d store.Driver)
}

// openDriver makes a driver and closes it when the test ends.
func openDriver(t *testing.T, newDriver func(t *testing.T) store.Driver) store.Driver {
	t.Helper()
	d := newDriver(t)
	if d == nil {
		t.Fatal("newDriver returned nil")
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// base is the suite's epoch: every time it writes is base plus whole
// milliseconds.
var base = time.Date(2026, time.March, 14, 15, 9, 26, 535_000_000, time.UTC)

// at returns base plus ms milliseconds.
func at(ms int64) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

// clock is a fake, goroutine-safe clock for store.Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(start time.Time) *clock { return &clock{now: start} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newStore returns a portable store over d with a fake clock at base.
func newStore(d store.Driver) (*store.Store, *clock) {
	clk := newClock(base)
	return store.New(d, &store.Options{Now: clk.Now}), clk
}

// cmpOpts compare what drivers may legitimately change in a round trip:
// times at millisecond precision in any location, nil versus empty slices.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool {
		return a.Truncate(time.Millisecond).Equal(b.Truncate(time.Millisecond))
	}),
	cmpopts.EquateEmpty(),
}

// diff is cmp.Diff with cmpOpts; report it as "(-got +want)".
func diff(got, want any, extra ...cmp.Option) string {
	return cmp.Diff(got, want, append(cmp.Options{cmpOpts}, extra...)...)
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, err error, code errcode.Code, what string) {
	t.Helper()
	if got := errcode.Of(err); got != code || err == nil {
		t.Fatalf("%s: got error %v (code %s), want code %s", what, err, got, code)
	}
}

// wantCodeIn fails the test unless err carries one of codes.
func wantCodeIn(t *testing.T, err error, what string, codes ...errcode.Code) {
	t.Helper()
	if err == nil || !slices.Contains(codes, errcode.Of(err)) {
		t.Fatalf("%s: got error %v (code %s), want one of %v", what, err, errcode.Of(err), codes)
	}
}

// mustOK fails the test on err.
func mustOK(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// clone deep-copies v through JSON, which is how the suite snapshots a value
// before handing it to, or taking it from, a driver.
func clone[T any](t *testing.T, v *T) *T {
	t.Helper()
	if v == nil {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("clone: %v", err)
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("clone: %v", err)
	}
	return out
}

// ref returns an object reference unique to name.
func ref(name string) domain.ObjectRef {
	return domain.ObjectRef{
		Bucket:    "uploads",
		Key:       "incoming/" + name + "/résumé (final).pdf",
		VersionID: "v." + name,
		ETag:      `"` + sum(name)[:32] + `"`,
		Size:      4096,
		Sequencer: "0065F2A1B2C3D4E5F6",
	}
}

// sum is the hex SHA-256 of s: a realistic allowlist or cache key.
func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// record returns a record in state with every field set, with times from
// at(ms) on. A scanning record holds a lease.
func record(name string, state domain.Status, ms int64) *domain.Record {
	obj := ref(name)
	rec := &domain.Record{
		ID:       obj.ID(),
		Object:   obj,
		State:    state,
		Reason:   domain.ReasonTimeout,
		Version:  3,
		Attempts: 2,
		Verdict: &domain.Verdict{
			Outcome:       domain.OutcomeInfected,
			Signatures:    []string{"Win.Test.EICAR_HDB-1.UNOFFICIAL", "Eicar-Signature"},
			Reason:        domain.ReasonLimitExceeded,
			Engine:        "ClamAV 1.4.6",
			DBVersion:     "27512",
			DBTime:        at(ms - 86_400_000),
			SHA256:        sum(name),
			BytesScanned:  4096,
			Duration:      1234567 * time.Microsecond,
			ScannedAt:     at(ms + 500),
			Reused:        true,
			AllowlistedBy: "alice@example.com",
		},
		Quarantine: &domain.ObjectRef{
			Bucket: "quarantine", Key: "q/" + obj.ID(), VersionID: "qv1", ETag: obj.ETag, Size: obj.Size,
		},
		ExecutionARN: "arn:aws:states:eu-west-1:123456789012:execution:scan:" + obj.ID(),
		CreatedAt:    at(ms),
		UpdatedAt:    at(ms + 1000),
		History: []domain.HistoryEntry{
			{At: at(ms), Event: "ingest", To: domain.StatusPending, Actor: "ingest", Detail: "s3:ObjectCreated:Put"},
			{At: at(ms + 1000), Event: "claim", From: domain.StatusPending, To: domain.StatusScanning, Actor: "worker-1", Reason: "", Detail: "attempt 1"},
		},
	}
	if state == domain.StatusScanning {
		rec.Lease = &domain.Lease{Owner: "worker-1", Token: "token-" + name, Expires: at(ms + 60_000)}
	}
	return rec
}

// create stores rec through the driver and fails the test on error.
func create(t *testing.T, d store.Driver, rec *domain.Record) *domain.Record {
	t.Helper()
	mustOK(t, d.Create(context.Background(), rec), fmt.Sprintf("Create %s", rec.ID))
	return rec
}

// get reads id through the driver and fails the test on error.
func get(t *testing.T, d store.Driver, id string) *domain.Record {
	t.Helper()
	rec, err := d.Get(context.Background(), id)
	mustOK(t, err, "Get "+id)
	return rec
}

// listAll pages through a listing with limit, checking the paging rules,
// and returns every item with the number of calls made.
func listAll[T any](t *testing.T, limit, total int, list func(store.Page) ([]T, string, error)) ([]T, int) {
	t.Helper()
	size := store.Page{Limit: limit}.Size()
	maxCalls := total/size + 2
	var (
		out    []T
		cursor string
	)
	for calls := 1; ; calls++ {
		items, next, err := list(store.Page{Cursor: cursor, Limit: limit})
		mustOK(t, err, fmt.Sprintf("list page %d (limit %d)", calls, limit))
		if len(items) > size {
			t.Fatalf("list page %d (limit %d): got %d items, want at most %d", calls, limit, len(items), size)
		}
		out = append(out, items...)
		if next == "" {
			return out, calls
		}
		if calls >= maxCalls {
			t.Fatalf("list (limit %d): still paging after %d calls for %d items", limit, calls, total)
		}
		cursor = next
	}
}
