package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

// The upload intent cases. They are listed in driverTests, storeTests and
// raceTests, so both drivers run them through RunConformanceTests.

func intentDriverTests() []namedTest {
	return []namedTest{
		{"IntentRoundTrip", testIntentRoundTrip},
		{"IntentCreateTwice", testIntentCreateTwice},
		{"IntentResolve", testIntentResolve},
		{"IntentResolveMissing", testIntentResolveMissing},
		{"IntentInvalidArguments", testIntentInvalid},
		{"ListIntentsOrderAndPaging", testListIntents},
		{"ListIntentsExpiresBy", testListIntentsExpiresBy},
		{"ListKeyIntents", testListKeyIntents},
		{"IntentContextDone", testIntentContextDone},
	}
}

func intentStoreTests() []namedTest {
	return []namedTest{
		{"RecordIntentIdempotent", testRecordIntent},
		{"MarkIntentIdempotent", testMarkIntent},
		{"ExpiredIntents", testExpiredIntents},
	}
}

func intentRaceTests() []namedTest {
	return []namedTest{
		{"MarkIntentArrived", testRaceMarkIntent},
	}
}

// intent returns an expected intent for key in the "uploads" bucket with
// every field set, issued at at(ms) and expiring 15 minutes later.
func intent(name, key string, ms int64) *domain.UploadIntent {
	return &domain.UploadIntent{
		ID:        sum("intent/" + name)[:32],
		Bucket:    "uploads",
		Key:       key,
		Requester: "arn:aws:iam::123456789012:user/uploader",
		Method:    "PUT",
		IssuedAt:  at(ms),
		ExpiresAt: at(ms + 15*60_000),
		SHA256:    sum(name),
		MinBytes:  4096,
		MaxBytes:  4096,
		State:     domain.IntentExpected,
	}
}

func createIntent(t *testing.T, d store.Driver, in *domain.UploadIntent) *domain.UploadIntent {
	t.Helper()
	mustOK(t, d.CreateIntent(context.Background(), clone(t, in)), "CreateIntent "+in.ID)
	return in
}

func getIntent(t *testing.T, d store.Driver, id string) *domain.UploadIntent {
	t.Helper()
	in, err := d.GetIntent(context.Background(), id)
	mustOK(t, err, "GetIntent "+id)
	return in
}

func arrived(recordID string, ms int64) store.IntentResolution {
	return store.IntentResolution{State: domain.IntentArrived, RecordID: recordID, At: at(ms), By: "ingest"}
}

func testIntentRoundTrip(t *testing.T, d store.Driver) {
	ctx := context.Background()
	full := intent("round-trip", "incoming/résumé (final).pdf", 0)
	createIntent(t, d, full)
	if delta := diff(getIntent(t, d, full.ID), full); delta != "" {
		t.Errorf("GetIntent after CreateIntent: diff (-got +want):\n%s", delta)
	}
	// What the API records for a bare URL: no checksum, no length bound.
	minimal := &domain.UploadIntent{
		ID: sum("minimal")[:32], Bucket: "b", Key: "k", Requester: domain.Anonymous, Method: "POST",
		IssuedAt: at(5), ExpiresAt: at(6), State: domain.IntentExpected,
	}
	createIntent(t, d, minimal)
	if delta := diff(getIntent(t, d, minimal.ID), minimal); delta != "" {
		t.Errorf("GetIntent of a minimal intent: diff (-got +want):\n%s", delta)
	}
	_, err := d.GetIntent(ctx, sum("missing")[:32])
	wantCode(t, err, errcode.NotFound, "GetIntent of a missing intent")

	// The caller may change what it passed in or got back.
	got := getIntent(t, d, full.ID)
	got.State, got.Key = domain.IntentExpired, "scribbled"
	if delta := diff(getIntent(t, d, full.ID), full); delta != "" {
		t.Errorf("intent after scribbling on a returned copy: diff (-got +want):\n%s", delta)
	}
}

func testIntentCreateTwice(t *testing.T, d store.Driver) {
	ctx := context.Background()
	first := createIntent(t, d, intent("twice", "twice.txt", 0))
	second := intent("twice", "other.txt", 9000)
	wantCode(t, d.CreateIntent(ctx, second), errcode.AlreadyExists, "second CreateIntent")
	if delta := diff(getIntent(t, d, first.ID), first); delta != "" {
		t.Errorf("intent after the refused CreateIntent: diff (-got +want):\n%s", delta)
	}
	// The refused intent must not show up under its key either.
	got, _, err := d.ListKeyIntents(ctx, "uploads", "other.txt", time.Time{}, store.Page{})
	mustOK(t, err, "ListKeyIntents")
	if len(got) != 0 {
		t.Errorf("ListKeyIntents of the refused intent's key: %d intents, want 0", len(got))
	}
}

func testIntentResolve(t *testing.T, d store.Driver) {
	ctx := context.Background()
	in := createIntent(t, d, intent("resolve", "resolve.txt", 0))
	rid := ref("resolve").ID()
	got, err := d.ResolveIntent(ctx, in.ID, arrived(rid, 1000))
	mustOK(t, err, "ResolveIntent arrived")
	want := clone(t, in)
	want.State, want.RecordID, want.ResolvedAt, want.ResolvedBy = domain.IntentArrived, rid, at(1000), "ingest"
	if delta := diff(got, want); delta != "" {
		t.Errorf("ResolveIntent returned: diff (-got +want):\n%s", delta)
	}
	if delta := diff(getIntent(t, d, in.ID), want); delta != "" {
		t.Errorf("GetIntent after ResolveIntent: diff (-got +want):\n%s", delta)
	}
	// Resolved is final: neither another arrival nor an expiry applies.
	for _, r := range []store.IntentResolution{
		arrived(ref("other").ID(), 2000),
		arrived(rid, 1000),
		{State: domain.IntentExpired, At: at(3000), By: "sweep"},
	} {
		_, err := d.ResolveIntent(ctx, in.ID, r)
		wantCode(t, err, errcode.ConditionFailed, fmt.Sprintf("ResolveIntent %s of an arrived intent", r.State))
	}
	if delta := diff(getIntent(t, d, in.ID), want); delta != "" {
		t.Errorf("intent after the refused resolutions: diff (-got +want):\n%s", delta)
	}

	exp := createIntent(t, d, intent("expire", "expire.txt", 0))
	got, err = d.ResolveIntent(ctx, exp.ID, store.IntentResolution{State: domain.IntentExpired, At: at(4000), By: "sweep"})
	mustOK(t, err, "ResolveIntent expired")
	if got.State != domain.IntentExpired || got.RecordID != "" || got.ResolvedBy != "sweep" {
		t.Errorf("ResolveIntent expired returned %+v", got)
	}
	_, err = d.ResolveIntent(ctx, exp.ID, arrived(rid, 5000))
	wantCode(t, err, errcode.ConditionFailed, "ResolveIntent arrived of an expired intent")
}

func testIntentResolveMissing(t *testing.T, d store.Driver) {
	ctx := context.Background()
	id := sum("resolve-missing")[:32]
	_, err := d.ResolveIntent(ctx, id, arrived(ref("x").ID(), 0))
	wantCodeIn(t, err, "ResolveIntent of a missing intent", errcode.NotFound, errcode.ConditionFailed)
	_, err = d.GetIntent(ctx, id)
	wantCode(t, err, errcode.NotFound, "GetIntent after ResolveIntent of a missing intent")
}

func testIntentInvalid(t *testing.T, d store.Driver) {
	ctx := context.Background()
	in := createIntent(t, d, intent("invalid", "invalid.txt", 0))
	noID := intent("no-id", "k", 0)
	noID.ID = ""
	noKey := intent("no-key", "", 0)
	limbo := intent("limbo", "k", 0)
	limbo.State = "limbo"
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateIntent without an ID", func() error { return d.CreateIntent(ctx, noID) }},
		{"CreateIntent without a key", func() error { return d.CreateIntent(ctx, noKey) }},
		{"CreateIntent in an unknown state", func() error { return d.CreateIntent(ctx, limbo) }},
		{"GetIntent without an ID", func() error { _, err := d.GetIntent(ctx, ""); return err }},
		{"ResolveIntent without an ID", func() error { _, err := d.ResolveIntent(ctx, "", arrived("r", 0)); return err }},
		{"ResolveIntent to expected", func() error {
			_, err := d.ResolveIntent(ctx, in.ID, store.IntentResolution{State: domain.IntentExpected, At: at(1)})
			return err
		}},
		{"ResolveIntent arrived without a record", func() error { _, err := d.ResolveIntent(ctx, in.ID, arrived("", 1)); return err }},
		{"ResolveIntent expired with a record", func() error {
			_, err := d.ResolveIntent(ctx, in.ID, store.IntentResolution{State: domain.IntentExpired, RecordID: "r", At: at(1)})
			return err
		}},
		{"ListIntents in an unknown state", func() error {
			_, _, err := d.ListIntents(ctx, "limbo", time.Time{}, store.Page{})
			return err
		}},
		{"ListKeyIntents without a key", func() error {
			_, _, err := d.ListKeyIntents(ctx, "uploads", "", time.Time{}, store.Page{})
			return err
		}},
	}
	for _, c := range calls {
		wantCode(t, c.call(), errcode.Invalid, c.name)
	}
	if delta := diff(getIntent(t, d, in.ID), in); delta != "" {
		t.Errorf("intent after the invalid calls: diff (-got +want):\n%s", delta)
	}
	for _, bad := range []*domain.UploadIntent{noID, limbo} {
		if bad.ID == "" {
			continue
		}
		_, err := d.GetIntent(ctx, bad.ID)
		wantCode(t, err, errcode.NotFound, "GetIntent of an intent refused as invalid")
	}
}

// sortByExpiry orders intents as ListIntents does.
func sortByExpiry(ins []*domain.UploadIntent) {
	slices.SortFunc(ins, func(a, b *domain.UploadIntent) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

func testListIntents(t *testing.T, d store.Driver) {
	ctx := context.Background()
	// Expiries out of order, two equal, issue times unrelated to them.
	expiries := []int64{50_000, 10_000, 30_000, 30_000, 90_000, 20_000, 70_000, 40_000}
	var all []*domain.UploadIntent
	for i, ms := range expiries {
		in := intent(fmt.Sprint("list-", i), fmt.Sprintf("list/%d", i%3), int64(i)*100)
		in.ExpiresAt = at(ms)
		all = append(all, createIntent(t, d, in))
	}
	// Two arrive and one expires; they leave the expected listing and join
	// their own, in expiry order too.
	var arrivedWant, expiredWant []*domain.UploadIntent
	for _, i := range []int{1, 4} {
		got, err := d.ResolveIntent(ctx, all[i].ID, arrived(ref(fmt.Sprint("list-", i)).ID(), 95_000))
		mustOK(t, err, "ResolveIntent arrived")
		arrivedWant = append(arrivedWant, got)
	}
	got, err := d.ResolveIntent(ctx, all[3].ID, store.IntentResolution{State: domain.IntentExpired, At: at(96_000), By: "sweep"})
	mustOK(t, err, "ResolveIntent expired")
	expiredWant = append(expiredWant, got)
	var expectedWant []*domain.UploadIntent
	for i, in := range all {
		if i != 1 && i != 4 && i != 3 {
			expectedWant = append(expectedWant, in)
		}
	}
	sortByExpiry(expectedWant)
	sortByExpiry(arrivedWant)
	for _, tc := range []struct {
		state domain.IntentState
		want  []*domain.UploadIntent
	}{
		{domain.IntentExpected, expectedWant},
		{domain.IntentArrived, arrivedWant},
		{domain.IntentExpired, expiredWant},
	} {
		for _, limit := range []int{1, 2, 3, len(tc.want), 0} {
			got, _ := listAll(t, limit, len(tc.want), func(p store.Page) ([]*domain.UploadIntent, string, error) {
				return d.ListIntents(ctx, tc.state, time.Time{}, p)
			})
			if delta := diff(got, tc.want); delta != "" {
				t.Errorf("ListIntents %s limit %d: diff (-got +want):\n%s", tc.state, limit, delta)
			}
		}
	}
	// A cursor of one state's listing is no cursor for another's. Drivers
	// may refuse it or start over, but must not mix the two.
	_, cursor, err := d.ListIntents(ctx, domain.IntentExpected, time.Time{}, store.Page{Limit: 1})
	mustOK(t, err, "ListIntents expected limit 1")
	if other, _, err := d.ListIntents(ctx, domain.IntentArrived, time.Time{}, store.Page{Cursor: cursor}); err == nil {
		for _, in := range other {
			if in.State != domain.IntentArrived {
				t.Errorf("ListIntents arrived with an expected cursor returned a %s intent", in.State)
			}
		}
	}
}

func testListIntentsExpiresBy(t *testing.T, d store.Driver) {
	ctx := context.Background()
	var all []*domain.UploadIntent
	for i, ms := range []int64{40_000, 10_000, 30_000, 20_000, 20_000} {
		in := intent(fmt.Sprint("by-", i), "by", 0)
		in.ExpiresAt = at(ms)
		all = append(all, createIntent(t, d, in))
	}
	sortByExpiry(all)
	for _, tc := range []struct {
		by   time.Time
		want []*domain.UploadIntent
	}{
		{at(9_999), nil},
		{at(10_000), all[:1]}, // an intent expiring exactly at the cutoff is in
		{at(20_000), all[:3]},
		{at(29_999), all[:3]},
		{at(100_000), all},
	} {
		for _, limit := range []int{1, 2, 0} {
			got, _ := listAll(t, limit, len(tc.want), func(p store.Page) ([]*domain.UploadIntent, string, error) {
				return d.ListIntents(ctx, domain.IntentExpected, tc.by, p)
			})
			if delta := diff(got, tc.want); delta != "" {
				t.Errorf("ListIntents expiring by %s limit %d: diff (-got +want):\n%s", tc.by.Format(time.RFC3339Nano), limit, delta)
			}
		}
	}
}

func testListKeyIntents(t *testing.T, d store.Driver) {
	ctx := context.Background()
	const key = "avatars/me.png"
	issued := []int64{5000, 1000, 3000, 3000, 9000}
	var mine []*domain.UploadIntent
	for i, ms := range issued {
		mine = append(mine, createIntent(t, d, intent(fmt.Sprint("key-", i), key, ms)))
	}
	// Others: another key, the same key in another bucket, a key that
	// extends this one.
	createIntent(t, d, intent("key-other", "avatars/you.png", 2000))
	elsewhere := intent("key-bucket", key, 2000)
	elsewhere.Bucket = "uploads-2"
	createIntent(t, d, elsewhere)
	createIntent(t, d, intent("key-longer", key+".bak", 2000))
	// Every state is listed.
	r, err := d.ResolveIntent(ctx, mine[2].ID, arrived(ref("key-2").ID(), 10_000))
	mustOK(t, err, "ResolveIntent")
	mine[2] = r
	r, err = d.ResolveIntent(ctx, mine[4].ID, store.IntentResolution{State: domain.IntentExpired, At: at(20_000), By: "sweep"})
	mustOK(t, err, "ResolveIntent")
	mine[4] = r

	byIssue := slices.Clone(mine)
	slices.SortFunc(byIssue, func(a, b *domain.UploadIntent) int {
		if c := a.IssuedAt.Compare(b.IssuedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	for _, tc := range []struct {
		since time.Time
		want  []*domain.UploadIntent
	}{
		{time.Time{}, byIssue},
		{at(1000), byIssue},
		{at(1001), byIssue[1:]},
		{at(3000), byIssue[1:]},
		{at(9001), nil},
	} {
		for _, limit := range []int{1, 2, 0} {
			got, _ := listAll(t, limit, len(tc.want), func(p store.Page) ([]*domain.UploadIntent, string, error) {
				return d.ListKeyIntents(ctx, "uploads", key, tc.since, p)
			})
			if delta := diff(got, tc.want); delta != "" {
				t.Errorf("ListKeyIntents since %v limit %d: diff (-got +want):\n%s", tc.since, limit, delta)
			}
		}
	}
	got, _, err := d.ListKeyIntents(ctx, "uploads", "avatars/nobody.png", time.Time{}, store.Page{})
	mustOK(t, err, "ListKeyIntents of a key without intents")
	if len(got) != 0 {
		t.Errorf("ListKeyIntents of a key without intents: %d intents", len(got))
	}
}

func testIntentContextDone(t *testing.T, d store.Driver) {
	live := context.Background()
	in := createIntent(t, d, intent("ctx", "ctx.txt", 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := intent("ctx-new", "ctx.txt", 0)
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateIntent", func() error { return d.CreateIntent(ctx, clone(t, fresh)) }},
		{"GetIntent", func() error { _, err := d.GetIntent(ctx, in.ID); return err }},
		{"ResolveIntent", func() error { _, err := d.ResolveIntent(ctx, in.ID, arrived("r", 1)); return err }},
		{"ListIntents", func() error {
			_, _, err := d.ListIntents(ctx, domain.IntentExpected, time.Time{}, store.Page{})
			return err
		}},
		{"ListKeyIntents", func() error {
			_, _, err := d.ListKeyIntents(ctx, "uploads", "ctx.txt", time.Time{}, store.Page{})
			return err
		}},
	}
	for _, c := range calls {
		err := c.call()
		if errcode.Of(err) != errcode.Unavailable || !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v (code %s), want code Unavailable wrapping context.Canceled", c.name, err, errcode.Of(err))
		}
	}
	if delta := diff(getIntent(t, d, in.ID), in); delta != "" {
		t.Errorf("intent after calls with a cancelled context: diff (-got +want):\n%s", delta)
	}
	_, err := d.GetIntent(live, fresh.ID)
	wantCode(t, err, errcode.NotFound, "GetIntent of the intent created with a cancelled context")
}

func testRecordIntent(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := newStore(d)
	req := domain.UploadIntent{Bucket: "uploads", Key: "forms/tax.pdf", ExpiresAt: base.Add(time.Hour), SHA256: sum("tax")}
	first, err := s.RecordIntent(ctx, req)
	mustOK(t, err, "RecordIntent")
	if len(first.ID) != 32 || first.State != domain.IntentExpected || first.Requester != domain.Anonymous ||
		first.Method != "PUT" || !first.IssuedAt.Equal(base) {
		t.Fatalf("RecordIntent filled in %+v; want a 32-digit ID, expected, anonymous, PUT, issued now", first)
	}
	if delta := diff(getIntent(t, d, first.ID), first); delta != "" {
		t.Errorf("stored intent: diff (-got +want):\n%s", delta)
	}
	// A retried call with the same intent returns it; different content
	// under the ID is refused and changes nothing.
	clk.Advance(time.Minute)
	again, err := s.RecordIntent(ctx, *first)
	mustOK(t, err, "RecordIntent again")
	if delta := diff(again, first); delta != "" {
		t.Errorf("second RecordIntent: diff (-got +want):\n%s", delta)
	}
	other := *first
	other.Key = "forms/other.pdf"
	_, err = s.RecordIntent(ctx, other)
	wantCode(t, err, errcode.AlreadyExists, "RecordIntent of another intent under the same ID")
	if delta := diff(getIntent(t, d, first.ID), first); delta != "" {
		t.Errorf("intent after the refused RecordIntent: diff (-got +want):\n%s", delta)
	}
	// Two calls without IDs are two intents.
	second, err := s.RecordIntent(ctx, req)
	mustOK(t, err, "RecordIntent without an ID")
	if second.ID == first.ID {
		t.Error("two RecordIntent calls without an ID got the same ID")
	}

	for _, tc := range []struct {
		name string
		edit func(*domain.UploadIntent)
	}{
		{"no key", func(in *domain.UploadIntent) { in.Key = "" }},
		{"expiry before issue", func(in *domain.UploadIntent) { in.ExpiresAt = base.Add(-time.Second) }},
		{"already arrived", func(in *domain.UploadIntent) { in.State, in.RecordID = domain.IntentArrived, "r" }},
		{"bad checksum", func(in *domain.UploadIntent) { in.SHA256 = "nope" }},
		{"empty length range", func(in *domain.UploadIntent) { in.MinBytes, in.MaxBytes = 10, 5 }},
		{"method GET", func(in *domain.UploadIntent) { in.Method = "GET" }},
	} {
		in := req
		in.IssuedAt = base
		tc.edit(&in)
		_, err := s.RecordIntent(ctx, in)
		wantCode(t, err, errcode.Invalid, "RecordIntent with "+tc.name)
	}
}

func testMarkIntent(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := newStore(d)
	in, err := s.RecordIntent(ctx, domain.UploadIntent{Bucket: "uploads", Key: "mark.txt", ExpiresAt: base.Add(time.Hour)})
	mustOK(t, err, "RecordIntent")
	rid := ref("mark").ID()
	clk.Advance(time.Second)
	got, err := s.MarkIntentArrived(ctx, in.ID, rid, "ingest")
	mustOK(t, err, "MarkIntentArrived")
	if got.State != domain.IntentArrived || got.RecordID != rid || !got.ResolvedAt.Equal(base.Add(time.Second)) || got.ResolvedBy != "ingest" {
		t.Errorf("MarkIntentArrived returned %+v", got)
	}
	// The same arrival again (a re-delivered event) is no error and
	// changes nothing; another record, or an expiry, is refused.
	clk.Advance(time.Second)
	again, err := s.MarkIntentArrived(ctx, in.ID, rid, "sweep")
	mustOK(t, err, "MarkIntentArrived again with the same record")
	if delta := diff(again, got); delta != "" {
		t.Errorf("second MarkIntentArrived: diff (-got +want):\n%s", delta)
	}
	_, err = s.MarkIntentArrived(ctx, in.ID, ref("other").ID(), "ingest")
	wantCode(t, err, errcode.ConditionFailed, "MarkIntentArrived with another record")
	_, err = s.MarkIntentExpired(ctx, in.ID, "sweep")
	wantCode(t, err, errcode.ConditionFailed, "MarkIntentExpired of an arrived intent")
	_, err = s.MarkIntentArrived(ctx, in.ID, "", "ingest")
	wantCode(t, err, errcode.Invalid, "MarkIntentArrived without a record")
	if delta := diff(getIntent(t, d, in.ID), got); delta != "" {
		t.Errorf("intent after the refused marks: diff (-got +want):\n%s", delta)
	}

	exp, err := s.RecordIntent(ctx, domain.UploadIntent{Bucket: "uploads", Key: "mark.txt", ExpiresAt: base.Add(time.Hour)})
	mustOK(t, err, "RecordIntent")
	first, err := s.MarkIntentExpired(ctx, exp.ID, "sweep")
	mustOK(t, err, "MarkIntentExpired")
	second, err := s.MarkIntentExpired(ctx, exp.ID, "sweep")
	mustOK(t, err, "MarkIntentExpired again")
	if delta := diff(second, first); delta != "" {
		t.Errorf("second MarkIntentExpired: diff (-got +want):\n%s", delta)
	}
	_, err = s.MarkIntentArrived(ctx, exp.ID, rid, "ingest")
	wantCode(t, err, errcode.ConditionFailed, "MarkIntentArrived of an expired intent")
	_, err = s.MarkIntentExpired(ctx, sum("nothing")[:32], "sweep")
	wantCode(t, err, errcode.NotFound, "MarkIntentExpired of a missing intent")
}

func testExpiredIntents(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := newStore(d)
	var ins []*domain.UploadIntent
	for _, minutes := range []int{30, 5, 15, 60} {
		in, err := s.RecordIntent(ctx, domain.UploadIntent{Bucket: "uploads", Key: "sweep.txt", ExpiresAt: base.Add(time.Duration(minutes) * time.Minute)})
		mustOK(t, err, "RecordIntent")
		ins = append(ins, in)
	}
	_, err := s.MarkIntentArrived(ctx, ins[1].ID, ref("sweep").ID(), "ingest")
	mustOK(t, err, "MarkIntentArrived")
	got, _ := listAll(t, 1, 2, func(p store.Page) ([]*domain.UploadIntent, string, error) {
		return s.ExpiredIntents(ctx, base.Add(30*time.Minute), p)
	})
	want := []*domain.UploadIntent{ins[2], ins[0]} // the arrived one is not listed
	if delta := diff(got, want); delta != "" {
		t.Errorf("ExpiredIntents by +30m: diff (-got +want):\n%s", delta)
	}
	_, _, err = s.ExpiredIntents(ctx, time.Time{}, store.Page{})
	wantCode(t, err, errcode.Invalid, "ExpiredIntents without a cutoff")
	_, _, err = s.ListIntents(ctx, "limbo", store.Page{})
	wantCode(t, err, errcode.Invalid, "ListIntents in an unknown state")
}

// testRaceMarkIntent: versions of one key ingested at once each try to
// take the same intent; exactly one links it, the others are refused.
func testRaceMarkIntent(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := newStore(d)
	in, err := s.RecordIntent(ctx, domain.UploadIntent{Bucket: "uploads", Key: "race.txt", ExpiresAt: base.Add(time.Hour)})
	mustOK(t, err, "RecordIntent")
	errs := race(func(i int) error {
		_, err := s.MarkIntentArrived(ctx, in.ID, ref(fmt.Sprint("race-", i)).ID(), "ingest")
		return err
	})
	oneWinner(t, errs, "MarkIntentArrived")
	got := getIntent(t, d, in.ID)
	for i, err := range errs {
		if err == nil && got.RecordID != ref(fmt.Sprint("race-", i)).ID() {
			t.Errorf("intent links %s, not the winner's record", got.RecordID)
		}
	}
}
