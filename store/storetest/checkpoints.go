package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

func checkpointDriverTests() []namedTest {
	return []namedTest{
		{"CheckpointRoundTripAndVersions", testCheckpointDriver},
	}
}

func checkpointRaceTests() []namedTest {
	return []namedTest{
		{"CheckpointOneWinnerPerVersion", testRaceCheckpoint},
	}
}

// A checkpoint round-trips, each write must name the version it
// replaces, and a refused write changes nothing.
func testCheckpointDriver(t *testing.T, d store.Driver) {
	ctx := t.Context()
	_, err := d.GetCheckpoint(ctx, "job")
	wantCode(t, err, errcode.NotFound, "GetCheckpoint of a missing checkpoint")

	c := &domain.Checkpoint{ID: "job", Cursor: "k:a/b", State: "running", Counters: map[string]int64{"listed": 3},
		Detail: `{"bucket":"b"}`, Version: 1, CreatedAt: at(1), UpdatedAt: at(2)}
	mustOK(t, d.PutCheckpoint(ctx, clone(t, c)), "PutCheckpoint v1")
	got, err := d.GetCheckpoint(ctx, "job")
	mustOK(t, err, "GetCheckpoint")
	if diff := cmp.Diff(c, got, cmpopts.EquateApproxTime(time.Millisecond), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("GetCheckpoint (-put +got):\n%s", diff)
	}

	wantCode(t, d.PutCheckpoint(ctx, clone(t, c)), errcode.ConditionFailed, "PutCheckpoint v1 again")
	skip := clone(t, c)
	skip.Version, skip.Cursor = 3, "k:z"
	wantCode(t, d.PutCheckpoint(ctx, skip), errcode.ConditionFailed, "PutCheckpoint v3 over v1")
	next := clone(t, c)
	next.Version, next.Cursor, next.State = 2, "k:c", "done"
	mustOK(t, d.PutCheckpoint(ctx, next), "PutCheckpoint v2")
	got, err = d.GetCheckpoint(ctx, "job")
	mustOK(t, err, "GetCheckpoint")
	if got.Version != 2 || got.Cursor != "k:c" || got.State != "done" {
		t.Errorf("after v2: %+v", got)
	}

	for name, bad := range map[string]*domain.Checkpoint{
		"nil":       nil,
		"no id":     {Version: 1},
		"version 0": {ID: "x"},
	} {
		wantCode(t, d.PutCheckpoint(ctx, bad), errcode.Invalid, "PutCheckpoint "+name)
	}
	_, err = d.GetCheckpoint(ctx, "")
	wantCode(t, err, errcode.Invalid, "GetCheckpoint without an ID")
	done, cancel := context.WithCancel(ctx)
	cancel()
	wantCode(t, d.PutCheckpoint(done, &domain.Checkpoint{ID: "y", Version: 1}), errcode.Unavailable, "PutCheckpoint with a done context")
}

// Of many writers of the same next version, exactly one wins.
func testRaceCheckpoint(t *testing.T, d store.Driver) {
	ctx := t.Context()
	mustOK(t, d.PutCheckpoint(ctx, &domain.Checkpoint{ID: "race", State: "running", Version: 1, UpdatedAt: at(1)}), "PutCheckpoint v1")
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.PutCheckpoint(ctx, &domain.Checkpoint{ID: "race", State: "running", Version: 2, Counters: map[string]int64{"writer": int64(i)}, UpdatedAt: at(2)})
			switch {
			case err == nil:
				wins.Add(1)
			case errcode.Of(err) == errcode.ConditionFailed:
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d writers of version 2 won, want 1", wins.Load())
	}
}
