package embedded

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/scangate/scangate/domain"
)

// histories reads every execution filed under key.
func histories(t *testing.T, d *Driver, key string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := d.Histories(context.Background(), key, func(exec string, lines []byte) error {
		got[exec] = string(lines)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestHistoriesRideOtherCommits checks that appended history lines need
// no commit of their own when other writes come, that they are committed
// on their own within postDelay when none comes, that Close commits what
// is still waiting, and that each record key reads its own executions'
// lines in order.
func TestHistoriesRideOtherCommits(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scangate.db")
	d, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	setDelay := func(delay time.Duration) {
		d.c.mu.Lock()
		d.c.delay = delay
		if d.c.flush != nil {
			d.c.flush.Stop()
			d.c.flush = nil
		}
		d.c.mu.Unlock()
	}
	// No commit on a timer while the appends below wait for a write.
	setDelay(time.Hour)
	var commits atomic.Int32
	d.c.update = func(fn func(*bolt.Tx) error) error {
		commits.Add(1)
		return d.db.Update(fn)
	}

	line := func(s string) []byte { return []byte(s + "\n") }
	buf := line("a1")
	d.AppendHistory("k1", "scan-x-k1-g0", buf)
	copy(buf, "zz") // the caller may reuse its buffer at once
	d.AppendHistory("k1", "scan-x-k1-g0", line("a2"))
	d.AppendHistory("k1", "review-x-k1-g0", line("b1"))
	d.AppendHistory("k2", "scan-y-k2-g0", line("c1"))
	d.AppendHistory("k\x001", "bad", line("never"))
	// Shown before any commit.
	if got := histories(t, d, "k2"); !maps.Equal(got, map[string]string{"scan-y-k2-g0": "c1\n"}) {
		t.Errorf("before a commit, k2's histories are %q", got)
	}
	if n := commits.Load(); n != 0 {
		t.Errorf("%d commits for four appends alone; want 0 yet", n)
	}
	if err := d.PutCheckpoint(ctx, &domain.Checkpoint{ID: "c", Version: 1}); err != nil {
		t.Fatal(err)
	}
	if n := commits.Load(); n != 1 {
		t.Errorf("%d commits for four appends and a write; want 1", n)
	}
	want := map[string]string{"scan-x-k1-g0": "a1\na2\n", "review-x-k1-g0": "b1\n"}
	if got := histories(t, d, "k1"); !maps.Equal(got, want) {
		t.Errorf("k1's histories are %q; want %q", got, want)
	}
	if got := histories(t, d, "k2"); !maps.Equal(got, map[string]string{"scan-y-k2-g0": "c1\n"}) {
		t.Errorf("k2's histories are %q", got)
	}

	// Nothing else is written: the lines are committed on their own.
	setDelay(0)
	before := commits.Load()
	d.AppendHistory("k3", "scan-z-k3-g0", line("d1"))
	pending := func() int {
		d.hmu.Lock()
		defer d.hmu.Unlock()
		return len(d.hpend)
	}
	deadline := time.Now().Add(10 * time.Second)
	for commits.Load() == before || pending() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("an appended line was not committed within 10s")
		}
		time.Sleep(postDelay / 4)
	}
	if got := histories(t, d, "k3"); got["scan-z-k3-g0"] != "d1\n" {
		t.Errorf("k3's histories are %q", got)
	}

	d.AppendHistory("k3", "scan-z-k3-g0", line("d2"))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := histories(t, d, "k3"); got["scan-z-k3-g0"] != "d1\nd2\n" {
		t.Errorf("after Close and Open, k3's histories are %q; want d1 and d2", got)
	}
	// A restarted driver's pieces sort after the earlier ones.
	d.AppendHistory("k3", "scan-z-k3-g0", line("d3"))
	d.SyncHistories()
	if got := histories(t, d, "k3"); got["scan-z-k3-g0"] != "d1\nd2\nd3\n" {
		t.Errorf("after a restart's append, k3's histories are %q", got)
	}
}

// TestSyncHistoriesWaitsForACommitUnderWay checks that SyncHistories
// (and so Close) does not return while a commit that took posted lines
// from the queue is still running: the queue is empty then, but the lines
// are not committed yet.
func TestSyncHistoriesWaitsForACommitUnderWay(t *testing.T) {
	d := tempDriver(t, &Options{NoSync: true})
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	defer open() // before Close, which waits for the held commit
	var first atomic.Bool
	d.c.update = func(fn func(*bolt.Tx) error) error {
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return d.db.Update(fn)
	}
	d.AppendHistory("k", "scan-x-k-g0", []byte("a\n"))
	<-entered // the timer's commit holds the line, and the queue is empty
	synced := make(chan struct{})
	go func() { d.SyncHistories(); close(synced) }()
	select {
	case <-synced:
		t.Fatal("SyncHistories returned while the line's commit was under way")
	case <-time.After(100 * time.Millisecond):
	}
	open()
	<-synced
	d.hmu.Lock()
	n := len(d.hpend)
	d.hmu.Unlock()
	if n != 0 {
		t.Errorf("after SyncHistories, %d record keys still wait for a commit", n)
	}
}

// TestPruneHistories checks that PruneHistories deletes exactly the
// executions whose last piece is older than the cutoff, whole, across
// the chunks it walks in, and keeps an old execution that wrote again.
func TestPruneHistories(t *testing.T) {
	ctx := context.Background()
	d := tempDriver(t, &Options{NoSync: true})
	day0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var now time.Time
	d.now = func() time.Time { return now }
	at := func(days int, key, exec, line string) {
		now = day0.AddDate(0, 0, days)
		d.AppendHistory(key, exec, []byte(line+"\n"))
	}
	// More old executions than one chunk holds, under many record keys.
	old := pruneGroups + 7
	for i := range old {
		at(0, fmt.Sprintf("old-%04d", i), "scan-e", "x")
	}
	at(0, "mixed", "scan-old", "o1")
	at(1, "mixed", "scan-old", "o2")
	at(0, "mixed", "review-resumed", "r1")
	at(40, "mixed", "review-resumed", "r2") // wrote again, recently
	at(40, "new", "scan-new", "n1")
	d.SyncHistories()

	n, err := d.PruneHistories(ctx, day0.AddDate(0, 0, 30))
	if err != nil {
		t.Fatal(err)
	}
	if want := old + 1; n != want {
		t.Errorf("PruneHistories removed %d executions, want %d", n, want)
	}
	for _, key := range []string{"old-0000", fmt.Sprintf("old-%04d", pruneGroups), fmt.Sprintf("old-%04d", old-1)} {
		if got := histories(t, d, key); len(got) != 0 {
			t.Errorf("%s's histories after the prune: %q, want none", key, got)
		}
	}
	want := map[string]string{"review-resumed": "r1\nr2\n"}
	if got := histories(t, d, "mixed"); !maps.Equal(got, want) {
		t.Errorf("mixed's histories after the prune: %q, want %q", got, want)
	}
	if got := histories(t, d, "new"); !maps.Equal(got, map[string]string{"scan-new": "n1\n"}) {
		t.Errorf("new's histories after the prune: %q", got)
	}
	// Nothing is left that the cutoff names; a second prune finds nothing.
	if n, err := d.PruneHistories(ctx, day0.AddDate(0, 0, 30)); err != nil || n != 0 {
		t.Errorf("second PruneHistories = %d, %v; want 0, nil", n, err)
	}
	// Sequence numbers keep increasing when the clock goes back.
	now = day0
	a, b := d.historySeq(), d.historySeq()
	if b <= a || a <= uint64(day0.AddDate(0, 0, 40).UnixNano()) {
		t.Errorf("historySeq after the clock went back: %d then %d", a, b)
	}
}
