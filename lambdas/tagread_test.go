package lambdas_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
)

// tagCalls records the tagging calls a driver gets, and the ETag each ref
// carried (an ETag means the driver checks it again).
type tagCalls struct {
	objects.Driver
	mu    sync.Mutex
	calls []string
}

func (c *tagCalls) log(call string, ref domain.ObjectRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ref.ETag != "" {
		call += " with ETag"
	}
	c.calls = append(c.calls, call)
}

func (c *tagCalls) Tags(ctx context.Context, ref domain.ObjectRef) (map[string]string, error) {
	c.log("Tags", ref)
	return c.Driver.Tags(ctx, ref)
}

func (c *tagCalls) SetTags(ctx context.Context, ref domain.ObjectRef, tags map[string]string) error {
	c.log("SetTags", ref)
	return c.Driver.SetTags(ctx, ref, tags)
}

// Record tags a clean version with what the Scan step's read established:
// an untagged version gets the verdict's tags alone, a tagged one keeps
// its owner's, and one that came in with the execution's input proves
// nothing. A verdict read from another version than the record's is not
// recorded at all: the lease does not make other bytes this record's.
func TestRecordTagsWhatScanRead(t *testing.T) {
	owner := map[string]string{"owner": "alice"}
	tests := []struct {
		name string
		tags map[string]string
		// input is set on Claim's input; Claim must drop it.
		input *asl.Read
		// tamper changes the Scan step's output before Record.
		tamper    func(*asl.Document)
		wantCalls []string
		wantOwner bool
		// wantRefused: Record records nothing and tags nothing.
		wantRefused bool
	}{
		{name: "untagged", wantCalls: []string{"SetTags"}},
		{name: "tagged", tags: owner, wantCalls: []string{"Tags", "SetTags"}, wantOwner: true},
		{
			name: "claim input claims no tags", tags: owner,
			input:     &asl.Read{TagCount: new(int)},
			wantCalls: []string{"Tags", "SetTags"}, wantOwner: true,
		},
		{
			name: "no read", tags: owner,
			tamper:    func(d *asl.Document) { d.Read = nil },
			wantCalls: []string{"Tags with ETag", "SetTags with ETag"}, wantOwner: true,
		},
		{
			name: "read of another version", tags: owner,
			tamper: func(d *asl.Document) {
				d.Read.Object.VersionID = "0000000000000000000000000000000000000000"
				d.Read.TagCount = new(int)
			},
			wantRefused: true,
		},
		{
			name: "read with another ETag", tags: owner,
			tamper: func(d *asl.Document) {
				d.Read.Object.ETag = `"00000000000000000000000000000000"`
				d.Read.TagCount = new(int)
			},
			wantRefused: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := t.Context()
			calls := &tagCalls{Driver: f.objs}
			h, err := lambdas.New(lambdas.Config{Store: f.st, Objects: calls, Scanner: f.scan, QuarantineBucket: "quarantine", DisableVerdictCache: true})
			if err != nil {
				t.Fatal(err)
			}
			ref, err := f.objs.Put(ctx, "uploads", "a.txt", strings.NewReader("hello"), objects.PutOptions{Tags: tt.tags})
			if err != nil {
				t.Fatal(err)
			}
			rec, _, err := f.st.Ingest(ctx, ref, "test", "")
			if err != nil {
				t.Fatal(err)
			}
			st := asl.Document{ID: rec.ID, Object: rec.Object, Read: tt.input}
			if st, err = h.Claim(ctx, st); err != nil {
				t.Fatal(err)
			}
			if st.Read != nil {
				t.Errorf("Claim passed a read on: %+v", st.Read)
			}
			if st, err = h.Scan(ctx, st); err != nil {
				t.Fatal(err)
			}
			if tt.tamper != nil {
				tt.tamper(&st)
			}
			calls.calls = nil
			if tt.wantRefused {
				if _, err := h.Record(ctx, st); lambdas.TypeOf(err) != lambdas.ErrLeaseLost {
					t.Fatalf("Record of a verdict read from another version: %v, want %s", err, lambdas.ErrLeaseLost)
				}
				if len(calls.calls) != 0 {
					t.Errorf("tagging calls %v, want none", calls.calls)
				}
				if got, err := f.st.Get(ctx, rec.ID); err != nil || got.State != domain.StatusScanning {
					t.Errorf("record %+v, %v; want it still scanning", got, err)
				}
				return
			}
			if st, err = h.Record(ctx, st); err != nil || st.Status != domain.StatusClean {
				t.Fatalf("Record: %v, %s", err, st.Status)
			}
			if diff := cmp.Diff(calls.calls, tt.wantCalls); diff != "" {
				t.Errorf("tagging calls (-got +want):\n%s", diff)
			}
			got, err := f.objs.Tags(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if got[objects.TagStatus] != string(domain.StatusClean) {
				t.Errorf("tags %v: status is not clean", got)
			}
			if _, kept := got["owner"]; kept != tt.wantOwner {
				t.Errorf("tags %v: owner tag kept = %v, want %v", got, kept, tt.wantOwner)
			}
		})
	}
}
