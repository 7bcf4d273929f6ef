package drill_test

import (
	"flag"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The drill's knobs. The defaults are the reduced drill that `go test
// ./...` runs; `make drill` raises -drill.objects to 400.
var (
	flagObjects   = flag.Int("drill.objects", 100, "object keys to upload (make drill: 400)")
	flagRate      = flag.Float64("drill.rate", 6, "uploads per second")
	flagInfected  = flag.Float64("drill.infected", 0.2, "fraction of uploads that carry EICAR (plain, zipped or after random padding)")
	flagOverwrite = flag.Float64("drill.overwrite", 0.1, "fraction of keys whose next version is PUT while the first is being scanned")
	flagDup       = flag.Float64("drill.dup", 0.3, "fraction of events delivered twice or three times")
	flagDelay     = flag.Duration("drill.max-delay", 2*time.Second, "events are delivered after a random delay up to this, so they arrive out of order")
	flagReset     = flag.Float64("drill.reset", 0.25, "chance that a new S3 connection is reset after 0 to 128 KiB of response")
	flagThrottle  = flag.Float64("drill.throttle", 0.02, "chance that a conditional store write is throttled (not applied)")
	flagConflict  = flag.Float64("drill.conflict", 0.05, "chance that a rival write bumps a record just before a conditional write")
	flagLost      = flag.Float64("drill.lost", 0.01, "chance that a conditional store write is applied and its answer lost")
	flagKillEvery = flag.Duration("drill.kill-every", 8*time.Second, "mean time from clamd answering again to its next SIGKILL, while the load runs")
	flagTimeScale = flag.Float64("drill.time-scale", 1, "multiplier of the workflow's retry delays; 1 is as committed (see TestDrill)")
	flagLease     = flag.Duration("drill.lease", 20*time.Second, "scan lease TTL")
	flagSweep     = flag.Duration("drill.sweep", time.Second, "how often each fleet sweeps for stranded records")
	flagWorkers   = flag.Int("drill.workers", 4, "concurrent scans per fleet (two fleets)")
	flagDrain     = flag.Duration("drill.drain", 0, "how long to wait for the pipeline to settle after the load; 0 means 2 leases + 60s")
	flagSeed      = flag.Uint64("drill.seed", 0, "seed of every random choice; 0 picks one (printed)")
)

type config struct {
	objects                  int
	rate                     float64
	infected, overwrite, dup float64
	maxDelay                 time.Duration
	reset                    float64
	throttle, conflict, lost float64
	killEvery                time.Duration
	timeScale                float64
	lease, sweep, drain      time.Duration
	workers                  int
	seed                     uint64
}

func configFromFlags() config {
	c := config{
		objects: *flagObjects, rate: *flagRate, infected: *flagInfected, overwrite: *flagOverwrite, dup: *flagDup,
		maxDelay: *flagDelay, reset: *flagReset, throttle: *flagThrottle, conflict: *flagConflict, lost: *flagLost,
		killEvery: *flagKillEvery, timeScale: *flagTimeScale, lease: *flagLease, sweep: *flagSweep, drain: *flagDrain,
		workers: *flagWorkers, seed: *flagSeed,
	}
	if c.seed == 0 {
		c.seed = rand.Uint64()
	}
	if c.drain == 0 {
		c.drain = 2*c.lease + time.Minute
	}
	return c
}

// TestDrill is the fault drill: a load of object versions through the real
// pipeline while faults are injected, then checks that nothing ended
// falsely clean, stuck or lost. See package drill and README.md.
//
// The workflow runs with the committed retry delays, uncompressed: they
// are the budget that has to outlast a clamd restart, and compressing them
// tenfold (-drill.time-scale=0.1) turns every restart into a burst of
// failed records, which measures the compression, not the pipeline.
func TestDrill(t *testing.T) {
	cfg := configFromFlags()
	t.Logf("drill: seed %d (replay the same choices with -drill.seed=%d)", cfg.seed, cfg.seed)
	begin := time.Now()
	h := newHarness(t, cfg)
	h.load()
	h.drain()
	h.stopFleets()
	rep := h.check()
	rep.wall = time.Since(begin)
	t.Log("\n" + rep.String())
	rep.verdict(t)
	if t.Failed() {
		h.dumpLogs()
	}
}
