package lambdas_test

import (
	"context"
	"errors"
	"github.com/scangate/scangate/asl"
	"strings"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
)

type recordingOffloader struct {
	calls []asl.Document
	vers  []int64
	err   error
}

func (r *recordingOffloader) Offload(ctx context.Context, st asl.Document, version int64) error {
	r.calls, r.vers = append(r.calls, st), append(r.vers, version)
	return r.err
}

// Claim routes by size: the usual scan, the large-object path, or (with
// no such path) the usual scan, which refuses the object as too large.
func TestClaimRoutesLargeObjects(t *testing.T) {
	const limit = 16
	small, large := "tiny", strings.Repeat("x", limit+1)
	tests := []struct {
		name      string
		body      string
		offloader bool
		large     bool // a LargeScanner in this process
		offloaded bool // the input comes from an offload
		next      asl.Route
		leased    bool
	}{
		{"small object", small, true, true, false, "scan", true},
		{"large, offload configured", large, true, false, false, "offload", false},
		{"large, in the offloaded execution", large, false, true, true, "scanLarge", true},
		{"large, no path at all", large, false, false, false, "scan", true},
		{"large, offloaded but no large scanner here", large, false, false, true, "scan", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			cfg := lambdas.Config{Store: f.st, Objects: f.objs, Scanner: f.scan, QuarantineBucket: "quarantine", MaxScanBytes: limit}
			if tt.offloader {
				cfg.Offloader = &recordingOffloader{}
			}
			if tt.large {
				cfg.LargeScanner = f.scan
			}
			h, err := lambdas.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			st := f.ingest(t, "k", tt.body)
			st.Offloaded = tt.offloaded
			got, err := h.Claim(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			if got.Next != tt.next || got.Skip {
				t.Errorf("Claim: next %q skip %v; want next %q", got.Next, got.Skip, tt.next)
			}
			if (got.LeaseToken != "") != tt.leased {
				t.Errorf("lease token %q; want leased=%v", got.LeaseToken, tt.leased)
			}
		})
	}
}

// Offload hands the object on marked Offloaded, keyed by the record's
// version, and a failure to do so is a retryable backend error.
func TestOffload(t *testing.T) {
	f := newFixture(t)
	off := &recordingOffloader{}
	h, err := lambdas.New(lambdas.Config{Store: f.st, Objects: f.objs, Scanner: f.scan, QuarantineBucket: "quarantine", MaxScanBytes: 1, Offloader: off})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := f.ingest(t, "big", "more than one byte")
	rec, err := f.st.Get(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Offload(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if out.Next != "done" || len(off.calls) != 1 || !off.calls[0].Offloaded || off.vers[0] != rec.Version {
		t.Fatalf("Offload: next %q, calls %+v versions %v; want one offloaded call at version %d", out.Next, off.calls, off.vers, rec.Version)
	}
	if rec, _ := f.st.Get(ctx, st.ID); rec.State != domain.StatusPending {
		t.Errorf("state %s after offload; the large-object path claims, so it stays pending", rec.State)
	}
	off.err = errors.New("RunTask: throttled")
	_, err = h.Offload(ctx, st)
	var se *lambdas.StepError
	if !errors.As(err, &se) || se.Type != lambdas.ErrUnavailable || se.Reason != domain.ReasonOffloadFailed {
		t.Errorf("failed offload: %v; want a retryable %s naming %s", err, lambdas.ErrUnavailable, domain.ReasonOffloadFailed)
	}
}

// Writes by a configured self principal (the releasing role) are not
// ingested; everyone else's are.
func TestIngestDropsSelfPrincipals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ref, err := f.objs.Put(ctx, "uploads", "released.bin", strings.NewReader("released bytes"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doc := intake.S3Notification(ref)
	b, err := intake.Decode(doc)
	if err != nil || len(b.Refs) != 1 {
		t.Fatalf("Decode = %+v, %v", b, err)
	}
	principal := b.Refs[0].Requester
	for _, tt := range []struct {
		self    []string
		ingests int
	}{
		{nil, 1},
		{[]string{"AWS:SOMEONE-ELSE"}, 1},
		{[]string{principal}, 0},
	} {
		g := newFixture(t)
		h, err := lambdas.New(lambdas.Config{Store: g.st, Objects: f.objs, Scanner: g.scan, QuarantineBucket: "quarantine", SelfPrincipals: tt.self})
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.Ingest(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.IDs) != tt.ingests {
			t.Errorf("self principals %v: %d records for a write by %q; want %d", tt.self, len(res.IDs), principal, tt.ingests)
		}
	}
}
