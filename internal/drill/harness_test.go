package drill_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/internal/drill"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/store"
)

const (
	bucket  = "uploads"
	qBucket = "quarantine"
)

// version is one uploaded object version and what it should end as.
type version struct {
	id         string // the record ID
	key        string
	versionID  string
	etag       string
	size       int64
	sha256     string
	kind       bodyKind
	generation int    // 1 for the first upload of the key, 2 for its overwrite
	other      string // the kind of the key's other version, if it has one
	seq        uint64
}

func (v *version) infected() bool { return v.kind != kindRandom }

func (v *version) String() string {
	of := ""
	if v.other != "" {
		of = " of 2, the other " + v.other
	}
	return fmt.Sprintf("s3://%s/%s?versionId=%s (v%d%s, %s, %d bytes, record %s)", bucket, v.key, v.versionID, v.generation, of, v.kind, v.size, v.id)
}

// keyPlan is one key of the load: its first version, and, for keys
// overwritten mid-scan, the kind of the second.
type keyPlan struct {
	key       string
	first     bodyKind
	overwrite bool
	second    bodyKind
	mu        sync.Mutex // held while the overwrite is PUT
	v1        *version
	overwrote bool
}

// fleet is one set of scanners: its own workflow runner and handlers over
// the shared store, bucket and clamd. Two fleets race on the same records,
// as duplicate Express executions and a second region would.
type fleet struct {
	name  string
	h     *lambdas.Handlers
	flows *local.Workflows
	stop  func()
}

type harness struct {
	t   *testing.T
	cfg config
	ctx context.Context

	rngMu sync.Mutex
	rng   *rand.Rand

	gw      *testsvc.S3
	owner   *s3.Client // the bucket owner's client, straight to versitygw
	proxy   *drill.ResetProxy
	faults  *drill.FaultStore
	st      *store.Store
	objs    *hookedObjects
	clamd   *daemon.Daemon
	ping    *clamd.Client
	scanner *countingScanner
	scans   *scanRecorder
	fleets  []*fleet
	logs    *logBuffer

	mu       sync.Mutex
	versions map[string]*version // by record ID
	plans    []*keyPlan
	byKey    map[string]*keyPlan
	seq      atomic.Uint64

	deliveries    sync.WaitGroup
	events        atomic.Int64 // event documents delivered (first copies)
	duplicates    atomic.Int64 // extra copies delivered
	redeliveries  atomic.Int64 // deliveries repeated after an ingest error
	abandoned     atomic.Int64 // deliveries given up
	kills         atomic.Int64
	killsInFlight atomic.Int64 // kills while at least one stream was open
	maxDowntime   atomic.Int64 // nanoseconds from SIGKILL to PING answered
	midScan       atomic.Int64 // overwrites PUT while the first version streamed
	recordedMid   atomic.Int64 // of those, the new version recorded before the stream went on
	late          atomic.Int64 // overwrites PUT after the first version settled
}

func (h *harness) float() float64 {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.Float64()
}

func (h *harness) intN(n int) int {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.IntN(n)
}

func (h *harness) uint64() uint64 {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.Uint64()
}

// newHarness starts dynalite, versitygw behind a ResetProxy, a supervised
// clamd and two fleets, all on loopback, stopped when the test ends.
func newHarness(t *testing.T, cfg config) *harness {
	t.Helper()
	ctx := t.Context()
	h := &harness{
		t: t, cfg: cfg, ctx: ctx,
		rng:      rand.New(rand.NewPCG(cfg.seed, 1)),
		versions: map[string]*version{},
		byKey:    map[string]*keyPlan{},
		logs:     &logBuffer{},
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// Records in DynamoDB's stand-in, with faults in every conditional
	// write.
	endpoint := testsvc.Dynalite(t)
	drv, err := urlopen.Store(ctx, "dynamodb://scangate-drill?create=true&endpoint="+url.QueryEscape(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	h.faults = drill.NewFaultStore(drv, drill.StoreFaults{Throttle: cfg.throttle, Conflict: cfg.conflict, LostAnswer: cfg.lost}, cfg.seed+2)
	h.st = store.New(h.faults, nil)
	t.Cleanup(func() { h.st.Close() })

	// Objects in versitygw. The pipeline reaches it through the proxy that
	// resets connections; uploads and the checks go straight to it.
	h.gw = testsvc.VersityGW(t, &testsvc.VersityGWOptions{AccessKey: "local", Secret: "local"})
	h.owner = h.gw.Client(t)
	h.gw.CreateBucket(t, h.owner, bucket, true)
	h.gw.CreateBucket(t, h.owner, qBucket, false)
	h.proxy, err = drill.StartResetProxy(strings.TrimPrefix(h.gw.Endpoint, "http://"), drill.ProxyOptions{ResetProbability: cfg.reset, MaxResetAfter: 128 << 10, Seed: cfg.seed + 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.proxy.Close() })
	d, name, err := urlopen.OpenBucket(ctx, "s3://"+bucket+"?region=us-east-1&endpoint="+url.QueryEscape("http://"+h.proxy.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.(io.Closer).Close() })
	if name != bucket {
		t.Fatalf("bucket %q; want %q", name, bucket)
	}
	h.objs = &hookedObjects{Driver: d}

	// clamd, supervised: a SIGKILL is followed by a restart.
	h.clamd = clamdtest.Start(t, nil)
	client, err := clamd.New(h.clamd.Addr(), clamd.Options{IOTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.ping, err = clamd.New(h.clamd.Addr(), clamd.Options{DialTimeout: time.Second, IOTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(client, engine.Options{DatabaseDir: clamdtest.SignaturesDir(t), DevMode: true})
	if err != nil {
		t.Fatal(err)
	}
	h.scanner = &countingScanner{Scanner: eng}
	h.scans = &scanRecorder{errors: map[string]int{}}

	dir := t.TempDir()
	for _, name := range []string{"a", "b"} {
		flows, hd, err := local.New(h.st, lambdas.Config{
			Store: h.st, Objects: h.objs, Scanner: h.scanner,
			Logger: log.With("fleet", name), QuarantineBucket: qBucket, LeaseTTL: cfg.lease,
			Owner: "drill-" + name, Metrics: h.scans,
		}, local.WorkflowOptions{
			Workers: cfg.workers, TimeScale: cfg.timeScale, SweepEvery: cfg.sweep, Drain: 10 * time.Second,
			// Failures of passing causes are retried from a second's rest
			// on, doubling, as a day's window would retry them in AWS.
			Sweep:      lambdas.SweepRequest{RetryFailedAfterSeconds: 1},
			HistoryDir: filepath.Join(dir, "history-"+name), Logger: log.With("fleet", name),
		})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := flows.Run(runCtx); err != nil {
				t.Errorf("fleet %s: %v", name, err)
			}
		}()
		f := &fleet{name: name, h: hd, flows: flows}
		var once sync.Once
		f.stop = func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(f.stop)
		h.fleets = append(h.fleets, f)
	}
	h.objs.onStream.Store(h.overwriteHook)
	return h
}

// stopFleets ends both runners: nothing moves while the checks read.
func (h *harness) stopFleets() {
	for _, f := range h.fleets {
		f.stop()
	}
}

// countingScanner is the scan engine, counting the streams that reach it
// and how they ended.
type countingScanner struct {
	lambdas.Scanner
	inflight, streams, cutClamd, cutSource, otherErr atomic.Int64
}

func (c *countingScanner) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	c.inflight.Add(1)
	defer c.inflight.Add(-1)
	c.streams.Add(1)
	res, err := c.Scanner.Instream(ctx, r)
	switch {
	case err == nil:
	case errors.Is(err, clamd.ErrUnavailable):
		c.cutClamd.Add(1)
	case errors.Is(err, clamd.ErrSource):
		c.cutSource.Add(1)
	default:
		c.otherErr.Add(1)
	}
	return res, err
}

// scanRecorder counts the Scan steps that gave no verdict, by reason.
type scanRecorder struct {
	mu     sync.Mutex
	errors map[string]int
}

func (r *scanRecorder) Scan(s metrics.ScanResult) {
	if s.Outcome != metrics.OutcomeError {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors[s.Reason]++
}

func (r *scanRecorder) Engine(metrics.EngineStatus) {}

func (r *scanRecorder) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.errors {
		out[k] = v
	}
	return out
}

// hookedObjects is the S3 driver with a hook on every stream the Scan step
// opens: the drill's way to PUT a new version of a key while its older
// version is being read into clamd.
type hookedObjects struct {
	objects.Driver
	onStream atomic.Value // func(domain.ObjectRef) func()
}

func (o *hookedObjects) Open(ctx context.Context, ref domain.ObjectRef) (io.ReadCloser, objects.Info, error) {
	rc, info, err := o.Driver.Open(ctx, ref)
	if err != nil {
		return rc, info, err
	}
	if fn, _ := o.onStream.Load().(func(domain.ObjectRef) func()); fn != nil {
		if hook := fn(ref); hook != nil {
			return &hookReader{ReadCloser: rc, hook: hook}, info, nil
		}
	}
	return rc, info, nil
}

// hookReader runs hook once, after the first bytes were read: the stream
// into clamd has begun and is not finished.
type hookReader struct {
	io.ReadCloser
	hook func()
	done bool
}

func (r *hookReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 && !r.done {
		r.done = true
		r.hook()
	}
	return n, err
}

// logBuffer keeps the pipeline's warnings, shown when the drill fails.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 8<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (h *harness) dumpLogs() {
	h.logs.mu.Lock()
	defer h.logs.mu.Unlock()
	s := h.logs.b.String()
	if len(s) > 64<<10 {
		s = "…" + s[len(s)-64<<10:]
	}
	h.t.Logf("pipeline warnings (last 64 KiB):\n%s", s)
}
