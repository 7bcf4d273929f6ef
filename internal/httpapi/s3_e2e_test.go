package httpapi_test

// End-to-end tests of the local runtime protecting a real S3 bucket
// (versitygw): uploads land in the bucket, versitygw's webhook delivers its
// events to POST /v1/events, and the committed workflow scans the exact
// version, tags it or moves it to the quarantine bucket. Each test starts
// its own versitygw, clamd, store, workflows and API (setupS3).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/httpapi"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

// gate holds a goroutine until the test opens it.
type gate struct {
	entered, release   chan struct{}
	enterOnce, relOnce sync.Once
}

func newGate() *gate { return &gate{entered: make(chan struct{}), release: make(chan struct{})} }

// pass signals that the gate was reached, then waits for it to open.
func (g *gate) pass(ctx context.Context) error {
	g.enterOnce.Do(func() { close(g.entered) })
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) open() { g.relOnce.Do(func() { close(g.release) }) }

func (g *gate) waitEntered(t testing.TB, what string) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: gate not reached within 30s", what)
	}
}

// gatedScanner is the scan engine with hooks: onDescribe runs at the start
// of every Scan step (before the object is opened), onInstream before the
// stream reaches clamd and may replace the reader (it must pass on the
// same bytes).
type gatedScanner struct {
	lambdas.Scanner
	describes, instreams atomic.Int64
	onDescribe           atomic.Pointer[func(context.Context) error]
	onInstream           atomic.Pointer[func(context.Context, io.Reader) (io.Reader, error)]
}

func (g *gatedScanner) Describe(ctx context.Context) (engine.Info, error) {
	g.describes.Add(1)
	if f := g.onDescribe.Load(); f != nil {
		if err := (*f)(ctx); err != nil {
			return engine.Info{}, err
		}
	}
	return g.Scanner.Describe(ctx)
}

func (g *gatedScanner) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	g.instreams.Add(1)
	if f := g.onInstream.Load(); f != nil {
		var err error
		if r, err = (*f)(ctx, r); err != nil {
			return clamd.Result{}, err
		}
	}
	return g.Scanner.Instream(ctx, r)
}

// hookRecord is one record of a webhook delivery, as versitygw sent it.
type hookRecord struct {
	EventName string
	Bucket    string
	Key       string // as sent (S3 URL-encodes keys in notifications)
	VersionID *string
	ETag      string
	Size      int64
	Sequencer string
}

func (r hookRecord) String() string {
	v := "null"
	if r.VersionID != nil {
		v = fmt.Sprintf("%q", *r.VersionID)
	}
	return fmt.Sprintf("%s s3://%s/%s versionId=%s eTag=%s size=%d sequencer=%s", r.EventName, r.Bucket, r.Key, v, r.ETag, r.Size, r.Sequencer)
}

// delivery is one POST of versitygw's webhook and the API's answer.
type delivery struct {
	Records []hookRecord
	Status  int
	Result  lambdas.IngestResult
	// Lost is set for a delivery that was answered 200 but never reached
	// the API: an event lost on its way.
	Lost bool
}

// webhookLog passes versitygw's webhook deliveries to the API and keeps
// them, with the API's answers, for the tests to wait on and report.
type webhookLog struct {
	mu         sync.Mutex
	deliveries []delivery
	lose       map[string]bool // keys whose events are lost
}

// loseEvents makes the log lose every delivery that is only about key.
func (l *webhookLog) loseEvents(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lose == nil {
		l.lose = map[string]bool{}
	}
	l.lose[key] = true
}

// lost reports whether every record of d is about a key whose events are
// lost.
func (l *webhookLog) lost(d delivery) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range d.Records {
		k, err := url.QueryUnescape(r.Key)
		if err != nil || !l.lose[k] {
			return false
		}
	}
	return len(d.Records) > 0
}

func (l *webhookLog) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var doc struct {
		Records []struct {
			EventName string `json:"eventName"`
			S3        struct {
				Bucket struct {
					Name string `json:"name"`
				} `json:"bucket"`
				Object struct {
					Key       string  `json:"key"`
					Size      int64   `json:"size"`
					ETag      string  `json:"eTag"`
					VersionID *string `json:"versionId"`
					Sequencer string  `json:"sequencer"`
				} `json:"object"`
			} `json:"s3"`
		} `json:"Records"`
	}
	_ = json.Unmarshal(body, &doc)
	var d delivery
	for _, rec := range doc.Records {
		o := rec.S3.Object
		d.Records = append(d.Records, hookRecord{EventName: rec.EventName, Bucket: rec.S3.Bucket.Name, Key: o.Key,
			VersionID: o.VersionID, ETag: o.ETag, Size: o.Size, Sequencer: o.Sequencer})
	}
	if l.lost(d) {
		d.Lost, d.Status = true, http.StatusOK
		l.mu.Lock()
		l.deliveries = append(l.deliveries, d)
		l.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rr := httptest.NewRecorder()
	next.ServeHTTP(rr, r)
	d.Status = rr.Code
	_ = json.Unmarshal(rr.Body.Bytes(), &d.Result)
	l.mu.Lock()
	l.deliveries = append(l.deliveries, d)
	l.mu.Unlock()
	maps.Copy(w.Header(), rr.Header())
	w.WriteHeader(rr.Code)
	w.Write(rr.Body.Bytes())
}

// created returns the answered deliveries of ObjectCreated events for
// bucket/key.
func (l *webhookLog) created(bucket, key string) []delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []delivery
	for _, d := range l.deliveries {
		for _, r := range d.Records {
			k, err := url.QueryUnescape(r.Key)
			if err != nil {
				k = r.Key
			}
			if r.Bucket == bucket && k == key && strings.Contains(r.EventName, "ObjectCreated:") {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// waitCreated waits until the API has answered a delivery of an
// ObjectCreated event for bucket/key, and returns those deliveries.
func (l *webhookLog) waitCreated(t testing.TB, bucket, key string) []delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ds := l.created(bucket, key); len(ds) > 0 {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("no webhook delivery for s3://%s/%s within 20s; deliveries:\n%s", bucket, key, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *webhookLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, d := range l.deliveries {
		for _, r := range d.Records {
			fmt.Fprintf(&b, "  %s -> %d %+v lost=%t\n", r, d.Status, d.Result, d.Lost)
		}
	}
	return b.String()
}

// s3Env is scangate protecting a versioned bucket on versitygw.
type s3Env struct {
	t       testing.TB
	gw      *testsvc.S3
	owner   *s3.Client // the bucket owner's client, for the tests' own reads and writes
	objs    objects.Driver
	st      *store.Store
	h       *lambdas.Handlers
	flows   *local.Workflows
	srv     *httptest.Server
	http    *http.Client
	scanner *gatedScanner
	hook    *webhookLog
}

type s3Opts struct {
	clamd     *clamdtest.Options
	ioTimeout time.Duration
	// intents records upload intents and links them at ingest.
	intents bool
	// now is the clock of the store and the API; nil is time.Now.
	now func() time.Time
	// dynamo keeps the records in DynamoDB (dynalite) instead of the
	// embedded store.
	dynamo bool
}

// setupS3 starts the API first (versitygw posts a test event to its
// webhook at start-up and exits if nothing listens), then versitygw with
// its webhook at POST /v1/events, a versioned protected bucket and a
// quarantine bucket, clamd, the embedded store and the workflows, wired as
// `scangate run --bucket s3://...` wires them.
func setupS3(t testing.TB, o s3Opts) *s3Env {
	t.Helper()
	ctx := context.Background()
	e := &s3Env{t: t, hook: &webhookLog{}}

	// Until the API is wired the server answers 200: that is versitygw's
	// start-up test event.
	var target atomic.Pointer[http.Handler]
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := target.Load()
		if h == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == "/v1/events" {
			e.hook.serve(w, r, *h)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	e.http = &http.Client{Transport: bearer{base: tr, token: testAdminToken}}

	// The credentials urlopen.OpenBucket falls back to for a loopback
	// endpoint when none are configured.
	e.gw = testsvc.VersityGW(t, &testsvc.VersityGWOptions{
		// The webhook authenticates as S3-compatible servers can: with
		// the token as the URL's password, sent as Basic credentials.
		EventWebhookURL: strings.Replace(e.srv.URL, "://", "://webhook:"+testAdminToken+"@", 1) + "/v1/events",
		AccessKey:       "local", Secret: "local",
	})
	e.owner = e.gw.Client(t)
	e.gw.CreateBucket(t, e.owner, bucket, true)
	e.gw.CreateBucket(t, e.owner, qBucket, false)

	d, name, err := urlopen.OpenBucket(ctx, e.gw.URL(bucket))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.(io.Closer).Close() })
	s3c, ok := d.(interface{ S3Client() *s3.Client })
	if !ok {
		t.Fatalf("urlopen.OpenBucket's S3 driver %T has no S3Client", d)
	}
	e.objs = d

	ioTimeout := o.ioTimeout
	if ioTimeout == 0 {
		ioTimeout = 10 * time.Second
	}
	client, err := clamd.New(clamdtest.Start(t, o.clamd).Addr(), clamd.Options{IOTimeout: ioTimeout})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(client, engine.Options{DatabaseDir: clamdtest.SignaturesDir(t), DevMode: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var drv store.Driver
	if o.dynamo {
		u := "dynamodb://scangate?create=true&region=us-east-1&endpoint=" + url.QueryEscape(testsvc.Dynalite(t))
		drv, err = urlopen.Store(ctx, u)
	} else {
		drv, err = embedded.Open(filepath.Join(dir, "scangate.db"), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	e.st = store.New(drv, &store.Options{Now: o.now})
	t.Cleanup(func() { e.st.Close() })
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.scanner = &gatedScanner{Scanner: eng}
	e.flows, e.h, err = local.New(e.st, lambdas.Config{
		Store: e.st, Objects: d, Scanner: e.scanner, Logger: log,
		QuarantineBucket: qBucket, LeaseTTL: time.Minute, Owner: "test", Intents: o.intents,
	}, local.WorkflowOptions{
		Workers: 4, TimeScale: 0.01, SweepEvery: time.Hour, Drain: 5 * time.Second,
		HistoryDir: filepath.Join(dir, "history"), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.NewAPI(e.h, e.st, d, httpapi.APIOptions{
		Bucket: name, Logger: log, History: e.flows, Presigner: httpapi.S3Presigner{Client: s3c.S3Client()},
		RecordIntents: o.intents, Now: o.now, AdminToken: testAdminToken,
	})
	if err != nil {
		t.Fatal(err)
	}
	var ah http.Handler = api
	target.Store(&ah)

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.flows.Run(runCtx); err != nil {
			t.Errorf("workflows: %v", err)
		}
	}()
	t.Cleanup(func() {
		// Late events (versitygw's deletes and taggings) find a quiet 200.
		target.Store(nil)
		cancel()
		<-done
	})
	return e
}

// presign asks POST /v1/uploads for an upload URL.
func (e *s3Env) presign(req map[string]any) (httpapi.PresignedUpload, int, string) {
	e.t.Helper()
	body, _ := json.Marshal(req)
	resp, err := e.http.Post(e.srv.URL+"/v1/uploads", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var u httpapi.PresignedUpload
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(raw, &u); err != nil {
			e.t.Fatalf("upload URL answer %s: %v", raw, err)
		}
	}
	return u, resp.StatusCode, string(raw)
}

type putResult struct {
	Status    int
	VersionID string
	ETag      string
	Body      string
}

// putPresigned uploads body as a browser would: a plain PUT to the URL with
// the signed headers (Host and Content-Length are the client's to set) and
// any extra ones.
func (e *s3Env) putPresigned(u httpapi.PresignedUpload, body io.Reader, size int64, extra http.Header) putResult {
	e.t.Helper()
	if u.Method != http.MethodPut {
		e.t.Fatalf("upload URL method %q; want PUT", u.Method)
	}
	req, err := http.NewRequest(http.MethodPut, u.URL, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.ContentLength = size
	for k, vs := range u.Headers {
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length":
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	for k, vs := range extra {
		req.Header[k] = vs
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("PUT to the presigned URL: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return putResult{Status: resp.StatusCode, VersionID: resp.Header.Get("X-Amz-Version-Id"), ETag: resp.Header.Get("ETag"), Body: string(raw)}
}

// uploadPresigned issues a URL for key and uploads body through it.
func (e *s3Env) uploadPresigned(key string, body []byte, req map[string]any) putResult {
	e.t.Helper()
	if req == nil {
		req = map[string]any{}
	}
	req["key"] = key
	req["maxBytes"] = len(body)
	u, code, msg := e.presign(req)
	if code != http.StatusCreated {
		e.t.Fatalf("POST /v1/uploads for %q: %d %s", key, code, msg)
	}
	res := e.putPresigned(u, bytes.NewReader(body), int64(len(body)), nil)
	if res.Status != http.StatusOK || res.VersionID == "" {
		e.t.Fatalf("presigned PUT of %q: %d, version %q: %s", key, res.Status, res.VersionID, res.Body)
	}
	return res
}

// putOwner stores body under key with the owner's credentials.
func (e *s3Env) putOwner(key string, body []byte, tagging string) putResult {
	e.t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}
	if tagging != "" {
		in.Tagging = aws.String(tagging)
	}
	out, err := e.owner.PutObject(context.Background(), in)
	if err != nil {
		e.t.Fatalf("put %q: %v", key, err)
	}
	if aws.ToString(out.VersionId) == "" {
		e.t.Fatalf("put %q: no version id from a versioned bucket", key)
	}
	return putResult{Status: http.StatusOK, VersionID: aws.ToString(out.VersionId), ETag: aws.ToString(out.ETag)}
}

func recordID(key, versionID string) string {
	return domain.ObjectRef{Bucket: bucket, Key: key, VersionID: versionID}.ID()
}

// recorded waits until the record of key's version exists: the webhook
// delivered the event and the ingest resolved the version.
func (e *s3Env) recorded(key, versionID string) *domain.Record {
	e.t.Helper()
	id := recordID(key, versionID)
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec, err := e.st.Get(context.Background(), id)
		if err == nil {
			return rec
		}
		if errcode.Of(err) != errcode.NotFound {
			e.t.Fatal(err)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no record for %s version %s 20s after the upload; webhook deliveries:\n%s", key, versionID, e.hook)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits until the record is settled.
func (e *s3Env) settle(id string, timeout time.Duration) *domain.Record {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rec, err := e.st.Get(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if settled(rec, e.h.UnscannablePolicy()) {
			return rec
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("record %s (%s) still %s after %s; history %+v", id, rec.Object.Key, rec.State, timeout, rec.History)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tagsOf reads the tags of exactly one version through the S3 API.
func (e *s3Env) tagsOf(bkt, key, versionID string) map[string]string {
	e.t.Helper()
	in := &s3.GetObjectTaggingInput{Bucket: aws.String(bkt), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := e.owner.GetObjectTagging(context.Background(), in)
	if err != nil {
		e.t.Fatalf("tags of s3://%s/%s?versionId=%s: %v", bkt, key, versionID, err)
	}
	tags := map[string]string{}
	for _, tg := range out.TagSet {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return tags
}

// httpStatus is the HTTP status of an S3 API error, or 0.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// assertCleanS3 checks a clean record and waits for the scanner's tags on
// exactly its version; it returns those tags.
func (e *s3Env) assertCleanS3(rec *domain.Record, body []byte) map[string]string {
	e.t.Helper()
	if rec.State != domain.StatusClean {
		e.t.Fatalf("%s: state %s (reason %q, verdict %+v); want clean; history %+v", rec.Object.Key, rec.State, rec.Reason, rec.Verdict, rec.History)
	}
	v := rec.Verdict
	if v == nil || v.Outcome != domain.OutcomeClean || v.BytesScanned != rec.Object.Size || v.SHA256 == "" {
		e.t.Fatalf("%s: clean without a complete scan: %+v (size %d)", rec.Object.Key, v, rec.Object.Size)
	}
	if body != nil {
		if sum := sha256.Sum256(body); v.SHA256 != hex.EncodeToString(sum[:]) {
			e.t.Errorf("%s: verdict sha256 %s; the uploaded bytes hash to %x", rec.Object.Key, v.SHA256, sum)
		}
	}
	// The record is written first; the tags follow.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tags := e.tagsOf(bucket, rec.Object.Key, rec.Object.VersionID)
		if tags[objects.TagStatus] == "clean" {
			if want := v.ScannedAt.UTC().Format(time.RFC3339); tags[objects.TagScannedAt] != want {
				e.t.Errorf("%s: %s=%q; want this verdict's %q", rec.Object.Key, objects.TagScannedAt, tags[objects.TagScannedAt], want)
			}
			if tags[objects.TagEngine] == "" {
				e.t.Errorf("%s: tags %v carry no %s", rec.Object.Key, tags, objects.TagEngine)
			}
			return tags
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s version %s: tags %v; want %s=clean", rec.Object.Key, rec.Object.VersionID, tags, objects.TagStatus)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertQuarantinedS3 checks that the record's version left the protected
// bucket for the quarantine bucket, with the metadata naming where it came
// from, and that a review is open. It returns the quarantined copy's tags.
func (e *s3Env) assertQuarantinedS3(rec *domain.Record) map[string]string {
	e.t.Helper()
	ctx := context.Background()
	o := rec.Object
	if rec.State != domain.StatusReviewing {
		e.t.Fatalf("%s: state %s (reason %q, verdict %+v); want reviewing; history %+v", o.Key, rec.State, rec.Reason, rec.Verdict, rec.History)
	}
	if rec.Quarantine == nil || rec.Quarantine.Bucket != qBucket {
		e.t.Fatalf("%s: not in the quarantine bucket: %+v", o.Key, rec.Quarantine)
	}
	_, err := e.owner.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.Key), VersionId: aws.String(o.VersionID)})
	if code := httpStatus(err); code != http.StatusNotFound {
		e.t.Errorf("%s version %s: still in the protected bucket (HEAD: status %d, %v)", o.Key, o.VersionID, code, err)
	}
	q := rec.Quarantine
	in := &s3.HeadObjectInput{Bucket: aws.String(q.Bucket), Key: aws.String(q.Key)}
	if q.VersionID != "" {
		in.VersionId = aws.String(q.VersionID)
	}
	head, err := e.owner.HeadObject(ctx, in)
	if err != nil {
		e.t.Fatalf("%s: quarantined copy s3://%s/%s: %v", o.Key, q.Bucket, q.Key, err)
	}
	want := map[string]string{
		objects.MetaOriginalBucket:  bucket,
		objects.MetaOriginalKey:     url.PathEscape(o.Key),
		objects.MetaOriginalVersion: o.VersionID,
		objects.MetaOriginalETag:    strings.Trim(o.ETag, `"`),
	}
	for k, v := range want {
		if got := head.Metadata[k]; got != v {
			e.t.Errorf("%s: quarantined copy's metadata %s=%q; want %q (all: %v)", o.Key, k, got, v, head.Metadata)
		}
	}
	if aws.ToInt64(head.ContentLength) != o.Size {
		e.t.Errorf("%s: quarantined copy has %d bytes; want %d", o.Key, aws.ToInt64(head.ContentLength), o.Size)
	}
	item, err := e.st.Review(ctx, rec.ID)
	if err != nil || !item.Open() {
		e.t.Errorf("%s: review item %+v, %v; want open", o.Key, item, err)
	}
	tags := e.tagsOf(q.Bucket, q.Key, q.VersionID)
	if tags[objects.TagStatus] != "quarantined" {
		e.t.Errorf("%s: quarantined copy's tags %v; want %s=quarantined", o.Key, tags, objects.TagStatus)
	}
	return tags
}

// The full pipeline through S3 presigned PUTs: the URL from POST
// /v1/uploads, a plain HTTP PUT, versitygw's webhook event into POST
// /v1/events, the workflow, and the verdict on that exact version.
func TestS3PresignedUploadPipeline(t *testing.T) {
	t.Parallel()
	e := setupS3(t, s3Opts{})
	ctx := context.Background()

	clean := []byte("quarterly numbers, uploaded straight to S3\n")
	cleanSum := sha256.Sum256(clean)
	// The clean upload also names its SHA-256: the signed checksum header
	// makes S3 check the body.
	cleanPut := e.uploadPresigned("reports/q3.txt", clean, map[string]any{"sha256": hex.EncodeToString(cleanSum[:])})
	eicar := clamdtest.EICARBytes()
	eicarPut := e.uploadPresigned("downloads/eicar.com", eicar, nil)

	cleanRec := e.settle(e.recorded("reports/q3.txt", cleanPut.VersionID).ID, 60*time.Second)
	tags := e.assertCleanS3(cleanRec, clean)
	if cleanRec.Object.VersionID != cleanPut.VersionID || strings.Trim(cleanRec.Object.ETag, `"`) != strings.Trim(cleanPut.ETag, `"`) {
		t.Errorf("record names version %q etag %q; the upload made %q %q", cleanRec.Object.VersionID, cleanRec.Object.ETag, cleanPut.VersionID, cleanPut.ETag)
	}
	t.Logf("clean version %s tags: %v", cleanPut.VersionID, tags)

	// The clean bytes are served through the API's content gate, from S3.
	resp, err := e.http.Get(e.srv.URL + "/v1/records/" + cleanRec.ID + "/content")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, clean) {
		t.Errorf("content of the clean record: %d %q", resp.StatusCode, got)
	}

	bad := e.settle(e.recorded("downloads/eicar.com", eicarPut.VersionID).ID, 60*time.Second)
	e.assertQuarantinedS3(bad)
	if len(bad.Verdict.Signatures) == 0 || bad.Verdict.Signatures[0] != clamdtest.EICARSignature {
		t.Errorf("signatures %v; want %s", bad.Verdict.Signatures, clamdtest.EICARSignature)
	}
	resp, err = e.http.Get(e.srv.URL + "/v1/records/" + bad.ID + "/content")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("content of the quarantined record: %d; want 403", resp.StatusCode)
	}
	// Nothing is left at the key: the only version was moved.
	if _, err := e.owner.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("downloads/eicar.com")}); httpStatus(err) != http.StatusNotFound {
		t.Errorf("downloads/eicar.com still has a current version: %v", err)
	}

	// What versitygw sent, as the ingest saw it.
	for _, key := range []string{"reports/q3.txt", "downloads/eicar.com"} {
		ds := e.hook.waitCreated(t, bucket, key)
		if len(ds) != 1 {
			t.Errorf("%s: %d ObjectCreated deliveries; want 1:\n%s", key, len(ds), e.hook)
			continue
		}
		d := ds[0]
		t.Logf("versitygw event: %s -> %d created=%d", d.Records[0], d.Status, d.Result.Created)
		if d.Status != http.StatusOK || d.Result.Created != 1 {
			t.Errorf("%s: the webhook delivery was answered %d %+v", key, d.Status, d.Result)
		}
	}
	// The quarantine copy's own event is scangate's write: ignored.
	if ds := e.hook.created(qBucket, bad.Quarantine.Key); len(ds) > 0 && ds[0].Result.Created != 0 {
		t.Errorf("the quarantine copy's event created a record: %+v", ds[0].Result)
	}
	// Only the two uploads were ever recorded.
	var n int
	for _, s := range []domain.Status{domain.StatusClean, domain.StatusReviewing, domain.StatusPending, domain.StatusScanning, domain.StatusFailed, domain.StatusGone} {
		recs, _, err := e.st.ListByState(ctx, s, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
	}
	if n != 2 {
		t.Errorf("%d records; want 2 (one per upload)", n)
	}
}

// An upload made with the owner's credentials and the owner's tags keeps
// them: the scanner merges its tags in.
func TestS3OwnerTagsSurvive(t *testing.T) {
	t.Parallel()
	e := setupS3(t, s3Opts{})
	body := []byte("alice's project plan\n")
	put := e.putOwner("projects/x/plan.txt", body, "owner=alice&project=x")
	rec := e.settle(e.recorded("projects/x/plan.txt", put.VersionID).ID, 60*time.Second)
	tags := e.assertCleanS3(rec, body)
	if tags["owner"] != "alice" || tags["project"] != "x" {
		t.Errorf("tags %v; want the owner's owner=alice and project=x kept", tags)
	}
	for k := range tags {
		if k != "owner" && k != "project" && !strings.HasPrefix(k, "scangate-") {
			t.Errorf("unexpected tag %s=%q", k, tags[k])
		}
	}
}

// Uploads may not set tags: the issuer refuses a URL that asks for one,
// and a PUT that adds x-amz-tagging to a presigned URL is refused by the
// store (as S3 refuses unsigned x-amz-* headers) or, if accepted, earns no
// trust: the body is scanned like any other. A verdict tag set at upload
// by whoever may (here the owner) is never trusted either: EICAR tagged
// clean by its uploader ends quarantined.
func TestS3PresignedUploadCannotTagItselfClean(t *testing.T) {
	t.Parallel()
	e := setupS3(t, s3Opts{})
	ctx := context.Background()
	forgedTag := objects.TagStatus + "=clean"
	if _, code, msg := e.presign(map[string]any{"key": "forged/eicar.com", "tagging": forgedTag}); code != http.StatusForbidden {
		t.Errorf("an upload URL asking for tags: %d %s; want 403", code, msg)
	}

	const key = "forged/eicar.com"
	body := clamdtest.EICARBytes()
	u, code, msg := e.presign(map[string]any{"key": key, "maxBytes": len(body)})
	if code != http.StatusCreated {
		t.Fatalf("POST /v1/uploads: %d %s", code, msg)
	}
	for h := range u.Headers {
		if strings.EqualFold(h, "X-Amz-Tagging") {
			t.Errorf("the presigned upload signs a tagging header: %v", u.Headers)
		}
	}
	if q, err := url.Parse(u.URL); err == nil && (q.Query().Has("x-amz-tagging") || q.Query().Has("tagging")) {
		t.Errorf("the presigned URL carries tagging: %s", u.URL)
	}
	res := e.putPresigned(u, bytes.NewReader(body), int64(len(body)), http.Header{"X-Amz-Tagging": {forgedTag}})
	if res.Status == http.StatusOK {
		t.Logf("versitygw ACCEPTED a presigned PUT with an unsigned x-amz-tagging header (version %s); tags %v",
			res.VersionID, e.tagsOf(bucket, key, res.VersionID))
	} else {
		t.Logf("versitygw refused the presigned PUT with an unsigned x-amz-tagging: %d %s", res.Status, strings.TrimSpace(res.Body))
		if res.Status != http.StatusForbidden {
			t.Errorf("refusal status %d; want 403", res.Status)
		}
		_, err := e.owner.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if httpStatus(err) != http.StatusNotFound {
			t.Errorf("the refused upload left an object: %v", err)
		}
		// The same URL without the header works, and is scanned.
		res = e.putPresigned(u, bytes.NewReader(body), int64(len(body)), nil)
		if res.Status != http.StatusOK {
			t.Fatalf("the presigned PUT without the tagging header: %d %s", res.Status, res.Body)
		}
	}

	// versitygw has no bucket policy to deny tags at upload: the owner's
	// PutObject sets one.
	forged := e.putOwner("forged/by-owner.com", body, forgedTag)
	if tags := e.tagsOf(bucket, "forged/by-owner.com", forged.VersionID); tags[objects.TagStatus] != "clean" {
		t.Errorf("the owner's forged tag did not stick: %v", tags)
	}

	for _, r := range []struct{ key, version string }{{key, res.VersionID}, {"forged/by-owner.com", forged.VersionID}} {
		rec := e.settle(e.recorded(r.key, r.version).ID, 60*time.Second)
		if rec.State == domain.StatusClean {
			t.Fatalf("%s: EICAR ended clean", r.key)
		}
		e.assertQuarantinedS3(rec)
	}
}

// Version 2 of a key is uploaded while version 1 is being scanned. Each
// version gets its own record and its own verdict, in both orders, and no
// verdict's tags land on the other version.
func TestS3OverwriteWhileScanning(t *testing.T) {
	t.Parallel()
	e := setupS3(t, s3Opts{})
	const markerLen = 10
	type order struct {
		name, key        string
		v1, v2           []byte
		v1Bad            bool
		marker1, marker2 string
	}
	eicar := clamdtest.EICARBytes()
	orders := []order{
		{name: "v1 infected, v2 clean", key: "race/a.bin", marker1: "race-a v1\n", marker2: "race-a v2\n", v1Bad: true},
		{name: "v1 clean, v2 infected", key: "race/b.bin", marker1: "race-b v1\n", marker2: "race-b v2\n"},
	}
	gates := map[string]*gate{}
	for i := range orders {
		o := &orders[i]
		if len(o.marker1) != markerLen || len(o.marker2) != markerLen {
			t.Fatal("markers must be markerLen bytes")
		}
		clean := []byte("nothing to see in " + o.key + "\n")
		if o.v1Bad {
			o.v1, o.v2 = append([]byte(o.marker1), eicar...), append([]byte(o.marker2), clean...)
		} else {
			o.v1, o.v2 = append([]byte(o.marker1), clean...), append([]byte(o.marker2), eicar...)
		}
		gates[o.marker1] = newGate()
		t.Cleanup(gates[o.marker1].open)
	}
	// Version 1's stream waits at the gate once it reaches clamd's client:
	// it was recorded, claimed and opened at its exact version.
	hold := func(ctx context.Context, r io.Reader) (io.Reader, error) {
		br := bufio.NewReader(r)
		head, _ := br.Peek(markerLen)
		if g := gates[string(head)]; g != nil {
			if err := g.pass(ctx); err != nil {
				return nil, err
			}
		}
		return br, nil
	}
	e.scanner.onInstream.Store(&hold)

	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			g := gates[o.marker1]
			p1 := e.putOwner(o.key, o.v1, "")
			g.waitEntered(t, "version 1's scan")
			id1 := recordID(o.key, p1.VersionID)
			if rec, err := e.st.Get(ctx, id1); err != nil || rec.State != domain.StatusScanning {
				t.Fatalf("version 1 at the gate: %+v, %v; want scanning", rec, err)
			}
			p2 := e.putOwner(o.key, o.v2, "")
			if p2.VersionID == p1.VersionID {
				t.Fatalf("both uploads are version %s", p1.VersionID)
			}
			r2 := e.recorded(o.key, p2.VersionID)
			g.open()

			rec1 := e.settle(id1, 60*time.Second)
			rec2 := e.settle(r2.ID, 60*time.Second)
			if rec1.ID == rec2.ID || rec1.Object.VersionID == rec2.Object.VersionID {
				t.Fatalf("one record for two versions: %s/%s and %s/%s", rec1.ID, rec1.Object.VersionID, rec2.ID, rec2.Object.VersionID)
			}
			if rec1.Object.VersionID != p1.VersionID || rec2.Object.VersionID != p2.VersionID {
				t.Errorf("records name versions %s and %s; uploads made %s and %s", rec1.Object.VersionID, rec2.Object.VersionID, p1.VersionID, p2.VersionID)
			}
			badRec, goodRec, goodBody := rec1, rec2, o.v2
			if !o.v1Bad {
				badRec, goodRec, goodBody = rec2, rec1, o.v1
			}
			qTags := e.assertQuarantinedS3(badRec)
			cleanTags := e.assertCleanS3(goodRec, goodBody)
			// The quarantined version was never tagged with a verdict:
			// its copy carries only the quarantine status.
			if len(qTags) != 1 {
				t.Errorf("the infected version's copy has tags %v; want only %s=quarantined", qTags, objects.TagStatus)
			}
			// The version left in the bucket carries its own verdict only.
			if want := goodRec.Verdict.ScannedAt.UTC().Format(time.RFC3339); cleanTags[objects.TagScannedAt] != want {
				t.Errorf("clean version's %s=%q; want its own verdict's %q", objects.TagScannedAt, cleanTags[objects.TagScannedAt], want)
			}
			if goodRec.Verdict.SHA256 == badRec.Verdict.SHA256 {
				t.Errorf("both verdicts hash the same bytes %s", goodRec.Verdict.SHA256)
			}
			// Listing the key's versions: exactly the clean one is left, with
			// its tags.
			out, err := e.owner.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(o.key)})
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, v := range out.Versions {
				left = append(left, aws.ToString(v.VersionId))
			}
			if len(left) != 1 || left[0] != goodRec.Object.VersionID {
				t.Errorf("versions left at %s: %v; want only the clean %s", o.key, left, goodRec.Object.VersionID)
			}
		})
	}
}

// The exact version is deleted after its event was recorded and before
// the Scan step opens it: the record ends gone (object-gone), after one
// Scan attempt, without retries.
func TestS3DeletedBeforeScan(t *testing.T) {
	t.Parallel()
	e := setupS3(t, s3Opts{})
	ctx := context.Background()
	g := newGate()
	t.Cleanup(g.open)
	hold := func(ctx context.Context) error { return g.pass(ctx) }
	e.scanner.onDescribe.Store(&hold)

	const key = "vanishing/report.txt"
	put := e.putOwner(key, []byte("here one moment\n"), "")
	id := recordID(key, put.VersionID)

	// A handcrafted event, shaped as S3's own (a version id, an unquoted
	// ETag, a hex sequencer), delivered to the webhook endpoint as well:
	// it names the same version as versitygw's event, so one record.
	doc := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
		"eventTime":"2026-11-25T12:00:00.000Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"AWS:AIDAEXAMPLE"},
		"s3":{"s3SchemaVersion":"1.0","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},
		"object":{"key":%q,"size":16,"eTag":%q,"versionId":%q,"sequencer":"0066C0FFEE00000001"}}}]}`,
		bucket, bucket, url.QueryEscape(key), strings.Trim(put.ETag, `"`), put.VersionID)
	resp, err := e.http.Post(e.srv.URL+"/v1/events", "application/json", strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var res lambdas.IngestResult
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(res.IDs) != 1 || res.IDs[0] != id {
		t.Fatalf("POST /v1/events: %d %+v; want the record %s", resp.StatusCode, res, id)
	}
	// versitygw's own event (versionId null, resolved by its ETag) must be
	// in before the version disappears, or it would name nothing. The
	// handcrafted event above passed through the same log, so wait for
	// the delivery without a version id: versitygw's, which comes when it
	// comes.
	deadline := time.Now().Add(20 * time.Second)
	var own *delivery
	for own == nil {
		for _, d := range e.hook.created(bucket, key) {
			if len(d.Records) > 0 && d.Records[0].VersionID == nil {
				own = &d
				break
			}
		}
		if own == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no delivery of versitygw's own event within 20s; deliveries:\n%s", e.hook)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if len(own.Result.IDs) != 1 || own.Result.IDs[0] != id {
		t.Errorf("versitygw's event was ingested as %+v; want the record %s", own.Result, id)
	}

	g.waitEntered(t, "the Scan step")
	if _, err := e.owner.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(put.VersionID)}); err != nil {
		t.Fatal(err)
	}
	g.open()

	rec := e.settle(id, 30*time.Second)
	if rec.State != domain.StatusGone || rec.Reason != domain.ReasonObjectGone {
		t.Fatalf("state %s reason %q; want gone, %s; history %+v", rec.State, rec.Reason, domain.ReasonObjectGone, rec.History)
	}
	if n := countEvents(rec); n["ingest"] != 1 || n["claim"] != 1 || n["vanish"] != 1 || len(rec.History) != 3 {
		t.Errorf("history events %v; want ingest, claim, vanish", n)
	}
	if d, s := e.scanner.describes.Load(), e.scanner.instreams.Load(); d != 1 || s != 0 {
		t.Errorf("Scan ran %d times and streamed %d times; want once, never", d, s)
	}
	execs, err := e.flows.History(id)
	if err != nil {
		t.Fatal(err)
	}
	scans, retries := 0, 0
	for _, ex := range execs {
		for _, ev := range ex.Events {
			if ev.State == "Scan" && ev.Type == "TaskScheduled" {
				scans++
			}
			if ev.Type == "TaskRetry" {
				retries++
			}
		}
	}
	if len(execs) != 1 || scans != 1 || retries != 0 {
		t.Errorf("%d executions, %d Scan attempts, %d retries; want 1, 1, 0", len(execs), scans, retries)
	}
}

// genReader yields size bytes, generated as they are read: a 1 MiB random
// block repeated, each repeat stamped with its index so that no two
// megabytes are alike. It hashes what it yields.
type genReader struct {
	block     []byte
	size, off int64
	h         hash.Hash
}

func newGenReader(size int64) *genReader {
	b := make([]byte, 1<<20)
	rand.Read(b)
	return &genReader{block: b, size: size, h: sha256.New()}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.off < g.size {
		in := g.off % int64(len(g.block))
		if in == 0 {
			binary.BigEndian.PutUint64(g.block, uint64(g.off))
		}
		c := copy(p[n:], g.block[in:min(int64(len(g.block)), in+g.size-g.off)])
		n += c
		g.off += int64(c)
	}
	g.h.Write(p[:n])
	return n, nil
}

// heapSampler records the peak of the process's heap above a baseline.
type heapSampler struct {
	base                 runtime.MemStats
	peakInuse, peakAlloc uint64
	samples              int
	stop, done           chan struct{}
}

func sampleHeap(every time.Duration) *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.GC()
	runtime.ReadMemStats(&s.base)
	s.peakInuse, s.peakAlloc = s.base.HeapInuse, s.base.HeapAlloc
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&m)
			s.samples++
			s.peakInuse = max(s.peakInuse, m.HeapInuse)
			s.peakAlloc = max(s.peakAlloc, m.HeapAlloc)
		}
	}()
	return s
}

// Stop ends the sampling and returns the peak growth of HeapInuse and
// HeapAlloc over the baseline.
func (s *heapSampler) Stop() (inuse, alloc int64) {
	close(s.stop)
	<-s.done
	return int64(s.peakInuse - s.base.HeapInuse), int64(s.peakAlloc - s.base.HeapAlloc)
}

// A 256 MiB object goes through the whole pipeline (presigned PUT,
// webhook, scan, tags) with scangate's heap growing by a small fraction of
// its size: the object is streamed, never held. Not parallel: the heap is
// the whole process's, and other tests would add to it.
func TestS3BigObjectStreams(t *testing.T) {
	const (
		size      = 256 << 20
		limit     = 320 << 20
		maxGrowth = 64 << 20
	)
	e := setupS3(t, s3Opts{
		clamd:     &clamdtest.Options{StreamMaxLength: limit, MaxScanSize: limit, MaxFileSize: limit},
		ioTimeout: 60 * time.Second,
	})
	const key = "big/256MiB.bin"
	u, code, msg := e.presign(map[string]any{"key": key, "maxBytes": size})
	if code != http.StatusCreated {
		t.Fatalf("POST /v1/uploads: %d %s", code, msg)
	}
	gen := newGenReader(size)

	heap := sampleHeap(20 * time.Millisecond)
	start := time.Now()
	res := e.putPresigned(u, gen, size, nil)
	uploaded := time.Since(start)
	if res.Status != http.StatusOK {
		heap.Stop()
		t.Fatalf("presigned PUT of %d bytes: %d %s", size, res.Status, res.Body)
	}
	rec := e.settle(e.recorded(key, res.VersionID).ID, 120*time.Second)
	total := time.Since(start)
	inuse, alloc := heap.Stop()

	e.assertCleanS3(rec, nil)
	if rec.Object.Size != size || rec.Verdict.BytesScanned != size {
		t.Errorf("record size %d, scanned %d; want %d", rec.Object.Size, rec.Verdict.BytesScanned, size)
	}
	if want := hex.EncodeToString(gen.h.Sum(nil)); rec.Verdict.SHA256 != want {
		t.Errorf("verdict sha256 %s; the uploaded bytes hash to %s", rec.Verdict.SHA256, want)
	}
	t.Logf("256 MiB: upload %s, upload to verdict %s, scan %s (%.0f MB/s)", uploaded.Round(time.Millisecond),
		total.Round(time.Millisecond), rec.Verdict.Duration.Round(time.Millisecond), float64(size)/1e6/rec.Verdict.Duration.Seconds())
	t.Logf("heap: baseline HeapInuse %.1f MiB, HeapAlloc %.1f MiB; peak growth HeapInuse %.1f MiB, HeapAlloc %.1f MiB (%d samples)",
		float64(heap.base.HeapInuse)/(1<<20), float64(heap.base.HeapAlloc)/(1<<20), float64(inuse)/(1<<20), float64(alloc)/(1<<20), heap.samples)
	if inuse > maxGrowth || alloc > maxGrowth {
		t.Errorf("heap grew by %d (in use) / %d (allocated) bytes for a %d-byte object; want under %d", inuse, alloc, size, maxGrowth)
	}
}

// postForm uploads body through an S3 POST policy, as a browser form does.
func (e *s3Env) postForm(u httpapi.PresignedUpload, body []byte) (int, string, http.Header) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range u.Fields {
		mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", "upload.bin")
	if err != nil {
		e.t.Fatal(err)
	}
	fw.Write(body)
	mw.Close()
	resp, err := e.http.Post(u.URL, mw.FormDataContentType(), &buf)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), resp.Header
}

// TestS3PostPolicy: a POST policy bounds the size to a range and names no
// tagging field; an upload within the range is scanned like any other.
func TestS3PostPolicy(t *testing.T) {
	t.Parallel()
	e := setupS3(t, s3Opts{})
	u, code, msg := e.presign(map[string]any{"key": "forms/eicar.com", "maxBytes": 100, "method": "POST"})
	if code != http.StatusCreated {
		t.Fatalf("POST policy: %d %s", code, msg)
	}
	if u.Method != http.MethodPost || u.Fields["policy"] == "" {
		t.Fatalf("POST policy answer %+v", u)
	}
	if _, ok := u.Fields["tagging"]; ok {
		t.Fatal("a POST policy must not carry a tagging field")
	}
	if code, body, _ := e.postForm(u, bytes.Repeat([]byte("x"), 200)); code/100 == 2 {
		t.Errorf("a 200-byte upload under a 100-byte policy: %d %s; want a refusal", code, body)
	}
	code, body, hdr := e.postForm(u, clamdtest.EICARBytes())
	if code/100 != 2 {
		t.Fatalf("upload within the policy: %d %s", code, body)
	}
	// versitygw 1.8.0's event for a POST upload names no key (S3's does),
	// and the intake refuses it; deliver the event S3 would send.
	ref := domain.ObjectRef{Bucket: "uploads", Key: "forms/eicar.com", VersionID: hdr.Get("x-amz-version-id"),
		ETag: strings.Trim(hdr.Get("ETag"), `"`), Size: int64(len(clamdtest.EICARBytes())), Sequencer: "00000000000000000A"}
	resp, err := e.http.Post(e.srv.URL+"/v1/events", "application/json", bytes.NewReader(intake.S3Notification(ref)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rec := e.settle(e.recorded("forms/eicar.com", ref.VersionID).ID, 60*time.Second)
	e.assertQuarantinedS3(rec)
}

// TestS3UploadIntents: with intents on, a presigned PUT to versitygw whose
// webhook delivery arrives links its intent; one whose delivery is lost
// is found by the sweep once the URL expired, ingested from versitygw's
// version listing, and scanned clean.
func TestS3UploadIntents(t *testing.T) {
	clk := newFakeClock()
	e := setupS3(t, s3Opts{intents: true, now: clk.Now})
	ctx := context.Background()

	issue := func(key string, body []byte) httpapi.PresignedUpload {
		t.Helper()
		u, code, msg := e.presign(map[string]any{"key": key, "maxBytes": len(body), "expiresInSeconds": 60})
		if code != http.StatusCreated || u.IntentID == "" {
			t.Fatalf("POST /v1/uploads for %q: %d %s; want a URL and an intentId", key, code, msg)
		}
		if in, err := e.st.Intent(ctx, u.IntentID); err != nil || in.State != domain.IntentExpected ||
			in.MinBytes != int64(len(body)) || in.MaxBytes != int64(len(body)) {
			t.Fatalf("intent of %q: %+v, %v; want expected with the signed length", key, in, err)
		}
		return u
	}
	put := func(u httpapi.PresignedUpload, body []byte) putResult {
		t.Helper()
		res := e.putPresigned(u, bytes.NewReader(body), int64(len(body)), nil)
		if res.Status != http.StatusOK || res.VersionID == "" {
			t.Fatalf("presigned PUT of %q: %d, version %q: %s", u.Key, res.Status, res.VersionID, res.Body)
		}
		return res
	}

	// The event arrives: the intent is linked at ingest.
	delivered := []byte("told about in time")
	du := issue("intents/delivered.txt", delivered)
	dres := put(du, delivered)
	drec := e.recorded("intents/delivered.txt", dres.VersionID)
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, err := e.st.Intent(ctx, du.IntentID)
		if err != nil {
			t.Fatal(err)
		}
		if in.State == domain.IntentArrived && in.RecordID == drec.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("intent of the delivered upload: %+v; want arrived, linked to %s", in, drec.ID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.assertCleanS3(e.settle(drec.ID, 30*time.Second), delivered)

	// The event is lost on its way: versitygw sends it, scangate never
	// hears of it.
	const lostKey = "intents/lost.txt"
	e.hook.loseEvents(lostKey)
	lostBody := []byte("uploaded, but nobody was told")
	lu := issue(lostKey, lostBody)
	lres := put(lu, lostBody)
	for _, d := range e.hook.waitCreated(t, bucket, lostKey) {
		if !d.Lost {
			t.Fatalf("a delivery for %s reached the API: %+v", lostKey, d)
		}
	}
	id := recordID(lostKey, lres.VersionID)
	if _, err := e.st.Get(ctx, id); errcode.Of(err) != errcode.NotFound {
		t.Fatalf("record of the version whose event was lost: %v; want none yet", err)
	}

	clk.Advance(60*time.Second + lambdas.DefaultIntentGrace + time.Second)
	res, err := e.h.Sweep(ctx, lambdas.SweepRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.IntentsArrived != 1 || res.IntentsExpired != 0 || len(res.Recovered) != 1 || res.Recovered[0] != id {
		t.Errorf("sweep: %+v; want 1 arrived, recovering %s", res, id)
	}
	if in, err := e.st.Intent(ctx, lu.IntentID); err != nil || in.State != domain.IntentArrived || in.RecordID != id {
		t.Errorf("intent of the lost upload: %+v, %v; want arrived, linked to %s", in, err, id)
	}
	e.assertCleanS3(e.settle(id, 30*time.Second), lostBody)
}

// The attack of uploader-forged release metadata, over S3 (versitygw) and
// on both stores: the very bytes an admin released, uploaded by an
// uploader to another key with metadata naming the release, are scanned
// and quarantined like any upload. The copy the release itself wrote keeps
// the decision, through the proof scangate recorded for its exact version.
func TestS3ForgedReleaseMetadata(t *testing.T) {
	for _, tt := range []struct {
		name   string
		dynamo bool
	}{{"embedded", false}, {"dynamodb", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setupS3(t, s3Opts{dynamo: tt.dynamo})
			ctx := context.Background()
			put := e.putOwner("fp/vendor.com", clamdtest.EICARBytes(), "")
			rec := e.settle(e.recorded("fp/vendor.com", put.VersionID).ID, 30*time.Second)
			e.assertQuarantinedS3(rec)
			by := domain.Principal{Name: "rita", Role: domain.RoleReviewer}
			if _, err := e.h.Review(ctx, by, lambdas.ReviewRequest{Action: "decide", ID: rec.ID,
				Decision: domain.DecisionRelease, Comment: "vendor fixture"}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for rec.State != domain.StatusReleased {
				if time.Now().After(deadline) {
					t.Fatalf("record %s still %s 30s after the release", rec.ID, rec.State)
				}
				time.Sleep(20 * time.Millisecond)
				var err error
				if rec, err = e.st.Get(ctx, rec.ID); err != nil {
					t.Fatal(err)
				}
			}
			// The copy the release wrote: its event arrives by the webhook.
			head, err := e.owner.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("fp/vendor.com")})
			if err != nil {
				t.Fatal(err)
			}
			copyRec := e.settle(e.recorded("fp/vendor.com", aws.ToString(head.VersionId)).ID, 30*time.Second)
			if copyRec.State != domain.StatusAllowlisted || !strings.Contains(copyRec.Verdict.AllowlistedBy, "rita") {
				t.Errorf("released copy: %s by %q; want allowlisted, naming rita's release", copyRec.State, copyRec.Verdict.AllowlistedBy)
			}

			in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("attacker/payload.com"),
				Body: bytes.NewReader(clamdtest.EICARBytes()), Metadata: map[string]string{objects.MetaReleasedFrom: rec.ID}}
			out, err := e.owner.PutObject(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			attack := e.settle(e.recorded("attacker/payload.com", aws.ToString(out.VersionId)).ID, 30*time.Second)
			e.assertQuarantinedS3(attack)
		})
	}
}
