package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

const (
	uploadBucket     = "uploads"
	quarantineBucket = "quarantine"

	// streamMax is clamd's StreamMaxLength, MaxFileSize and MaxScanSize
	// and scangate's MaxScanBytes in every mode: above the 1 GiB object,
	// below the 2 GiB libclamav cannot scan, so that every object is
	// scanned whole and no limit alert turns up.
	streamMax = 1536 << 20

	// noSyncBelow: the pipeline without fsync runs on objects smaller than
	// this only. It shows what the per-write fsyncs cost, which is nothing
	// measurable next to scanning a large object.
	noSyncBelow = 256 << 20
)

// Config configures a harness run.
type Config struct {
	// Full runs the full corpora and the large database; otherwise a smoke
	// version of a few objects per mode checks that every mode still works
	// and gets every verdict right.
	Full bool
	// Concurrency is the number of objects in flight in every mode; 0
	// means 4, `scangate run`'s default workers.
	Concurrency int
	// Rounds is how often each mode runs, interleaved with the others so
	// that a change in the machine's load hits every mode alike; 0 means 3
	// for the full run and 1 for the smoke.
	Rounds int
	// ProfileDir, when set, receives a CPU profile of this process during
	// each mode's first round.
	ProfileDir string
	// Seed makes the corpora; the same seed gives the same bytes.
	Seed uint64
	// Only, when not empty, limits the run to these modes (raw clamd
	// always runs: every figure is a ratio to it), and to the memory
	// figure if it holds "rss". The page is then incomplete: for profiling
	// or chasing one mode.
	Only []string
}

func (c Config) runs(id string) bool {
	return len(c.Only) == 0 || id == ModeRaw || slices.Contains(c.Only, id)
}

// scale is what a run covers.
type scale struct {
	corpora []CorpusSpec
	// clamscanLimit caps clamscan's objects per corpus (same order as
	// corpora), for the test database and for the large one: every run
	// loads the database anew, seconds each with the large one.
	clamscanLimit [2][]int
	hashes, strs  int
	rssSize       int64
	rounds        int
	// awsObjects is how many clean objects go through the pipeline over
	// dynalite and versitygw, one at a time, to count requests.
	awsObjects int
}

var (
	fullScale = scale{
		corpora: []CorpusSpec{
			{Name: "10 KiB", Size: 10 << 10, Count: 500, InfectedEvery: 10},
			{Name: "1 MiB", Size: 1 << 20, Count: 100, InfectedEvery: 10},
			{Name: "256 MiB", Size: 256 << 20, Count: 1, InfectedEvery: 1, Rounds: 1},
		},
		clamscanLimit: [2][]int{{100, 50, 1}, {8, 8, 1}},
		hashes:        1_000_000,
		strs:          4000,
		rssSize:       1 << 30,
		rounds:        3,
		awsObjects:    20,
	}
	smokeScale = scale{
		corpora: []CorpusSpec{
			{Name: "10 KiB", Size: 10 << 10, Count: 6, InfectedEvery: 3},
			{Name: "1 MiB", Size: 1 << 20, Count: 2, InfectedEvery: 2},
		},
		clamscanLimit: [2][]int{{2, 1}, {2, 1}},
		hashes:        2000,
		strs:          20,
		rssSize:       8 << 20,
		rounds:        1,
		awsObjects:    1,
	}
)

// harness holds what every mode shares.
type harness struct {
	t       testing.TB
	cfg     Config
	scale   scale
	log     *slog.Logger
	root    string // module root
	work    string
	logPath string // where h.log writes
	tmp     string // per-round folders and clamscan's copies

	gw    *testsvc.S3
	gwPid int // versitygw's, for its CPU time; 0 if not found
	s3    objects.Driver
	local *localdir.Driver
	// scanStore is the store of the Scan-step modes, which only read it
	// (the allowlist and the verdict cache).
	scanStore *store.Store
}

// staged is where a corpus's files were uploaded, in the corpus's order.
type staged struct {
	local, s3 []domain.ObjectRef
}

// Run runs the harness and returns its figures. Setup failures and wrong
// verdicts fail t.
func Run(t testing.TB, cfg Config) *Report {
	t.Helper()
	ctx := t.Context()
	h := &harness{t: t, cfg: cfg, scale: smokeScale, root: testsvc.ModuleRoot(t), work: t.TempDir()}
	if cfg.Full {
		h.scale = fullScale
	}
	if h.cfg.Concurrency <= 0 {
		h.cfg.Concurrency = 4
	}
	if h.cfg.Rounds <= 0 {
		h.cfg.Rounds = h.scale.rounds
	}
	h.tmp = filepath.Join(h.work, "tmp")
	if err := os.Mkdir(h.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	// To a file, not the test's output: the pipeline warns about every
	// quarantined object. A stuck object's lines are quoted when it fails.
	logFile, err := os.Create(filepath.Join(h.work, "scangate.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	h.logPath = logFile.Name()
	h.log = slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelWarn}))
	begin := time.Now()
	rep := &Report{Date: begin, Machine: readMachine(), Concurrency: h.cfg.Concurrency, Rounds: h.cfg.Rounds, Full: cfg.Full}
	if cfg.ProfileDir != "" {
		abs, err := filepath.Abs(cfg.ProfileDir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			t.Fatal(err)
		}
		h.cfg.ProfileDir, rep.ProfileDir = abs, abs
		if rel, err := filepath.Rel(h.root, abs); err == nil && !strings.HasPrefix(rel, "..") {
			rep.ProfileDir = rel
		}
	}

	if rep.Machine.FsyncP50, rep.Machine.FsyncP90, err = fsyncLatency(h.tmp, 200); err != nil {
		t.Fatal(err)
	}
	dbs := h.databases()
	corpora := h.corpora()
	h.setupBackends()
	stages := make([]staged, len(corpora))
	for i, c := range corpora {
		stages[i] = h.stage(c)
	}

	for dbi, db := range dbs {
		env := h.startEngine(db)
		dr := &DBResult{DB: db, Load: env.load, RSSKiB: env.rssKiB}
		rep.Machine.ClamAV = env.version
		for ci, c := range corpora {
			all := []*mode{
				rawMode(env),
				scanStepMode(ModeScanLocal, env, h, h.local, stages[ci].local),
				scanStepMode(ModeScanS3, env, h, h.s3, stages[ci].s3),
				pipelineMode(ModePipeline, env, h, false),
			}
			if c.Spec.Size < noSyncBelow {
				all = append(all, pipelineMode(ModePipelineNoSync, env, h, true))
			}
			all = append(all, clamscanMode(env, h, stages[ci].local, h.scale.clamscanLimit[dbi][ci]))
			var modes []*mode
			for _, m := range all {
				if h.cfg.runs(m.id) {
					modes = append(modes, m)
				}
			}
			results, err := h.runCorpus(ctx, env, dbi, c, modes)
			if err != nil {
				t.Fatalf("bench: %s, %s: %v", db.Name, c.Spec.Name, err)
			}
			dr.Corpora = append(dr.Corpora, CorpusResult{Corpus: c, Modes: results})
		}
		if dbi == 0 && h.cfg.runs("aws") {
			// Requests do not depend on the database: counted once, on the
			// corpus closest to docs/cost.md's 1 MB uploads.
			c := corpora[min(1, len(corpora)-1)]
			counts, err := h.measureAWS(ctx, env, c, h.scale.awsObjects)
			if err != nil {
				t.Fatalf("bench: AWS requests: %v", err)
			}
			rep.AWS, rep.AWSCorpus = counts, c.Spec.Name
		}
		if dbi == 0 && h.cfg.runs("rss") {
			// The memory figure needs one clamd; the test database keeps
			// clamd's share of the machine small.
			tools, err := h.buildRSSTools(ctx)
			if err != nil {
				t.Fatalf("bench: scan step RSS: %v", err)
			}
			rep.RSSDirectKiB = tools.directKiB
			for _, size := range []int64{1 << 20, h.scale.rssSize} {
				rss, err := h.measureRSS(ctx, env, tools, size)
				if err != nil {
					t.Fatalf("bench: scan step RSS: %v", err)
				}
				rep.RSS = append(rep.RSS, rss)
			}
		}
		env.stop()
		rep.DBs = append(rep.DBs, dr)
	}
	rep.Took = time.Since(begin)
	rep.Machine.LoadEnd = loadAvg()
	return rep
}

// databases copies the test signatures and generates the large database.
func (h *harness) databases() []*DB {
	src := filepath.Join(h.root, "testdata", "signatures")
	small, err := CopyTestDB(src, filepath.Join(h.work, "db-test"))
	if err != nil {
		h.t.Fatal(err)
	}
	large, err := GenerateLargeDB(src, filepath.Join(h.work, "db-large"), h.scale.hashes, h.scale.strs, h.cfg.Seed)
	if err != nil {
		h.t.Fatal(err)
	}
	return []*DB{small, large}
}

func (h *harness) corpora() []*Corpus {
	var out []*Corpus
	for i, spec := range h.scale.corpora {
		c, err := GenerateCorpus(h.t.Context(), filepath.Join(h.work, fmt.Sprintf("corpus-%d", i)), spec, h.cfg.Seed+uint64(i)<<32)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// setupBackends starts versitygw with a versioned upload bucket and opens
// it as `scangate run --bucket s3://...` does, and opens the local bucket
// and the Scan-step modes' store.
func (h *harness) setupBackends() {
	t, ctx := h.t, h.t.Context()
	// urlopen.OpenBucket falls back to these credentials for a loopback
	// endpoint when none are configured. Keep-alive as S3 has it: by
	// default versitygw closes the connection after every answer, and
	// each 10 KiB object then paid a new TCP connection in this process
	// and in the gateway.
	h.gw = testsvc.VersityGW(t, &testsvc.VersityGWOptions{AccessKey: "local", Secret: "local", KeepAlive: true})
	h.gw.CreateBucket(t, h.gw.Client(t), uploadBucket, true)
	h.gwPid = childPid(strings.TrimPrefix(h.gw.Endpoint, "http://"))
	if h.gwPid == 0 {
		t.Logf("bench: versitygw's process not found; its CPU time reads 0")
	}
	d, _, err := urlopen.OpenBucket(ctx, h.gw.URL(uploadBucket))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.(io.Closer).Close() })
	h.s3 = d
	if h.local, err = localdir.Open(filepath.Join(h.work, "bucket"), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.local.Close() })
	drv, err := embedded.Open(filepath.Join(h.work, "scan-store.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.scanStore = store.New(drv, nil)
	t.Cleanup(func() { h.scanStore.Close() })
}

// stage uploads a corpus into the local bucket and into S3, untimed.
func (h *harness) stage(c *Corpus) staged {
	var s staged
	for _, f := range c.Files {
		l, err := putFile(h.t.Context(), h.local, f)
		if err != nil {
			h.t.Fatal(err)
		}
		r, err := putFile(h.t.Context(), h.s3, f)
		if err != nil {
			h.t.Fatal(err)
		}
		s.local, s.s3 = append(s.local, l), append(s.s3, r)
	}
	return s
}

// engineEnv is one clamd with its database, and the scan engine over it.
type engineEnv struct {
	db      *DB
	d       *daemon.Daemon
	client  *clamd.Client
	eng     *engine.Engine
	load    time.Duration
	rssKiB  int64
	version string
	stop    func()
}

func (h *harness) startEngine(db *DB) *engineEnv {
	t, ctx := h.t, h.t.Context()
	dir, err := os.MkdirTemp(h.work, "clamd-")
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	d, err := daemon.Start(ctx, daemon.Config{
		DatabaseDir: db.Dir, Dir: dir,
		StreamMaxLength: streamMax, MaxFileSize: streamMax, MaxScanSize: streamMax,
		// Every mode scans the same bytes: clamd must scan them each time,
		// not answer from its cache of clean files.
		ExtraConfig:  []string{"DisableCache yes"},
		StartTimeout: 10 * time.Minute, Logger: h.log,
	})
	if err != nil {
		t.Fatalf("bench: starting clamd on %s: %v", db.Name, err)
	}
	env := &engineEnv{db: db, d: d, load: time.Since(begin)}
	// Stopped after its database's modes, to free its memory for the next
	// one, or when the test ends early.
	env.stop = sync.OnceFunc(func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := d.Stop(sctx); err != nil {
			t.Errorf("bench: stopping clamd: %v", err)
		}
	})
	t.Cleanup(env.stop)
	if env.client, err = clamd.New(d.Addr(), clamd.Options{MaxStreamBytes: streamMax}); err != nil {
		env.stop()
		t.Fatal(err)
	}
	// DevMode as `scangate run` with custom signatures: they are dated by
	// their files, fresh here anyway.
	if env.eng, err = engine.New(env.client, engine.Options{DatabaseDir: db.Dir, DevMode: true}); err != nil {
		env.stop()
		t.Fatal(err)
	}
	v, err := env.client.Version(ctx)
	if err != nil {
		env.stop()
		t.Fatal(err)
	}
	env.version, _, _ = strings.Cut(strings.TrimSpace(v), "/")
	env.rssKiB = procRSSKiB(d.Pid())
	t.Logf("bench: clamd loaded %s (%d signatures) in %s, RSS %d MiB", db.Name, db.Signatures, env.load.Round(time.Millisecond), env.rssKiB>>10)
	return env
}

// runCorpus runs every mode on c for the configured rounds and returns the
// figures in the order of modes, whose first must be raw clamd. Each round
// starts one mode later than the one before, so that no mode always runs
// first, right after a pause, or last.
func (h *harness) runCorpus(ctx context.Context, env *engineEnv, dbi int, c *Corpus, modes []*mode) ([]*ModeResult, error) {
	results := make([]*ModeResult, len(modes))
	for i, m := range modes {
		results[i] = &ModeResult{Mode: m.id}
	}
	// Untimed: clamd's threads, the freshly loaded database's pages and
	// the page cache warm up before the first timed pass.
	warm := c.Files[:min(len(c.Files), 2*h.cfg.Concurrency)]
	if r, err := modes[0].open(ctx, warm); err != nil {
		return nil, err
	} else if _, err := measure(ctx, warm, h.cfg.Concurrency, r.scan); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	rounds := h.cfg.Rounds
	if c.Spec.Rounds > 0 {
		rounds = min(rounds, c.Spec.Rounds)
	}
	for round := range rounds {
		rates := make([]float64, len(modes))
		for k := range modes {
			i := (k + round) % len(modes)
			m := modes[i]
			if m.once && round > 0 {
				continue
			}
			files := c.Files
			if m.limit > 0 && m.limit < len(files) {
				files, results[i].Capped = files[:m.limit], true
			}
			p, counts, profile, err := h.runMode(ctx, env, dbi, c, m, files, round)
			if err != nil {
				return nil, fmt.Errorf("%s, round %d: %w", m.id, round+1, err)
			}
			r := results[i]
			r.add(p)
			if counts != nil {
				r.Store = counts
			}
			if profile != "" {
				r.Profile = profile
			}
			rates[i] = float64(p.objects) / p.wall.Seconds()
		}
		for i, rate := range rates {
			if rate == 0 {
				continue
			}
			results[i].RoundRatios = append(results[i].RoundRatios, rate/rates[0])
			h.t.Logf("bench: db %d, %s, round %d, %s: %.1f objects/s, %.2f × raw",
				dbi, c.Spec.Name, round+1, modes[i].id, rate, rate/rates[0])
		}
	}
	return results, nil
}

func (h *harness) runMode(ctx context.Context, env *engineEnv, dbi int, c *Corpus, m *mode, files []File, round int) (pass, *StoreCounts, string, error) {
	r, err := m.open(ctx, files)
	if err != nil {
		return pass{}, nil, "", err
	}
	var profile string
	stop := func() {}
	if h.cfg.ProfileDir != "" && round == 0 {
		profile = filepath.Join(h.cfg.ProfileDir, fmt.Sprintf("db%d-%s-%s.pprof", dbi, strings.ReplaceAll(c.Spec.Name, " ", ""), m.id))
		if stop, err = startProfile(profile); err != nil {
			r.close(ctx)
			return pass{}, nil, "", err
		}
	}
	cpu := readCPU(env.d.Pid(), h.gwPid)
	p, err := measure(ctx, files, h.cfg.Concurrency, r.scan)
	p.cpu = readCPU(env.d.Pid(), h.gwPid).sub(cpu)
	stop()
	counts, cerr := r.close(ctx)
	if err == nil {
		err = cerr
	}
	return p, counts, profile, err
}

func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// logLines returns the lines of scangate's log that mention s.
func (h *harness) logLines(s string) []string {
	b, err := os.ReadFile(h.logPath)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}
