package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/daemon"
)

// MemConfig configures MeasureClamdMemory.
type MemConfig struct {
	// Root is the module root: the test signatures come from its
	// testdata/signatures.
	Root string
	// Work holds the databases and clamd's folders; it needs about 1.5 GB
	// at the official scale (two databases).
	Work string
	// Composition is each database's; OfficialComposition for the figure.
	Composition Composition
	// ScanSizes are the objects scanned over INSTREAM, one at a time.
	ScanSizes []int64
	Seed      uint64
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// MemReport is what MeasureClamdMemory saw. Sizes are KiB, as /proc gives
// them.
type MemReport struct {
	Machine Machine
	DB      *DB
	Gen     time.Duration // generating one database
	// Loaded is the signature count clamd logged after its load.
	Loaded int
	Load   time.Duration // clamd's start to its first PONG
	// AfterLoad is clamd's VmRSS once loaded and idle, LoadHWM its VmHWM
	// then: the peak of the load, which builds structures it frees.
	AfterLoad, LoadHWM int64
	Scans              []MemScan
	// Reload is clamd's RELOAD of its own folder with
	// ConcurrentDatabaseReload (clamd's default, which daemon keeps): the
	// new engine is built next to the old one.
	Reload MemPhase
	// AfterReload is clamd's VmRSS once the reloaded engine answers.
	AfterReload int64
	// Second is a second clamd loading a second database while the first
	// stays up, as engine.Generations swaps sets.
	Second MemPhase
	// FirstAfter, SecondAfter are the two clamds' VmRSS once both are
	// loaded.
	FirstAfter, SecondAfter int64
}

// MemScan is one INSTREAM scan.
type MemScan struct {
	Size int64
	Took time.Duration
	// Before is VmRSS before the scan, Peak the highest VmRSS sampled
	// during it, HWM clamd's VmHWM after it.
	Before, Peak, HWM int64
	Result            string
}

// MemPhase is a phase during which the processes' summed VmRSS was
// sampled.
type MemPhase struct {
	Took time.Duration
	// PeakSum is the highest sum of the clamds' VmRSS sampled.
	PeakSum int64
}

// MeasureClamdMemory generates a database of cfg.Composition, starts
// clamd on it and reads its memory after the load, during scans, during a
// RELOAD, and while a second clamd loads a second database of the same
// composition (another seed).
func MeasureClamdMemory(ctx context.Context, cfg MemConfig) (*MemReport, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rep := &MemReport{Machine: readMachine()}
	src := filepath.Join(cfg.Root, "testdata", "signatures")
	begin := time.Now()
	dbA, err := GenerateOfficialScaleDB(src, filepath.Join(cfg.Work, "db-a"), cfg.Composition, cfg.Seed)
	if err != nil {
		return nil, err
	}
	rep.DB, rep.Gen = dbA, time.Since(begin)
	logf("generated %s: %d lines, %d MiB, in %s", dbA.Name, dbA.Signatures, dbA.Bytes>>20, rep.Gen.Round(time.Millisecond))
	dbB, err := GenerateOfficialScaleDB(src, filepath.Join(cfg.Work, "db-b"), cfg.Composition, cfg.Seed+1)
	if err != nil {
		return nil, err
	}

	var streamMax int64 = 100 << 20
	for _, s := range cfg.ScanSizes {
		streamMax = max(streamMax, s)
	}
	start := func(name string, db *DB) (*daemon.Daemon, *clamd.Client, error) {
		d, err := daemon.Start(ctx, daemon.Config{
			DatabaseDir: db.Dir, Dir: filepath.Join(cfg.Work, name),
			StreamMaxLength: streamMax, MaxFileSize: streamMax, MaxScanSize: streamMax,
			// Every scan must be a scan, not an answer from the cache.
			ExtraConfig:  []string{"DisableCache yes"},
			StartTimeout: 15 * time.Minute,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("starting clamd %s: %w", name, err)
		}
		c, err := clamd.New(d.Addr(), clamd.Options{MaxStreamBytes: streamMax})
		if err != nil {
			d.Stop(context.WithoutCancel(ctx))
			return nil, nil, err
		}
		return d, c, nil
	}
	stop := func(d *daemon.Daemon) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := d.Stop(sctx); err != nil {
			logf("stopping clamd: %v", err)
		}
	}

	begin = time.Now()
	a, ca, err := start("clamd-a", dbA)
	if err != nil {
		return nil, err
	}
	defer stop(a)
	rep.Load = time.Since(begin)
	if v, err := ca.Version(ctx); err == nil {
		v, _, _ = strings.Cut(strings.TrimSpace(v), "/")
		rep.Machine.ClamAV = strings.TrimPrefix(v, "ClamAV ")
	}
	rep.AfterLoad, rep.LoadHWM = procStatusKiB(a.Pid(), "VmRSS"), procStatusKiB(a.Pid(), "VmHWM")
	// clamd's own count: a line it could not parse would have stopped it,
	// but the count shows that every line became a signature.
	if _, rest, ok := strings.Cut(a.LogTail(), "Loaded "); ok {
		rep.Loaded, _ = strconv.Atoi(strings.Fields(rest)[0])
	}
	logf("clamd loaded %d signatures in %s: VmRSS %d MiB, VmHWM %d MiB", rep.Loaded, rep.Load.Round(time.Millisecond), rep.AfterLoad>>10, rep.LoadHWM>>10)

	for i, size := range cfg.ScanSizes {
		s := MemScan{Size: size, Before: procStatusKiB(a.Pid(), "VmRSS")}
		var res clamd.Result
		peak, took, err := sampleWhile(func() []int { return []int{a.Pid()} }, func() error {
			var err error
			res, err = ca.Instream(ctx, NewPayload(cfg.Seed, uint64(i), size, false))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("scanning %d bytes: %w", size, err)
		}
		s.Peak, s.Took, s.HWM, s.Result = peak, took, procStatusKiB(a.Pid(), "VmHWM"), res.Raw
		rep.Scans = append(rep.Scans, s)
		logf("scan of %s: %s, VmRSS %d → peak %d MiB, VmHWM %d MiB, %q", sizeName(size), took.Round(time.Millisecond), s.Before>>10, s.Peak>>10, s.HWM>>10, s.Result)
	}

	// RELOAD returns at once; clamd builds the new engine in a thread and
	// answers with the old one until then, and logs when the new one
	// answers. A changed folder is what makes clamd see that a reload is
	// due, so the folder's time is moved first.
	const reloaded = "Database correctly reloaded"
	before := strings.Count(a.LogTail(), reloaded)
	rep.Reload.PeakSum, rep.Reload.Took, err = sampleWhile(func() []int { return []int{a.Pid()} }, func() error {
		now := time.Now()
		if err := os.Chtimes(dbA.Dir, now, now); err != nil {
			return err
		}
		if err := ca.Reload(ctx); err != nil {
			return err
		}
		for strings.Count(a.LogTail(), reloaded) <= before {
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %q in clamd's log: %w", reloaded, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	rep.AfterReload = procStatusKiB(a.Pid(), "VmRSS")
	logf("RELOAD: peak VmRSS %d MiB, %s; after it %d MiB", rep.Reload.PeakSum>>10, rep.Reload.Took.Round(time.Millisecond), rep.AfterReload>>10)

	// The second clamd's pid is known only once Start returns, after the
	// load: the sampler finds it among this process's children by its
	// config file.
	confB := "--config-file=" + filepath.Join(cfg.Work, "clamd-b", "clamd.conf")
	var pidB int
	var b *daemon.Daemon
	rep.Second.PeakSum, rep.Second.Took, err = sampleWhile(func() []int {
		if pidB == 0 {
			pidB = childPid(confB)
		}
		return []int{a.Pid(), pidB}
	}, func() error {
		var err error
		b, _, err = start("clamd-b", dbB)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer stop(b)
	rep.FirstAfter, rep.SecondAfter = procStatusKiB(a.Pid(), "VmRSS"), procStatusKiB(b.Pid(), "VmRSS")
	logf("second clamd loaded in %s: peak sum %d MiB; after: %d + %d MiB", rep.Second.Took.Round(time.Millisecond),
		rep.Second.PeakSum>>10, rep.FirstAfter>>10, rep.SecondAfter>>10)
	return rep, nil
}

// sampleWhile runs f while it samples the summed VmRSS of the processes
// pids returns (a 0 is skipped) every 5 ms, and returns the highest sum
// and f's duration.
func sampleWhile(pids func() []int, f func() error) (peak int64, took time.Duration, err error) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	sample := func() {
		var sum int64
		for _, pid := range pids() {
			if pid != 0 {
				sum += procStatusKiB(pid, "VmRSS")
			}
		}
		peak = max(peak, sum)
	}
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	begin := time.Now()
	err = f()
	took = time.Since(begin)
	close(done)
	wg.Wait()
	sample()
	return peak, took, err
}

// procStatusKiB returns the field (VmRSS, VmHWM) of process pid's
// /proc/PID/status in KiB, or 0.
func procStatusKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// Markdown renders the figures as the table docs/clamd-memory.md quotes,
// in MiB.
func (r *MemReport) Markdown(command string) string {
	var b strings.Builder
	mib := func(kib int64) string { return fmt.Sprintf("%.0f", float64(kib)/1024) }
	fmt.Fprintf(&b, "Machine: %s, %d cores, %.0f GiB, %s, kernel %s, %s, ClamAV %s\n\n",
		r.Machine.CPU, r.Machine.Cores, r.Machine.MemoryGiB, r.Machine.OS, r.Machine.Kernel, r.Machine.Go, r.Machine.ClamAV)
	fmt.Fprintf(&b, "Database: %s; %d lines, %d MiB of text, generated in %s; clamd loaded %d signatures\n\n",
		r.DB.Name, r.DB.Signatures, r.DB.Bytes>>20, r.Gen.Round(time.Second), r.Loaded)
	b.WriteString("| what | time | clamd VmRSS (MiB) | peak (MiB) |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| one clamd, loaded and idle | load %s | %s | VmHWM %s |\n", r.Load.Round(100*time.Millisecond), mib(r.AfterLoad), mib(r.LoadHWM))
	for _, s := range r.Scans {
		fmt.Fprintf(&b, "| scanning %s (INSTREAM) | %s | %s before | %s sampled, VmHWM %s |\n", sizeName(s.Size), s.Took.Round(time.Millisecond), mib(s.Before), mib(s.Peak), mib(s.HWM))
	}
	fmt.Fprintf(&b, "| RELOAD (ConcurrentDatabaseReload yes) | %s | %s after | %s sampled |\n", r.Reload.Took.Round(100*time.Millisecond), mib(r.AfterReload), mib(r.Reload.PeakSum))
	fmt.Fprintf(&b, "| a second clamd loading a second copy | %s | %s + %s = %s after | %s sampled (sum) |\n", r.Second.Took.Round(100*time.Millisecond),
		mib(r.FirstAfter), mib(r.SecondAfter), mib(r.FirstAfter+r.SecondAfter), mib(r.Second.PeakSum))
	fmt.Fprintf(&b, "\nCommand: `%s`\n", command)
	return b.String()
}
