package embedded

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

// heldDriver is a driver whose first commit waits until release is
// closed, so that the writes started meanwhile queue up as one batch.
// fail, when it returns an error for commit n (counted from 1), makes
// that commit fail after its functions ran: the transaction is rolled
// back, as when bbolt's fdatasync fails.
type heldDriver struct {
	*Driver
	entered, release chan struct{}
	commits          atomic.Int32
}

func newHeldDriver(t *testing.T, fail func(n int32) error) *heldDriver {
	t.Helper()
	d := tempDriver(t, nil)
	h := &heldDriver{Driver: d, entered: make(chan struct{}), release: make(chan struct{})}
	d.c.update = func(fn func(*bolt.Tx) error) error {
		n := h.commits.Add(1)
		if n == 1 {
			close(h.entered)
			<-h.release
		}
		return d.db.Update(func(tx *bolt.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			if fail != nil {
				return fail(n)
			}
			return nil
		})
	}
	return h
}

// queued waits until n calls wait for the next batch.
func (h *heldDriver) queued(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.c.mu.Lock()
		got := len(h.c.queue)
		h.c.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// noError stands for a nil error among codes.
const noError errcode.Code = -1

func codeOf(err error) errcode.Code {
	if err == nil {
		return noError
	}
	return errcode.Of(err)
}

func record(id string) *domain.Record {
	now := time.Now().UTC()
	return &domain.Record{
		ID: id, Object: domain.ObjectRef{Bucket: "b", Key: id, VersionID: "v"},
		State: domain.StatusPending, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
}

func claim(version int64) (store.Condition, store.Mutation) {
	return store.Condition{States: []domain.Status{domain.StatusPending}, Version: version},
		store.Mutation{State: domain.StatusScanning, Attempts: 1, UpdatedAt: time.Now().UTC(),
			History: &domain.HistoryEntry{Event: "claim", From: domain.StatusPending, To: domain.StatusScanning}}
}

func TestGroupCommit(t *testing.T) {
	errCommit := errors.New("fdatasync: input/output error")
	tests := []struct {
		name string
		// fail makes commit n fail; nil: every commit succeeds.
		fail func(n int32) error
		// the queued writes, run concurrently into one batch, and what
		// each must return.
		writes []func(d *Driver) error
		want   []errcode.Code
		// commits is the number of transactions the writes took, the
		// held first one included.
		commits int32
		// exist: the records that must exist afterwards, and missing those
		// that must not.
		exist, missing []string
	}{
		{
			name: "a failed commit acknowledges no member",
			fail: func(n int32) error {
				if n == 2 {
					return errCommit
				}
				return nil
			},
			writes: []func(d *Driver) error{
				func(d *Driver) error { return d.Create(t.Context(), record("new-1")) },
				func(d *Driver) error { return d.Create(t.Context(), record("new-2")) },
				func(d *Driver) error { // refused in the batch, yet not answered as refused
					return d.Create(t.Context(), record("new-1"))
				},
				func(d *Driver) error {
					c, m := claim(1)
					_, err := d.Update(t.Context(), "old", c, m)
					return err
				},
			},
			want:    []errcode.Code{errcode.Unknown, errcode.Unknown, errcode.Unknown, errcode.Unknown},
			commits: 2,
			exist:   []string{"old", "first"},
			missing: []string{"new-1", "new-2"},
		},
		{
			name: "a refused member leaves the others alone",
			writes: []func(d *Driver) error{
				func(d *Driver) error { return d.Create(t.Context(), record("new-1")) },
				func(d *Driver) error { return d.Create(t.Context(), record("old")) },
				func(d *Driver) error {
					c, m := claim(7) // a stale version
					_, err := d.Update(t.Context(), "old", c, m)
					return err
				},
				func(d *Driver) error {
					c, m := claim(1)
					_, err := d.Update(t.Context(), "nobody", c, m)
					return err
				},
				func(d *Driver) error { return d.Create(t.Context(), record("new-2")) },
			},
			want:    []errcode.Code{noError, errcode.AlreadyExists, errcode.ConditionFailed, errcode.NotFound, noError},
			commits: 2, // refusals cost no rollback
			exist:   []string{"old", "first", "new-1", "new-2"},
			missing: []string{"nobody"},
		},
		{
			name: "an invalid member is run alone and the others commit",
			writes: []func(d *Driver) error{
				func(d *Driver) error { return d.Create(t.Context(), record("new-1")) },
				func(d *Driver) error {
					// bbolt refuses a key this long inside the
					// shared transaction, which is then rolled back.
					big := make([]byte, bolt.MaxKeySize+1)
					for i := range big {
						big[i] = 'k'
					}
					return d.Create(t.Context(), record(string(big)))
				},
				func(d *Driver) error { return d.Create(t.Context(), record("new-2")) },
			},
			want:    []errcode.Code{noError, errcode.Invalid, noError},
			commits: 4, // held, failed batch, the invalid one alone, the rest
			exist:   []string{"old", "first", "new-1", "new-2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHeldDriver(t, tt.fail)
			if err := h.db.Update(func(tx *bolt.Tx) error {
				raw := []byte(`{"id":"old","object":{"bucket":"b","key":"old","versionId":"v"},"state":"pending","version":1}`)
				return tx.Bucket(bucketRecords).Put([]byte("old"), raw)
			}); err != nil {
				t.Fatal(err)
			}
			first := make(chan error, 1)
			go func() { first <- h.Create(t.Context(), record("first")) }()
			<-h.entered
			got := make([]error, len(tt.writes))
			var wg sync.WaitGroup
			for i, w := range tt.writes {
				wg.Go(func() { got[i] = w(h.Driver) })
			}
			h.queued(t, len(tt.writes))
			close(h.release)
			wg.Wait()
			if err := <-first; err != nil {
				t.Fatalf("first write: %v", err)
			}
			for i, err := range got {
				if codeOf(err) != tt.want[i] {
					t.Errorf("write %d: error %v (code %v), want code %v", i, err, codeOf(err), tt.want[i])
				}
				if tt.fail != nil && !errors.Is(err, errCommit) {
					t.Errorf("write %d: error %v does not wrap the commit's", i, err)
				}
			}
			if n := h.commits.Load(); n != tt.commits {
				t.Errorf("%d transactions, want %d", n, tt.commits)
			}
			for _, id := range tt.exist {
				if _, err := h.Get(t.Context(), id); err != nil {
					t.Errorf("Get(%s): %v, want the record", id, err)
				}
			}
			for _, id := range tt.missing {
				if _, err := h.Get(t.Context(), id); errcode.Of(err) != errcode.NotFound {
					t.Errorf("Get(%s): %v, want NotFound", id, err)
				}
			}
			if rec, err := h.Get(t.Context(), "old"); err == nil && rec.State != domain.StatusPending && tt.fail != nil {
				t.Errorf("record old is %s after a failed commit, want pending", rec.State)
			}
		})
	}
}

// TestGroupCommitPanic checks that a panicking write function fails alone.
func TestGroupCommitPanic(t *testing.T) {
	h := newHeldDriver(t, nil)
	first := make(chan error, 1)
	go func() { first <- h.Create(t.Context(), record("first")) }()
	<-h.entered
	errs := make(chan error, 2)
	go func() {
		errs <- h.c.do(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketMeta).Put([]byte("half"), []byte("written")); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	go func() { errs <- h.Create(t.Context(), record("fine")) }()
	h.queued(t, 2)
	close(h.release)
	var failed, fine int
	for range 2 {
		if err := <-errs; err != nil {
			failed++
		} else {
			fine++
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if failed != 1 || fine != 1 {
		t.Errorf("%d failed and %d succeeded, want 1 and 1", failed, fine)
	}
	if _, err := h.Get(t.Context(), "fine"); err != nil {
		t.Errorf("Get(fine): %v", err)
	}
	_ = h.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte("half")); v != nil {
			t.Errorf("the panicking function's write was committed")
		}
		return nil
	})
}

// TestGroupCommitConcurrent races compare-and-set writers on shared and
// own records through group commit: every acknowledged write is there,
// exactly once, and batches did form.
func TestGroupCommitConcurrent(t *testing.T) {
	d := tempDriver(t, nil)
	var commits atomic.Int32
	d.c.update = func(fn func(*bolt.Tx) error) error {
		commits.Add(1)
		return d.db.Update(fn)
	}
	ctx := t.Context()
	if err := d.Create(ctx, record("shared")); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var wins atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			own := fmt.Sprintf("own-%d", w)
			if err := d.Create(ctx, record(own)); err != nil {
				t.Error(err)
				return
			}
			for range each {
				for _, id := range []string{own, "shared"} {
					rec, err := d.Get(ctx, id)
					if err != nil {
						t.Error(err)
						return
					}
					_, err = d.Update(ctx, id,
						store.Condition{States: []domain.Status{domain.StatusPending}, Version: rec.Version},
						store.Mutation{State: domain.StatusPending, UpdatedAt: time.Now().UTC()})
					switch {
					case err == nil && id == "shared":
						wins.Add(1)
					case err == nil:
					case errcode.Of(err) == errcode.ConditionFailed && id == "shared":
					default:
						t.Errorf("Update(%s): %v", id, err)
					}
				}
			}
		})
	}
	wg.Wait()
	for w := range writers {
		rec, err := d.Get(ctx, fmt.Sprintf("own-%d", w))
		if err != nil || rec.Version != 1+each {
			t.Errorf("own-%d: version %v, err %v; want %d", w, rec.Version, err, 1+each)
		}
	}
	rec, err := d.Get(ctx, "shared")
	if err != nil || rec.Version != 1+wins.Load() {
		t.Errorf("shared: version %d, err %v; want 1 + %d acknowledged writes", rec.Version, err, wins.Load())
	}
	writes := writers*(1+each) + int(wins.Load())
	t.Logf("%d writes acknowledged in %d transactions", writes, commits.Load())
}
