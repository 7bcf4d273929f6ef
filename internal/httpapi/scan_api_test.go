package httpapi_test

// Tests of POST /scan, GET /healthz/ready and GET /metrics against a real
// clamd. Names here start with "scanAPI" so as not to collide with the
// other test files of package local_test.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/httpapi"
	"github.com/scangate/scangate/internal/metrics"
)

// scanAPIEngine counts the calls that reach the engine, and so clamd.
type scanAPIEngine struct {
	httpapi.ScanEngine
	describes, instreams atomic.Int64
}

func (e *scanAPIEngine) Describe(ctx context.Context) (engine.Info, error) {
	e.describes.Add(1)
	return e.ScanEngine.Describe(ctx)
}

func (e *scanAPIEngine) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	e.instreams.Add(1)
	return e.ScanEngine.Instream(ctx, r)
}

func (e *scanAPIEngine) calls() int64 { return e.describes.Load() + e.instreams.Load() }

// scanAPIClock is the breaker's clock, moved by hand.
type scanAPIClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *scanAPIClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *scanAPIClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type scanAPIOpts struct {
	clamd     *clamdtest.Options
	maxSync   int64
	threshold int
}

type scanAPIEnv struct {
	t      testing.TB
	srv    *httptest.Server
	eng    *scanAPIEngine
	br     *engine.Breaker
	clock  *scanAPIClock
	reg    *prometheus.Registry
	dir    string // clamd's folder, and so its socket
	daemon *daemon.Daemon
}

// scanAPISetup starts clamd in its own short folder (so that a test can
// stop it and start it again at the same address), the engine, a breaker
// on a fake clock, Prometheus metrics, and the three routes as the local
// API mounts them.
func scanAPISetup(t *testing.T, o scanAPIOpts) *scanAPIEnv {
	t.Helper()
	dir, err := os.MkdirTemp("", "sg-scanapi-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := clamdtest.StartAt(t, dir, o.clamd)
	client, err := clamd.New(d.Addr(), clamd.Options{IOTimeout: 10 * time.Second, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clock := &scanAPIClock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	br := engine.NewBreaker(engine.BreakerOptions{Threshold: o.threshold, Cooldown: 30 * time.Second, Now: clock.Now})
	// The engine guards its calls with the handler's breaker, as scangate
	// run wires them: the handler's call and the engine's inside count once.
	eng, err := engine.New(client, engine.Options{DatabaseDir: clamdtest.SignaturesDir(t), DevMode: true, Breaker: br})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	prom, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	counted := &scanAPIEngine{ScanEngine: eng}
	mux := http.NewServeMux()
	mux.Handle("POST /scan", httpapi.NewScanHandler(counted, br, prom, httpapi.ScanOptions{MaxSyncBytes: o.maxSync}))
	mux.Handle("GET /metrics", httpapi.NewMetricsHandler(reg))
	mux.Handle("GET /healthz/ready", httpapi.NewReadyHandler(httpapi.ReadyChecks{
		Clamd: client, Engine: eng, Breaker: br, Recorder: prom, Timeout: 2 * time.Second,
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &scanAPIEnv{t: t, srv: srv, eng: counted, br: br, clock: clock, reg: reg, dir: dir, daemon: d}
}

// scan POSTs body to /scan. With chunked, the length is not announced.
func (e *scanAPIEnv) scan(body []byte, chunked bool) (int, http.Header, httpapi.ScanResponse) {
	e.t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // hides the length: Transfer-Encoding: chunked
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/scan", r)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var got httpapi.ScanResponse
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &got); err != nil {
		e.t.Fatalf("POST /scan: status %d, body %q: %v", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, resp.Header, got
}

func (e *scanAPIEnv) ready() (int, http.Header, httpapi.ReadyResponse) {
	e.t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + "/healthz/ready")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var got httpapi.ReadyResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, got
}

func (e *scanAPIEnv) stopClamd() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.daemon.Stop(ctx); err != nil {
		e.t.Fatal(err)
	}
}

func TestScanAPIVerdicts(t *testing.T) {
	t.Parallel()
	e := scanAPISetup(t, scanAPIOpts{})
	clean := []byte("quarterly numbers\n")

	code, _, got := e.scan(clean, false)
	sum := sha256.Sum256(clean)
	if code != http.StatusOK || got.Outcome != domain.OutcomeClean || got.Bytes != int64(len(clean)) ||
		got.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("clean: %d %+v; want 200 clean with %d bytes and a hash", code, got, len(clean))
	}
	if got.Engine == "" || got.DBVersion == "" || !got.DevSignatures {
		t.Errorf("clean: engine %q db %q dev %v; want them named", got.Engine, got.DBVersion, got.DevSignatures)
	}

	code, _, got = e.scan(clamdtest.EICARBytes(), false)
	if code != http.StatusNotAcceptable || got.Outcome != domain.OutcomeInfected ||
		!slices.Contains(got.Signatures, clamdtest.EICARSignature) {
		t.Fatalf("EICAR: %d %+v; want 406 infected with %s", code, got, clamdtest.EICARSignature)
	}

	// The same figures as Prometheus sees them.
	want := `
# HELP scangate_scans_total Scans by outcome: clean, infected, unscannable, allowlisted or error (no verdict).
# TYPE scangate_scans_total counter
scangate_scans_total{outcome="allowlisted"} 0
scangate_scans_total{outcome="clean"} 1
scangate_scans_total{outcome="error"} 0
scangate_scans_total{outcome="infected"} 1
scangate_scans_total{outcome="unscannable"} 0
# HELP scangate_scan_bytes_total Bytes streamed to clamd.
# TYPE scangate_scan_bytes_total counter
scangate_scan_bytes_total 86
# HELP scangate_clamd_up 1 when clamd answered the last time it was asked, else 0.
# TYPE scangate_clamd_up gauge
scangate_clamd_up 1
# HELP scangate_breaker_open 1 while the scan engine's circuit breaker is open or half-open, else 0.
# TYPE scangate_breaker_open gauge
scangate_breaker_open 0
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want),
		"scangate_scans_total", "scangate_scan_bytes_total", "scangate_clamd_up", "scangate_breaker_open"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(e.reg, "scangate_scan_duration_seconds", "scangate_signature_age_seconds"); err != nil || n != 2 {
		t.Fatalf("duration histogram and signature age: %d series, %v; want 2", n, err)
	}

	// GET /metrics serves the same registry.
	resp, err := e.srv.Client().Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range []string{`scangate_scans_total{outcome="clean"} 1`, `scangate_scans_total{outcome="infected"} 1`, "scangate_scan_duration_seconds_count 2"} {
		if !strings.Contains(string(raw), line) {
			t.Errorf("GET /metrics lacks %q:\n%s", line, raw)
		}
	}
}

// TestScanAPIStreamLimit: EICAR past clamd's StreamMaxLength is not
// scannable, never clean, whether the length is announced or not.
func TestScanAPIStreamLimit(t *testing.T) {
	t.Parallel()
	const streamMax = 1 << 20
	e := scanAPISetup(t, scanAPIOpts{clamd: &clamdtest.Options{StreamMaxLength: streamMax}})
	past := append(bytes.Repeat([]byte{'A'}, 2*streamMax), clamdtest.EICAR...)
	for _, chunked := range []bool{false, true} {
		code, _, got := e.scan(past, chunked)
		if code != http.StatusUnprocessableEntity || got.Outcome != domain.OutcomeUnscannable ||
			got.Reason != domain.ReasonTooLarge || got.Limit != "StreamMaxLength" || got.SHA256 != "" {
			t.Fatalf("chunked %v: EICAR after the stream limit: %d %+v; want 422 unscannable too-large (StreamMaxLength)", chunked, code, got)
		}
	}
	// Within the limit, the same EICAR is found.
	within := append(bytes.Repeat([]byte{'A'}, streamMax-len(clamdtest.EICAR)), clamdtest.EICAR...)
	if code, _, got := e.scan(within, true); code != http.StatusNotAcceptable {
		t.Fatalf("EICAR at the stream limit: %d %+v; want 406", code, got)
	}
}

// TestScanAPIMaxSyncBytes: a body over MaxSyncBytes is refused with 413,
// before the engine when its length is announced, and without a verdict
// when it is not.
func TestScanAPIMaxSyncBytes(t *testing.T) {
	t.Parallel()
	const limit = 4096
	e := scanAPISetup(t, scanAPIOpts{maxSync: limit})
	over := append(bytes.Repeat([]byte{'A'}, limit), clamdtest.EICAR...)

	code, _, got := e.scan(over, false)
	if code != http.StatusRequestEntityTooLarge || got.Outcome != "" || got.MaxBytes != limit || got.Reason != domain.ReasonTooLarge {
		t.Fatalf("announced %d bytes: %d %+v; want 413 without a verdict", len(over), code, got)
	}
	if n := e.eng.calls(); n != 0 {
		t.Fatalf("an announced oversized body reached the engine (%d calls)", n)
	}

	code, _, got = e.scan(over, true)
	if code != http.StatusRequestEntityTooLarge || got.Outcome != "" || got.MaxBytes != limit {
		t.Fatalf("chunked %d bytes: %d %+v; want 413 without a verdict", len(over), code, got)
	}

	// Exactly at the limit is scanned.
	at := append(bytes.Repeat([]byte{'A'}, limit-len(clamdtest.EICAR)), clamdtest.EICAR...)
	for _, chunked := range []bool{false, true} {
		if code, _, got := e.scan(at, chunked); code != http.StatusNotAcceptable {
			t.Fatalf("chunked %v: %d bytes, at the limit: %d %+v; want 406", chunked, len(at), code, got)
		}
	}
	if st := e.br.State(); st != engine.BreakerClosed {
		t.Fatalf("413s moved the breaker to %s", st)
	}
}

// TestScanAPIBreaker: with clamd stopped, scans answer 503 with
// Retry-After; after Threshold failures the breaker opens and answers 503
// without touching the engine; after the cooldown one probe goes through,
// reopening it while clamd is still down and closing it once clamd is back.
func TestScanAPIBreaker(t *testing.T) {
	t.Parallel()
	const threshold = 3
	e := scanAPISetup(t, scanAPIOpts{threshold: threshold})
	clean := []byte("harmless")
	if code, _, got := e.scan(clean, false); code != http.StatusOK {
		t.Fatalf("before: %d %+v", code, got)
	}
	if code, _, got := e.ready(); code != http.StatusOK || !got.Ready {
		t.Fatalf("ready before: %d %+v", code, got)
	}

	e.stopClamd()
	for i := range threshold {
		code, hdr, got := e.scan(clean, false)
		wantRetry := "10" // the handler's default while the breaker is closed
		if i == threshold-1 {
			wantRetry = "30" // this failure opened it: the cooldown
		}
		if code != http.StatusServiceUnavailable || got.Outcome != "" || got.Reason != domain.ReasonClamdUnavailable ||
			hdr.Get("Retry-After") != wantRetry {
			t.Fatalf("failure %d: %d Retry-After %q %+v; want 503 clamd-unavailable, Retry-After %s",
				i+1, code, hdr.Get("Retry-After"), got, wantRetry)
		}
	}
	if st := e.br.State(); st != engine.BreakerOpen {
		t.Fatalf("after %d failures the breaker is %s; want open", threshold, st)
	}
	code, hdr, ready := e.ready()
	if code != http.StatusServiceUnavailable || ready.Ready || !slices.Contains(ready.Failed, "clamd") ||
		!slices.Contains(ready.Failed, "breaker") || hdr.Get("Retry-After") != "30" {
		t.Fatalf("ready with clamd down: %d Retry-After %q %+v; want 503 naming clamd and breaker", code, hdr.Get("Retry-After"), ready)
	}

	// Open: 503 without a call to the engine, so without dialing clamd.
	calls := e.eng.calls()
	e.clock.Advance(20 * time.Second)
	for range 5 {
		code, hdr, got := e.scan(clean, false)
		if code != http.StatusServiceUnavailable || got.Reason != httpapi.ReasonBreakerOpen || hdr.Get("Retry-After") != "10" {
			t.Fatalf("open: %d Retry-After %q %+v; want 503 breaker-open, Retry-After 10", code, hdr.Get("Retry-After"), got)
		}
	}
	if n := e.eng.calls(); n != calls {
		t.Fatalf("the open breaker let %d calls reach the engine", n-calls)
	}

	// Cooldown over, clamd still down: the one probe fails and reopens it.
	e.clock.Advance(10 * time.Second)
	if st := e.br.State(); st != engine.BreakerHalfOpen {
		t.Fatalf("after the cooldown: %s; want half-open", st)
	}
	if code, hdr, got := e.scan(clean, false); code != http.StatusServiceUnavailable || got.Reason != domain.ReasonClamdUnavailable ||
		hdr.Get("Retry-After") != "30" {
		t.Fatalf("failed probe: %d Retry-After %q %+v", code, hdr.Get("Retry-After"), got)
	}
	if st := e.br.State(); st != engine.BreakerOpen {
		t.Fatalf("after a failed probe: %s; want open", st)
	}
	if n := e.eng.calls() - calls; n < 1 || n > 2 {
		t.Fatalf("the probe made %d engine calls; want 1 or 2 (Describe, Instream)", n)
	}

	// clamd is back at the same address; after the cooldown one probe
	// closes the breaker, and scans are decided again.
	clamdtest.StartAt(t, e.dir, nil)
	e.clock.Advance(30 * time.Second)
	code, _, got := e.scan(clamdtest.EICARBytes(), false)
	if code != http.StatusNotAcceptable || !slices.Contains(got.Signatures, clamdtest.EICARSignature) {
		t.Fatalf("probe with clamd back: %d %+v; want 406 EICAR", code, got)
	}
	if st := e.br.State(); st != engine.BreakerClosed {
		t.Fatalf("after a successful probe: %s; want closed", st)
	}
	if code, _, got := e.scan(clean, false); code != http.StatusOK || got.Outcome != domain.OutcomeClean {
		t.Fatalf("after: %d %+v; want 200 clean", code, got)
	}
	if code, _, ready := e.ready(); code != http.StatusOK || !ready.Ready {
		t.Fatalf("ready after: %d %+v", code, ready)
	}
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(`
# HELP scangate_scans_total Scans by outcome: clean, infected, unscannable, allowlisted or error (no verdict).
# TYPE scangate_scans_total counter
scangate_scans_total{outcome="allowlisted"} 0
scangate_scans_total{outcome="clean"} 2
scangate_scans_total{outcome="error"} 9
scangate_scans_total{outcome="infected"} 1
scangate_scans_total{outcome="unscannable"} 0
`), "scangate_scans_total"); err != nil {
		t.Fatal(err)
	}
}

// TestScanAPIReadyWhenClamdDown: readiness follows clamd, breaker or not.
func TestScanAPIReadyWhenClamdDown(t *testing.T) {
	t.Parallel()
	e := scanAPISetup(t, scanAPIOpts{})
	code, _, got := e.ready()
	if code != http.StatusOK || !got.Ready || !got.Clamd.OK || !got.Signatures.OK || !got.Breaker.OK || len(got.Failed) != 0 {
		t.Fatalf("ready: %d %+v", code, got)
	}
	e.stopClamd()
	code, _, got = e.ready()
	if code != http.StatusServiceUnavailable || got.Ready || got.Clamd.OK || !slices.Contains(got.Failed, "clamd") || got.Clamd.Detail == "" {
		t.Fatalf("clamd down: %d %+v; want 503 naming clamd", code, got)
	}
	if !got.Breaker.OK {
		t.Fatalf("readiness moved the breaker: %+v", got.Breaker)
	}
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(`
# HELP scangate_clamd_up 1 when clamd answered the last time it was asked, else 0.
# TYPE scangate_clamd_up gauge
scangate_clamd_up 0
`), "scangate_clamd_up"); err != nil {
		t.Fatal(err)
	}
}

// TestScanAPIStaleSignatures: stale signatures are a 503, never a verdict,
// and do not count against clamd.
func TestScanAPIStaleSignatures(t *testing.T) {
	t.Parallel()
	d := clamdtest.Start(t, nil)
	client := clamdtest.Client(t, d, clamd.Options{})
	// Strict mode with the test signatures: their age is unknown, hence
	// stale; a year from now makes sure either way.
	eng, err := engine.New(client, engine.Options{
		DatabaseDir: clamdtest.SignaturesDir(t),
		Now:         func() time.Time { return time.Now().AddDate(1, 0, 0) },
	})
	if err != nil {
		t.Fatal(err)
	}
	br := engine.NewBreaker(engine.BreakerOptions{Threshold: 1})
	h := httpapi.NewScanHandler(eng, br, nil, httpapi.ScanOptions{RetryAfter: 90 * time.Second})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/scan", bytes.NewReader(clamdtest.EICARBytes())))
	var got httpapi.ScanResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || got.Outcome != "" || got.Reason != domain.ReasonStaleSignatures ||
		rec.Header().Get("Retry-After") != "90" {
		t.Fatalf("stale: %d Retry-After %q %+v; want 503 stale-signatures", rec.Code, rec.Header().Get("Retry-After"), got)
	}
	if st := br.State(); st != engine.BreakerClosed {
		t.Fatalf("stale signatures opened the breaker: %s", st)
	}
}

func TestScanAPIMethod(t *testing.T) {
	t.Parallel()
	h := httpapi.NewScanHandler(nil, nil, nil, httpapi.ScanOptions{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/scan", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Fatalf("GET /scan: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// scanAPIFake is an engine that reads what it is told to and answers what
// it is told to: the cases real clamd cannot be made to produce on demand.
type scanAPIFake struct {
	read int64 // bytes to read; -1 means all
	res  clamd.Result
	err  error
}

func (f *scanAPIFake) Describe(context.Context) (engine.Info, error) {
	return engine.Info{Engine: "ClamAV fake", DBVersion: "fake:1", DBTime: time.Now()}, nil
}

func (f *scanAPIFake) Instream(_ context.Context, r io.Reader) (clamd.Result, error) {
	if f.read >= 0 {
		r = io.LimitReader(r, f.read)
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return clamd.Result{}, err
	}
	res := f.res
	res.Bytes = n
	return res, f.err
}

// TestScanAPIFailClosed: whatever the engine does short of an OK for the
// whole body, the answer is not 200.
func TestScanAPIFailClosed(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("x"), 10000)
	tests := []struct {
		name       string
		fake       scanAPIFake
		code       int
		reason     string
		breakerHit bool // the outcome counts as an engine failure
	}{
		{"OK for the whole body", scanAPIFake{read: -1, res: clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK"}},
			http.StatusOK, "", false},
		{"OK for half the body", scanAPIFake{read: 5000, res: clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK"}},
			http.StatusInternalServerError, domain.ReasonScanError, false},
		{"zero result", scanAPIFake{read: -1},
			http.StatusInternalServerError, domain.ReasonScanError, false},
		{"clamd ERROR reply", scanAPIFake{read: -1, res: clamd.Result{Status: clamd.StatusError, Raw: "Can't allocate memory ERROR"}},
			http.StatusServiceUnavailable, domain.ReasonClamdUnavailable, true},
		{"protocol error", scanAPIFake{read: -1, err: clamd.ErrProtocol},
			http.StatusInternalServerError, domain.ReasonScanError, true},
		{"io timeout", scanAPIFake{read: -1, err: clamd.ErrTimeout},
			http.StatusServiceUnavailable, domain.ReasonTimeout, true},
		{"limit alert", scanAPIFake{read: -1, res: clamd.Result{Status: clamd.StatusLimit, Limit: "MaxScanSize"}},
			http.StatusUnprocessableEntity, domain.ReasonLimitExceeded + ":MaxScanSize", false},
		{"encrypted", scanAPIFake{read: -1, res: clamd.Result{Status: clamd.StatusLimit, Limit: "Encrypted"}},
			http.StatusUnprocessableEntity, domain.ReasonEncrypted, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			br := engine.NewBreaker(engine.BreakerOptions{Threshold: 1})
			h := httpapi.NewScanHandler(&tt.fake, br, nil, httpapi.ScanOptions{})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/scan", bytes.NewReader(body)))
			var got httpapi.ScanResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.code || got.Reason != tt.reason {
				t.Fatalf("%d %+v; want %d reason %q", rec.Code, got, tt.code, tt.reason)
			}
			if (rec.Code == http.StatusOK) != (got.Outcome == domain.OutcomeClean) {
				t.Fatalf("status %d with outcome %q", rec.Code, got.Outcome)
			}
			if rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			if hit := br.State() == engine.BreakerOpen; hit != tt.breakerHit {
				t.Fatalf("breaker %s; want an engine failure: %v", br.State(), tt.breakerHit)
			}
		})
	}
}
