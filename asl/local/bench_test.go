package local

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
)

// infectedMarker starts the bytes benchScanner reports infected.
const infectedMarker = "INFECTED"

// benchScanner stands in for clamd: it reads the stream and reports it
// infected when it starts with infectedMarker, so a benchmark measures
// scangate's own work per object and not clamd's.
type benchScanner struct{}

func (benchScanner) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return clamd.Result{}, err
	}
	if bytes.HasPrefix(b, []byte(infectedMarker)) {
		return clamd.Result{Status: clamd.StatusFound, Signatures: []string{"Bench.Sig"}, Raw: "stream: Bench.Sig FOUND", Bytes: int64(len(b))}, nil
	}
	return clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK", Bytes: int64(len(b))}, nil
}

func (benchScanner) Describe(ctx context.Context) (engine.Info, error) {
	return engine.Info{Engine: "ClamAV 1.4.6", DBVersion: "custom:bench", DBTime: time.Now()}, nil
}

// processCPU is the CPU time the process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPipeline measures the local pipeline's own CPU per 10 KiB
// object, as `scangate run` wires it (embedded store, local bucket,
// histories in the store's commits) but without fsync and with a scanner that answers at
// once: one object's ingest and its scan workflow to its end. The
// harness's pipeline mode (package internal/bench) measures the same with
// clamd and fsync.
func BenchmarkPipeline(b *testing.B) {
	for _, tc := range []struct {
		name     string
		infected bool
	}{
		{"clean", false},
		{"infected", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			env := localtest.Open(b, nil)
			drv, st, objs := env.Driver, env.Store, env.Bucket
			w, hs, err := New(st, lambdas.Config{
				Store: st, Objects: objs, Scanner: benchScanner{},
				QuarantineBucket: "quarantine", LeaseTTL: 5 * time.Minute, Owner: "bench",
			}, WorkflowOptions{Histories: drv})
			if err != nil {
				b.Fatal(err)
			}
			defer w.drain()

			refs := make([]domain.ObjectRef, b.N)
			body := make([]byte, 10<<10)
			for i := range refs {
				// Distinct bytes per object: no verdict is reused.
				copy(body, fmt.Sprintf("object %d ", i))
				if tc.infected {
					copy(body, infectedMarker)
				}
				if refs[i], err = objs.Put(ctx, "uploads", fmt.Sprintf("bench/%d.bin", i), bytes.NewReader(body), objects.PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			cpu0 := processCPU(b)
			b.ResetTimer()
			for i := range b.N {
				res, err := hs.Ingest(ctx, intake.S3Notification(refs[i]))
				if err != nil || res.Started != 1 {
					b.Fatalf("ingest %s: %+v, %v", refs[i].Key, res, err)
				}
				w.mu.Lock()
				e := w.execs[len(w.execs)-1]
				w.mu.Unlock()
				if _, err := e.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// The process's CPU (user and system, every goroutine) is a
			// steadier figure than the time per object on a shared machine.
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			want := domain.StatusClean
			if tc.infected {
				want = domain.StatusReviewing
			}
			for _, ref := range refs[:min(len(refs), 3)] {
				rec, err := st.Get(ctx, ref.ID())
				if err != nil || rec.State != want {
					b.Fatalf("%s: %v, %v; want %s", ref.Key, rec, err, want)
				}
			}
		})
	}
}
