package lambdas_test

import (
	"context"
	"github.com/scangate/scangate/asl"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

// bumpingDriver links the execution (store.Store.SetExecution, as the
// ingest does after starting the workflow) right after the armed Get
// returns: the bookkeeping write that lands between a step's read and its
// write when the machine is loaded.
type bumpingDriver struct {
	store.Driver
	st    *store.Store
	armed atomic.Bool
	n     atomic.Int32
}

func (d *bumpingDriver) Get(ctx context.Context, id string) (*domain.Record, error) {
	rec, err := d.Driver.Get(ctx, id)
	if err == nil && d.armed.CompareAndSwap(true, false) {
		if _, err := d.st.SetExecution(ctx, id, "arn:execution:"+string(rune('a'+d.n.Add(1)))); err != nil {
			return nil, err
		}
	}
	return rec, err
}

// A step that read the record before a bookkeeping write still makes its
// transition: Quarantine puts the record under review, and Fail records
// the failure, instead of failing on the bumped version (which once turned
// an infected file into "failed, internal" under load).
func TestStepsSurviveABookkeepingWrite(t *testing.T) {
	dir := t.TempDir()
	inner, err := embedded.Open(filepath.Join(dir, "db"), &embedded.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	drv := &bumpingDriver{Driver: inner}
	st := store.New(drv, nil)
	drv.st = st
	t.Cleanup(func() { st.Close() })
	objs, err := localdir.Open(filepath.Join(dir, "b"), &localdir.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	sc := &fakeScanner{res: clamd.Result{Status: clamd.StatusFound, Signatures: []string{"Test.Sig"}, Raw: "stream: Test.Sig FOUND"}}
	h, err := lambdas.New(lambdas.Config{Store: st, Objects: objs, Scanner: sc, QuarantineBucket: "quarantine", DisableVerdictCache: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ingest := func(key string) asl.Document {
		ref, err := objs.Put(ctx, "uploads", key, strings.NewReader("bytes of "+key), objects.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rec, _, err := st.Ingest(ctx, ref, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		return asl.Document{ID: rec.ID, Object: rec.Object}
	}

	s := ingest("infected.bin")
	for _, step := range []func(context.Context, asl.Document) (asl.Document, error){h.Claim, h.Scan, h.Record} {
		if s, err = step(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	drv.armed.Store(true)
	if s, err = h.Quarantine(ctx, s); err != nil {
		t.Fatalf("Quarantine after a bookkeeping write: %v", err)
	}
	if rec, _ := st.Get(ctx, s.ID); rec.State != domain.StatusReviewing {
		t.Errorf("state %s; want reviewing", rec.State)
	}

	f := ingest("fails.bin")
	if f, err = h.Claim(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Error = &asl.CaughtError{Error: lambdas.ErrClamdUnavailable, Cause: "clamd down"}
	drv.armed.Store(true)
	if f, err = h.Fail(ctx, f); err != nil {
		t.Fatalf("Fail after a bookkeeping write: %v", err)
	}
	if rec, _ := st.Get(ctx, f.ID); rec.State != domain.StatusFailed || rec.Reason != domain.ReasonClamdUnavailable {
		t.Errorf("state %s reason %q; want failed, %s", rec.State, rec.Reason, domain.ReasonClamdUnavailable)
	}
	if drv.n.Load() != 2 {
		t.Errorf("%d bookkeeping writes injected; want 2", drv.n.Load())
	}
}
