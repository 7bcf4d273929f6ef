package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/statemachine"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
	"github.com/scangate/scangate/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newDriver opens a fresh file in the test's own directory. The suite tests
// semantics, not durability, so it skips fsync; TestReopen covers the
// synced path.
func newDriver(t *testing.T) store.Driver {
	t.Helper()
	d, err := embedded.Open(filepath.Join(t.TempDir(), "scangate.db"), &embedded.Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

// newSyncedDriver is newDriver with the default options.
func newSyncedDriver(t *testing.T) store.Driver {
	t.Helper()
	d, err := embedded.Open(filepath.Join(t.TempDir(), "scangate.db"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

func TestConformance(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		storetest.RunConformanceTests(t, newDriver)
	})
}

func TestProperty(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		storetest.RunPropertyTests(t, newDriver, nil)
	})
}

// TestDifferential runs the differential harness with and without fsync,
// which must make no difference to outcomes.
func TestDifferential(t *testing.T) {
	t.Run("embedded-nosync-vs-synced", func(t *testing.T) {
		storetest.RunDifferential(t, newDriver, newSyncedDriver, &storetest.PropertyOptions{Sequences: 50, Seed: 7})
	})
}

func open(t *testing.T, path string, opts *embedded.Options) *embedded.Driver {
	t.Helper()
	d, err := embedded.Open(path, opts)
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	return d
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scangate.db")
	now := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)
	clock := func() time.Time { return now }

	d := open(t, path, nil)
	s := store.New(d, &store.Options{Now: clock})
	rec, _, err := s.Ingest(ctx, domain.ObjectRef{Bucket: "b", Key: "k", VersionID: "v1"}, "ingest", "")
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	rec, err = s.Claim(ctx, rec.ID, "worker", time.Minute)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	sum := strings.Repeat("ab", 32)
	entry, err := s.AddAllowlist(ctx, domain.AllowlistEntry{SHA256: sum, AddedBy: "alice", Reason: "vendor"})
	if err != nil {
		t.Fatalf("AddAllowlist: %v", err)
	}
	review, err := s.OpenReview(ctx, rec)
	if err != nil {
		t.Fatalf("OpenReview: %v", err)
	}
	verdict := &domain.Verdict{Outcome: domain.OutcomeClean, DBVersion: "27512", SHA256: sum}
	if err := s.CacheVerdict(ctx, verdict); err != nil {
		t.Fatalf("CacheVerdict: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	d = open(t, path, nil)
	defer d.Close()
	s = store.New(d, &store.Options{Now: clock})
	got, err := s.Get(ctx, rec.ID)
	if err != nil {
		t.Fatalf("Get after reopening: %v", err)
	}
	if diff := cmp.Diff(got, rec); diff != "" {
		t.Errorf("record after reopening: diff (-got +want):\n%s", diff)
	}
	listed, _, err := s.ListByState(ctx, domain.StatusScanning, store.Page{})
	if err != nil || len(listed) != 1 || listed[0].ID != rec.ID {
		t.Errorf("ListByState scanning after reopening = %d records, %v; want the claimed record", len(listed), err)
	}
	gotEntry, err := s.Allowlisted(ctx, sum)
	if err != nil {
		t.Fatalf("Allowlisted after reopening: %v", err)
	}
	if diff := cmp.Diff(gotEntry, entry); diff != "" {
		t.Errorf("allowlist entry after reopening: diff (-got +want):\n%s", diff)
	}
	openItems, _, err := s.OpenReviews(ctx, store.Page{})
	if err != nil {
		t.Fatalf("OpenReviews after reopening: %v", err)
	}
	if diff := cmp.Diff(openItems, []*domain.ReviewItem{review}); diff != "" {
		t.Errorf("open reviews after reopening: diff (-got +want):\n%s", diff)
	}
	gotVerdict, err := s.CachedVerdict(ctx, sum, "27512")
	if err != nil {
		t.Fatalf("CachedVerdict after reopening: %v", err)
	}
	if diff := cmp.Diff(gotVerdict, verdict); diff != "" {
		t.Errorf("cached verdict after reopening: diff (-got +want):\n%s", diff)
	}
	// Nanoseconds survive: this driver keeps full precision.
	if !got.UpdatedAt.Equal(now) {
		t.Errorf("UpdatedAt after reopening = %s, want %s", got.UpdatedAt, now)
	}
	// The reopened store goes on from where it was.
	if _, err := s.Finish(ctx, rec.ID, rec.Lease.Token, store.Transition{Event: statemachine.Pass}); err != nil {
		t.Errorf("Finish after reopening: %v", err)
	}
}

func TestSecondOpenTimesOut(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "scangate.db")
	first := open(t, path, nil)

	const wait = 150 * time.Millisecond
	start := time.Now()
	second, err := embedded.Open(path, &embedded.Options{LockTimeout: wait})
	took := time.Since(start)
	if err == nil {
		second.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if errcode.Of(err) != errcode.Unavailable {
		t.Errorf("second Open: code %s, want Unavailable (%v)", errcode.Of(err), err)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "locked") {
		t.Errorf("second Open: error %q should name the file and say it is locked", msg)
	}
	// bbolt retries the lock every 50 ms and gives up one retry early.
	if took < wait/2 || took > wait+5*time.Second {
		t.Errorf("second Open gave up after %s, want about %s", took, wait)
	}

	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	again := open(t, path, &embedded.Options{LockTimeout: wait})
	if err := again.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	d := open(t, filepath.Join(t.TempDir(), "scangate.db"), nil)
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err := d.Get(context.Background(), "x")
	if errcode.Of(err) != errcode.Invalid || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Get after Close: %v (code %s), want code Invalid saying closed", err, errcode.Of(err))
	}
}

func TestContextDone(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := d.Get(ctx, "x")
	if errcode.Of(err) != errcode.Unavailable || !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: %v (code %s), want code Unavailable wrapping context.Canceled", err, errcode.Of(err))
	}
}

func TestInvalidArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDriver(t)
	defer d.Close()
	for _, id := range []string{"r1", "r2"} {
		if err := d.Create(ctx, &domain.Record{ID: id, State: domain.StatusPending, Version: 1}); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	_, second, err := d.ListByState(ctx, domain.StatusPending, store.Page{Limit: 1})
	if err != nil || second == "" {
		t.Fatalf("ListByState = cursor %q, %v; want a cursor to the second record", second, err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"create nil", func() error { return d.Create(ctx, nil) }},
		{"create without id", func() error { return d.Create(ctx, &domain.Record{State: domain.StatusPending}) }},
		{"create in an unknown state", func() error { return d.Create(ctx, &domain.Record{ID: "r3", State: "limbo"}) }},
		{"update without states", func() error {
			_, err := d.Update(ctx, "r1", store.Condition{}, store.Mutation{State: domain.StatusScanning})
			return err
		}},
		{"update to an unknown state", func() error {
			_, err := d.Update(ctx, "r1", store.Condition{States: []domain.Status{domain.StatusPending}}, store.Mutation{State: "limbo"})
			return err
		}},
		{"cursor not base64", func() error {
			_, _, err := d.ListByState(ctx, domain.StatusPending, store.Page{Cursor: "%%%"})
			return err
		}},
		{"cursor of another state", func() error {
			_, _, err := d.ListByState(ctx, domain.StatusClean, store.Page{Cursor: second})
			return err
		}},
		{"allowlist without sha256", func() error { return d.PutAllowlist(ctx, &domain.AllowlistEntry{}) }},
		{"review without id", func() error { return d.CreateReview(ctx, &domain.ReviewItem{}) }},
		{"empty decision", func() error {
			_, err := d.DecideReview(ctx, "r1", store.ReviewDecision{})
			return err
		}},
		{"verdict without sha256", func() error { return d.PutCachedVerdict(ctx, "", "1", &domain.Verdict{}) }},
	}
	for _, tc := range tests {
		if err := tc.call(); errcode.Of(err) != errcode.Invalid {
			t.Errorf("%s: %v (code %s), want code Invalid", tc.name, err, errcode.Of(err))
		}
	}
	// This driver hands out no cursor when nothing follows a full page.
	_, last, err := d.ListByState(ctx, domain.StatusPending, store.Page{Cursor: second, Limit: 1})
	if err != nil || last != "" {
		t.Errorf("ListByState of the last page = cursor %q, %v; want \"\", nil", last, err)
	}
}

func TestRefusesOtherLayout(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "scangate.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("layout"), []byte("999"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := embedded.Open(path, nil)
	if err == nil {
		d.Close()
		t.Fatal("Open of a file with another layout succeeded")
	}
	if errcode.Of(err) != errcode.Invalid || !strings.Contains(err.Error(), "layout") {
		t.Errorf("Open of a file with another layout: %v (code %s), want code Invalid naming the layout", err, errcode.Of(err))
	}
	// The failed Open released the lock.
	again, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("file still locked after the failed Open: %v", err)
	}
	again.Close()
}

func TestOpenMissingDirectory(t *testing.T) {
	t.Parallel()
	_, err := embedded.Open(filepath.Join(t.TempDir(), "no", "such", "dir", "scangate.db"), nil)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open in a missing directory: %v, want an error wrapping os.ErrNotExist", err)
	}
}

func Example() {
	dir, err := os.MkdirTemp("", "scangate-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	d, err := embedded.Open(filepath.Join(dir, "scangate.db"), nil)
	if err != nil {
		panic(err)
	}
	s := store.New(d, nil)
	defer s.Close()

	ctx := context.Background()
	rec, created, err := s.Ingest(ctx, domain.ObjectRef{Bucket: "uploads", Key: "a.pdf", VersionID: "v1"}, "example", "")
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.State, created)
	rec, err = s.Claim(ctx, rec.ID, "worker-1", time.Minute)
	if err != nil {
		panic(err)
	}
	_, err = s.Claim(ctx, rec.ID, "worker-2", time.Minute)
	fmt.Println(rec.State, errcode.Of(err), errors.Is(err, store.ErrLeased))
	// Output:
	// pending true
	// scanning ConditionFailed true
}
