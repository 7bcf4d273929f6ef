package bench_test

import (
	"flag"
	"testing"

	"github.com/scangate/scangate/internal/bench"
	"github.com/scangate/scangate/internal/testsvc"
)

var memFull = flag.Bool("clamdmem.full", false, "measure clamd's memory with an official-scale synthetic database (about 10 minutes, 1.5 GB of disk, 4 GiB of memory) instead of the smoke version")

// memCommand is what `make measure-clamd-memory` runs, quoted in
// docs/clamd-memory.md. Keep it in step with the Makefile.
const memCommand = "make measure-clamd-memory    # go test -count=1 -run '^TestClamdMemory$' -timeout 60m -v ./internal/bench -args -clamdmem.full"

// TestClamdMemory measures clamd's resident memory with a synthetic
// database of the official one's composition (docs/clamd-memory.md). By
// default it runs at a thousandth of the size, so that the generator and
// the measurement cannot rot: clamd must load every line the generator
// writes.
func TestClamdMemory(t *testing.T) {
	cfg := bench.MemConfig{
		Root: testsvc.ModuleRoot(t), Work: t.TempDir(), Seed: 20261126,
		Composition: bench.OfficialComposition.Scaled(0.001),
		ScanSizes:   []int64{1 << 20},
		Logf:        t.Logf,
	}
	if *memFull {
		cfg.Composition, cfg.ScanSizes = bench.OfficialComposition, []int64{1 << 20, 100 << 20}
	}
	rep, err := bench.MeasureClamdMemory(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Scans {
		if s.Result != "stream: OK" {
			t.Errorf("scan of %d random bytes: %q, want OK", s.Size, s.Result)
		}
	}
	if rep.AfterLoad == 0 || rep.FirstAfter == 0 || rep.SecondAfter == 0 {
		t.Errorf("no resident set read: %+v", rep)
	}
	t.Log("\n" + rep.Markdown(memCommand))
}
