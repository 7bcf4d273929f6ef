package localsfn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/asl/localsfn"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	bucket  = "uploads"
	qBucket = "quarantine"
)

// The paths through the scan workflow, by state name.
var (
	cleanPath      = []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "Record", "Route", "Done"}
	quarantinePath = []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "Record", "Route", "Quarantine", "Done"}
	skipPath       = []string{"Claimed", "Claim", "AlreadyDecided", "Done"}
	scanFailedPath = []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "RecordFailure", "NotScanned"}
	reviewPath     = []string{"AwaitDecision", "Decide"}
)

type env struct {
	t      *testing.T
	st     *store.Store
	objs   *localdir.Driver
	h      *lambdas.Handlers
	starts *localsfn.Starts
	lambda *localsfn.LambdaServer
}

// setup gives a test a real clamd (or clamdAddr, where nothing may
// listen), an embedded store and a local bucket in its own folder, the
// real handlers over them, and a Lambda Invoke API serving those handlers
// to aws-local-stepfunctions.
func setup(t *testing.T, clamdAddr string) *env {
	t.Helper()
	return setupWith(t, clamdAddr, nil)
}

func setupWith(t *testing.T, clamdAddr string, opts *localsfn.LambdaServerOptions) *env {
	t.Helper()
	if clamdAddr == "" {
		clamdAddr = clamdtest.Start(t, nil).Addr()
	}
	client, err := clamd.New(clamdAddr, clamd.Options{IOTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(client, engine.Options{DatabaseDir: clamdtest.SignaturesDir(t), DevMode: true})
	if err != nil {
		t.Fatal(err)
	}
	local := localtest.Open(t, &localtest.Options{Sync: true})
	st, objs := local.Store, local.Bucket
	starts := &localsfn.Starts{}
	h, err := lambdas.New(lambdas.Config{
		Store: st, Objects: objs, Scanner: eng,
		Starter: starts, Reviews: starts, Resumer: localsfn.NopResumer{},
		Logger:           slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		QuarantineBucket: qBucket, LeaseTTL: time.Minute, Owner: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, st: st, objs: objs, h: h, starts: starts, lambda: localsfn.NewLambdaServer(t, h, opts)}
}

// upload stores body under key, ingests the upload's S3 notification as
// the ingest Lambda does, and returns the input the scan workflow was
// started with.
func (e *env) upload(key string, body []byte) asl.Document {
	e.t.Helper()
	ctx := context.Background()
	ref, err := e.objs.Put(ctx, bucket, key, bytes.NewReader(body), objects.PutOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.h.Ingest(ctx, intake.S3Notification(ref))
	if err != nil || res.Created != 1 || res.Started != 1 {
		e.t.Fatalf("ingest %s: %+v, %v; want one record created and started", key, res, err)
	}
	for _, st := range e.starts.Scans() {
		if st.ID == res.IDs[0] {
			return st
		}
	}
	e.t.Fatalf("ingest %s started no scan workflow", key)
	return asl.Document{}
}

func (e *env) record(id string) *domain.Record {
	e.t.Helper()
	rec, err := e.st.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return rec
}

// events counts a record's history entries per event.
func events(rec *domain.Record) map[string]int {
	n := map[string]int{}
	for _, h := range rec.History {
		n[h.Event]++
	}
	return n
}

func assertPath(t *testing.T, res localsfn.Result, status string, want []string) {
	t.Helper()
	if res.Status != status {
		t.Errorf("status %s (%s: %s); want %s", res.Status, res.Error, res.Cause, status)
	}
	if diff := cmp.Diff(res.States(), want); diff != "" {
		t.Errorf("path (-got +want):\n%s", diff)
	}
}

// scanRetrier returns the committed scan definition's retrier of state
// that matches error.
func scanRetrier(t *testing.T, state, errName string) (maxAttempts int) {
	t.Helper()
	var def struct {
		States map[string]struct {
			Retry []struct {
				ErrorEquals []string
				MaxAttempts *int
			}
		}
	}
	if err := json.Unmarshal(asl.Scan(), &def); err != nil {
		t.Fatal(err)
	}
	for _, r := range def.States[state].Retry {
		if slices.Contains(r.ErrorEquals, errName) || slices.Contains(r.ErrorEquals, "States.ALL") {
			if r.MaxAttempts == nil {
				return 3 // the language's default
			}
			return *r.MaxAttempts
		}
	}
	t.Fatalf("%s has no retrier for %s", state, errName)
	return 0
}

func TestValidatorAcceptsTheCommittedDefinitions(t *testing.T) {
	t.Parallel()
	root := testsvc.ModuleRoot(t)
	for _, f := range []string{"scan.asl.json", "review.asl.json", "backfill.asl.json"} {
		if err := localsfn.ValidateFile(t, filepath.Join(root, "asl", f)); err != nil {
			t.Error(err)
		}
	}
}

func TestValidatorRejectsBrokenDefinitions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(states map[string]map[string]any)
		// want is part of the validator's reason.
		want string
	}{
		{"Next pointing nowhere", func(s map[string]map[string]any) { s["Scan"]["Next"] = "Nowhere" }, "Nowhere"},
		{"Choice without Choices", func(s map[string]map[string]any) { delete(s["Route"], "Choices") }, "Choices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var def struct {
				Comment string                    `json:"Comment"`
				StartAt string                    `json:"StartAt"`
				States  map[string]map[string]any `json:"States"`
			}
			if err := json.Unmarshal(asl.Scan(), &def); err != nil {
				t.Fatal(err)
			}
			tt.mutate(def.States)
			broken, err := json.Marshal(def)
			if err != nil {
				t.Fatal(err)
			}
			err = localsfn.Validate(t, broken)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validator: %v; want a rejection naming %q", err, tt.want)
			}
			// The interpreter refuses it too, before running anything.
			if res := localsfn.Run(t, broken, map[string]any{}); res.Status != localsfn.StatusInvalidDefinition {
				t.Errorf("interpreter: %s; want %s", res.Status, localsfn.StatusInvalidDefinition)
			}
		})
	}
}

func TestCleanObject(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	in := e.upload("docs/hello.txt", []byte("hello, world\n"))

	res := e.lambda.Run(t, asl.Scan(), in)
	assertPath(t, res, localsfn.StatusSucceeded, cleanPath)
	var out asl.Document
	if err := json.Unmarshal(res.Output, &out); err != nil || out.Status != domain.StatusClean {
		t.Errorf("output %s (%v); want status clean", res.Output, err)
	}

	rec := e.record(in.ID)
	if rec.State != domain.StatusClean || rec.Verdict == nil || rec.Verdict.BytesScanned != rec.Object.Size || rec.Verdict.SHA256 == "" {
		t.Fatalf("record %s, verdict %+v; want clean after a complete scan", rec.State, rec.Verdict)
	}
	tags, err := e.objs.Tags(context.Background(), rec.Object)
	if err != nil {
		t.Fatal(err)
	}
	if tags[objects.TagStatus] != "clean" || tags[objects.TagScannedAt] == "" || tags[objects.TagEngine] == "" {
		t.Errorf("tags %v; want status, scan time and engine", tags)
	}
	if got := e.lambda.Invocations("scan"); got != 1 {
		t.Errorf("scan invoked %d times; want 1", got)
	}
}

// scanInfected uploads EICAR, runs the scan workflow to quarantine, and
// returns the review workflow's input that Quarantine started.
func (e *env) scanInfected(key string) asl.Document {
	t := e.t
	t.Helper()
	in := e.upload(key, clamdtest.EICARBytes())
	res := e.lambda.Run(t, asl.Scan(), in)
	assertPath(t, res, localsfn.StatusSucceeded, quarantinePath)

	rec := e.record(in.ID)
	if rec.State != domain.StatusReviewing || rec.Quarantine == nil || rec.Quarantine.Bucket != qBucket {
		t.Fatalf("record %s, quarantine %+v; want reviewing, in %s", rec.State, rec.Quarantine, qBucket)
	}
	if rec.Verdict == nil || !slices.Contains(rec.Verdict.Signatures, clamdtest.EICARSignature) {
		t.Errorf("verdict %+v; want %s", rec.Verdict, clamdtest.EICARSignature)
	}
	ctx := context.Background()
	if _, _, err := e.objs.Open(ctx, rec.Object); errcode.Of(err) != errcode.NotFound {
		t.Errorf("original version still readable (err %v)", err)
	}
	if _, err := e.objs.Head(ctx, *rec.Quarantine); err != nil {
		t.Errorf("quarantined copy: %v", err)
	}
	reviews := e.starts.Reviews()
	if len(reviews) != 1 || reviews[0].ID != in.ID || reviews[0].Status != domain.StatusReviewing {
		t.Fatalf("review starts %+v; want one for %s, reviewing", reviews, in.ID)
	}
	return reviews[0]
}

// latest reads the newest version at the record's key.
func (e *env) latest(rec *domain.Record) ([]byte, map[string]string) {
	e.t.Helper()
	ctx := context.Background()
	ref := domain.ObjectRef{Bucket: rec.Object.Bucket, Key: rec.Object.Key}
	rc, _, err := e.objs.Open(ctx, ref)
	if err != nil {
		e.t.Fatalf("no object at %s: %v", ref.Key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	tags, err := e.objs.Tags(ctx, ref)
	if err != nil {
		e.t.Fatal(err)
	}
	return b, tags
}

func TestInfectedReleasedByConcurrentDecision(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	review := e.scanInfected("in/eicar.com")
	ctx := context.Background()

	const token = "review-token-released"
	exec := e.lambda.Start(t, asl.Review(), review, localsfn.Options{TaskToken: token})
	// The workflow waits in AwaitDecision once the token ($$.Task.Token)
	// is stored on the review item; the admin decides meanwhile.
	deadline := time.Now().Add(30 * time.Second)
	for {
		item, err := e.st.Review(ctx, review.ID)
		if err != nil {
			t.Fatal(err)
		}
		if item.TaskToken == token {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("review item token %q after 30s; want %q", item.TaskToken, token)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := e.h.Review(ctx, domain.Principal{Name: "alice", Role: domain.RoleReviewer}, lambdas.ReviewRequest{
		Action: "decide", ID: review.ID, Decision: domain.DecisionRelease, Comment: "false positive",
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Item.Decision != domain.DecisionRelease || resp.AlreadyDecided {
		t.Errorf("decide: %+v", resp.Item)
	}

	res := exec.Wait(t)
	assertPath(t, res, localsfn.StatusSucceeded, reviewPath)
	var out asl.Document
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatal(err)
	}
	want := &asl.Decision{Decision: domain.DecisionRelease, Reviewer: "alice", Comment: "false positive"}
	if diff := cmp.Diff(out.Decision, want); diff != "" {
		t.Errorf("$.decision (-got +want):\n%s", diff)
	}

	rec := e.record(review.ID)
	if rec.State != domain.StatusReleased || rec.Quarantine != nil {
		t.Fatalf("record %s, quarantine %+v; want released, out of quarantine", rec.State, rec.Quarantine)
	}
	body, tags := e.latest(rec)
	if !bytes.Equal(body, clamdtest.EICARBytes()) || tags[objects.TagStatus] != "released" {
		t.Errorf("at the key: %q, tags %v; want the original bytes tagged released", body, tags)
	}
	if n := events(rec); n["release"] != 1 || n["quarantine"] != 1 || n["detect"] != 1 {
		t.Errorf("history %v; want one detect, quarantine and release", n)
	}
	if e.lambda.Invocations("awaitReview") != 1 || e.lambda.Invocations("decide") != 1 {
		t.Errorf("awaitReview %d, decide %d invocations; want 1 each", e.lambda.Invocations("awaitReview"), e.lambda.Invocations("decide"))
	}
}

// The decision comes before the review workflow stores its token:
// AwaitReview finds it decided and the workflow carries it out at once.
func TestInfectedConfirmedBeforeTheWorkflowWaits(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	review := e.scanInfected("in/eicar-confirmed.com")
	ctx := context.Background()
	if _, err := e.h.Review(ctx, domain.Principal{Name: "bob", Role: domain.RoleReviewer}, lambdas.ReviewRequest{
		Action: "decide", ID: review.ID, Decision: domain.DecisionConfirm,
	}); err != nil {
		t.Fatal(err)
	}

	res := e.lambda.Run(t, asl.Review(), review)
	assertPath(t, res, localsfn.StatusSucceeded, reviewPath)

	rec := e.record(review.ID)
	if rec.State != domain.StatusConfirmed || rec.Quarantine == nil {
		t.Fatalf("record %s, quarantine %+v; want confirmed, still quarantined", rec.State, rec.Quarantine)
	}
	if _, err := e.objs.Head(ctx, *rec.Quarantine); err != nil {
		t.Errorf("quarantined copy: %v", err)
	}
	if _, _, err := e.objs.Open(ctx, domain.ObjectRef{Bucket: bucket, Key: rec.Object.Key}); errcode.Of(err) != errcode.NotFound {
		t.Errorf("something is readable at the key (err %v); want nothing", err)
	}
	if n := events(rec); n["confirm"] != 1 {
		t.Errorf("history %v; want one confirm", n)
	}
}

func TestClamdUnavailableIsRetriedThenRecorded(t *testing.T) {
	t.Parallel()
	// A short folder: a unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "sg-sfn-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := setup(t, "unix://"+filepath.Join(dir, "clamd.sock"))
	in := e.upload("while-down.txt", []byte("harmless"))

	res := e.lambda.Run(t, asl.Scan(), in)
	assertPath(t, res, localsfn.StatusFailed, scanFailedPath)
	if res.Error != "ObjectNotScanned" {
		t.Errorf("execution error %q; want ObjectNotScanned", res.Error)
	}
	want := 1 + scanRetrier(t, "Scan", lambdas.ErrClamdUnavailable)
	if got := res.Attempts("Scan"); got != want {
		t.Errorf("Scan ran %d times by the event log; want %d", got, want)
	}
	if got := e.lambda.Invocations("scan"); got != want {
		t.Errorf("scan invoked %d times; want %d", got, want)
	}
	if errs := res.Errors("Scan"); len(errs) != want || slices.ContainsFunc(errs, func(s string) bool { return s != lambdas.ErrClamdUnavailable }) {
		t.Errorf("Scan errors %v; want %d × %s", errs, want, lambdas.ErrClamdUnavailable)
	}
	// The event log keeps the function's error response as the Cause.
	for _, ev := range res.Events {
		if ev.Type != "StateFailed" || ev.State.Name != "Scan" {
			continue
		}
		var resp struct{ ErrorType, ErrorMessage string }
		if err := json.Unmarshal(ev.Cause, &resp); err != nil || resp.ErrorType != lambdas.ErrClamdUnavailable ||
			!strings.HasPrefix(resp.ErrorMessage, "reason=clamd-unavailable: ") {
			t.Errorf("StateFailed Cause %s (%v); want the error response", ev.Cause, err)
		}
	}
	// What RecordFailure got: the error name as thrown, and the
	// interpreter's Cause, "<errorType>: <errorMessage>" (in AWS, the
	// error response's JSON).
	var failed asl.Document
	if err := json.Unmarshal(res.Exited("Scan"), &failed); err != nil || failed.Error == nil {
		t.Fatalf("Scan's caught output %s: %v", res.Exited("Scan"), err)
	}
	if failed.Error.Error != lambdas.ErrClamdUnavailable || !strings.HasPrefix(failed.Error.Cause, "ClamdUnavailable: reason=clamd-unavailable: ") {
		t.Errorf("caught error %+v", failed.Error)
	}

	rec := e.record(in.ID)
	if rec.State != domain.StatusFailed || rec.Reason != domain.ReasonClamdUnavailable {
		t.Errorf("record %s, reason %q; want failed, %s", rec.State, rec.Reason, domain.ReasonClamdUnavailable)
	}
}

func TestObjectGoneBeforeTheScan(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	in := e.upload("short-lived.txt", []byte("here a moment"))
	if err := e.objs.Delete(context.Background(), in.Object); err != nil {
		t.Fatal(err)
	}

	res := e.lambda.Run(t, asl.Scan(), in)
	assertPath(t, res, localsfn.StatusFailed, scanFailedPath)
	if res.Error != "ObjectNotScanned" {
		t.Errorf("execution error %q; want ObjectNotScanned", res.Error)
	}
	if diff := cmp.Diff(res.Errors("Scan"), []string{lambdas.ErrObjectGone}); diff != "" {
		t.Errorf("Scan errors (-got +want), ObjectGone is not retried:\n%s", diff)
	}
	if got := e.lambda.Invocations("scan"); got != 1 {
		t.Errorf("scan invoked %d times; want 1", got)
	}
	rec := e.record(in.ID)
	if rec.State != domain.StatusGone || rec.Reason != domain.ReasonObjectGone {
		t.Errorf("record %s, reason %q; want gone, %s", rec.State, rec.Reason, domain.ReasonObjectGone)
	}
}

func TestSameObjectStartedTwice(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		body     []byte
		path     []string
		state    domain.Status
		verdicts map[string]int
	}{
		{"clean", []byte("twice"), cleanPath, domain.StatusClean, map[string]int{"pass": 1}},
		{"infected", clamdtest.EICARBytes(), quarantinePath, domain.StatusReviewing, map[string]int{"detect": 1, "quarantine": 1}},
	} {
		t.Run("sequential "+tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, "")
			in := e.upload("twice/"+tt.name, tt.body)
			assertPath(t, e.lambda.Run(t, asl.Scan(), in), localsfn.StatusSucceeded, tt.path)
			assertPath(t, e.lambda.Run(t, asl.Scan(), in), localsfn.StatusSucceeded, skipPath)

			rec := e.record(in.ID)
			if rec.State != tt.state {
				t.Errorf("record %s; want %s", rec.State, tt.state)
			}
			n := events(rec)
			if n["claim"] != 1 || n["fail"] != 0 {
				t.Errorf("history %v; want one claim, no failure", n)
			}
			for ev, want := range tt.verdicts {
				if n[ev] != want {
					t.Errorf("history %v; want %d %s", n, want, ev)
				}
			}
			if got := e.lambda.Invocations("scan"); got != 1 {
				t.Errorf("scan invoked %d times; want 1", got)
			}
			if got := len(e.starts.Reviews()); tt.state == domain.StatusReviewing && got != 1 {
				t.Errorf("%d review workflows started; want 1", got)
			}
		})
	}

	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		// The first execution to scan holds its Scan until the other has
		// invoked Claim, so that the two truly overlap: the other's
		// Claim meets a live lease.
		var e *env
		e = setupWith(t, "", &localsfn.LambdaServerOptions{
			BeforeInvoke: func(ctx context.Context, step asl.Function) error {
				for step == "scan" && e.lambda.Invocations("claim") < 2 {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(5 * time.Millisecond):
					}
				}
				return nil
			},
		})
		in := e.upload("twice/concurrent.txt", []byte("at the same time"))
		// A Claim that meets the other's live lease retries (Leased);
		// waits of 100 ms let the other execution finish meanwhile.
		opts := localsfn.Options{RetryIntervals: map[string][]int{"Claim": {100, -1}}}
		execs := []*localsfn.Execution{
			e.lambda.Start(t, asl.Scan(), in, opts),
			e.lambda.Start(t, asl.Scan(), in, opts),
		}
		var scanned, other []localsfn.Result
		for _, x := range execs {
			res := x.Wait(t)
			if slices.Contains(res.States(), "Scan") {
				scanned = append(scanned, res)
			} else {
				other = append(other, res)
			}
		}
		if len(scanned) != 1 {
			t.Fatalf("%d executions scanned; want exactly 1", len(scanned))
		}
		assertPath(t, scanned[0], localsfn.StatusSucceeded, cleanPath)
		res := other[0]
		if errs := res.Errors("Claim"); len(errs) == 0 || errs[0] != lambdas.ErrLeased {
			t.Errorf("Claim errors %v; want %s first: the executions did not overlap", errs, lambdas.ErrLeased)
		}
		switch {
		case slices.Equal(res.States(), skipPath):
			// It met the decided record.
			assertPath(t, res, localsfn.StatusSucceeded, skipPath)
		default:
			// It gave up on the lease before the verdict was in, and
			// RecordFailure left the other execution's record alone.
			assertPath(t, res, localsfn.StatusFailed, []string{"Claim", "RecordFailure", "NotScanned"})
			for _, err := range res.Errors("Claim") {
				if err != lambdas.ErrLeased {
					t.Errorf("Claim errors %v; want only %s", res.Errors("Claim"), lambdas.ErrLeased)
				}
			}
		}
		t.Logf("second execution: %v", res.States())

		rec := e.record(in.ID)
		if rec.State != domain.StatusClean {
			t.Errorf("record %s; want clean", rec.State)
		}
		if n := events(rec); n["claim"] != 1 || n["pass"] != 1 || n["fail"] != 0 {
			t.Errorf("history %v; want one claim, one pass, no failure", n)
		}
		if got := e.lambda.Invocations("scan"); got != 1 {
			t.Errorf("scan invoked %d times; want 1", got)
		}
	})
}

// A record the ingest created claimed for its execution (the lease token
// in the input) goes straight to Scan: Claim is not invoked, and Record's
// write under that lease makes it clean.
func TestClaimedAtIngestSkipsClaim(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	ctx := context.Background()
	ref, err := e.objs.Put(ctx, bucket, "docs/claimed.txt", bytes.NewReader([]byte("claimed at ingest\n")), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, created, err := e.st.IngestClaimed(ctx, ref, "ingest", "test", "", "test-ingest", time.Minute)
	if err != nil || !created || rec.State != domain.StatusScanning {
		t.Fatalf("IngestClaimed: %+v, %v, %v; want a new record in scanning", rec, created, err)
	}
	in := asl.Document{ID: rec.ID, Object: rec.Object, LeaseToken: rec.Lease.Token}
	res := e.lambda.Run(t, asl.Scan(), in)
	assertPath(t, res, localsfn.StatusSucceeded, []string{"Claimed", "Scan", "Record", "Route", "Done"})
	if got := e.record(rec.ID); got.State != domain.StatusClean {
		t.Fatalf("record %s; want clean", got.State)
	}
}
