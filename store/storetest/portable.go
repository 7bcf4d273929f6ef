package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/statemachine"
	"github.com/scangate/scangate/store"
)

// storeTests check the portable *store.Store over the driver.
func storeTests() []namedTest {
	return []namedTest{
		{"IngestIdempotent", testIngest},
		{"ApplyFollowsTable", testApplyFollowsTable},
		{"ApplyStaleVersion", testApplyStale},
		{"ClaimLifecycle", testClaimLifecycle},
		{"ClaimRefused", testClaimRefused},
		{"RescanClearsVerdict", testRescan},
		{"SetExecution", testSetExecution},
		{"FinishAfterBookkeeping", testFinishAfterBookkeeping},
		{"ClaimAfterBookkeeping", testClaimAfterBookkeeping},
		{"AllowlistAndCache", testStoreAllowlistAndCache},
		{"Reviews", testStoreReviews},
		{"VerdictHistory", testVerdictHistory},
		{"CacheWithTransition", testCacheWithTransition},
	}
}

// testCacheWithTransition: a driver that caches a clean verdict in the
// transition's write caches exactly what CacheVerdict would, and only
// when the transition is written.
func testCacheWithTransition(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := newStore(d)
	if !s.CachesWithTransition() {
		t.Skip("the driver caches verdicts separately")
	}
	verdict := func(name string, o domain.Outcome, reused bool) *domain.Verdict {
		return &domain.Verdict{Outcome: o, DBVersion: "db1", SHA256: sum(name), ScannedAt: clk.Now(), Reused: reused}
	}
	tests := []struct {
		name     string
		ev       statemachine.Event
		v        *domain.Verdict
		badLease bool
		cached   bool
	}{
		{"clean", statemachine.Pass, verdict("cwt-clean", domain.OutcomeClean, false), false, true},
		{"infected", statemachine.Detect, verdict("cwt-infected", domain.OutcomeInfected, false), false, false},
		{"reused", statemachine.Pass, verdict("cwt-reused", domain.OutcomeClean, true), false, false},
		{"refused", statemachine.Pass, verdict("cwt-refused", domain.OutcomeClean, false), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _, err := s.Ingest(ctx, ref("cwt-"+tt.name), "ingest", "")
			mustOK(t, err, "Ingest")
			rec, err = s.Claim(ctx, rec.ID, "w", ttl)
			mustOK(t, err, "Claim")
			token := rec.Lease.Token
			if tt.badLease {
				token = "not-the-lease"
			}
			_, err = s.Finish(ctx, rec.ID, token, store.Transition{Event: tt.ev, Verdict: tt.v, CacheVerdict: true})
			if tt.badLease {
				if errcode.Of(err) != errcode.ConditionFailed {
					t.Fatalf("Finish under another lease: %v, want ConditionFailed", err)
				}
			} else {
				mustOK(t, err, "Finish")
			}
			got, err := s.CachedVerdict(ctx, tt.v.SHA256, "db1")
			mustOK(t, err, "CachedVerdict")
			switch {
			case tt.cached && got == nil:
				t.Errorf("no verdict cached")
			case tt.cached && (got.SHA256 != tt.v.SHA256 || got.Outcome != domain.OutcomeClean):
				t.Errorf("cached %+v, want %+v", got, tt.v)
			case !tt.cached && got != nil:
				t.Errorf("cached %+v, want nothing", got)
			}
		})
	}
}

// testVerdictHistory: every verdict is kept on the record, written by the
// transition that records it (a rescan drops the current verdict, not the
// history), bounded to the first and the latest; a clean verdict that a
// later one finds infected opens a review marked retro-detected.
func testVerdictHistory(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := newStore(d)
	rec, _, err := s.Ingest(ctx, ref("verdicts"), "ingest", "")
	mustOK(t, err, "Ingest")
	firstClean := clk.Now()
	scan := func(ev statemachine.Event, v domain.Verdict) *domain.Record {
		t.Helper()
		r, err := s.Claim(ctx, rec.ID, "w", ttl)
		mustOK(t, err, "Claim")
		r, err = s.Finish(ctx, rec.ID, r.Lease.Token, store.Transition{Event: ev, Verdict: &v})
		mustOK(t, err, "Finish "+string(ev))
		return r
	}
	clean := func(db string) domain.Verdict {
		return domain.Verdict{Outcome: domain.OutcomeClean, DBVersion: db, SHA256: sum("verdicts"), ScannedAt: clk.Now(), ContentType: "text/plain"}
	}
	rec = scan(statemachine.Pass, clean("db1"))
	if len(rec.Verdicts) != 1 || rec.Verdicts[0].DBVersion != "db1" {
		t.Fatalf("after the first verdict: verdicts %+v", rec.Verdicts)
	}
	for i := 2; i <= domain.MaxVerdicts+3; i++ {
		clk.Advance(time.Minute)
		rec, err = s.Apply(ctx, rec, store.Transition{Event: statemachine.Rescan, Actor: "retro-hunt"})
		mustOK(t, err, "Rescan")
		if len(rec.Verdicts) != min(i-1, domain.MaxVerdicts) {
			t.Fatalf("a rescan changed the verdict history: %d verdicts", len(rec.Verdicts))
		}
		rec = scan(statemachine.Pass, clean(fmt.Sprintf("db%d", i)))
	}
	if n := len(rec.Verdicts); n != domain.MaxVerdicts || rec.Verdicts[0].DBVersion != "db1" ||
		rec.Verdicts[n-1].DBVersion != fmt.Sprintf("db%d", domain.MaxVerdicts+3) || rec.Verdicts[1].DBVersion != "db5" {
		t.Errorf("bounded history: %d verdicts, first %s, second %s, last %s", n, rec.Verdicts[0].DBVersion, rec.Verdicts[1].DBVersion, rec.Verdicts[n-1].DBVersion)
	}
	clk.Advance(time.Minute)
	rec, err = s.Apply(ctx, rec, store.Transition{Event: statemachine.Rescan, Actor: "retro-hunt"})
	mustOK(t, err, "Rescan")
	infected := domain.Verdict{Outcome: domain.OutcomeInfected, Signatures: []string{"Private.Sig"}, DBVersion: "db-new", SHA256: sum("verdicts"), ScannedAt: clk.Now(), Retro: true}
	rec = scan(statemachine.Detect, infected)
	if delta := diff(get(t, d, rec.ID).Verdicts, rec.Verdicts); delta != "" {
		t.Errorf("stored verdicts: diff (-got +want):\n%s", delta)
	}
	if last := rec.Verdicts[len(rec.Verdicts)-1]; !last.Retro || last.Outcome != domain.OutcomeInfected {
		t.Errorf("last verdict %+v, want the retro detection", last)
	}
	item, err := s.OpenReview(ctx, rec)
	mustOK(t, err, "OpenReview")
	if !item.RetroDetected || !item.FirstCleanAt.Equal(firstClean) {
		t.Errorf("review item: retroDetected %v, firstCleanAt %s; want true, %s", item.RetroDetected, item.FirstCleanAt, firstClean)
	}
	got, err := s.Review(ctx, rec.ID)
	mustOK(t, err, "Review")
	if delta := diff(got, item); delta != "" {
		t.Errorf("stored review item: diff (-got +want):\n%s", delta)
	}
}

const ttl = 30 * time.Second

func testIngest(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := newStore(d)
	obj := ref("ingest")
	first, created, err := s.Ingest(ctx, obj, "ingest-lambda", "s3:ObjectCreated:Put")
	mustOK(t, err, "Ingest")
	if !created {
		t.Fatal("first Ingest reported created=false")
	}
	want := &domain.Record{
		ID: obj.ID(), Object: obj, State: domain.StatusPending, Version: 1,
		CreatedAt: base, UpdatedAt: base,
		History: []domain.HistoryEntry{{At: base, Event: "ingest", To: domain.StatusPending, Actor: "ingest-lambda", Detail: "s3:ObjectCreated:Put"}},
	}
	if delta := diff(first, want); delta != "" {
		t.Errorf("Ingest returned: diff (-got +want):\n%s", delta)
	}

	clk.Advance(time.Minute)
	again, created, err := s.Ingest(ctx, obj, "ingest-lambda", "redelivered")
	mustOK(t, err, "second Ingest")
	if created {
		t.Error("second Ingest reported created=true")
	}
	if delta := diff(again, want); delta != "" {
		t.Errorf("second Ingest returned: diff (-got +want):\n%s", delta)
	}
	if delta := diff(get(t, d, obj.ID()), want); delta != "" {
		t.Errorf("record after two Ingests: diff (-got +want):\n%s", delta)
	}

	_, _, err = s.Ingest(ctx, domain.ObjectRef{Key: "no-bucket"}, "a", "")
	wantCode(t, err, errcode.Invalid, "Ingest without a bucket")
}

// testApplyFollowsTable applies every event to a record in every state:
// the write must succeed exactly when the statemachine table allows it.
func testApplyFollowsTable(t *testing.T, d store.Driver) {
	ctx := context.Background()
	for _, from := range domain.Statuses() {
		t.Run(string(from), func(t *testing.T) {
			s, clk := newStore(d)
			for _, ev := range statemachine.Events() {
				rec := record(fmt.Sprintf("table-%s-%s", from, ev), from, 0)
				create(t, d, clone(t, rec))
				clk.Advance(time.Second)
				got, err := s.Apply(ctx, clone(t, rec), store.Transition{Event: ev, Actor: "table-test", Reason: "because"})
				if !statemachine.Can(from, ev) {
					wantCode(t, err, errcode.ConditionFailed, fmt.Sprintf("Apply %s from %s", ev, from))
					if !errors.Is(err, statemachine.ErrIllegal) {
						t.Errorf("Apply %s from %s: error %v does not wrap statemachine.ErrIllegal", ev, from, err)
					}
					if delta := diff(get(t, d, rec.ID), rec); delta != "" {
						t.Errorf("record after illegal %s from %s: diff (-got +want):\n%s", ev, from, delta)
					}
					continue
				}
				if ev == statemachine.Claim || ev == statemachine.Reclaim {
					// Legal, but only Store.Claim may make a lease.
					wantCode(t, err, errcode.Invalid, fmt.Sprintf("Apply %s from %s", ev, from))
					continue
				}
				if err != nil {
					t.Errorf("Apply %s from %s: %v (the table allows it)", ev, from, err)
					continue
				}
				to, _ := statemachine.Next(from, ev)
				now := clk.Now()
				want := applyMutation(rec, store.Mutation{
					State: to, Reason: "because", Attempts: rec.Attempts, Verdict: rec.Verdict,
					Quarantine: rec.Quarantine, ExecutionARN: rec.ExecutionARN, UpdatedAt: now,
					History: &domain.HistoryEntry{At: now, Event: string(ev), From: from, To: to, Actor: "table-test", Reason: "because"},
				})
				if ev == statemachine.Rescan {
					want.Verdict, want.Attempts = nil, 0
				}
				if delta := diff(got, want); delta != "" {
					t.Errorf("Apply %s from %s returned: diff (-got +want):\n%s", ev, from, delta)
				}
				if delta := diff(get(t, d, rec.ID), want); delta != "" {
					t.Errorf("record after %s from %s: diff (-got +want):\n%s", ev, from, delta)
				}
			}
		})
	}
}

func testApplyStale(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := newStore(d)
	rec, _, err := s.Ingest(ctx, ref("stale"), "ingest", "")
	mustOK(t, err, "Ingest")
	stale := clone(t, rec)
	cur, err := s.Apply(ctx, rec, store.Transition{Event: statemachine.Fail, Reason: domain.ReasonSourceError})
	mustOK(t, err, "Apply fail")
	// The stale copy says pending, where Vanish is legal, but the stored
	// record moved on: the version check must refuse it.
	_, err = s.Apply(ctx, stale, store.Transition{Event: statemachine.Vanish})
	wantCode(t, err, errcode.ConditionFailed, "Apply with a stale record")
	if delta := diff(get(t, d, rec.ID), cur); delta != "" {
		t.Errorf("record after the stale Apply: diff (-got +want):\n%s", delta)
	}
}

func testClaimLifecycle(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := newStore(d)
	rec, _, err := s.Ingest(ctx, ref("claim"), "ingest", "")
	mustOK(t, err, "Ingest")

	// Claim from pending.
	clk.Advance(time.Second)
	claimed, err := s.Claim(ctx, rec.ID, "worker-1", ttl)
	mustOK(t, err, "Claim")
	if claimed.State != domain.StatusScanning || claimed.Attempts != 1 || claimed.Version != 2 {
		t.Errorf("after Claim: state %s, attempts %d, version %d; want scanning, 1, 2", claimed.State, claimed.Attempts, claimed.Version)
	}
	if l := claimed.Lease; l == nil || l.Owner != "worker-1" || l.Token == "" || !l.Expires.Equal(clk.Now().Add(ttl)) {
		t.Fatalf("after Claim: lease %+v; want owner worker-1, a token, expiry %s", l, clk.Now().Add(ttl))
	}
	if h := claimed.History[len(claimed.History)-1]; h.Event != string(statemachine.Claim) || h.From != domain.StatusPending || h.To != domain.StatusScanning || h.Actor != "worker-1" {
		t.Errorf("after Claim: last history entry %+v", h)
	}
	first := claimed.Lease.Token

	// A live lease refuses another claimer, up to the last instant.
	clk.Advance(ttl - time.Millisecond)
	_, err = s.Claim(ctx, rec.ID, "worker-2", ttl)
	wantCode(t, err, errcode.ConditionFailed, "Claim while leased")
	if !errors.Is(err, store.ErrLeased) {
		t.Errorf("Claim while leased: error %v does not wrap store.ErrLeased", err)
	}
	if delta := diff(get(t, d, rec.ID), claimed); delta != "" {
		t.Errorf("record after the refused Claim: diff (-got +want):\n%s", delta)
	}

	// At the expiry instant the lease is gone: the record is reclaimed.
	clk.Advance(time.Millisecond)
	reclaimed, err := s.Claim(ctx, rec.ID, "worker-2", ttl)
	mustOK(t, err, "Claim after expiry")
	if reclaimed.State != domain.StatusScanning || reclaimed.Attempts != 2 || reclaimed.Version != 3 {
		t.Errorf("after reclaim: state %s, attempts %d, version %d; want scanning, 2, 3", reclaimed.State, reclaimed.Attempts, reclaimed.Version)
	}
	if l := reclaimed.Lease; l == nil || l.Owner != "worker-2" || l.Token == "" || l.Token == first {
		t.Fatalf("after reclaim: lease %+v; want owner worker-2 and a new token", l)
	}
	if h := reclaimed.History[len(reclaimed.History)-1]; h.Event != string(statemachine.Reclaim) || h.From != domain.StatusScanning || h.To != domain.StatusScanning {
		t.Errorf("after reclaim: last history entry %+v", h)
	}

	// The first worker comes back late: its verdict must not land.
	for _, ev := range []statemachine.Event{statemachine.Pass, statemachine.Detect, statemachine.Fail} {
		_, err = s.Finish(ctx, rec.ID, first, store.Transition{Event: ev, Verdict: &domain.Verdict{Outcome: domain.OutcomeClean}})
		wantCode(t, err, errcode.ConditionFailed, fmt.Sprintf("Finish %s with the reclaimed lease's token", ev))
	}
	if delta := diff(get(t, d, rec.ID), reclaimed); delta != "" {
		t.Errorf("record after the late Finish: diff (-got +want):\n%s", delta)
	}
	_, err = s.Finish(ctx, rec.ID, "", store.Transition{Event: statemachine.Pass})
	wantCode(t, err, errcode.Invalid, "Finish without a token")

	// The current holder finishes; the lease is dropped and the verdict kept.
	clk.Advance(time.Second)
	verdict := &domain.Verdict{Outcome: domain.OutcomeClean, Engine: "ClamAV 1.4.6", DBVersion: "27512", SHA256: sum("claim"), ScannedAt: clk.Now()}
	done, err := s.Finish(ctx, rec.ID, reclaimed.Lease.Token, store.Transition{Event: statemachine.Pass, Actor: "worker-2", Verdict: verdict})
	mustOK(t, err, "Finish with the current token")
	if done.State != domain.StatusClean || done.Lease != nil || done.Version != 4 || len(done.History) != 4 {
		t.Errorf("after Finish: state %s, lease %+v, version %d, %d history entries; want clean, none, 4, 4",
			done.State, done.Lease, done.Version, len(done.History))
	}
	if delta := diff(done.Verdict, verdict); delta != "" {
		t.Errorf("verdict after Finish: diff (-got +want):\n%s", delta)
	}
	_, err = s.Finish(ctx, rec.ID, reclaimed.Lease.Token, store.Transition{Event: statemachine.Pass})
	wantCode(t, err, errcode.ConditionFailed, "second Finish with the same token")
}

func testClaimRefused(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := newStore(d)
	_, err := s.Claim(ctx, ref("never-ingested").ID(), "w", ttl)
	wantCode(t, err, errcode.NotFound, "Claim of a missing record")
	for _, state := range domain.Statuses() {
		if state == domain.StatusPending || state == domain.StatusScanning {
			continue
		}
		rec := create(t, d, record("refused-"+string(state), state, 0))
		_, err := s.Claim(ctx, rec.ID, "w", ttl)
		wantCode(t, err, errcode.ConditionFailed, "Claim from "+string(state))
		if errors.Is(err, store.ErrLeased) {
			t.Errorf("Claim from %s: error %v wraps ErrLeased, but nothing is leased", state, err)
		}
	}
}

func testRescan(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := newStore(d)
	rec, _, err := s.Ingest(ctx, ref("rescan"), "ingest", "")
	mustOK(t, err, "Ingest")
	rec, err = s.Claim(ctx, rec.ID, "w", ttl)
	mustOK(t, err, "Claim")
	rec, err = s.Finish(ctx, rec.ID, rec.Lease.Token, store.Transition{Event: statemachine.Pass, Verdict: &domain.Verdict{Outcome: domain.OutcomeClean, DBVersion: "1"}})
	mustOK(t, err, "Finish")
	clk.Advance(time.Hour)
	rec, err = s.Apply(ctx, rec, store.Transition{Event: statemachine.Rescan, Actor: "sigupdate", Reason: "new signatures"})
	mustOK(t, err, "Apply rescan")
	if rec.State != domain.StatusPending || rec.Verdict != nil || rec.Attempts != 0 || rec.Lease != nil {
		t.Errorf("after rescan: state %s, verdict %+v, attempts %d, lease %+v; want pending, none, 0, none", rec.State, rec.Verdict, rec.Attempts, rec.Lease)
	}
	if n := len(rec.History); n != 4 || rec.History[n-1].Event != string(statemachine.Rescan) {
		t.Errorf("after rescan: history %+v", rec.History)
	}
	if delta := diff(get(t, d, rec.ID), rec); delta != "" {
		t.Errorf("record after rescan: diff (-got +want):\n%s", delta)
	}
	// The record can be claimed again, and its attempts count from zero.
	rec, err = s.Claim(ctx, rec.ID, "w", ttl)
	mustOK(t, err, "Claim after rescan")
	if rec.Attempts != 1 {
		t.Errorf("attempts after a new claim = %d, want 1", rec.Attempts)
	}
}

func testSetExecution(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := newStore(d)
	rec, _, err := s.Ingest(ctx, ref("execution"), "ingest", "")
	mustOK(t, err, "Ingest")
	clk.Advance(time.Second)
	const arn = "arn:aws:states:eu-west-1:123456789012:execution:scan:1"
	got, err := s.SetExecution(ctx, rec.ID, arn)
	mustOK(t, err, "SetExecution")
	want := clone(t, rec)
	want.ExecutionARN, want.Version = arn, 2
	if delta := diff(got, want); delta != "" {
		t.Errorf("SetExecution returned: diff (-got +want):\n%s", delta)
	}
	got, err = s.SetExecution(ctx, rec.ID, arn)
	mustOK(t, err, "SetExecution again")
	if delta := diff(got, want); delta != "" {
		t.Errorf("SetExecution with the same ARN returned: diff (-got +want):\n%s", delta)
	}
	if delta := diff(get(t, d, rec.ID), want); delta != "" {
		t.Errorf("record after SetExecution: diff (-got +want):\n%s", delta)
	}
}

func testStoreAllowlistAndCache(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := newStore(d)
	h := sum("allow")
	e, err := s.AddAllowlist(ctx, domain.AllowlistEntry{SHA256: " " + upper(h) + " ", AddedBy: "alice", Reason: "vendor tool", Expires: base.Add(time.Hour)})
	mustOK(t, err, "AddAllowlist")
	if e.SHA256 != h || !e.AddedAt.Equal(base) {
		t.Errorf("AddAllowlist stored sha %q at %s; want %q at %s", e.SHA256, e.AddedAt, h, base)
	}
	got, err := s.Allowlisted(ctx, upper(h))
	mustOK(t, err, "Allowlisted")
	if delta := diff(got, e); delta != "" {
		t.Errorf("Allowlisted: diff (-got +want):\n%s", delta)
	}
	clk.Advance(time.Hour)
	got, err = s.Allowlisted(ctx, h)
	mustOK(t, err, "Allowlisted after expiry")
	if got != nil {
		t.Errorf("Allowlisted after expiry = %+v, want nil", got)
	}
	mustOK(t, s.RemoveAllowlist(ctx, h), "RemoveAllowlist")
	mustOK(t, s.RemoveAllowlist(ctx, h), "RemoveAllowlist again")

	clean := &domain.Verdict{Outcome: domain.OutcomeClean, DBVersion: "27512", SHA256: h}
	infected := &domain.Verdict{Outcome: domain.OutcomeInfected, DBVersion: "27512", SHA256: sum("bad"), Signatures: []string{"X"}}
	mustOK(t, s.CacheVerdict(ctx, clean), "CacheVerdict clean")
	mustOK(t, s.CacheVerdict(ctx, infected), "CacheVerdict infected")
	v, err := s.CachedVerdict(ctx, h, "27512")
	mustOK(t, err, "CachedVerdict")
	if delta := diff(v, clean); delta != "" {
		t.Errorf("CachedVerdict: diff (-got +want):\n%s", delta)
	}
	if v, err := s.CachedVerdict(ctx, infected.SHA256, "27512"); err != nil || v != nil {
		t.Errorf("CachedVerdict of an infected verdict = %+v, %v; want nil, nil", v, err)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func testStoreReviews(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := newStore(d)
	rec := create(t, d, record("store-review", domain.StatusReviewing, 0))
	item, err := s.OpenReview(ctx, rec)
	mustOK(t, err, "OpenReview")
	clk.Advance(time.Second)
	again, err := s.OpenReview(ctx, rec)
	mustOK(t, err, "OpenReview again")
	if delta := diff(again, item); delta != "" {
		t.Errorf("second OpenReview returned: diff (-got +want):\n%s", delta)
	}
	_, err = s.DecideReview(ctx, rec.ID, store.ReviewDecision{Decision: "maybe", Reviewer: "carol"})
	wantCode(t, err, errcode.Invalid, "DecideReview with an unknown decision")
	decided, err := s.DecideReview(ctx, rec.ID, store.ReviewDecision{Decision: domain.DecisionRelease, Reviewer: "carol"})
	mustOK(t, err, "DecideReview")
	if decided.Open() || !decided.DecidedAt.Equal(clk.Now()) {
		t.Errorf("DecideReview returned %+v", decided)
	}
	_, err = s.DecideReview(ctx, rec.ID, store.ReviewDecision{Decision: domain.DecisionConfirm, Reviewer: "dave"})
	wantCode(t, err, errcode.ConditionFailed, "second DecideReview")
	open, _, err := s.OpenReviews(ctx, store.Page{})
	mustOK(t, err, "OpenReviews")
	if len(open) != 0 {
		t.Errorf("OpenReviews after the decision: %d items, want 0", len(open))
	}
}

// raceTests start goroutines that race for the same record.
func raceTests() []namedTest {
	return []namedTest{
		{"Claim", testRaceClaim},
		{"Reclaim", testRaceReclaim},
		{"Finish", testRaceFinish},
		{"Ingest", testRaceIngest},
		{"Update", testRaceUpdate},
		{"DecideReview", testRaceDecideReview},
	}
}

// racers is how many goroutines race in each race test.
const racers = 16

// race runs fn in racers goroutines released at once and returns their
// errors, indexed by goroutine.
func race(fn func(i int) error) []error {
	errs := make([]error, racers)
	var (
		ready, done sync.WaitGroup
		start       = make(chan struct{})
	)
	for i := range racers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// oneWinner fails the test unless exactly one error is nil and every other
// has code ConditionFailed.
func oneWinner(t *testing.T, errs []error, what string) {
	t.Helper()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errcode.Of(err) != errcode.ConditionFailed:
			t.Errorf("%s: racer %d: got error %v (code %s), want ConditionFailed", what, i, err, errcode.Of(err))
		}
	}
	if wins != 1 {
		t.Errorf("%s: %d of %d racers won, want exactly 1", what, wins, len(errs))
	}
}

func countEvents(rec *domain.Record, ev statemachine.Event) int {
	n := 0
	for _, h := range rec.History {
		if h.Event == string(ev) {
			n++
		}
	}
	return n
}

func testRaceClaim(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := newStore(d)
	rec, _, err := s.Ingest(ctx, ref("race-claim"), "ingest", "")
	mustOK(t, err, "Ingest")
	errs := race(func(i int) error {
		_, err := s.Claim(ctx, rec.ID, fmt.Sprint("worker-", i), ttl)
		return err
	})
	oneWinner(t, errs, "Claim")
	got := get(t, d, rec.ID)
	if n := countEvents(got, statemachine.Claim); n != 1 || len(got.History) != 2 || got.Attempts != 1 || got.Version != 2 {
		t.Errorf("after the race: %d claim entries, %d history entries, attempts %d, version %d; want 1, 2, 1, 2",
			n, len(got.History), got.Attempts, got.Version)
	}
	for i, err := range errs {
		if err == nil && (got.Lease == nil || got.Lease.Owner != fmt.Sprint("worker-", i)) {
			t.Errorf("lease %+v does not belong to the winner worker-%d", got.Lease, i)
		}
	}
}

func testRaceReclaim(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := newStore(d)
	rec, _, err := s.Ingest(ctx, ref("race-reclaim"), "ingest", "")
	mustOK(t, err, "Ingest")
	_, err = s.Claim(ctx, rec.ID, "dead-worker", ttl)
	mustOK(t, err, "Claim")
	clk.Advance(2 * ttl)
	errs := race(func(i int) error {
		_, err := s.Claim(ctx, rec.ID, fmt.Sprint("worker-", i), ttl)
		return err
	})
	oneWinner(t, errs, "reclaim")
	got := get(t, d, rec.ID)
	if n := countEvents(got, statemachine.Reclaim); n != 1 || len(got.History) != 3 || got.Attempts != 2 || got.Version != 3 {
		t.Errorf("after the race: %d reclaim entries, %d history entries, attempts %d, version %d; want 1, 3, 2, 3",
			n, len(got.History), got.Attempts, got.Version)
	}
}

func testRaceFinish(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := newStore(d)
	rec, _, err := s.Ingest(ctx, ref("race-finish"), "ingest", "")
	mustOK(t, err, "Ingest")
	rec, err = s.Claim(ctx, rec.ID, "worker", ttl)
	mustOK(t, err, "Claim")
	errs := race(func(i int) error {
		_, err := s.Finish(ctx, rec.ID, rec.Lease.Token, store.Transition{
			Event: statemachine.Pass, Actor: fmt.Sprint("delivery-", i),
			Verdict: &domain.Verdict{Outcome: domain.OutcomeClean, BytesScanned: int64(i)},
		})
		return err
	})
	oneWinner(t, errs, "Finish")
	got := get(t, d, rec.ID)
	if n := countEvents(got, statemachine.Pass); n != 1 || len(got.History) != 3 || got.Version != 3 || got.State != domain.StatusClean {
		t.Errorf("after the race: %d pass entries, %d history entries, version %d, state %s; want 1, 3, 3, clean",
			n, len(got.History), got.Version, got.State)
	}
	for i, err := range errs {
		if err == nil && (got.Verdict == nil || got.Verdict.BytesScanned != int64(i)) {
			t.Errorf("verdict %+v is not the winner's (delivery-%d)", got.Verdict, i)
		}
	}
}

func testRaceIngest(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := newStore(d)
	obj := ref("race-ingest")
	var (
		mu      sync.Mutex
		created int
		recs    []*domain.Record
	)
	errs := race(func(i int) error {
		rec, c, err := s.Ingest(ctx, obj, fmt.Sprint("delivery-", i), "")
		mu.Lock()
		defer mu.Unlock()
		if c {
			created++
		}
		if rec != nil {
			recs = append(recs, rec)
		}
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("Ingest racer %d: %v", i, err)
		}
	}
	if created != 1 {
		t.Errorf("%d of %d Ingests reported created, want exactly 1", created, racers)
	}
	got := get(t, d, obj.ID())
	if len(got.History) != 1 || got.Version != 1 {
		t.Errorf("after the race: %d history entries, version %d; want 1, 1", len(got.History), got.Version)
	}
	for _, r := range recs {
		if delta := diff(r, got); delta != "" {
			t.Errorf("an Ingest returned a record unlike the stored one: diff (-got +want):\n%s", delta)
		}
	}
}

// testRaceUpdate races the driver's compare-and-set directly: every racer
// writes from the same version.
func testRaceUpdate(t *testing.T, d store.Driver) {
	ctx := context.Background()
	rec := create(t, d, record("race-update", domain.StatusScanning, 0))
	errs := race(func(i int) error {
		m := store.Mutation{
			State: domain.StatusScanning, Attempts: 100 + i, UpdatedAt: at(int64(5000 + i)),
			History: &domain.HistoryEntry{At: at(int64(5000 + i)), Event: "reclaim", From: domain.StatusScanning, To: domain.StatusScanning, Actor: fmt.Sprint(i)},
		}
		_, err := d.Update(ctx, rec.ID, store.Condition{States: []domain.Status{domain.StatusScanning}, Version: rec.Version}, m)
		return err
	})
	oneWinner(t, errs, "Update")
	got := get(t, d, rec.ID)
	if len(got.History) != len(rec.History)+1 || got.Version != rec.Version+1 {
		t.Errorf("after the race: %d history entries, version %d; want %d, %d", len(got.History), got.Version, len(rec.History)+1, rec.Version+1)
	}
	for i, err := range errs {
		if err == nil && got.Attempts != 100+i {
			t.Errorf("attempts %d are not the winner's (%d)", got.Attempts, 100+i)
		}
	}
}

func testRaceDecideReview(t *testing.T, d store.Driver) {
	ctx := context.Background()
	item := reviewItem("race-review", 0)
	mustOK(t, d.CreateReview(ctx, item), "CreateReview")
	errs := race(func(i int) error {
		_, err := d.DecideReview(ctx, item.ID, store.ReviewDecision{Decision: domain.DecisionConfirm, Reviewer: fmt.Sprint("admin-", i), DecidedAt: at(int64(i))})
		return err
	})
	oneWinner(t, errs, "DecideReview")
	got, err := d.GetReview(ctx, item.ID)
	mustOK(t, err, "GetReview")
	for i, err := range errs {
		if err == nil && got.Reviewer != fmt.Sprint("admin-", i) {
			t.Errorf("reviewer %q is not the winner admin-%d", got.Reviewer, i)
		}
	}
}

// bumpFirstUpdate is a driver that, on its first Update, lets a
// bookkeeping write (a new execution link) land between the caller's read
// and its write: the race a real deployment has with SetExecution.
type bumpFirstUpdate struct {
	store.Driver
	once sync.Once
}

func (b *bumpFirstUpdate) Update(ctx context.Context, id string, cond store.Condition, m store.Mutation) (*domain.Record, error) {
	b.once.Do(func() {
		rec, err := b.Driver.Get(ctx, id)
		if err != nil {
			return
		}
		_, _ = b.Driver.Update(ctx, id, store.Condition{States: []domain.Status{rec.State}, Version: rec.Version}, store.Mutation{
			State: rec.State, Reason: rec.Reason, Attempts: rec.Attempts, Lease: rec.Lease, Verdict: rec.Verdict,
			Quarantine: rec.Quarantine, ExecutionARN: "arn:aws:states:::execution:scan:raced", UpdatedAt: rec.UpdatedAt,
		})
	})
	return b.Driver.Update(ctx, id, cond, m)
}

// testFinishAfterBookkeeping: a bookkeeping write (the execution link)
// that lands while a scanner holds the lease must not cost the scanner its
// verdict.
func testFinishAfterBookkeeping(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := newStore(d)
	obj := ref("finish-after-bookkeeping")
	_, _, err := s.Ingest(ctx, obj, "ingest", "")
	mustOK(t, err, "Ingest")
	claimed, err := s.Claim(ctx, obj.ID(), "scanner", ttl)
	mustOK(t, err, "Claim")
	raced, _ := newStore(&bumpFirstUpdate{Driver: d})
	got, err := raced.Finish(ctx, obj.ID(), claimed.Lease.Token, store.Transition{Event: statemachine.Pass, Actor: "scanner"})
	mustOK(t, err, "Finish raced by a bookkeeping write")
	if got.State != domain.StatusClean || got.ExecutionARN != "arn:aws:states:::execution:scan:raced" {
		t.Errorf("after Finish: state %s, execution %q; want clean with the raced link kept", got.State, got.ExecutionARN)
	}
}

// testClaimAfterBookkeeping: the execution link written between a
// claimer's read and its write is no rival claim.
func testClaimAfterBookkeeping(t *testing.T, d store.Driver) {
	ctx := context.Background()
	obj := ref("claim-after-bookkeeping")
	s, _ := newStore(d)
	rec, _, err := s.Ingest(ctx, obj, "ingest", "")
	mustOK(t, err, "Ingest")
	raced, _ := newStore(&bumpFirstUpdate{Driver: d})
	got, err := raced.Claim(ctx, rec.ID, "scanner", ttl)
	mustOK(t, err, "Claim raced by a bookkeeping write")
	if got.State != domain.StatusScanning || got.Attempts != 1 || countEvent(got, "claim") != 1 {
		t.Errorf("after Claim: %s, attempts %d, history %v", got.State, got.Attempts, got.History)
	}
}

func countEvent(rec *domain.Record, ev string) int {
	n := 0
	for _, h := range rec.History {
		if h.Event == ev {
			n++
		}
	}
	return n
}
