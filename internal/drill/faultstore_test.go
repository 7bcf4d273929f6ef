package drill_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/drill"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

func faultStore(t *testing.T, faults drill.StoreFaults) (*drill.FaultStore, store.Driver) {
	t.Helper()
	d, err := embedded.Open(filepath.Join(t.TempDir(), "db"), &embedded.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return drill.NewFaultStore(d, faults, 1), d
}

func record(key string) *domain.Record {
	ref := domain.ObjectRef{Bucket: "b", Key: key, VersionID: "v1"}
	now := time.Now().UTC()
	return &domain.Record{ID: ref.ID(), Object: ref, State: domain.StatusPending, Version: 1, CreatedAt: now, UpdatedAt: now,
		History: []domain.HistoryEntry{{At: now, Event: "ingest", To: domain.StatusPending}}}
}

// claimOf is the mutation of a claim of rec, conditional on its version.
func claimOf(rec *domain.Record) (store.Condition, store.Mutation) {
	now := time.Now().UTC()
	return store.Condition{States: []domain.Status{domain.StatusPending}, Version: rec.Version},
		store.Mutation{State: domain.StatusScanning, Attempts: 1, UpdatedAt: now,
			Lease:   &domain.Lease{Owner: "t", Token: "tok", Expires: now.Add(time.Minute)},
			History: &domain.HistoryEntry{At: now, Event: "claim", From: domain.StatusPending, To: domain.StatusScanning}}
}

func TestFaultStoreThrottles(t *testing.T) {
	ctx := context.Background()
	f, d := faultStore(t, drill.StoreFaults{Throttle: 1})
	rec := record("throttled")
	err := f.Create(ctx, rec)
	if errcode.Of(err) != errcode.Throttled || !drill.Injected(err) {
		t.Fatalf("Create: %v; want an injected Throttled", err)
	}
	if _, err := d.Get(ctx, rec.ID); errcode.Of(err) != errcode.NotFound {
		t.Errorf("a throttled create was applied: %v", err)
	}
	if s := f.Stats(); s.Writes != 1 || s.Throttled != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestFaultStoreLosesAnswers(t *testing.T) {
	ctx := context.Background()
	f, d := faultStore(t, drill.StoreFaults{LostAnswer: 1})
	rec := record("lost")
	if err := f.Create(ctx, rec); errcode.Of(err) != errcode.Unavailable || !drill.Injected(err) {
		t.Fatalf("Create: %v; want an injected Unavailable", err)
	}
	cond, m := claimOf(rec)
	if _, err := f.Update(ctx, rec.ID, cond, m); errcode.Of(err) != errcode.Unavailable {
		t.Fatalf("Update: %v; want Unavailable", err)
	}
	got, err := d.Get(ctx, rec.ID)
	if err != nil || got.State != domain.StatusScanning {
		t.Fatalf("record %+v, %v; want both lost writes applied", got, err)
	}
	// A write that fails on its own merits says so, answer or not.
	if _, err := f.Update(ctx, rec.ID, cond, m); errcode.Of(err) != errcode.ConditionFailed {
		t.Errorf("a stale Update: %v; want ConditionFailed", err)
	}
}

// A conflict is real: a rival write bumps the version, and the caller's
// write, conditional on the old version, fails in the backend.
func TestFaultStoreConflicts(t *testing.T) {
	ctx := context.Background()
	f, d := faultStore(t, drill.StoreFaults{Conflict: 1})
	rec := record("conflict")
	if err := f.Create(ctx, rec); err != nil {
		t.Fatalf("Create (creates cannot conflict): %v", err)
	}
	cond, m := claimOf(rec)
	if _, err := f.Update(ctx, rec.ID, cond, m); errcode.Of(err) != errcode.ConditionFailed || drill.Injected(err) {
		t.Fatalf("Update: %v; want a real ConditionFailed", err)
	}
	got, err := d.Get(ctx, rec.ID)
	if err != nil || got.State != domain.StatusPending || got.Version != 2 || len(got.History) != 1 {
		t.Fatalf("record %+v, %v; want pending at version 2, history untouched", got, err)
	}
	// Retried on the fresh version, the write meets another rival.
	cond.Version = got.Version
	if _, err := f.Update(ctx, rec.ID, cond, m); errcode.Of(err) != errcode.ConditionFailed {
		t.Errorf("Update on the fresh version: %v; want ConditionFailed", err)
	}
	if s := f.Stats(); s.Writes != 3 || s.Conflicts != 2 {
		t.Errorf("stats %+v; want 3 writes, 2 conflicts", s)
	}
	// Without faults the write goes through.
	f.SetFaults(drill.StoreFaults{})
	got, _ = d.Get(ctx, rec.ID)
	cond.Version = got.Version
	if _, err := f.Update(ctx, rec.ID, cond, m); err != nil {
		t.Errorf("Update without faults: %v", err)
	}
}
