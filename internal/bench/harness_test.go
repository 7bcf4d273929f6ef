package bench_test

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scangate/scangate/internal/bench"
	"github.com/scangate/scangate/internal/testsvc"
)

var (
	full        = flag.Bool("harness.full", false, "run the full benchmark (about 5 minutes on 2 cores) instead of the smoke version")
	write       = flag.Bool("harness.write", false, "write the figures into docs/benchmarks.md (needs -harness.full)")
	cpuprofile  = flag.String("harness.cpuprofile", "", "write a CPU profile of each mode's first round into this folder")
	concurrency = flag.Int("harness.concurrency", 0, "objects in flight in every mode (0: 4)")
	rounds      = flag.Int("harness.rounds", 0, "rounds per mode (0: 3 for the full run, 1 for the smoke)")
	only        = flag.String("harness.only", "", "comma-separated modes to run besides raw clamd (raw, scan-local, scan-s3, pipeline, pipeline-nosync, clamscan, rss, aws); empty: all")
)

// command is what `make bench` runs, quoted on the page. Keep it in step
// with the Makefile.
const command = "make bench    # after the Go benchmarks: go test -count=1 -run '^TestHarness$' -timeout 40m -v ./internal/bench -args -harness.full -harness.write -harness.cpuprofile ../../bin/bench-profiles"

// TestHarness is the benchmark harness. By default it runs a smoke version
// (a few objects per mode, every verdict checked) so that the harness
// cannot rot; with -harness.full it runs the real thing.
func TestHarness(t *testing.T) {
	if *write && (!*full || *only != "") {
		t.Fatal("-harness.write needs -harness.full and every mode: the page holds the full run's figures")
	}
	cfg := bench.Config{Full: *full, Concurrency: *concurrency, Rounds: *rounds, ProfileDir: *cpuprofile, Seed: 20261126}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	rep := bench.Run(t, cfg)
	md := rep.Markdown(command)
	t.Log("\n" + md)
	if *write {
		path := filepath.Join(testsvc.ModuleRoot(t), "docs", "benchmarks.md")
		if err := rep.WritePage(path, command); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
}
