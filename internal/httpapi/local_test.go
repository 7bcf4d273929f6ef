package httpapi_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/engine"
	"golang.org/x/crypto/bcrypt"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/internal/authn"
	"github.com/scangate/scangate/internal/backfill"
	"github.com/scangate/scangate/internal/httpapi"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/policy"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	bucket  = "uploads"
	qBucket = "quarantine"
)

// countingScanner counts the streams that reach clamd.
type countingScanner struct {
	lambdas.Scanner
	calls atomic.Int64
}

func (c *countingScanner) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	c.calls.Add(1)
	return c.Scanner.Instream(ctx, r)
}

type env struct {
	t       testing.TB
	st      *store.Store
	objs    *localdir.Driver
	h       *lambdas.Handlers
	flows   *local.Workflows
	srv     *httptest.Server
	scanner *countingScanner
	// client sends token as its bearer token unless a request names one.
	client *http.Client
	token  string
	tokens map[string]string // account name -> API token (tokenFor)
}

// testAdminToken is the break-glass token every test API accepts, unless
// the test names its own.
const testAdminToken = "test-admin-token"

// bearer adds an Authorization header to requests that have none.
type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" && b.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.base.RoundTrip(r)
}

type setupOpts struct {
	clamd        *clamdtest.Options
	clamdAddr    string // use this clamd instead of starting one
	maxScanBytes int64
	policy       string
	noCache      bool
	// sigDir and strict replace the test signatures' directory and turn
	// the development waiver of the age check off.
	sigDir string
	strict bool
	// sweepEvery is how often the runner looks for stranded records.
	sweepEvery time.Duration
	// noSync turns off fsync in the store and the bucket (benchmarks only:
	// it shows what durability costs).
	noSync bool
	// large, when set, gives the runner a large-object path: objects above
	// maxScanBytes are offloaded to a second execution that scans them
	// through a clamd of their own, with these options, up to largeMax.
	large    *clamdtest.Options
	largeMax int64
	// intents records upload intents and links them at ingest;
	// intentsUnlinked records them but leaves linking to the sweep.
	intents, intentsUnlinked bool
	// now is the clock of the store and the API; nil is time.Now.
	now func() time.Time
	// rules is the per-prefix policy and denylist, if any.
	rules *policy.Policy
	// results receives result events.
	results lambdas.ResultEmitter
	// adminToken guards the admin endpoints.
	adminToken string
}

// setup starts a real clamd, an embedded store and a local bucket in the
// test's own directory, and the runner and API over them.
func setup(t testing.TB, o setupOpts) *env {
	t.Helper()
	addr := o.clamdAddr
	if addr == "" {
		addr = clamdtest.Start(t, o.clamd).Addr()
	}
	client, err := clamd.New(addr, clamd.Options{IOTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sigDir := o.sigDir
	if sigDir == "" {
		sigDir = clamdtest.SignaturesDir(t)
	}
	eng, err := engine.New(client, engine.Options{DatabaseDir: sigDir, DevMode: !o.strict})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	drv, err := embedded.Open(filepath.Join(dir, "scangate.db"), &embedded.Options{NoSync: o.noSync})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(drv, &store.Options{Now: o.now, PasswordCost: bcrypt.MinCost})
	t.Cleanup(func() { st.Close() })
	objs, err := localdir.Open(filepath.Join(dir, "buckets"), &localdir.Options{NoSync: o.noSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	sweep := o.sweepEvery
	if sweep == 0 {
		sweep = time.Hour
	}
	// The committed workflow, with its retry delays compressed 100-fold.
	sc := &countingScanner{Scanner: eng}
	cfg := lambdas.Config{
		Store: st, Objects: objs, Scanner: sc, Logger: log,
		QuarantineBucket: qBucket, LeaseTTL: time.Minute, MaxScanBytes: o.maxScanBytes,
		UnscannablePolicy: lambdas.Policy(o.policy), Owner: "test", DisableVerdictCache: o.noCache, Intents: o.intents,
		Policy: o.rules, Results: o.results,
	}
	if o.large != nil {
		lc, err := clamd.New(clamdtest.Start(t, o.large).Addr(), clamd.Options{IOTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		le, err := engine.New(lc, engine.Options{DatabaseDir: sigDir, DevMode: !o.strict})
		if err != nil {
			t.Fatal(err)
		}
		cfg.LargeScanner, cfg.LargeMaxBytes = le, o.largeMax
	}
	flows, h, err := local.New(st, cfg, local.WorkflowOptions{
		Workers: 4, TimeScale: 0.01, SweepEvery: sweep, Drain: 5 * time.Second,
		HistoryDir: filepath.Join(dir, "history"), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.adminToken == "" {
		o.adminToken = testAdminToken
	}
	bfCtx, stopBackfills := context.WithCancel(context.Background())
	t.Cleanup(stopBackfills)
	api, err := httpapi.NewAPI(h, st, objs, httpapi.APIOptions{
		Bucket: bucket, Logger: log, History: flows, Now: o.now,
		Backfills:     backfill.NewManager(bfCtx, &backfill.Runner{Store: st, Objects: objs, Ingest: h, Logger: log, Workflow: flows}),
		Auth:          &authn.Authenticator{Tokens: st, AdminToken: o.adminToken},
		RecordIntents: o.intents || o.intentsUnlinked,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := flows.Run(ctx); err != nil {
			t.Errorf("workflows: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
	})
	hc := &http.Client{Transport: bearer{base: http.DefaultTransport, token: o.adminToken}}
	return &env{t: t, st: st, objs: objs, h: h, flows: flows, srv: srv, scanner: sc, client: hc, token: o.adminToken, tokens: map[string]string{}}
}

// upload PUTs body under key through the HTTP API and returns the record.
func (e *env) upload(key string, body []byte) *domain.Record {
	e.t.Helper()
	rec, code, msg := e.tryUpload(key, body, nil)
	if code != http.StatusCreated {
		e.t.Fatalf("upload %q: status %d: %s", key, code, msg)
	}
	return rec
}

func (e *env) tryUpload(key string, body []byte, hdr http.Header) (*domain.Record, int, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPut, e.srv.URL+"/v1/objects/"+escapeKey(key), bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return nil, resp.StatusCode, string(raw)
	}
	var rec domain.Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		e.t.Fatal(err)
	}
	return &rec, resp.StatusCode, ""
}

// escapeKey escapes a key for a URL path; dot segments are escaped too,
// or the HTTP client would resolve them before sending.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(s), ".", "%2E")
	}
	return strings.Join(segs, "/")
}

// settled reports whether no step will move the record on by itself.
func settled(rec *domain.Record, policy lambdas.Policy) bool {
	switch rec.State {
	case domain.StatusPending, domain.StatusScanning, domain.StatusInfected:
		return false
	case domain.StatusUnscannable:
		// A policy violation's rule names its own action.
		return policy == "block" || (rec.Verdict != nil && rec.Verdict.PolicyAction == "block")
	}
	return true
}

func (e *env) wait(id string) *domain.Record {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rec, err := e.st.Get(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if settled(rec, e.h.UnscannablePolicy()) {
			return rec
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("record %s (%s) still %s after 60s; history %+v", id, rec.Object.Key, rec.State, rec.History)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) assertQuarantined(rec *domain.Record) {
	e.t.Helper()
	if rec.State != domain.StatusReviewing {
		e.t.Fatalf("%s: state %s (reason %q, last history %+v); want reviewing", rec.Object.Key, rec.State, rec.Reason, lastHistory(rec))
	}
	if rec.Quarantine == nil || rec.Quarantine.Bucket != qBucket {
		e.t.Fatalf("%s: not in quarantine: %+v", rec.Object.Key, rec.Quarantine)
	}
	ctx := context.Background()
	if _, _, err := e.objs.Open(ctx, rec.Object); errcode.Of(err) != errcode.NotFound {
		e.t.Errorf("%s: original version still readable (err %v)", rec.Object.Key, err)
	}
	if _, err := e.objs.Head(ctx, *rec.Quarantine); err != nil {
		e.t.Errorf("%s: quarantined copy missing: %v", rec.Object.Key, err)
	}
	item, err := e.st.Review(ctx, rec.ID)
	if err != nil || !item.Open() {
		e.t.Errorf("%s: review item %+v, %v; want open", rec.Object.Key, item, err)
	}
}

// waitExecutionsEnded waits until every execution of the record's
// workflows that has started has also ended.
func (e *env) waitExecutionsEnded(id string) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		hist, err := e.flows.History(id)
		if err != nil {
			e.t.Fatal(err)
		}
		running := 0
		for _, x := range hist {
			if !slices.ContainsFunc(x.Events, func(ev local.HistoryEvent) bool {
				return strings.HasPrefix(ev.Type, "Execution") && ev.Type != "ExecutionStarted"
			}) {
				running++
			}
		}
		if running == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d executions of %s still running", running, id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lastHistory is the record's newest history entry, which says why a test
// found it in an unexpected state.
func lastHistory(rec *domain.Record) any {
	if len(rec.History) == 0 {
		return nil
	}
	return rec.History[len(rec.History)-1]
}

func (e *env) assertClean(rec *domain.Record) {
	e.t.Helper()
	if rec.State != domain.StatusClean {
		e.t.Fatalf("%s: state %s (reason %q, verdict %+v, last history %+v); want clean", rec.Object.Key, rec.State, rec.Reason, rec.Verdict, lastHistory(rec))
	}
	if rec.Verdict == nil || rec.Verdict.BytesScanned != rec.Object.Size || rec.Verdict.SHA256 == "" {
		e.t.Fatalf("%s: clean without a complete scan: %+v", rec.Object.Key, rec.Verdict)
	}
	// The record is the authority and is written first; the tags follow.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tags, err := e.objs.Tags(context.Background(), rec.Object)
		if err != nil {
			e.t.Fatal(err)
		}
		if tags[objects.TagStatus] == "clean" {
			break
		}
		if time.Now().After(deadline) {
			e.t.Errorf("%s: tags %v; want %s=clean", rec.Object.Key, tags, objects.TagStatus)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countEvents counts history entries per event.
func countEvents(rec *domain.Record) map[string]int {
	n := map[string]int{}
	for _, h := range rec.History {
		n[h.Event]++
	}
	return n
}

func TestClamavTestFilesEndQuarantined(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	entries, err := os.ReadDir(clamdtest.TestFilesDir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ent := range entries {
		b, err := os.ReadFile(filepath.Join(clamdtest.TestFilesDir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.upload("corpus/"+ent.Name(), b).ID)
	}
	if len(ids) != 44 {
		t.Errorf("clamav-testfiles has %d files; want 44", len(ids))
	}
	for _, id := range ids {
		rec := e.wait(id)
		e.assertQuarantined(rec)
		if !slices.Contains(rec.Verdict.Signatures, clamdtest.ClamExeSignature) {
			t.Errorf("%s: signatures %v; want %s", rec.Object.Key, rec.Verdict.Signatures, clamdtest.ClamExeSignature)
		}
	}
}

func zipOf(t *testing.T, name string, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	random := make([]byte, 1<<20)
	rand.Read(random)
	tests := []struct {
		key      string
		body     []byte
		infected bool
	}{
		{"empty.txt", nil, false},
		{"hello.txt", []byte("hello, world\n"), false},
		{"random.bin", random, false},
		{"docs.zip", zipOf(t, "readme.txt", []byte("nothing to see")), false},
		{"eicar.com", clamdtest.EICARBytes(), true},
		{"eicar.zip", zipOf(t, "eicar.com", clamdtest.EICARBytes()), true},
		{"nested/eicar-in-text.txt", append([]byte("preamble\n"), clamdtest.EICARBytes()...), true},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		ids[tt.key] = e.upload(tt.key, tt.body).ID
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			rec := e.wait(ids[tt.key])
			if tt.infected {
				e.assertQuarantined(rec)
				if !slices.Contains(rec.Verdict.Signatures, clamdtest.EICARSignature) {
					t.Errorf("signatures %v; want %s", rec.Verdict.Signatures, clamdtest.EICARSignature)
				}
				return
			}
			e.assertClean(rec)
			if rec.Object.Size != int64(len(tt.body)) {
				t.Errorf("size %d; want %d", rec.Object.Size, len(tt.body))
			}
		})
	}
}

// EICAR placed only after clamd's StreamMaxLength must never be clean,
// whether clamd's limit or scangate's own size check stops it.
func TestEICARAfterStreamLimitIsNeverClean(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	body := append(bytes.Repeat([]byte("A"), limit+4096), clamdtest.EICARBytes()...)
	for _, tt := range []struct {
		name         string
		maxScanBytes int64
	}{
		{"clamd stops the stream", 0},
		{"scangate refuses before streaming", limit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, setupOpts{clamd: &clamdtest.Options{StreamMaxLength: limit}, maxScanBytes: tt.maxScanBytes})
			rec := e.wait(e.upload("big/eicar-late.bin", body).ID)
			if rec.State.Readable() {
				t.Fatalf("state %s; a file scanned in part must not be readable", rec.State)
			}
			e.assertQuarantined(rec)
			if rec.Verdict == nil || rec.Verdict.Outcome != domain.OutcomeUnscannable || rec.Verdict.Reason != domain.ReasonTooLarge {
				t.Errorf("verdict %+v; want unscannable, too-large", rec.Verdict)
			}
		})
	}
}

// Objects above the stream limit are never truncated: with a large-object
// path they are offloaded to a second execution of the same definition,
// which scans them in full through a clamd of their own; above that path's
// limit they are unscannable.
func TestLargeObjectPath(t *testing.T) {
	t.Parallel()
	const limit = 256 << 10
	e := setup(t, setupOpts{
		clamd:        &clamdtest.Options{StreamMaxLength: limit},
		maxScanBytes: limit,
		large:        &clamdtest.Options{StreamMaxLength: 8 << 20},
		largeMax:     4 << 20,
	})
	random := make([]byte, 1<<20)
	rand.Read(random)
	tests := []struct {
		key       string
		body      []byte
		state     domain.Status
		offloaded bool
	}{
		{"small.txt", []byte("small enough for the usual path"), domain.StatusClean, false},
		{"large/clean.bin", random, domain.StatusClean, true},
		{"large/eicar-late.bin", append(bytes.Repeat([]byte("A"), 2*limit), clamdtest.EICARBytes()...), domain.StatusReviewing, true},
		{"large/too-large.bin", bytes.Repeat([]byte("B"), 5<<20), domain.StatusReviewing, true},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		ids[tt.key] = e.upload(tt.key, tt.body).ID
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			rec := e.wait(ids[tt.key])
			if rec.State != tt.state {
				t.Fatalf("state %s (verdict %+v, last history %+v); want %s", rec.State, rec.Verdict, lastHistory(rec), tt.state)
			}
			if rec.Verdict.BytesScanned != 0 && rec.Verdict.BytesScanned != int64(len(tt.body)) {
				t.Errorf("scanned %d of %d bytes", rec.Verdict.BytesScanned, len(tt.body))
			}
			switch tt.key {
			case "large/eicar-late.bin":
				if !slices.Contains(rec.Verdict.Signatures, clamdtest.EICARSignature) {
					t.Errorf("verdict %+v; want EICAR found past the first clamd's limit", rec.Verdict)
				}
			case "large/too-large.bin":
				if rec.Verdict.Outcome != domain.OutcomeUnscannable || rec.Verdict.Reason != domain.ReasonTooLarge {
					t.Errorf("verdict %+v; want unscannable, too-large", rec.Verdict)
				}
			}
			hist, err := e.flows.History(rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			var states []string
			for _, x := range hist {
				var entered []string
				for _, ev := range x.Events {
					if strings.HasSuffix(ev.Type, "StateEntered") {
						entered = append(entered, ev.State)
					}
					if ev.Type == "TaskStateEntered" {
						states = append(states, ev.State)
					}
				}
				// The Express execution's whole path, as ARCHITECTURE.md
				// counts its transitions.
				if tt.offloaded && strings.HasPrefix(x.Execution, "scan-") &&
					!slices.Equal(entered, []string{"Claimed", "Claim", "AlreadyDecided", "Offload", "Offloaded"}) {
					t.Errorf("execution %s entered %v; want Claim, AlreadyDecided, Offload, Offloaded", x.Execution, entered)
				}
			}
			offloaded := slices.Contains(states, "Offload") && slices.Contains(states, "ScanLarge")
			if offloaded != tt.offloaded || (tt.offloaded && slices.Contains(states, "Scan")) {
				t.Errorf("task states entered %v; offloaded %v, want %v", states, offloaded, tt.offloaded)
			}
		})
	}
}

func TestClamdStoppedThenBack(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "sg-clamd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "clamd.sock")
	// Nothing listens yet: clamd is down.
	e := setup(t, setupOpts{clamdAddr: "unix://" + sock})
	rec := e.wait(e.upload("while-down.txt", []byte("harmless")).ID)
	if rec.State != domain.StatusFailed || rec.Reason != domain.ReasonClamdUnavailable {
		t.Fatalf("state %s reason %q; want failed, %s", rec.State, rec.Reason, domain.ReasonClamdUnavailable)
	}
	// A second object, infected, is not clean either.
	bad := e.wait(e.upload("eicar-while-down.com", clamdtest.EICARBytes()).ID)
	if bad.State != domain.StatusFailed {
		t.Fatalf("infected object while clamd is down: %s; want failed", bad.State)
	}

	// clamd comes back at the same address; a rescan decides correctly.
	d := clamdtest.StartAt(t, dir, nil)
	_ = d
	for _, id := range []string{rec.ID, bad.ID} {
		if _, err := e.h.Rescan(context.Background(), id, "ops", "clamd is back"); err != nil {
			t.Fatal(err)
		}
	}
	e.assertClean(e.wait(rec.ID))
	e.assertQuarantined(e.wait(bad.ID))
	got, _ := e.st.Get(context.Background(), rec.ID)
	if n := countEvents(got); n["fail"] != 1 || n["rescan"] != 1 || n["pass"] != 1 {
		t.Errorf("history events %v; want one fail, one rescan, one pass", n)
	}
}

func TestDuplicateEventsHaveOneEffect(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ctx := context.Background()
	ref, err := e.objs.Put(ctx, bucket, "dup/file.txt", strings.NewReader("same bytes"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	event := intake.S3Notification(ref)
	for range 3 {
		if _, err := e.h.Ingest(ctx, event); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.h.Ingest(ctx, event); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rec := e.wait(ref.ID())
	e.assertClean(rec)
	// Every Ingest that started an execution did so before it returned:
	// once those have ended, the counts below are final.
	e.waitExecutionsEnded(ref.ID())
	rec, _ = e.st.Get(ctx, ref.ID())
	want := map[string]int{"ingest": 1, "claim": 1, "pass": 1}
	if got := countEvents(rec); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("history events %v; want %v", got, want)
	}
	if n := e.scanner.calls.Load(); n != 1 {
		t.Errorf("clamd saw %d streams; want 1", n)
	}
}

func TestKeysKeepTheirNames(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	long := strings.Repeat("k", 1024-len("long/")) // exactly 1024 bytes
	keys := []string{
		"with space.txt", "plus+sign.txt", "per%cent.txt", "hash#tag.txt", "question?.txt",
		"ünïcødé/日本語/файл.txt", "a/b/c/d/e/f/g/h/i/j/k/deep.txt", "long/" + long,
		"trailing space ", "semi;colon&amp=.txt",
	}
	ids := map[string]string{}
	for _, k := range keys {
		ids[k] = e.upload(k, []byte("content of "+k)).ID
	}
	for _, k := range keys {
		rec := e.wait(ids[k])
		if rec.Object.Key != k {
			t.Errorf("key %q came back as %q", k, rec.Object.Key)
		}
		e.assertClean(rec)
	}
	for _, k := range []string{"../escape.txt", "a/../../b", "./x", "a/./b", "x\x00y", strings.Repeat("x", 1025)} {
		if _, code, _ := e.tryUpload(k, []byte("x"), nil); code < 400 || code >= 500 {
			t.Errorf("upload of key %q: status %d; want a 4xx refusal", k, code)
		}
		body, _ := json.Marshal(map[string]string{"key": k})
		resp, err := e.client.Post(e.srv.URL+"/v1/uploads", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("upload URL for key %q: status %d; want 400", k, resp.StatusCode)
		}
	}
}

func TestUploadURLAndTagsRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	body, _ := json.Marshal(map[string]any{"key": "via-url/report.pdf", "maxBytes": 100})
	resp, err := e.client.Post(e.srv.URL+"/v1/uploads", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var issued struct{ URL string }
	json.NewDecoder(resp.Body).Decode(&issued)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || issued.URL == "" {
		t.Fatalf("issue upload URL: %d %+v", resp.StatusCode, issued)
	}
	put := func(url string, b []byte, hdr map[string]string) int {
		req, _ := http.NewRequest(http.MethodPut, e.srv.URL+url, bytes.NewReader(b))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put(issued.URL, []byte("x"), map[string]string{"X-Amz-Tagging": "scangate-status=clean"}); code != http.StatusForbidden {
		t.Errorf("upload setting a tag: %d; want 403", code)
	}
	if code := put(issued.URL, make([]byte, 101), nil); code != http.StatusRequestEntityTooLarge {
		t.Errorf("upload over the URL's size limit: %d; want 413", code)
	}
	if code := put(issued.URL+"x", []byte("x"), nil); code != http.StatusForbidden {
		t.Errorf("upload with a tampered URL: %d; want 403", code)
	}
	if code := put(issued.URL, []byte("fine"), nil); code != http.StatusCreated {
		t.Fatalf("upload through the URL: %d; want 201", code)
	}
	if _, code, _ := e.tryUpload("direct.txt", []byte("x"), http.Header{"X-Amz-Tagging": {"a=b"}}); code != http.StatusForbidden {
		t.Errorf("direct upload setting a tag: %d; want 403", code)
	}
}

// decided waits until the review workflow has carried the decision out:
// as in AWS, the decision is recorded at once and applied by the workflow.
func (e *env) decided(id string) *domain.Record {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, err := e.st.Get(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if rec.State != domain.StatusReviewing {
			return rec
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("record %s still under review 30s after the decision", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// decide posts a decision as the reviewer alice.
func (e *env) decide(id string, decision domain.Decision, comment string) *http.Response {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"decision": string(decision), "comment": comment})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/records/"+id+"/decision", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.tokenFor("alice", domain.RoleReviewer))
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// tokenFor returns an API token of the account name, creating the account
// with role the first time.
func (e *env) tokenFor(name string, role domain.Role) string {
	e.t.Helper()
	if tok, ok := e.tokens[name]; ok {
		return tok
	}
	ctx := context.Background()
	if _, err := e.st.AddAccount(ctx, name, role, []byte("correct horse battery staple")); err != nil {
		e.t.Fatal(err)
	}
	tok, _, err := e.st.IssueToken(ctx, name, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	e.tokens[name] = tok
	return tok
}

func TestReviewDecisions(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ctx := context.Background()

	released := e.wait(e.upload("review/fp.com", clamdtest.EICARBytes()).ID)
	e.assertQuarantined(released)
	if resp := e.decide(released.ID, domain.DecisionRelease, "known test file"); resp.StatusCode != http.StatusOK {
		t.Fatalf("release: %d", resp.StatusCode)
	}
	got := e.decided(released.ID)
	if got.State != domain.StatusReleased || got.Quarantine != nil {
		t.Fatalf("after release: %s, quarantine %+v", got.State, got.Quarantine)
	}
	back, err := e.objs.Head(ctx, domain.ObjectRef{Bucket: bucket, Key: "review/fp.com"})
	if err != nil {
		t.Fatalf("released object not back at its key: %v", err)
	}
	tags, _ := e.objs.Tags(ctx, back.Ref)
	if tags[objects.TagStatus] != "released" {
		t.Errorf("released object's tags %v", tags)
	}
	// A second, identical decision is a no-op; a different one is refused.
	if resp := e.decide(released.ID, domain.DecisionRelease, "again"); resp.StatusCode != http.StatusOK {
		t.Errorf("releasing a released record again: %d; want 200, a no-op", resp.StatusCode)
	}
	if resp := e.decide(released.ID, domain.DecisionConfirm, "changed my mind"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("confirming a released record: %d; want 400", resp.StatusCode)
	}
	if now, err := e.st.Get(ctx, released.ID); err != nil || len(now.History) != len(got.History) {
		t.Errorf("history changed after the repeated decisions: %v", err)
	}

	confirmed := e.wait(e.upload("review/bad.com", clamdtest.EICARBytes()).ID)
	if resp := e.decide(confirmed.ID, domain.DecisionConfirm, "real"); resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d", resp.StatusCode)
	}
	got = e.decided(confirmed.ID)
	if got.State != domain.StatusConfirmed || got.Quarantine == nil {
		t.Fatalf("after confirm: %s, quarantine %+v", got.State, got.Quarantine)
	}
	items, _, _ := e.st.OpenReviews(ctx, store.Page{})
	if len(items) != 0 {
		t.Errorf("open reviews after deciding both: %d", len(items))
	}

	// Allowlisting needs a reason, then trusts those bytes from now on.
	listed := e.wait(e.upload("review/allow-me.com", clamdtest.EICARBytes()).ID)
	if resp := e.decide(listed.ID, domain.DecisionAllowlist, ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("allowlist without a comment: %d; want 400", resp.StatusCode)
	}
	if resp := e.decide(listed.ID, domain.DecisionAllowlist, "vendor test fixture"); resp.StatusCode != http.StatusOK {
		t.Fatalf("allowlist: %d", resp.StatusCode)
	}
	got = e.decided(listed.ID)
	if got.State != domain.StatusAllowlisted {
		t.Fatalf("after allowlist: %s", got.State)
	}
	again := e.wait(e.upload("review/same-bytes-later.com", clamdtest.EICARBytes()).ID)
	if again.State != domain.StatusAllowlisted || again.Verdict.AllowlistedBy != "alice" {
		t.Errorf("same bytes after allowlisting: %s by %q; want allowlisted by alice", again.State, again.Verdict.AllowlistedBy)
	}
	if again.State == domain.StatusClean {
		t.Error("an allowlisted object must never be reported clean")
	}
}

// The content endpoint serves bytes only in a readable state.
func TestContentGate(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	good := e.wait(e.upload("gate/good.txt", []byte("fine")).ID)
	bad := e.wait(e.upload("gate/bad.com", clamdtest.EICARBytes()).ID)
	for _, tt := range []struct {
		id   string
		want int
	}{{good.ID, http.StatusOK}, {bad.ID, http.StatusForbidden}} {
		resp, err := e.client.Get(e.srv.URL + "/v1/records/" + tt.id + "/content")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("content of %s: %d; want %d", tt.id, resp.StatusCode, tt.want)
		}
	}
}

func TestVerdictCache(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		noCache bool
		streams int64
	}{{"on by default", false, 1}, {"switched off", true, 2}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, setupOpts{noCache: tt.noCache})
			first := e.wait(e.upload("cache/a.txt", []byte("identical bytes")).ID)
			second := e.wait(e.upload("cache/b.txt", []byte("identical bytes")).ID)
			e.assertClean(first)
			if second.State != domain.StatusClean {
				t.Fatalf("second copy: %s", second.State)
			}
			if second.Verdict.Reused == tt.noCache {
				t.Errorf("second verdict reused=%v; want %v", second.Verdict.Reused, !tt.noCache)
			}
			if n := e.scanner.calls.Load(); n != tt.streams {
				t.Errorf("clamd saw %d streams; want %d", n, tt.streams)
			}
		})
	}
}

// With signatures older than the allowed age and no development waiver,
// nothing is scanned and nothing becomes clean.
func TestStaleSignaturesNeverClean(t *testing.T) {
	t.Parallel()
	old := t.TempDir()
	src := clamdtest.SignaturesDir(t)
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-72 * time.Hour)
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(src, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(old, ent.Name())
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	e := setup(t, setupOpts{sigDir: old, strict: true})
	for _, body := range [][]byte{[]byte("harmless"), clamdtest.EICARBytes()} {
		rec := e.wait(e.upload(fmt.Sprintf("stale/%d", len(body)), body).ID)
		if rec.State != domain.StatusFailed || rec.Reason != domain.ReasonStaleSignatures {
			t.Errorf("with stale signatures: %s (%q); want failed, %s", rec.State, rec.Reason, domain.ReasonStaleSignatures)
		}
	}
	if n := e.scanner.calls.Load(); n != 0 {
		t.Errorf("clamd saw %d streams with stale signatures; want 0", n)
	}
}

// A crash can leave a record pending (the event was recorded, no execution
// started), scanning under a dead scanner's lease, or infected with its
// quarantine unfinished. The sweep finds each and finishes the job.
func TestSweepRecoversStrandedRecords(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{sweepEvery: 50 * time.Millisecond})
	ctx := context.Background()
	put := func(key string, body []byte) domain.ObjectRef {
		ref, err := e.objs.Put(ctx, bucket, key, bytes.NewReader(body), objects.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	// Records are written whole, in the state a crash left them in, so the
	// test does not race the sweep it is testing.
	strand := func(ref domain.ObjectRef, state domain.Status, lease *domain.Lease, v *domain.Verdict) {
		now := time.Now().UTC()
		rec := &domain.Record{
			ID: ref.ID(), Object: ref, State: state, Version: 1, Lease: lease, Verdict: v,
			CreatedAt: now, UpdatedAt: now,
			History: []domain.HistoryEntry{{At: now, Event: "ingest", To: state, Detail: "stranded by a crash"}},
		}
		if state != domain.StatusPending {
			rec.Attempts = 1
		}
		if err := e.st.Driver().Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	pending := put("stranded/pending.txt", []byte("a"))
	strand(pending, domain.StatusPending, nil, nil)
	dead := put("stranded/dead-scanner.txt", []byte("b"))
	strand(dead, domain.StatusScanning, &domain.Lease{Owner: "dead-scanner", Token: "t", Expires: time.Now().Add(-time.Second)}, nil)
	halfway := put("stranded/infected.com", clamdtest.EICARBytes())
	strand(halfway, domain.StatusInfected, nil, &domain.Verdict{Outcome: domain.OutcomeInfected, Signatures: []string{clamdtest.EICARSignature}})
	e.assertClean(e.wait(pending.ID()))
	rec := e.wait(dead.ID())
	e.assertClean(rec)
	if n := countEvents(rec); n["reclaim"] != 1 {
		t.Errorf("dead scanner's record: events %v; want one reclaim", n)
	}
	e.assertQuarantined(e.wait(halfway.ID()))
}

// An EventBridge rule may target the state machine directly: the scan
// workflow then starts from the event itself.
func TestEventBridgeEventStartsTheWorkflow(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ctx := context.Background()
	ref, err := e.objs.Put(ctx, bucket, "eb/direct.com", bytes.NewReader(clamdtest.EICARBytes()), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := e.flows.StartEvent(ctx, "eventbridge-direct", intake.EventBridgeEvent(ref, "PutObject"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ex.Wait(ctx)
	if err != nil || res.Status != "SUCCEEDED" {
		t.Fatalf("execution %v: %+v", err, res)
	}
	rec := e.wait(ref.ID())
	e.assertQuarantined(rec)
	if rec.Object.VersionID != ref.VersionID {
		t.Errorf("record version %q; want the event's %q", rec.Object.VersionID, ref.VersionID)
	}
	// An event that creates nothing ends the execution without a record.
	deleted := []byte(`{"version":"0","id":"x","detail-type":"Object Deleted","source":"aws.s3","time":"2026-11-25T00:00:00Z","detail":{"bucket":{"name":"uploads"},"object":{"key":"k"}}}`)
	ex, err = e.flows.StartEvent(ctx, "eventbridge-deleted", deleted)
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := ex.Wait(ctx); res.Status != "SUCCEEDED" {
		t.Errorf("an Object Deleted event: %+v; want a quiet success", res)
	}
}

// A release writes the bytes back as a new version, whose S3 event comes
// like any upload's. That version keeps the admin's decision (allowlisted,
// naming the release) instead of going back to review; release metadata
// forged by an uploader on other bytes changes nothing.
func TestReleasedCopyKeepsItsDecision(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ctx := context.Background()
	rec := e.wait(e.upload("review/false-positive.com", clamdtest.EICARBytes()).ID)
	e.assertQuarantined(rec)
	if resp := e.decide(rec.ID, domain.DecisionRelease, "vendor fixture"); resp.StatusCode != http.StatusOK {
		t.Fatalf("release: %d", resp.StatusCode)
	}
	e.decided(rec.ID)
	back, err := e.objs.Head(ctx, domain.ObjectRef{Bucket: bucket, Key: "review/false-positive.com"})
	if err != nil {
		t.Fatal(err)
	}
	if back.Metadata[objects.MetaReleasedFrom] != rec.ID {
		t.Fatalf("restored version's metadata %v; want %s=%s", back.Metadata, objects.MetaReleasedFrom, rec.ID)
	}
	forged, err := e.objs.Put(ctx, bucket, "review/forged.com", bytes.NewReader(append(clamdtest.EICARBytes(), '\n')),
		objects.PutOptions{Metadata: map[string]string{objects.MetaReleasedFrom: rec.ID}})
	if err != nil {
		t.Fatal(err)
	}
	// The events S3 would send for the restored copy and the forged upload.
	res, err := e.h.Ingest(ctx, intake.S3Notification(back.Ref, forged))
	if err != nil || len(res.IDs) != 2 {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	copyRec, forgedRec := e.wait(res.IDs[0]), e.wait(res.IDs[1])
	if copyRec.State != domain.StatusAllowlisted || !copyRec.State.Readable() ||
		!strings.Contains(copyRec.Verdict.AllowlistedBy, rec.ID) {
		t.Errorf("released copy: state %s verdict %+v; want allowlisted by the release of %s", copyRec.State, copyRec.Verdict, rec.ID)
	}
	if !strings.HasPrefix(copyRec.Verdict.AllowlistedBy, "alice ") {
		t.Errorf("released copy allowlisted by %q; want the principal who released it (alice)", copyRec.Verdict.AllowlistedBy)
	}
	e.assertQuarantined(forgedRec)

	// The attack: the very bytes that were released, uploaded to another
	// key with metadata naming the release. Metadata is uploader input;
	// only scangate's own proof of the version it wrote counts.
	attack, code, msg := e.tryUpload("attacker/payload.com", clamdtest.EICARBytes(),
		http.Header{"X-Amz-Meta-Scangate-Released-From": {rec.ID}})
	if code != http.StatusCreated {
		t.Fatalf("attacker upload: %d %s", code, msg)
	}
	e.assertQuarantined(e.wait(attack.ID))
	if resp := e.content(attack.ID); resp != http.StatusForbidden {
		t.Errorf("attacker's bytes served with %d; want 403", resp)
	}
	// The same bytes at the very key that was released, as a new upload,
	// are a new version with no proof: scanned, and quarantined again.
	again, code, msg := e.tryUpload("review/false-positive.com", clamdtest.EICARBytes(),
		http.Header{"X-Amz-Meta-Scangate-Released-From": {rec.ID}})
	if code != http.StatusCreated {
		t.Fatalf("re-upload: %d %s", code, msg)
	}
	e.assertQuarantined(e.wait(again.ID))

	// The released bytes can be fetched through the record that was
	// released: the version the release wrote.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/records/"+rec.ID+"/content", nil)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, clamdtest.EICARBytes()) {
		t.Errorf("released content: %d %q; want 200 and the released bytes", resp.StatusCode, body)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		t.Errorf("Content-Disposition %q; want attachment", cd)
	}
}

// content GETs a record's bytes and returns the status.
func (e *env) content(id string) int {
	e.t.Helper()
	resp, err := e.client.Get(e.srv.URL + "/v1/records/" + id + "/content")
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A file too large to scan is quarantined for review; once a reviewer
// releases it, the copy the release wrote keeps the decision through a
// proof made without a hash (the bytes were never read), instead of coming
// back to review for ever; the same bytes uploaded anew are still
// unscannable.
func TestReleasedTooLargeCopyKeepsItsDecision(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{maxScanBytes: 1024})
	ctx := context.Background()
	big := bytes.Repeat([]byte("large and never read "), 200)
	rec := e.wait(e.upload("big/report.bin", big).ID)
	if rec.Verdict == nil || rec.Verdict.Reason != domain.ReasonTooLarge || rec.Verdict.SHA256 != "" {
		t.Fatalf("verdict %+v; want too-large, unhashed", rec.Verdict)
	}
	e.assertQuarantined(rec)
	if resp := e.decide(rec.ID, domain.DecisionRelease, "known large export"); resp.StatusCode != http.StatusOK {
		t.Fatalf("release: %d", resp.StatusCode)
	}
	if got := e.decided(rec.ID); got.State != domain.StatusReleased {
		t.Fatalf("after release: %s", got.State)
	}
	back, err := e.objs.Head(ctx, domain.ObjectRef{Bucket: bucket, Key: "big/report.bin"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.h.Ingest(ctx, intake.S3Notification(back.Ref))
	if err != nil || len(res.IDs) != 1 {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	copyRec := e.wait(res.IDs[0])
	if copyRec.State != domain.StatusAllowlisted || !strings.Contains(copyRec.Verdict.AllowlistedBy, rec.ID) {
		t.Errorf("released copy: %s, verdict %+v; want allowlisted by the release of %s", copyRec.State, copyRec.Verdict, rec.ID)
	}
	again := e.wait(e.upload("big/report.bin", big).ID)
	e.assertQuarantined(again)
}
