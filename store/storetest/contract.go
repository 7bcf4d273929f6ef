package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

// testContextDone checks the rule that a context that is already done
// gives code Unavailable wrapping ctx.Err(), for every method, and that
// such a call writes nothing.
func testContextDone(t *testing.T, d store.Driver) {
	live := context.Background()
	rec := record("context-done", domain.StatusPending, 0)
	rec.Lease = nil
	create(t, d, clone(t, rec))
	item := reviewItem("context-done", 0)
	mustOK(t, d.CreateReview(live, clone(t, item)), "CreateReview")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := record("context-done-new", domain.StatusPending, 0)
	pending := store.Condition{States: []domain.Status{domain.StatusPending}}
	calls := []struct {
		name string
		call func() error
	}{
		{"Create", func() error { return d.Create(ctx, clone(t, fresh)) }},
		{"Get", func() error { _, err := d.Get(ctx, rec.ID); return err }},
		{"Update", func() error {
			_, err := d.Update(ctx, rec.ID, pending, store.Mutation{State: domain.StatusScanning, UpdatedAt: at(5000)})
			return err
		}},
		{"ListByState", func() error { _, _, err := d.ListByState(ctx, domain.StatusPending, store.Page{}); return err }},
		{"PutAllowlist", func() error {
			return d.PutAllowlist(ctx, &domain.AllowlistEntry{SHA256: sum("ctx"), AddedBy: "a", AddedAt: at(0), Reason: "r"})
		}},
		{"GetAllowlist", func() error { _, err := d.GetAllowlist(ctx, sum("ctx")); return err }},
		{"DeleteAllowlist", func() error { return d.DeleteAllowlist(ctx, sum("ctx")) }},
		{"ListAllowlist", func() error { _, _, err := d.ListAllowlist(ctx, store.Page{}); return err }},
		{"CreateReview", func() error { return d.CreateReview(ctx, reviewItem("context-done-new", 0)) }},
		{"GetReview", func() error { _, err := d.GetReview(ctx, item.ID); return err }},
		{"DecideReview", func() error {
			_, err := d.DecideReview(ctx, item.ID, store.ReviewDecision{Decision: domain.DecisionConfirm, Reviewer: "r", DecidedAt: at(0)})
			return err
		}},
		{"SetReviewToken", func() error { return d.SetReviewToken(ctx, item.ID, "token") }},
		{"ListOpenReviews", func() error { _, _, err := d.ListOpenReviews(ctx, store.Page{}); return err }},
		{"PutCachedVerdict", func() error {
			return d.PutCachedVerdict(ctx, sum("ctx"), "1", &domain.Verdict{Outcome: domain.OutcomeClean})
		}},
		{"GetCachedVerdict", func() error { _, err := d.GetCachedVerdict(ctx, sum("ctx"), "1"); return err }},
	}
	for _, c := range calls {
		err := c.call()
		if errcode.Of(err) != errcode.Unavailable || !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v (code %s), want code Unavailable wrapping context.Canceled", c.name, err, errcode.Of(err))
		}
	}

	// Nothing was written.
	if delta := diff(get(t, d, rec.ID), rec); delta != "" {
		t.Errorf("record after calls with a cancelled context: diff (-got +want):\n%s", delta)
	}
	_, err := d.Get(live, fresh.ID)
	wantCode(t, err, errcode.NotFound, "Get of the record created with a cancelled context")
	got, err := d.GetReview(live, item.ID)
	mustOK(t, err, "GetReview")
	if delta := diff(got, item); delta != "" {
		t.Errorf("review item after calls with a cancelled context: diff (-got +want):\n%s", delta)
	}
	_, err = d.GetAllowlist(live, sum("ctx"))
	wantCode(t, err, errcode.NotFound, "GetAllowlist of the entry put with a cancelled context")
	_, err = d.GetCachedVerdict(live, sum("ctx"), "1")
	wantCode(t, err, errcode.NotFound, "GetCachedVerdict of the verdict put with a cancelled context")
}

// testInvalidArguments checks the rule that an empty Condition.States, an
// empty ID or an unknown state gives code Invalid, and writes nothing.
func testInvalidArguments(t *testing.T, d store.Driver) {
	ctx := context.Background()
	rec := record("invalid-arguments", domain.StatusPending, 0)
	rec.Lease = nil
	create(t, d, clone(t, rec))
	pending := store.Condition{States: []domain.Status{domain.StatusPending}}
	move := store.Mutation{State: domain.StatusScanning, UpdatedAt: at(5000)}

	noID := record("no-id", domain.StatusPending, 0)
	noID.ID = ""
	limbo := record("limbo", domain.StatusPending, 0)
	limbo.State = "limbo"
	calls := []struct {
		name string
		call func() error
	}{
		{"Create without an ID", func() error { return d.Create(ctx, noID) }},
		{"Create in an unknown state", func() error { return d.Create(ctx, limbo) }},
		{"Update without states", func() error { _, err := d.Update(ctx, rec.ID, store.Condition{}, move); return err }},
		{"Update without an ID", func() error { _, err := d.Update(ctx, "", pending, move); return err }},
		{"Update to an unknown state", func() error {
			_, err := d.Update(ctx, rec.ID, pending, store.Mutation{State: "limbo", UpdatedAt: at(5000)})
			return err
		}},
		{"CreateReview without an ID", func() error { return d.CreateReview(ctx, &domain.ReviewItem{OpenedAt: at(0)}) }},
	}
	for _, c := range calls {
		wantCode(t, c.call(), errcode.Invalid, c.name)
	}
	if delta := diff(get(t, d, rec.ID), rec); delta != "" {
		t.Errorf("record after the invalid calls: diff (-got +want):\n%s", delta)
	}
	_, err := d.Get(ctx, limbo.ID)
	wantCode(t, err, errcode.NotFound, "Get of the record created in an unknown state")
	open, _, err := d.ListOpenReviews(ctx, store.Page{})
	mustOK(t, err, "ListOpenReviews")
	if len(open) != 0 {
		t.Errorf("ListOpenReviews after the invalid calls: %d items, want 0", len(open))
	}
}
