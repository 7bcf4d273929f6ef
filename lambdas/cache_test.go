package lambdas_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

// plainDriver hides the embedded driver's VerdictCachingDriver, as the
// DynamoDB driver lacks it, and counts the cache writes made separately.
type plainDriver struct {
	store.Driver
	puts atomic.Int32
}

func (d *plainDriver) PutCachedVerdict(ctx context.Context, sum, db string, v *domain.Verdict) error {
	d.puts.Add(1)
	return d.Driver.PutCachedVerdict(ctx, sum, db, v)
}

// TestRecordCachesCleanVerdict checks that Record caches a clean verdict
// whether the store does it in the verdict's write or separately, and
// that identical bytes uploaded again reuse it without a stream.
func TestRecordCachesCleanVerdict(t *testing.T) {
	tests := []struct {
		name string
		wrap bool
		// puts is the number of separate cache writes.
		puts int32
	}{
		{"in the verdict's write", false, 0},
		{"separately", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			drv, err := embedded.Open(filepath.Join(dir, "db"), &embedded.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			plain := &plainDriver{Driver: drv}
			var d store.Driver = drv
			if tt.wrap {
				d = plain
			}
			st := store.New(d, nil)
			t.Cleanup(func() { st.Close() })
			if got := st.CachesWithTransition(); got == tt.wrap {
				t.Fatalf("CachesWithTransition() = %v", got)
			}
			objs, err := localdir.Open(filepath.Join(dir, "b"), &localdir.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { objs.Close() })
			sc := &fakeScanner{res: clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK"}}
			h, err := lambdas.New(lambdas.Config{Store: st, Objects: objs, Scanner: sc, QuarantineBucket: "quarantine"})
			if err != nil {
				t.Fatal(err)
			}
			run := func(key string) asl.Document {
				t.Helper()
				rec := localtest.Ingested(t, st, objs, "uploads", key, "the same bytes")
				doc, err := localtest.Steps(ctx, rec, h.Claim, h.Scan, h.Record)
				if err != nil {
					t.Fatal(err)
				}
				if doc.Status != domain.StatusClean {
					t.Fatalf("%s is %s, want clean", key, doc.Status)
				}
				return doc
			}
			first := run("first.txt")
			cached, err := st.CachedVerdict(ctx, first.Verdict.SHA256, first.Verdict.DBVersion)
			if err != nil || cached == nil {
				t.Fatalf("CachedVerdict = %v, %v; want the first verdict", cached, err)
			}
			if second := run("second.txt"); !second.Verdict.Reused {
				t.Errorf("the same bytes again were scanned, not answered from the cache")
			}
			if got := plain.puts.Load(); got != tt.puts {
				t.Errorf("%d separate cache writes, want %d", got, tt.puts)
			}
			tags, err := objs.Tags(ctx, first.Object)
			if err != nil || tags[objects.TagStatus] != string(domain.StatusClean) {
				t.Errorf("first object's tags %v, %v; want status clean", tags, err)
			}
		})
	}
}
