package lambdas_test

import (
	"context"
	"github.com/scangate/scangate/asl"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/lambdas"
)

// skipClock is the real time plus a skip: a test moves it past a lease's
// expiry instead of waiting the lease out, and otherwise time flows.
type skipClock struct{ skip atomic.Int64 }

func (c *skipClock) now() time.Time { return time.Now().Add(time.Duration(c.skip.Load())) }

// shortLease returns handlers over f's store and bucket whose leases last
// a minute, and a function that moves f's store clock past one.
func shortLease(t *testing.T, f *fixture, owner string) (*lambdas.Handlers, func()) {
	t.Helper()
	const ttl = time.Minute
	h, err := lambdas.New(lambdas.Config{Store: f.st, Objects: f.objs, Scanner: f.scan, QuarantineBucket: "quarantine",
		DisableVerdictCache: true, LeaseTTL: ttl, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	return h, func() { f.clock.skip.Add(int64(2 * ttl)) }
}

// failed hands err to Fail as the workflow's Catch does, with st as the
// failing step's input.
func failed(t *testing.T, h *lambdas.Handlers, st asl.Document, typ string) {
	t.Helper()
	st.Error = &asl.CaughtError{Error: typ, Cause: `{"errorType":"` + typ + `","errorMessage":"test"}`}
	if _, err := h.Fail(context.Background(), st); err != nil {
		t.Fatalf("Fail: %v", err)
	}
}

// An execution whose Claim kept finding the record leased gives up; by
// then the holder's lease has expired, but the holder is still scanning
// (it waited for a scan slot, or clamd was restarting). The rival's
// failure must not end the record: it never held it, and the holder (or,
// if the holder died, the sweep's reclaim) still scans it. Found by the
// fault drill (make drill): clean versions ended failed with reason
// internal after 'claim(by drill-a) fail(by drill-b, Leased)'.
func TestFailLeavesAnotherExpiredLeaseAlone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	holder, expire := shortLease(t, f, "holder")
	rival, _ := shortLease(t, f, "rival")
	st := f.ingest(t, "slow/report.txt", "quarterly numbers")
	held, err := holder.Claim(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rival.Claim(ctx, st); lambdas.TypeOf(err) != lambdas.ErrLeased {
		t.Fatalf("rival Claim: %v; want %s", err, lambdas.ErrLeased)
	}
	expire()
	failed(t, rival, st, lambdas.ErrLeased)
	if rec, _ := f.st.Get(ctx, st.ID); rec.State != domain.StatusScanning {
		t.Fatalf("after the rival's failure: %s (%s); want still scanning", rec.State, rec.Reason)
	}
	// The holder's verdict still lands: its lease expired but was not
	// taken over.
	held, err = holder.Scan(ctx, held)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := holder.Record(ctx, held); err != nil || out.Status != domain.StatusClean {
		t.Fatalf("holder's Record: %v, %s; want clean", err, out.Status)
	}
}

// An execution's lease expired and another execution reclaimed the
// record, found it infected and is quarantining it, when the first
// execution's own Scan fails for good. That failure is about a lease it
// no longer holds and must not turn the recorded detection into failed:
// the quarantine under way would then be cut off, its bytes moved but the
// record not saying where. Found by the fault drill (make drill):
// 'claim(by drill-a) reclaim(by drill-b) detect(by drill-b) fail(infected→
// failed by drill-a, clamd-unavailable)', the version gone from the bucket.
func TestFailLeavesAnotherExecutionsVerdictAlone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.scan.res = clamd.Result{Status: clamd.StatusFound, Signatures: []string{"Eicar-Test-Signature"}, Raw: "stream: Eicar-Test-Signature FOUND"}
	first, expire := shortLease(t, f, "first")
	second, _ := shortLease(t, f, "second")
	st := f.ingest(t, "late/eicar.com", "EICAR")
	stale, err := first.Claim(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	expire()
	cur, err := second.Claim(ctx, st)
	if err != nil {
		t.Fatalf("reclaim: %v", err)
	}
	if cur, err = second.Scan(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if cur, err = second.Record(ctx, cur); err != nil || cur.Status != domain.StatusInfected {
		t.Fatalf("Record: %v, %s; want infected", err, cur.Status)
	}
	failed(t, first, stale, lambdas.ErrClamdUnavailable)
	if rec, _ := f.st.Get(ctx, st.ID); rec.State != domain.StatusInfected {
		t.Fatalf("after the stale execution's failure: %s (%s); want still infected", rec.State, rec.Reason)
	}
	if out, err := second.Quarantine(ctx, cur); err != nil || out.Status != domain.StatusReviewing {
		t.Fatalf("Quarantine: %v, %s; want reviewing", err, out.Status)
	}

	// The execution that recorded the verdict still fails it when its own
	// quarantine fails for good.
	st2 := f.ingest(t, "late/eicar2.com", "EICAR")
	own, err := second.Claim(ctx, st2)
	if err != nil {
		t.Fatal(err)
	}
	if own, err = second.Scan(ctx, own); err != nil {
		t.Fatal(err)
	}
	if own, err = second.Record(ctx, own); err != nil {
		t.Fatal(err)
	}
	failed(t, second, own, lambdas.ErrInternal)
	if rec, _ := f.st.Get(ctx, st2.ID); rec.State != domain.StatusFailed || rec.Reason != domain.ReasonQuarantineFailed {
		t.Errorf("after its own quarantine failed: %s (%s); want failed, %s", rec.State, rec.Reason, domain.ReasonQuarantineFailed)
	}
}
