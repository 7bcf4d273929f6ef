package storetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

// driverTests check the store.Driver contract method by method.
func driverTests() []namedTest {
	return []namedTest{
		{"CreateGetRoundTrip", testCreateGetRoundTrip},
		{"CreateTwice", testCreateTwice},
		{"GetMissing", testGetMissing},
		{"ReturnedValuesAreCopies", testCopies},
		{"UpdateCondition", testUpdateCondition},
		{"UpdateWritesMutation", testUpdateWritesMutation},
		{"UpdateAppendsHistory", testUpdateAppendsHistory},
		{"UpdateMissing", testUpdateMissing},
		{"ListByStateOrderAndPaging", testListByState},
		{"ListByStateFollowsUpdates", testListByStateFollowsUpdates},
		{"Allowlist", testAllowlist},
		{"ListAllowlist", testListAllowlist},
		{"Reviews", testReviews},
		{"ReviewsMissing", testReviewsMissing},
		{"ListOpenReviews", testListOpenReviews},
		{"VerdictCache", testVerdictCache},
		{"PageSize", testPageSize},
		{"ContextDone", testContextDone},
		{"InvalidArguments", testInvalidArguments},
	}
}

func testCreateGetRoundTrip(t *testing.T, d store.Driver) {
	for _, state := range domain.Statuses() {
		want := record("round-trip-"+string(state), state, 0)
		create(t, d, clone(t, want))
		if delta := diff(get(t, d, want.ID), want); delta != "" {
			t.Errorf("Get after Create in %s: diff (-got +want):\n%s", state, delta)
		}
	}
	// A minimal record, as Ingest writes it, round-trips too.
	obj := domain.ObjectRef{Bucket: "b", Key: "k"}
	minimal := &domain.Record{ID: obj.ID(), Object: obj, State: domain.StatusPending, Version: 1, CreatedAt: at(5), UpdatedAt: at(5)}
	create(t, d, clone(t, minimal))
	if delta := diff(get(t, d, minimal.ID), minimal); delta != "" {
		t.Errorf("Get after Create of a minimal record: diff (-got +want):\n%s", delta)
	}
}

func testCreateTwice(t *testing.T, d store.Driver) {
	ctx := context.Background()
	first := record("twice", domain.StatusPending, 0)
	create(t, d, clone(t, first))

	second := record("twice", domain.StatusClean, 9000)
	second.Version = 42
	second.History = nil
	wantCode(t, d.Create(ctx, second), errcode.AlreadyExists, "second Create")
	if delta := diff(get(t, d, first.ID), first); delta != "" {
		t.Errorf("record after the refused Create: diff (-got +want):\n%s", delta)
	}
	// The refused record must not show up in its state's listing either.
	got, _, err := d.ListByState(ctx, domain.StatusClean, store.Page{})
	mustOK(t, err, "ListByState clean")
	if len(got) != 0 {
		t.Errorf("ListByState clean after the refused Create: got %d records, want 0", len(got))
	}
}

func testGetMissing(t *testing.T, d store.Driver) {
	_, err := d.Get(context.Background(), ref("missing").ID())
	wantCode(t, err, errcode.NotFound, "Get of a missing record")
}

func testCopies(t *testing.T, d store.Driver) {
	ctx := context.Background()

	// The caller may change what it passed in after the call returns.
	in := record("copies", domain.StatusScanning, 0)
	want := clone(t, in)
	create(t, d, in)
	in.State = domain.StatusClean
	in.Lease.Token = "changed"
	in.Verdict.Signatures[0] = "changed"
	in.History[0].Event = "changed"
	if delta := diff(get(t, d, want.ID), want); delta != "" {
		t.Fatalf("record after changing Create's argument: diff (-got +want):\n%s", delta)
	}

	// ... and what it got back.
	scribble := func(r *domain.Record) {
		r.State = domain.StatusGone
		r.Version = 99
		if r.Lease != nil {
			r.Lease.Token = "scribbled"
		}
		if r.Verdict != nil && len(r.Verdict.Signatures) > 0 {
			r.Verdict.Signatures[0] = "scribbled"
		}
		if r.Quarantine != nil {
			r.Quarantine.Key = "scribbled"
		}
		if len(r.History) > 0 {
			r.History[0].Event = "scribbled"
		}
	}
	scribble(get(t, d, want.ID))
	listed, _, err := d.ListByState(ctx, domain.StatusScanning, store.Page{})
	mustOK(t, err, "ListByState")
	for _, r := range listed {
		scribble(r)
	}
	if delta := diff(get(t, d, want.ID), want); delta != "" {
		t.Fatalf("record after changing values Get and ListByState returned: diff (-got +want):\n%s", delta)
	}

	lease := &domain.Lease{Owner: "w", Token: "t2", Expires: at(90_000)}
	m := store.Mutation{
		State: domain.StatusScanning, Attempts: 3, Lease: lease, Verdict: clone(t, want.Verdict),
		Quarantine: clone(t, want.Quarantine), UpdatedAt: at(5000),
		History: &domain.HistoryEntry{At: at(5000), Event: "reclaim", From: domain.StatusScanning, To: domain.StatusScanning},
	}
	upd, err := d.Update(ctx, want.ID, store.Condition{States: []domain.Status{domain.StatusScanning}}, m)
	mustOK(t, err, "Update")
	want = clone(t, upd)
	scribble(upd)
	lease.Token = "scribbled"
	m.Verdict.Signatures[0] = "scribbled"
	m.History.Event = "scribbled"
	if delta := diff(get(t, d, want.ID), want); delta != "" {
		t.Fatalf("record after changing Update's result and mutation: diff (-got +want):\n%s", delta)
	}

	e := &domain.AllowlistEntry{SHA256: sum("x"), AddedBy: "alice", AddedAt: at(0), Reason: "vendor installer"}
	wantE := clone(t, e)
	mustOK(t, d.PutAllowlist(ctx, e), "PutAllowlist")
	e.Reason = "changed"
	gotE, err := d.GetAllowlist(ctx, wantE.SHA256)
	mustOK(t, err, "GetAllowlist")
	gotE.Reason = "scribbled"
	entries, _, err := d.ListAllowlist(ctx, store.Page{})
	mustOK(t, err, "ListAllowlist")
	for _, x := range entries {
		x.Reason = "scribbled"
	}
	gotE, err = d.GetAllowlist(ctx, wantE.SHA256)
	mustOK(t, err, "GetAllowlist")
	if delta := diff(gotE, wantE); delta != "" {
		t.Errorf("allowlist entry after changing values passed and returned: diff (-got +want):\n%s", delta)
	}

	item := &domain.ReviewItem{ID: want.ID, Object: want.Object, Signatures: []string{"Sig"}, OpenedAt: at(0)}
	wantItem := clone(t, item)
	mustOK(t, d.CreateReview(ctx, item), "CreateReview")
	item.Signatures[0] = "changed"
	gotItem, err := d.GetReview(ctx, want.ID)
	mustOK(t, err, "GetReview")
	gotItem.Signatures[0] = "scribbled"
	open, _, err := d.ListOpenReviews(ctx, store.Page{})
	mustOK(t, err, "ListOpenReviews")
	for _, x := range open {
		x.Signatures[0] = "scribbled"
	}
	gotItem, err = d.GetReview(ctx, want.ID)
	mustOK(t, err, "GetReview")
	if delta := diff(gotItem, wantItem); delta != "" {
		t.Errorf("review item after changing values passed and returned: diff (-got +want):\n%s", delta)
	}

	v := &domain.Verdict{Outcome: domain.OutcomeClean, Signatures: []string{"none"}, SHA256: sum("v"), DBVersion: "1"}
	wantV := clone(t, v)
	mustOK(t, d.PutCachedVerdict(ctx, v.SHA256, v.DBVersion, v), "PutCachedVerdict")
	v.Signatures[0] = "changed"
	gotV, err := d.GetCachedVerdict(ctx, wantV.SHA256, "1")
	mustOK(t, err, "GetCachedVerdict")
	gotV.Signatures[0] = "scribbled"
	gotV, err = d.GetCachedVerdict(ctx, wantV.SHA256, "1")
	mustOK(t, err, "GetCachedVerdict")
	if delta := diff(gotV, wantV); delta != "" {
		t.Errorf("cached verdict after changing values passed and returned: diff (-got +want):\n%s", delta)
	}
}

// applyMutation is what a driver must make of rec after Update(m).
func applyMutation(rec *domain.Record, m store.Mutation) *domain.Record {
	out := *rec
	out.State = m.State
	out.Reason = m.Reason
	out.Attempts = m.Attempts
	out.Lease = m.Lease
	out.Verdict = m.Verdict
	out.Quarantine = m.Quarantine
	out.ExecutionARN = m.ExecutionARN
	out.UpdatedAt = m.UpdatedAt
	out.Version = rec.Version + 1
	out.History = slices.Clone(rec.History)
	if m.History != nil {
		out.History = append(out.History, *m.History)
	}
	return &out
}

func testUpdateCondition(t *testing.T, d store.Driver) {
	ctx := context.Background()
	const version = 3 // record() writes version 3
	expires := at(60_000)
	scanning := []domain.Status{domain.StatusScanning}
	tests := []struct {
		name    string
		noLease bool
		cond    store.Condition
		ok      bool
	}{
		{name: "state among several", cond: store.Condition{States: []domain.Status{domain.StatusPending, domain.StatusScanning}}, ok: true},
		{name: "state not among them", cond: store.Condition{States: []domain.Status{domain.StatusPending, domain.StatusClean}}},
		{name: "version equal", cond: store.Condition{States: scanning, Version: version}, ok: true},
		{name: "version stale", cond: store.Condition{States: scanning, Version: version - 1}},
		{name: "version ahead", cond: store.Condition{States: scanning, Version: version + 1}},
		{name: "lease token equal", cond: store.Condition{States: scanning, LeaseToken: "token-lease token equal"}, ok: true},
		{name: "lease token differs", cond: store.Condition{States: scanning, LeaseToken: "token-someone-else"}},
		{name: "lease token but no lease", noLease: true, cond: store.Condition{States: scanning, LeaseToken: "token-lease token but no lease"}},
		{name: "lease not yet expired", cond: store.Condition{States: scanning, LeaseExpiredBy: expires.Add(-time.Millisecond)}},
		{name: "lease expires at that instant", cond: store.Condition{States: scanning, LeaseExpiredBy: expires}, ok: true},
		{name: "lease expired", cond: store.Condition{States: scanning, LeaseExpiredBy: expires.Add(time.Hour)}, ok: true},
		{name: "lease absent counts as expired", noLease: true, cond: store.Condition{States: scanning, LeaseExpiredBy: at(0)}, ok: true},
		{name: "all hold", cond: store.Condition{States: scanning, Version: version, LeaseToken: "token-all hold", LeaseExpiredBy: expires}, ok: true},
		{name: "all hold but state", cond: store.Condition{States: []domain.Status{domain.StatusPending}, Version: version, LeaseToken: "token-all hold but state", LeaseExpiredBy: expires}},
		{name: "all hold but version", cond: store.Condition{States: scanning, Version: version + 1, LeaseToken: "token-all hold but version", LeaseExpiredBy: expires}},
		{name: "all hold but lease token", cond: store.Condition{States: scanning, Version: version, LeaseToken: "token-other", LeaseExpiredBy: expires}},
		{name: "all hold but expiry", cond: store.Condition{States: scanning, Version: version, LeaseToken: "token-all hold but expiry", LeaseExpiredBy: expires.Add(-time.Millisecond)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := record(tc.name, domain.StatusScanning, 0)
			if tc.noLease {
				orig.Lease = nil
			}
			create(t, d, clone(t, orig))
			m := store.Mutation{
				State:    domain.StatusClean,
				Attempts: orig.Attempts,
				Verdict:  &domain.Verdict{Outcome: domain.OutcomeClean, SHA256: sum(tc.name), ScannedAt: at(2000)},
				// Lease nil: leaving scanning drops it.
				UpdatedAt: at(2000),
				History:   &domain.HistoryEntry{At: at(2000), Event: "pass", From: domain.StatusScanning, To: domain.StatusClean, Actor: "worker-1"},
			}
			got, err := d.Update(ctx, orig.ID, tc.cond, m)
			if !tc.ok {
				wantCode(t, err, errcode.ConditionFailed, "Update")
				if got != nil {
					t.Errorf("Update failed but returned a record: %+v", got)
				}
				if delta := diff(get(t, d, orig.ID), orig); delta != "" {
					t.Errorf("record after the failed Update: diff (-got +want):\n%s", delta)
				}
				return
			}
			mustOK(t, err, "Update")
			want := applyMutation(orig, m)
			if delta := diff(got, want); delta != "" {
				t.Errorf("Update returned: diff (-got +want):\n%s", delta)
			}
			if delta := diff(get(t, d, orig.ID), want); delta != "" {
				t.Errorf("Get after Update: diff (-got +want):\n%s", delta)
			}
		})
	}
}

func testUpdateWritesMutation(t *testing.T, d store.Driver) {
	ctx := context.Background()
	orig := record("mutation", domain.StatusScanning, 0)
	create(t, d, clone(t, orig))

	// Every field is written, including clearing pointers and strings, and a
	// nil History appends nothing.
	cleared := store.Mutation{State: domain.StatusScanning, UpdatedAt: orig.UpdatedAt}
	got, err := d.Update(ctx, orig.ID, store.Condition{States: []domain.Status{domain.StatusScanning}, Version: orig.Version}, cleared)
	mustOK(t, err, "Update clearing every field")
	want := applyMutation(orig, cleared)
	if len(want.History) != len(orig.History) {
		t.Fatalf("test bug: a nil History must not append")
	}
	if delta := diff(got, want); delta != "" {
		t.Errorf("Update clearing every field returned: diff (-got +want):\n%s", delta)
	}
	if delta := diff(get(t, d, orig.ID), want); delta != "" {
		t.Errorf("Get after clearing every field: diff (-got +want):\n%s", delta)
	}

	// ... and setting every field to a new value.
	prev := want
	set := store.Mutation{
		State:    domain.StatusReviewing,
		Reason:   domain.ReasonEncrypted,
		Attempts: 5,
		Lease:    &domain.Lease{Owner: "worker-9", Token: "token-9", Expires: at(123_456)},
		Verdict: &domain.Verdict{
			Outcome: domain.OutcomeUnscannable, Reason: domain.ReasonEncrypted, Engine: "ClamAV 1.4.6",
			DBVersion: "27513", DBTime: at(-1000), SHA256: sum("mutation"), BytesScanned: 77,
			Duration: 3 * time.Millisecond, ScannedAt: at(7000),
		},
		Quarantine:   &domain.ObjectRef{Bucket: "quarantine", Key: "q/2", VersionID: "qv2", Size: 77},
		ExecutionARN: "arn:aws:states:eu-west-1:123456789012:execution:scan:second",
		UpdatedAt:    at(8000),
		History:      &domain.HistoryEntry{At: at(8000), Event: "quarantine", From: domain.StatusScanning, To: domain.StatusReviewing, Actor: "quarantiner", Reason: "r", Detail: "d"},
	}
	got, err = d.Update(ctx, orig.ID, store.Condition{States: []domain.Status{domain.StatusScanning}, Version: prev.Version}, set)
	mustOK(t, err, "Update setting every field")
	want = applyMutation(prev, set)
	if delta := diff(got, want); delta != "" {
		t.Errorf("Update setting every field returned: diff (-got +want):\n%s", delta)
	}
	if delta := diff(get(t, d, orig.ID), want); delta != "" {
		t.Errorf("Get after setting every field: diff (-got +want):\n%s", delta)
	}
	if got.Version != orig.Version+2 {
		t.Errorf("Version after two updates = %d, want %d", got.Version, orig.Version+2)
	}
}

func testUpdateAppendsHistory(t *testing.T, d store.Driver) {
	ctx := context.Background()
	orig := record("history", domain.StatusPending, 0)
	orig.Lease = nil
	create(t, d, clone(t, orig))
	want := orig
	steps := []struct {
		to    domain.Status
		event string
	}{
		{domain.StatusScanning, "claim"},
		{domain.StatusScanning, "reclaim"},
		{domain.StatusClean, "pass"},
		{domain.StatusClean, ""}, // bookkeeping, no history
		{domain.StatusPending, "rescan"},
	}
	for i, s := range steps {
		m := store.Mutation{State: s.to, Attempts: i, UpdatedAt: at(int64(10_000 + i*1000))}
		if s.event != "" {
			m.History = &domain.HistoryEntry{At: m.UpdatedAt, Event: s.event, From: want.State, To: s.to, Actor: fmt.Sprint("step-", i)}
		}
		got, err := d.Update(ctx, orig.ID, store.Condition{States: []domain.Status{want.State}, Version: want.Version}, m)
		mustOK(t, err, fmt.Sprintf("Update step %d", i))
		want = applyMutation(want, m)
		if delta := diff(got, want); delta != "" {
			t.Fatalf("Update step %d returned: diff (-got +want):\n%s", i, delta)
		}
	}
	got := get(t, d, orig.ID)
	if delta := diff(got, want); delta != "" {
		t.Errorf("Get after the updates: diff (-got +want):\n%s", delta)
	}
	if n, want := len(got.History), len(orig.History)+4; n != want {
		t.Errorf("history holds %d entries, want %d", n, want)
	}
	if got.Version != orig.Version+int64(len(steps)) {
		t.Errorf("Version = %d, want %d", got.Version, orig.Version+int64(len(steps)))
	}
}

func testUpdateMissing(t *testing.T, d store.Driver) {
	ctx := context.Background()
	id := ref("update-missing").ID()
	m := store.Mutation{
		State: domain.StatusScanning, UpdatedAt: at(0),
		History: &domain.HistoryEntry{At: at(0), Event: "claim", From: domain.StatusPending, To: domain.StatusScanning},
	}
	for _, cond := range []store.Condition{
		{States: []domain.Status{domain.StatusPending}},
		{States: []domain.Status{domain.StatusPending}, Version: 1},
		{States: []domain.Status{domain.StatusScanning}, LeaseExpiredBy: at(0)},
	} {
		_, err := d.Update(ctx, id, cond, m)
		wantCodeIn(t, err, fmt.Sprintf("Update of a missing record with %+v", cond), errcode.NotFound, errcode.ConditionFailed)
	}
	_, err := d.Get(ctx, id)
	wantCode(t, err, errcode.NotFound, "Get after Update of a missing record")
}

func testListByState(t *testing.T, d store.Driver) {
	ctx := context.Background()
	// Pending records with distinct update times, two of them tied (then
	// ordered by ID), created in an order unrelated to either.
	updated := []int64{7000, 3000, 5000, 5000, 1000, 9000, 2000, 8000, 4000}
	var pending []*domain.Record
	for i, ms := range updated {
		r := record(fmt.Sprintf("list-%d", i), domain.StatusPending, 0)
		r.Lease = nil
		r.UpdatedAt = at(ms)
		create(t, d, clone(t, r))
		pending = append(pending, r)
	}
	slices.SortFunc(pending, byUpdatedThenID)
	// Other states must not leak into the listing.
	var clean []*domain.Record
	for i := range 3 {
		r := record(fmt.Sprintf("clean-%d", i), domain.StatusClean, int64(i*100))
		r.Lease = nil
		create(t, d, clone(t, r))
		clean = append(clean, r)
	}
	slices.SortFunc(clean, byUpdatedThenID)
	create(t, d, record("scanning-0", domain.StatusScanning, 0))

	for _, limit := range []int{1, 2, 4, len(pending), len(pending) + 1, 0} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			got, calls := listAll(t, limit, len(pending), func(p store.Page) ([]*domain.Record, string, error) {
				return d.ListByState(ctx, domain.StatusPending, p)
			})
			if delta := diff(got, pending); delta != "" {
				t.Errorf("ListByState pending: diff (-got +want):\n%s", delta)
			}
			size := store.Page{Limit: limit}.Size()
			if least := (len(pending) + size - 1) / size; calls < least {
				t.Errorf("ListByState took %d calls, want at least %d", calls, least)
			}
		})
	}
	got, _ := listAll(t, 2, len(clean), func(p store.Page) ([]*domain.Record, string, error) {
		return d.ListByState(ctx, domain.StatusClean, p)
	})
	if !store.ListedInOrder(domain.StatusClean) {
		slices.SortFunc(got, byUpdatedThenID)
	}
	if delta := diff(got, clean); delta != "" {
		t.Errorf("ListByState clean: diff (-got +want):\n%s", delta)
	}
	empty, cursor, err := d.ListByState(ctx, domain.StatusFailed, store.Page{Limit: 2})
	mustOK(t, err, "ListByState failed")
	if len(empty) != 0 || cursor != "" {
		t.Errorf("ListByState of an empty state = %d records, cursor %q; want none and \"\"", len(empty), cursor)
	}
}

func byUpdatedThenID(a, b *domain.Record) int {
	if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

func testListByStateFollowsUpdates(t *testing.T, d store.Driver) {
	ctx := context.Background()
	var recs []*domain.Record
	for i := range 6 {
		r := record(fmt.Sprintf("moves-%d", i), domain.StatusPending, 0)
		r.Lease = nil
		r.UpdatedAt = at(int64(1000 * (i + 1)))
		create(t, d, clone(t, r))
		recs = append(recs, r)
	}
	update := func(r *domain.Record, to domain.Status, ms int64) *domain.Record {
		t.Helper()
		m := store.Mutation{State: to, UpdatedAt: at(ms),
			History: &domain.HistoryEntry{At: at(ms), Event: "move", From: r.State, To: to}}
		got, err := d.Update(ctx, r.ID, store.Condition{States: []domain.Status{r.State}, Version: r.Version}, m)
		mustOK(t, err, "Update")
		return got
	}
	list := func(state domain.Status) []string {
		t.Helper()
		got, _ := listAll(t, 2, len(recs), func(p store.Page) ([]*domain.Record, string, error) {
			return d.ListByState(ctx, state, p)
		})
		ids := make([]string, len(got))
		for i, r := range got {
			ids[i] = r.ID
		}
		return ids
	}

	// recs[1] and recs[3] move to scanning, recs[3] first; recs[4] stays
	// pending but its update time moves before everyone else's; recs[5]
	// gets a bookkeeping write with an unchanged update time.
	recs[3] = update(recs[3], domain.StatusScanning, 20_000)
	recs[1] = update(recs[1], domain.StatusScanning, 21_000)
	recs[4] = update(recs[4], domain.StatusPending, -5000)
	recs[5] = update(recs[5], domain.StatusPending, 6000)

	if delta := diff(list(domain.StatusPending), []string{recs[4].ID, recs[0].ID, recs[2].ID, recs[5].ID}); delta != "" {
		t.Errorf("pending IDs after the moves: diff (-got +want):\n%s", delta)
	}
	if delta := diff(list(domain.StatusScanning), []string{recs[3].ID, recs[1].ID}); delta != "" {
		t.Errorf("scanning IDs after the moves: diff (-got +want):\n%s", delta)
	}

	// Moving on again leaves the intermediate state's listing too.
	recs[3] = update(recs[3], domain.StatusClean, 22_000)
	if delta := diff(list(domain.StatusScanning), []string{recs[1].ID}); delta != "" {
		t.Errorf("scanning IDs after a second move: diff (-got +want):\n%s", delta)
	}
	if delta := diff(list(domain.StatusClean), []string{recs[3].ID}); delta != "" {
		t.Errorf("clean IDs after a second move: diff (-got +want):\n%s", delta)
	}
}

func testAllowlist(t *testing.T, d store.Driver) {
	ctx := context.Background()
	e := &domain.AllowlistEntry{SHA256: sum("installer"), AddedBy: "alice@example.com", AddedAt: at(0), Reason: "signed vendor installer"}
	_, err := d.GetAllowlist(ctx, e.SHA256)
	wantCode(t, err, errcode.NotFound, "GetAllowlist before Put")

	mustOK(t, d.PutAllowlist(ctx, clone(t, e)), "PutAllowlist")
	got, err := d.GetAllowlist(ctx, e.SHA256)
	mustOK(t, err, "GetAllowlist")
	if delta := diff(got, e); delta != "" {
		t.Errorf("GetAllowlist after Put: diff (-got +want):\n%s", delta)
	}

	replaced := &domain.AllowlistEntry{SHA256: e.SHA256, AddedBy: "bob@example.com", AddedAt: at(5000), Reason: "re-reviewed", Expires: at(86_400_000)}
	mustOK(t, d.PutAllowlist(ctx, clone(t, replaced)), "PutAllowlist replacing")
	got, err = d.GetAllowlist(ctx, e.SHA256)
	mustOK(t, err, "GetAllowlist")
	if delta := diff(got, replaced); delta != "" {
		t.Errorf("GetAllowlist after replacing: diff (-got +want):\n%s", delta)
	}

	mustOK(t, d.DeleteAllowlist(ctx, e.SHA256), "DeleteAllowlist")
	_, err = d.GetAllowlist(ctx, e.SHA256)
	wantCode(t, err, errcode.NotFound, "GetAllowlist after Delete")
	mustOK(t, d.DeleteAllowlist(ctx, e.SHA256), "DeleteAllowlist of a deleted entry")
	mustOK(t, d.DeleteAllowlist(ctx, sum("never-added")), "DeleteAllowlist of an entry never added")
	list, _, err := d.ListAllowlist(ctx, store.Page{})
	mustOK(t, err, "ListAllowlist")
	if len(list) != 0 {
		t.Errorf("ListAllowlist after Delete: got %d entries, want 0", len(list))
	}
}

func testListAllowlist(t *testing.T, d store.Driver) {
	ctx := context.Background()
	var want []*domain.AllowlistEntry
	for i := range 7 {
		e := &domain.AllowlistEntry{SHA256: sum(fmt.Sprint("file-", i)), AddedBy: "alice", AddedAt: at(int64(i)), Reason: fmt.Sprint("reason ", i)}
		mustOK(t, d.PutAllowlist(ctx, clone(t, e)), "PutAllowlist")
		want = append(want, e)
	}
	slices.SortFunc(want, func(a, b *domain.AllowlistEntry) int { return cmp.Compare(a.SHA256, b.SHA256) })
	for _, limit := range []int{1, 3, 7, 0} {
		got, _ := listAll(t, limit, len(want), func(p store.Page) ([]*domain.AllowlistEntry, string, error) {
			return d.ListAllowlist(ctx, p)
		})
		if delta := diff(got, want); delta != "" {
			t.Errorf("ListAllowlist limit %d: diff (-got +want):\n%s", limit, delta)
		}
	}
	// Deleting one entry drops it from the listing.
	mustOK(t, d.DeleteAllowlist(ctx, want[2].SHA256), "DeleteAllowlist")
	want = slices.Delete(want, 2, 3)
	got, _ := listAll(t, 2, len(want), func(p store.Page) ([]*domain.AllowlistEntry, string, error) {
		return d.ListAllowlist(ctx, p)
	})
	if delta := diff(got, want); delta != "" {
		t.Errorf("ListAllowlist after a delete: diff (-got +want):\n%s", delta)
	}
}

func reviewItem(name string, openedMS int64) *domain.ReviewItem {
	obj := ref(name)
	return &domain.ReviewItem{
		ID:         obj.ID(),
		Object:     obj,
		Signatures: []string{"Win.Test.EICAR_HDB-1.UNOFFICIAL"},
		Reason:     "signature match",
		SHA256:     sum(name),
		OpenedAt:   at(openedMS),
	}
}

func testReviews(t *testing.T, d store.Driver) {
	ctx := context.Background()
	item := reviewItem("review", 0)
	item.TaskToken = "task-token-0"
	_, err := d.GetReview(ctx, item.ID)
	wantCode(t, err, errcode.NotFound, "GetReview before Create")

	mustOK(t, d.CreateReview(ctx, clone(t, item)), "CreateReview")
	mustReview := func(want *domain.ReviewItem, what string) {
		t.Helper()
		got, err := d.GetReview(ctx, want.ID)
		mustOK(t, err, "GetReview")
		if delta := diff(got, want); delta != "" {
			t.Fatalf("GetReview %s: diff (-got +want):\n%s", what, delta)
		}
	}
	mustReview(item, "after Create")

	dup := reviewItem("review", 5000)
	dup.Reason = "duplicate"
	wantCode(t, d.CreateReview(ctx, dup), errcode.AlreadyExists, "CreateReview of an open item")
	mustReview(item, "after the refused Create")

	mustOK(t, d.SetReviewToken(ctx, item.ID, "task-token-1"), "SetReviewToken on an open item")
	item.TaskToken = "task-token-1"
	mustReview(item, "after SetReviewToken")

	dec := store.ReviewDecision{Decision: domain.DecisionRelease, Reviewer: "carol@example.com", Comment: "known false positive", DecidedAt: at(9000)}
	decided, err := d.DecideReview(ctx, item.ID, dec)
	mustOK(t, err, "DecideReview")
	item.Decision, item.Reviewer, item.Comment, item.DecidedAt = dec.Decision, dec.Reviewer, dec.Comment, dec.DecidedAt
	if delta := diff(decided, item); delta != "" {
		t.Errorf("DecideReview returned: diff (-got +want):\n%s", delta)
	}
	mustReview(item, "after DecideReview")

	_, err = d.DecideReview(ctx, item.ID, store.ReviewDecision{Decision: domain.DecisionConfirm, Reviewer: "mallory", DecidedAt: at(9500)})
	wantCode(t, err, errcode.ConditionFailed, "second DecideReview")
	mustReview(item, "after the refused second decision")

	mustOK(t, d.SetReviewToken(ctx, item.ID, "task-token-2"), "SetReviewToken on a decided item")
	item.TaskToken = "task-token-2"
	mustReview(item, "after SetReviewToken on a decided item")

	// A decided item is replaced by a new review of the same object.
	again := reviewItem("review", 20_000)
	again.Reason = "rescanned, detected again"
	mustOK(t, d.CreateReview(ctx, clone(t, again)), "CreateReview after the decision")
	mustReview(again, "after re-opening")
	open, _, err := d.ListOpenReviews(ctx, store.Page{})
	mustOK(t, err, "ListOpenReviews")
	if delta := diff(open, []*domain.ReviewItem{again}); delta != "" {
		t.Errorf("ListOpenReviews after re-opening: diff (-got +want):\n%s", delta)
	}
	wantCode(t, d.CreateReview(ctx, reviewItem("review", 30_000)), errcode.AlreadyExists, "CreateReview of the re-opened item")
	decided, err = d.DecideReview(ctx, again.ID, store.ReviewDecision{Decision: domain.DecisionConfirm, Reviewer: "dave", DecidedAt: at(31_000)})
	mustOK(t, err, "DecideReview of the re-opened item")
	if decided.Decision != domain.DecisionConfirm || decided.Reason != again.Reason {
		t.Errorf("DecideReview of the re-opened item = %+v", decided)
	}
}

func testReviewsMissing(t *testing.T, d store.Driver) {
	ctx := context.Background()
	id := ref("review-missing").ID()
	_, err := d.DecideReview(ctx, id, store.ReviewDecision{Decision: domain.DecisionRelease, Reviewer: "carol", DecidedAt: at(0)})
	wantCodeIn(t, err, "DecideReview of a missing item", errcode.NotFound, errcode.ConditionFailed)
	err = d.SetReviewToken(ctx, id, "token")
	wantCodeIn(t, err, "SetReviewToken of a missing item", errcode.NotFound, errcode.ConditionFailed)
	_, err = d.GetReview(ctx, id)
	wantCode(t, err, errcode.NotFound, "GetReview after writes to a missing item")
	open, _, err := d.ListOpenReviews(ctx, store.Page{})
	mustOK(t, err, "ListOpenReviews")
	if len(open) != 0 {
		t.Errorf("ListOpenReviews after writes to a missing item: got %d items, want 0", len(open))
	}
}

func testListOpenReviews(t *testing.T, d store.Driver) {
	ctx := context.Background()
	opened := []int64{5000, 1000, 3000, 3000, 9000, 2000, 7000, 4000}
	var items []*domain.ReviewItem
	for i, ms := range opened {
		it := reviewItem(fmt.Sprint("open-", i), ms)
		mustOK(t, d.CreateReview(ctx, clone(t, it)), "CreateReview")
		items = append(items, it)
	}
	// Decide three; re-open one of them later than everything else.
	for _, i := range []int{1, 3, 6} {
		_, err := d.DecideReview(ctx, items[i].ID, store.ReviewDecision{Decision: domain.DecisionConfirm, Reviewer: "carol", DecidedAt: at(10_000)})
		mustOK(t, err, "DecideReview")
	}
	reopened := reviewItem("open-6", 11_000)
	mustOK(t, d.CreateReview(ctx, clone(t, reopened)), "CreateReview re-opening")

	want := []*domain.ReviewItem{items[0], items[2], items[4], items[5], items[7], reopened}
	slices.SortFunc(want, func(a, b *domain.ReviewItem) int {
		if c := a.OpenedAt.Compare(b.OpenedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	for _, limit := range []int{1, 2, 4, len(want), 0} {
		got, _ := listAll(t, limit, len(want), func(p store.Page) ([]*domain.ReviewItem, string, error) {
			return d.ListOpenReviews(ctx, p)
		})
		if delta := diff(got, want); delta != "" {
			t.Errorf("ListOpenReviews limit %d: diff (-got +want):\n%s", limit, delta)
		}
	}
}

func testVerdictCache(t *testing.T, d store.Driver) {
	ctx := context.Background()
	h := sum("cached")
	v := &domain.Verdict{
		Outcome: domain.OutcomeClean, Engine: "ClamAV 1.4.6", DBVersion: "27512", DBTime: at(-3_600_000),
		SHA256: h, BytesScanned: 1 << 20, Duration: 250 * time.Millisecond, ScannedAt: at(0),
	}
	_, err := d.GetCachedVerdict(ctx, h, "27512")
	wantCode(t, err, errcode.NotFound, "GetCachedVerdict before Put")
	mustOK(t, d.PutCachedVerdict(ctx, h, "27512", clone(t, v)), "PutCachedVerdict")
	got, err := d.GetCachedVerdict(ctx, h, "27512")
	mustOK(t, err, "GetCachedVerdict")
	if delta := diff(got, v); delta != "" {
		t.Errorf("GetCachedVerdict after Put: diff (-got +want):\n%s", delta)
	}
	_, err = d.GetCachedVerdict(ctx, h, "27513")
	wantCode(t, err, errcode.NotFound, "GetCachedVerdict with another database version")
	_, err = d.GetCachedVerdict(ctx, sum("other"), "27512")
	wantCode(t, err, errcode.NotFound, "GetCachedVerdict of other bytes")

	v2 := clone(t, v)
	v2.ScannedAt, v2.Duration = at(5000), time.Second
	mustOK(t, d.PutCachedVerdict(ctx, h, "27512", clone(t, v2)), "PutCachedVerdict replacing")
	got, err = d.GetCachedVerdict(ctx, h, "27512")
	mustOK(t, err, "GetCachedVerdict")
	if delta := diff(got, v2); delta != "" {
		t.Errorf("GetCachedVerdict after replacing: diff (-got +want):\n%s", delta)
	}
}

// testPageSize checks that a driver honours Page.Size(): 0 means 100 and
// larger limits are capped at 1000.
func testPageSize(t *testing.T, d store.Driver) {
	ctx := context.Background()
	const n = 101
	for i := range n {
		e := &domain.AllowlistEntry{SHA256: sum(fmt.Sprint("page-", i)), AddedBy: "a", AddedAt: at(0), Reason: "r"}
		mustOK(t, d.PutAllowlist(ctx, e), "PutAllowlist")
	}
	got, cursor, err := d.ListAllowlist(ctx, store.Page{})
	mustOK(t, err, "ListAllowlist")
	if len(got) > 100 {
		t.Errorf("ListAllowlist with Limit 0 returned %d entries, want at most 100", len(got))
	}
	if len(got) == 100 && cursor == "" {
		t.Errorf("ListAllowlist with Limit 0 returned 100 of %d entries and no cursor", n)
	}
	all, _ := listAll(t, 5000, n, func(p store.Page) ([]*domain.AllowlistEntry, string, error) {
		return d.ListAllowlist(ctx, p)
	})
	if len(all) != n {
		t.Errorf("ListAllowlist with Limit 5000 found %d entries, want %d", len(all), n)
	}
}
