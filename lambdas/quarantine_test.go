package lambdas_test

import (
	"context"
	"sync"
	"testing"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/statemachine"
	"github.com/scangate/scangate/store"
)

// onDelete runs a function once, when the first version is deleted: the
// last move of a quarantine.
type onDelete struct {
	objects.Driver
	once sync.Once
	fn   func()
}

func (o *onDelete) Delete(ctx context.Context, ref domain.ObjectRef) error {
	err := o.Driver.Delete(ctx, ref)
	o.once.Do(o.fn)
	return err
}

// A bookkeeping write lands on an infected record while the Quarantine
// step moves its bytes: the execution link that a late or duplicate ingest
// stores (Store.SetExecution reads the record afresh, so it writes onto
// whatever state the record is in by then). The step's transition must
// go through on the fresh record, as Finish's does, not fail the
// infected record as an internal error. Found by the fault drill (make
// drill): infected versions ended failed, their bytes moved to the
// quarantine but the record not saying so.
func TestQuarantineSurvivesABookkeepingWrite(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.scan.res = clamd.Result{Status: clamd.StatusFound, Signatures: []string{"Eicar-Test-Signature"}, Raw: "stream: Eicar-Test-Signature FOUND"}
	st := f.ingest(t, "late/eicar.com", "EICAR")
	const lateARN = "arn:aws:states:us-east-1:123456789012:execution:scan:late-ingest"
	objs := &onDelete{Driver: f.objs, fn: func() {
		if _, err := f.st.SetExecution(ctx, st.ID, lateARN); err != nil {
			t.Errorf("SetExecution: %v", err)
		}
	}}
	h, err := lambdas.New(lambdas.Config{Store: f.st, Objects: objs, Scanner: f.scan, QuarantineBucket: "quarantine", DisableVerdictCache: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err = h.Claim(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = h.Scan(ctx, st); err != nil {
		t.Fatal(err)
	}
	if st, err = h.Record(ctx, st); err != nil || st.Status != domain.StatusInfected {
		t.Fatalf("Record: %v, %s; want infected", err, st.Status)
	}
	out, err := h.Quarantine(ctx, st)
	if err != nil {
		t.Fatalf("Quarantine with a bookkeeping write during the move: %v", err)
	}
	rec, err := f.st.Get(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != domain.StatusReviewing || rec.State != domain.StatusReviewing || rec.Quarantine == nil {
		t.Fatalf("after Quarantine: step status %s, record %s, quarantine %+v; want reviewing with its location", out.Status, rec.State, rec.Quarantine)
	}
	if rec.ExecutionARN != lateARN {
		t.Errorf("execution %q; the bookkeeping write's %q was lost", rec.ExecutionARN, lateARN)
	}
	if _, _, err := f.objs.Open(ctx, rec.Object); err == nil {
		t.Error("the infected version is still in the bucket")
	}
	if _, err := f.objs.Head(ctx, *rec.Quarantine); err != nil {
		t.Errorf("quarantined copy: %v", err)
	}
}

// A rescan reads the quarantined copy, not the version the record names
// (gone from the bucket): Record's write, conditional on the version read
// being the record's, takes the record's location, and a clean answer is
// recorded and the bytes put back.
func TestRescanOfAQuarantinedCopyIsRecorded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.scan.res = clamd.Result{Status: clamd.StatusFound, Signatures: []string{"Scangate.Test.FalsePositive"}, Raw: "stream: Scangate.Test.FalsePositive FOUND"}
	st, err := f.h.Quarantine(ctx, f.verdict(t, "fp/report.pdf", "a report clamd once mistook"))
	if err != nil || st.Status != domain.StatusReviewing {
		t.Fatalf("Quarantine: %v, %s", err, st.Status)
	}
	rec, err := f.st.Get(ctx, st.ID)
	if err != nil || rec.Quarantine == nil {
		t.Fatalf("record %+v, %v; want a quarantined copy", rec, err)
	}
	if _, err := f.st.Apply(ctx, rec, store.Transition{Event: statemachine.Rescan, Actor: "ops", Detail: "signature fixed"}); err != nil {
		t.Fatal(err)
	}
	f.scan.res = clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK"}
	st, err = f.h.Claim(ctx, asl.Document{ID: rec.ID, Object: rec.Object})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = f.h.Scan(ctx, st); err != nil {
		t.Fatal(err)
	}
	if st.Read == nil || st.Read.Object.Bucket != rec.Quarantine.Bucket {
		t.Fatalf("the rescan read %+v, want the quarantined copy %v", st.Read, rec.Quarantine)
	}
	if st, err = f.h.Record(ctx, st); err != nil || st.Status != domain.StatusClean {
		t.Fatalf("Record of the rescan: %v, %s; want clean", err, st.Status)
	}
}
