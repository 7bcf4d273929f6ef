package lambdas_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/scangate/scangate/asl"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
)

// fakeScanner answers every stream with a fixed result after reading it
// all. It tests the handlers' logic; the pipeline tests use real clamd.
type fakeScanner struct {
	res clamd.Result
	err error
}

func (f *fakeScanner) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return clamd.Result{}, err
	}
	res := f.res
	res.Bytes = n
	return res, f.err
}

func (f *fakeScanner) Describe(ctx context.Context) (engine.Info, error) {
	return engine.Info{Engine: "ClamAV 1.4.6", DBVersion: "custom:abc", DBTime: time.Now()}, nil
}

type fixture struct {
	h    *lambdas.Handlers
	st   *store.Store
	objs *localdir.Driver
	scan *fakeScanner
	// clock is the store's: it decides when leases expire.
	clock *skipClock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := &skipClock{}
	env := localtest.Open(t, &localtest.Options{Store: &store.Options{Now: clock.now}})
	st, objs := env.Store, env.Bucket
	sc := &fakeScanner{res: clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK"}}
	h, err := lambdas.New(lambdas.Config{Store: st, Objects: objs, Scanner: sc, QuarantineBucket: "quarantine", DisableVerdictCache: true})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{h: h, st: st, objs: objs, scan: sc, clock: clock}
}

func (f *fixture) ingest(t *testing.T, key, body string) asl.Document {
	t.Helper()
	ctx := context.Background()
	ref, err := f.objs.Put(ctx, "uploads", key, strings.NewReader(body), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := f.st.Ingest(ctx, ref, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	return asl.Document{ID: rec.ID, Object: rec.Object}
}

// verdict ingests key and runs Claim, Scan and Record on it, with
// whatever the fixture's scanner answers.
func (f *fixture) verdict(t *testing.T, key, body string) asl.Document {
	t.Helper()
	ctx := context.Background()
	st, err := f.h.Claim(ctx, f.ingest(t, key, body))
	if err != nil {
		t.Fatal(err)
	}
	if st, err = f.h.Scan(ctx, st); err != nil {
		t.Fatal(err)
	}
	if st, err = f.h.Record(ctx, st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRecordReplayIsIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st := f.ingest(t, "a.txt", "hello")
	st, err := f.h.Claim(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	st, err = f.h.Scan(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		out, err := f.h.Record(ctx, st)
		if err != nil || out.Status != domain.StatusClean {
			t.Fatalf("Record #%d: %v, %s", i+1, err, out.Status)
		}
	}
	rec, _ := f.st.Get(ctx, st.ID)
	n := 0
	for _, h := range rec.History {
		if h.Event == "pass" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("history has %d pass entries after three Records; want 1", n)
	}
	// A different verdict under the same (now released) lease is refused.
	other := st
	v := *st.Verdict
	v.ScannedAt = v.ScannedAt.Add(time.Second)
	other.Verdict = &v
	if _, err := f.h.Record(ctx, other); lambdas.TypeOf(err) != lambdas.ErrLeaseLost {
		t.Errorf("a second, different verdict: %v; want %s", err, lambdas.ErrLeaseLost)
	}
}

func TestScanFailsClosed(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		res  clamd.Result
		err  error
		typ  string
		out  domain.Outcome
	}{
		{"clamd down", clamd.Result{}, clamd.ErrUnavailable, lambdas.ErrClamdUnavailable, ""},
		{"timeout", clamd.Result{}, clamd.ErrTimeout, lambdas.ErrScanTimeout, ""},
		{"unreadable reply", clamd.Result{}, clamd.ErrProtocol, lambdas.ErrScanError, ""},
		{"source broke", clamd.Result{}, clamd.ErrSource, lambdas.ErrSourceError, ""},
		{"error reply", clamd.Result{Status: clamd.StatusError, Raw: "oops ERROR"}, nil, lambdas.ErrScanError, ""},
		{"zero result", clamd.Result{}, nil, lambdas.ErrScanError, ""},
		{"limit", clamd.Result{Status: clamd.StatusLimit, Limit: "MaxFiles"}, nil, "", domain.OutcomeUnscannable},
		{"found", clamd.Result{Status: clamd.StatusFound, Signatures: []string{"X"}}, nil, "", domain.OutcomeInfected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.scan.res, f.scan.err = tt.res, tt.err
			st, err := f.h.Claim(ctx, f.ingest(t, "k", "body"))
			if err != nil {
				t.Fatal(err)
			}
			out, err := f.h.Scan(ctx, st)
			if tt.typ != "" {
				if lambdas.TypeOf(err) != tt.typ {
					t.Fatalf("Scan: %v; want %s", err, tt.typ)
				}
				return
			}
			if err != nil || out.Verdict.Outcome != tt.out {
				t.Fatalf("Scan: %v, %+v; want %s", err, out.Verdict, tt.out)
			}
		})
	}
}

func TestScanObjectGone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, err := f.h.Claim(ctx, f.ingest(t, "gone.txt", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.objs.Delete(ctx, st.Object); err != nil {
		t.Fatal(err)
	}
	_, err = f.h.Scan(ctx, st)
	if lambdas.TypeOf(err) != lambdas.ErrObjectGone {
		t.Fatalf("Scan of a deleted version: %v; want %s", err, lambdas.ErrObjectGone)
	}
	// The workflow's Catch hands the error to Fail, as Step Functions would.
	st.Error = &asl.CaughtError{Error: lambdas.ErrObjectGone, Cause: causeOf(err)}
	out, err := f.h.Fail(ctx, st)
	if err != nil || out.Status != domain.StatusGone {
		t.Fatalf("Fail: %v, %s; want gone", err, out.Status)
	}
	rec, _ := f.st.Get(ctx, st.ID)
	if rec.Reason != domain.ReasonObjectGone {
		t.Errorf("reason %q; want %s", rec.Reason, domain.ReasonObjectGone)
	}
}

// causeOf renders err as Step Functions puts a Lambda error into Cause.
func causeOf(err error) string {
	b, _ := json.Marshal(lambdas.InvokeError(err))
	return string(b)
}

func TestFailReadsTheReasonFromALambdaCause(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, err := f.h.Claim(ctx, f.ingest(t, "x", "y"))
	if err != nil {
		t.Fatal(err)
	}
	f.scan.err = clamd.ErrUnavailable
	_, err = f.h.Scan(ctx, st)
	st.Error = &asl.CaughtError{Error: lambdas.TypeOf(err), Cause: causeOf(err)}
	out, err := f.h.Fail(ctx, st)
	if err != nil || out.Status != domain.StatusFailed {
		t.Fatalf("Fail: %v %s", err, out.Status)
	}
	rec, _ := f.st.Get(ctx, st.ID)
	if rec.Reason != domain.ReasonClamdUnavailable {
		t.Errorf("reason %q; want %s", rec.Reason, domain.ReasonClamdUnavailable)
	}
}

func TestInvokeErrorType(t *testing.T) {
	e := lambdas.InvokeError(errors.New("boom"))
	if e.Type != lambdas.ErrInternal {
		t.Errorf("plain error type %q; want %s", e.Type, lambdas.ErrInternal)
	}
	wrapped := lambdas.ForLambda(func(ctx context.Context, in int) (int, error) {
		return 0, &lambdas.StepError{Type: lambdas.ErrClamdUnavailable, Reason: "clamd-unavailable", Msg: "down"}
	})
	_, err := wrapped(context.Background(), 1)
	var ie interface{ Error() string }
	if !errors.As(err, &ie) || !strings.Contains(causeOf(err), `"errorType":"ClamdUnavailable"`) {
		t.Errorf("ForLambda error %v; want errorType ClamdUnavailable", err)
	}
	for _, typ := range []string{lambdas.ErrClamdUnavailable, lambdas.ErrScanTimeout, lambdas.ErrStaleSignatures, lambdas.ErrUnavailable} {
		if !lambdas.Retryable(typ) {
			t.Errorf("%s is not retryable", typ)
		}
	}
	for _, typ := range []string{lambdas.ErrObjectGone, lambdas.ErrLeaseLost, lambdas.ErrInvalidInput, lambdas.ErrInternal} {
		if lambdas.Retryable(typ) {
			t.Errorf("%s is retryable", typ)
		}
	}
}

// recordedMetrics keeps what the handlers record.
type recordedMetrics struct {
	scans   []metrics.ScanResult
	engines []metrics.EngineStatus
}

func (r *recordedMetrics) Scan(s metrics.ScanResult)     { r.scans = append(r.scans, s) }
func (r *recordedMetrics) Engine(e metrics.EngineStatus) { r.engines = append(r.engines, e) }

func TestScanRecordsMetrics(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		res     clamd.Result
		err     error
		outcome domain.Outcome
		reason  string
		bytes   int64
		up      bool
	}{
		{"clean", clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK"}, nil, domain.OutcomeClean, "", 4, true},
		{"found", clamd.Result{Status: clamd.StatusFound, Signatures: []string{"X"}}, nil, domain.OutcomeInfected, "", 4, true},
		{"limit", clamd.Result{Status: clamd.StatusLimit, Limit: "MaxFiles"}, nil, domain.OutcomeUnscannable, "limit-exceeded:MaxFiles", 4, true},
		{"clamd down", clamd.Result{}, clamd.ErrUnavailable, metrics.OutcomeError, domain.ReasonClamdUnavailable, 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rec := &recordedMetrics{}
			h, err := lambdas.New(lambdas.Config{Store: f.st, Objects: f.objs, Scanner: f.scan,
				QuarantineBucket: "quarantine", DisableVerdictCache: true, Metrics: rec})
			if err != nil {
				t.Fatal(err)
			}
			f.scan.res, f.scan.err = tt.res, tt.err
			st, err := h.Claim(ctx, f.ingest(t, "dir/k.txt", "body"))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = h.Scan(ctx, st)
			if len(rec.scans) != 1 || len(rec.engines) != 1 {
				t.Fatalf("recorded %d scans, %d engine statuses; want 1 each", len(rec.scans), len(rec.engines))
			}
			got := rec.scans[0]
			got.Duration = 0
			want := metrics.ScanResult{Outcome: tt.outcome, Reason: tt.reason, Bytes: tt.bytes,
				Bucket: "uploads", Key: "dir/k.txt", VersionID: st.Object.VersionID}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("scan metrics (-got +want):\n%s", diff)
			}
			if e := rec.engines[0]; e.Up != tt.up || e.DBTime.IsZero() || e.BreakerOpen {
				t.Errorf("engine status %+v; want up %v with a database time", e, tt.up)
			}
		})
	}
}

// lyingChecksum reports a stored SHA-256 that is not the bytes'.
type lyingChecksum struct{ objects.Driver }

func (l lyingChecksum) Open(ctx context.Context, ref domain.ObjectRef) (io.ReadCloser, objects.Info, error) {
	rc, info, err := l.Driver.Open(ctx, ref)
	info.SHA256 = strings.Repeat("0", 64)
	return rc, info, err
}

// Drivers leave checking the stored checksum to the reader: the Scan
// step compares its own hash of the stream with the backend's, and a
// mismatch is a source error, never a verdict.
func TestScanChecksDriverChecksum(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, err := f.h.Claim(ctx, f.ingest(t, "sum.txt", "the bytes"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := lambdas.New(lambdas.Config{Store: f.st, Objects: lyingChecksum{f.objs}, Scanner: f.scan,
		QuarantineBucket: "quarantine", DisableVerdictCache: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Scan(ctx, st)
	if lambdas.TypeOf(err) != lambdas.ErrSourceError || out.Verdict != nil {
		t.Fatalf("Scan with a checksum that does not match: %v, verdict %+v; want %s and no verdict", err, out.Verdict, lambdas.ErrSourceError)
	}
}
