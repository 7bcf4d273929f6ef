package workflow_test

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/asl/workflow"
	"github.com/scangate/scangate/domain"
)

// These tests run scangate's own definitions, as deployed, with fake
// steps. A step's output mirrors what the handlers in package lambdas
// return: the state document with the step's fields merged in.

// fakeARN is the function ARN substituted for a placeholder.
func fakeARN(placeholder string) string {
	return "arn:aws:lambda:us-east-1:000000000000:function:scangate-" + strings.TrimSuffix(placeholder, "FunctionArn")
}

// steps fakes scangate's step functions by name (Claim, Scan, ...) and
// counts their calls.
type steps struct {
	mu    sync.Mutex
	fns   map[string]workflow.Handler
	calls map[string][]string // step -> inputs
}

func newSteps(fns map[string]workflow.Handler) *steps {
	return &steps{fns: fns, calls: map[string][]string{}}
}

func (s *steps) resolve(resource, _ string) (workflow.Handler, error) {
	name, ok := strings.CutPrefix(resource, "arn:aws:lambda:us-east-1:000000000000:function:scangate-")
	if !ok {
		return nil, &stepError{typ: "ResourceNotFound", msg: resource}
	}
	return func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		s.mu.Lock()
		s.calls[name] = append(s.calls[name], string(in))
		fn := s.fns[name]
		s.mu.Unlock()
		if fn == nil {
			return nil, &stepError{typ: "Internal", msg: "unexpected call of " + name}
		}
		return fn(ctx, in)
	}, nil
}

func (s *steps) inputs(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls[name]...)
}

// merge returns a step that adds fields to its input, as the lambdas do.
func merge(fields string) workflow.Handler {
	return func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		var st, add map[string]any
		if err := json.Unmarshal(in, &st); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(fields), &add); err != nil {
			return nil, err
		}
		maps.Copy(st, add)
		return json.Marshal(st)
	}
}

// lambdaCause renders an error as Lambda's error response, the way the
// local runtime renders causes.
func lambdaCause(err error) string {
	var typ string
	if se, ok := err.(*stepError); ok {
		typ = se.typ
	}
	b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": err.Error()})
	return string(b)
}

func loadDefinition(t *testing.T, def []byte, s *steps, opts *workflow.Options) *workflow.Machine {
	t.Helper()
	vals := map[string]string{}
	for _, p := range asl.Placeholders(def) {
		vals[p] = fakeARN(p)
	}
	def, err := asl.Substitute(def, vals)
	if err != nil {
		t.Fatal(err)
	}
	m, err := workflow.Load(def, s.resolve, opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// scanInput is what the scan workflow is started with (lambdas.State with
// ID and Object; Next has no omitempty).
const scanInput = `{"id": "r1", "object": {"bucket": "uploads", "key": "a.txt", "versionId": "v1", "etag": "e1", "size": 10}, "next": ""}`

const (
	claimed  = `{"status": "scanning", "leaseToken": "lease-1", "skip": false, "next": "scan"}`
	verdict  = `{"verdict": {"outcome": "clean", "engine": "clamav"}}`
	infected = `{"verdict": {"outcome": "infected", "signatures": ["Eicar-Test-Signature"]}}`
)

func TestScanDefinition(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		fns        map[string]workflow.Handler
		wantStates []string
		wantStatus workflow.Status
		wantError  string
		wantCalls  map[string]int
		timeScale  float64
		check      func(t *testing.T, s *steps, e *workflow.Execution, res workflow.Result, sl *sleeps)
	}{
		{
			name: "clean",
			fns: map[string]workflow.Handler{
				"Claim":  merge(claimed),
				"Scan":   merge(verdict),
				"Record": merge(`{"status": "clean", "next": "done"}`),
			},
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "Record", "Route", "Done"},
			wantStatus: workflow.StatusSucceeded,
			wantCalls:  map[string]int{"Claim": 1, "Scan": 1, "Record": 1},
			check: func(t *testing.T, s *steps, e *workflow.Execution, res workflow.Result, _ *sleeps) {
				want := `{"id": "r1", "object": {"bucket": "uploads", "key": "a.txt", "versionId": "v1", "etag": "e1", "size": 10},
					"status": "clean", "leaseToken": "lease-1", "skip": false, "next": "done", "verdict": {"outcome": "clean", "engine": "clamav"}}`
				if diff := jsonDiff(t, res.Output, want); diff != "" {
					t.Errorf("output (-got +want):\n%s", diff)
				}
				// Each step gets the previous step's output whole.
				if diff := jsonDiff(t, []byte(s.inputs("Claim")[0]), scanInput); diff != "" {
					t.Errorf("Claim input (-got +want):\n%s", diff)
				}
			},
		},
		{
			name: "infected",
			fns: map[string]workflow.Handler{
				"Claim":      merge(claimed),
				"Scan":       merge(infected),
				"Record":     merge(`{"status": "infected", "next": "quarantine"}`),
				"Quarantine": merge(`{"status": "reviewing", "next": "done"}`),
			},
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "Record", "Route", "Quarantine", "Done"},
			wantStatus: workflow.StatusSucceeded,
			wantCalls:  map[string]int{"Claim": 1, "Scan": 1, "Record": 1, "Quarantine": 1},
		},
		{
			name: "unscannable blocked",
			fns: map[string]workflow.Handler{
				"Claim":  merge(claimed),
				"Scan":   merge(`{"verdict": {"outcome": "unscannable"}}`),
				"Record": merge(`{"status": "unscannable", "next": "block"}`),
				"Block":  merge(`{"next": "done"}`),
			},
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "Record", "Route", "Block", "Done"},
			wantStatus: workflow.StatusSucceeded,
			wantCalls:  map[string]int{"Claim": 1, "Scan": 1, "Record": 1, "Block": 1},
		},
		{
			name:       "already decided",
			fns:        map[string]workflow.Handler{"Claim": merge(`{"status": "clean", "skip": true, "next": "done"}`)},
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided", "Done"},
			wantStatus: workflow.StatusSucceeded,
			wantCalls:  map[string]int{"Claim": 1},
		},
		{
			name: "unfinished quarantine resumes",
			fns: map[string]workflow.Handler{
				"Claim":      merge(`{"status": "infected", "skip": false, "next": "quarantine"}`),
				"Quarantine": merge(`{"status": "reviewing", "next": "done"}`),
			},
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided", "Quarantine", "Done"},
			wantStatus: workflow.StatusSucceeded,
			wantCalls:  map[string]int{"Claim": 1, "Quarantine": 1},
		},
		{
			name: "clamd unavailable every time",
			fns: map[string]workflow.Handler{
				"Claim": merge(claimed),
				"Scan":  failing("ClamdUnavailable"),
				"Fail":  merge(`{"status": "failed"}`),
			},
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "RecordFailure", "NotScanned"},
			wantStatus: workflow.StatusFailed,
			wantError:  "ObjectNotScanned",
			// One try and the definition's MaxAttempts of 4 retries.
			wantCalls: map[string]int{"Claim": 1, "Scan": 5, "Fail": 1},
			check: func(t *testing.T, s *steps, e *workflow.Execution, res workflow.Result, sl *sleeps) {
				// IntervalSeconds 2, BackoffRate 2, MaxDelaySeconds 30, full jitter.
				ceilings := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
				var retries []int
				var delays []time.Duration
				for _, ev := range e.History() {
					if ev.Type == "TaskRetry" {
						if ev.State != "Scan" || ev.Error != "ClamdUnavailable" {
							t.Errorf("retry event %+v", ev)
						}
						retries = append(retries, ev.Attempt)
						delays = append(delays, ev.Delay)
					}
				}
				if diff := cmp.Diff(retries, []int{1, 2, 3, 4}); diff != "" {
					t.Errorf("TaskRetry attempts (-got +want):\n%s", diff)
				}
				if len(delays) != len(ceilings) {
					t.Fatalf("delays %v; want %d", delays, len(ceilings))
				}
				for i, d := range delays {
					if d < 0 || d > ceilings[i] {
						t.Errorf("retry %d waits %v; want within [0, %v]", i+1, d, ceilings[i])
					}
				}
				if diff := cmp.Diff(sl.got(), delays); diff != "" {
					t.Errorf("sleeps (-got +want):\n%s", diff)
				}
				// RecordFailure gets the state with the caught error at $.error,
				// its Cause rendered like Lambda's error response.
				var in struct {
					ID         string
					LeaseToken string
					Error      struct{ Error, Cause string }
				}
				if err := json.Unmarshal([]byte(s.inputs("Fail")[0]), &in); err != nil {
					t.Fatal(err)
				}
				wantCause := `{"errorMessage":"ClamdUnavailable: always","errorType":"ClamdUnavailable"}`
				if in.ID != "r1" || in.LeaseToken != "lease-1" || in.Error.Error != "ClamdUnavailable" || in.Error.Cause != wantCause {
					t.Errorf("RecordFailure input %s", s.inputs("Fail")[0])
				}
				if res.Cause != "The object did not get a verdict; its record holds the reason." {
					t.Errorf("cause %q", res.Cause)
				}
			},
		},
		{
			name: "object gone is not retried",
			fns: map[string]workflow.Handler{
				"Claim": merge(claimed),
				"Scan":  failing("ObjectGone"),
				"Fail":  merge(`{"status": "gone"}`),
			},
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "RecordFailure", "NotScanned"},
			wantStatus: workflow.StatusFailed,
			wantError:  "ObjectNotScanned",
			wantCalls:  map[string]int{"Claim": 1, "Scan": 1, "Fail": 1},
			check: func(t *testing.T, s *steps, _ *workflow.Execution, _ workflow.Result, sl *sleeps) {
				if len(sl.got()) != 0 {
					t.Errorf("slept %v; want no retry", sl.got())
				}
				if !strings.Contains(s.inputs("Fail")[0], `"Error":"ObjectGone"`) {
					t.Errorf("RecordFailure input %s", s.inputs("Fail")[0])
				}
			},
		},
		{
			name: "claim leased, then claimed",
			fns: map[string]workflow.Handler{
				"Claim":  sequence(failing("Leased"), failing("Leased"), merge(claimed)),
				"Scan":   merge(verdict),
				"Record": merge(`{"status": "clean", "next": "done"}`),
			},
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "Record", "Route", "Done"},
			wantStatus: workflow.StatusSucceeded,
			wantCalls:  map[string]int{"Claim": 3, "Scan": 1, "Record": 1},
		},
		{
			name: "record failure retried until it lands",
			fns: map[string]workflow.Handler{
				"Claim": merge(claimed),
				"Scan":  failing("StaleSignatures"),
				"Fail":  sequence(failing("BackendUnavailable"), failing("BackendUnavailable"), merge(`{"status": "failed"}`)),
			},
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "RecordFailure", "NotScanned"},
			wantStatus: workflow.StatusFailed,
			wantError:  "ObjectNotScanned",
			wantCalls:  map[string]int{"Claim": 1, "Scan": 5, "Fail": 3},
		},
		{
			name: "record failure never lands",
			fns: map[string]workflow.Handler{
				"Claim": merge(claimed),
				"Scan":  failing("ObjectGone"),
				"Fail":  failing("BackendUnavailable"),
			},
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "RecordFailure"},
			wantStatus: workflow.StatusFailed,
			wantError:  "BackendUnavailable",
			wantCalls:  map[string]int{"Claim": 1, "Scan": 1, "Fail": 9},
		},
		{
			name: "scan times out",
			fns: map[string]workflow.Handler{
				"Claim": merge(claimed),
				"Scan":  blocking,
				"Fail":  merge(`{"status": "failed"}`),
			},
			// States.Timeout is not among Scan's retried errors: caught at once.
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "RecordFailure", "NotScanned"},
			wantStatus: workflow.StatusFailed,
			wantError:  "ObjectNotScanned",
			wantCalls:  map[string]int{"Claim": 1, "Scan": 1, "Fail": 1},
			// Scan's TimeoutSeconds of 240 becomes 240 ms; Claim's 60, 60 ms.
			timeScale: 1e-3,
			check: func(t *testing.T, s *steps, _ *workflow.Execution, _ workflow.Result, _ *sleeps) {
				if !strings.Contains(s.inputs("Fail")[0], `"Error":"States.Timeout"`) {
					t.Errorf("RecordFailure input %s", s.inputs("Fail")[0])
				}
			},
		},
		{
			// The definition's contract with Claim: AlreadyDecided reads
			// $.skip, and a Choice Variable that selects nothing is
			// States.Runtime in Step Functions, which no Catch handles. So
			// Claim's output must always carry skip.
			name: "claim output without skip",
			fns: map[string]workflow.Handler{
				"Claim": merge(`{"status": "scanning", "leaseToken": "lease-1", "next": "scan"}`),
			},
			wantStates: []string{"Claimed", "Claim", "AlreadyDecided"},
			wantStatus: workflow.StatusFailed,
			wantError:  workflow.ErrorRuntime,
			wantCalls:  map[string]int{"Claim": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSteps(tc.fns)
			sl := &sleeps{}
			m := loadDefinition(t, asl.Scan(), s, &workflow.Options{Name: "scan", Sleep: sl.sleep, TimeScale: tc.timeScale, Cause: lambdaCause})
			e, err := m.Start(t.Context(), asl.ExecutionName("scan", "a.txt", "r1", 0), json.RawMessage(scanInput))
			if err != nil {
				t.Fatal(err)
			}
			res := wait(t, e)
			if diff := cmp.Diff(e.States(), tc.wantStates); diff != "" {
				t.Errorf("states (-got +want):\n%s", diff)
			}
			if res.Status != tc.wantStatus || res.Error != tc.wantError {
				t.Errorf("result %+v; want %s %s", res, tc.wantStatus, tc.wantError)
			}
			calls := map[string]int{}
			for name := range s.calls {
				calls[name] = len(s.inputs(name))
			}
			if diff := cmp.Diff(calls, tc.wantCalls); diff != "" {
				t.Errorf("step calls (-got +want):\n%s", diff)
			}
			if tc.check != nil {
				tc.check(t, s, e, res, sl)
			}
		})
	}
}

// sequence answers with each handler in turn, the last one repeating.
func sequence(hs ...workflow.Handler) workflow.Handler {
	var mu sync.Mutex
	n := 0
	return func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		mu.Lock()
		h := hs[min(n, len(hs)-1)]
		n++
		mu.Unlock()
		return h(ctx, in)
	}
}

// reviewInput is what the review workflow is started with.
const reviewInput = `{"id": "r1", "object": {"bucket": "uploads", "key": "a.txt", "versionId": "v1"}, "status": "reviewing",
	"location": {"bucket": "quarantine", "key": "q/r1"}, "next": ""}`

// awaitReview fakes the AwaitReview function: it stores the task token
// (here: sends it on a channel) and returns.
func awaitReview(tokens chan<- string) workflow.Handler {
	return func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		var p struct {
			State     map[string]any `json:"state"`
			TaskToken string         `json:"taskToken"`
		}
		if err := json.Unmarshal(in, &p); err != nil || p.TaskToken == "" || p.State["id"] != "r1" {
			return nil, &stepError{typ: "InvalidInput", msg: string(in)}
		}
		tokens <- p.TaskToken
		return json.RawMessage(`{}`), nil
	}
}

func TestReviewDefinition(t *testing.T) {
	t.Parallel()
	tokens := make(chan string, 4)
	s := newSteps(map[string]workflow.Handler{
		"AwaitReview": sequence(failing("BackendUnavailable"), awaitReview(tokens)),
		"Decide":      merge(`{"status": "released"}`),
	})
	m := loadDefinition(t, asl.Review(), s, &workflow.Options{Name: "review", Sleep: new(sleeps).sleep})
	e, err := m.Start(t.Context(), asl.ExecutionName("review", "a.txt", "r1", 0), json.RawMessage(reviewInput))
	if err != nil {
		t.Fatal(err)
	}
	token := <-tokens
	if got := e.Status(); got != workflow.StatusRunning {
		t.Fatalf("status %s while waiting for the decision", got)
	}
	if err := m.SendTaskSuccess(t.Context(), token, json.RawMessage(`{"decision": "release", "reviewer": "alice"}`)); err != nil {
		t.Fatal(err)
	}
	res := wait(t, e)
	if diff := cmp.Diff(e.States(), []string{"AwaitDecision", "Decide"}); diff != "" {
		t.Errorf("states (-got +want):\n%s", diff)
	}
	want := `{"id": "r1", "object": {"bucket": "uploads", "key": "a.txt", "versionId": "v1"}, "status": "released",
		"location": {"bucket": "quarantine", "key": "q/r1"}, "next": "", "decision": {"decision": "release", "reviewer": "alice"}}`
	if res.Status != workflow.StatusSucceeded {
		t.Fatalf("result %+v", res)
	}
	if diff := jsonDiff(t, res.Output, want); diff != "" {
		t.Errorf("output (-got +want):\n%s", diff)
	}
	// Decide got the state with the decision at $.decision.
	if diff := jsonDiff(t, []byte(s.inputs("Decide")[0]), strings.Replace(want, `"released"`, `"reviewing"`, 1)); diff != "" {
		t.Errorf("Decide input (-got +want):\n%s", diff)
	}
	// The first AwaitReview call failed and was retried.
	if n := len(s.inputs("AwaitReview")); n != 2 {
		t.Errorf("AwaitReview called %d times; want 2", n)
	}
	if err := m.SendTaskSuccess(t.Context(), token, json.RawMessage(`{}`)); err == nil {
		t.Error("a token can be used twice")
	}
}

func TestReviewDecisionNotApplied(t *testing.T) {
	t.Parallel()
	tokens := make(chan string, 1)
	s := newSteps(map[string]workflow.Handler{
		"AwaitReview": awaitReview(tokens),
		"Decide":      failing("InvalidInput"),
	})
	m := loadDefinition(t, asl.Review(), s, &workflow.Options{Name: "review", Sleep: new(sleeps).sleep})
	e, err := m.Start(t.Context(), "review-1", json.RawMessage(reviewInput))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SendTaskSuccess(t.Context(), <-tokens, json.RawMessage(`{"decision": "bogus"}`)); err != nil {
		t.Fatal(err)
	}
	res := wait(t, e)
	if diff := cmp.Diff(e.States(), []string{"AwaitDecision", "Decide", "DecisionNotApplied"}); diff != "" {
		t.Errorf("states (-got +want):\n%s", diff)
	}
	if res.Status != workflow.StatusFailed || res.Error != "DecisionNotApplied" {
		t.Errorf("result %+v", res)
	}
}

// stateStep is a step working on the real state document, marshalled as
// the Lambdas marshal it.
func stateStep(fn func(st *asl.Document)) workflow.Handler {
	return func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		var st asl.Document
		if err := json.Unmarshal(in, &st); err != nil {
			return nil, err
		}
		fn(&st)
		return json.Marshal(st)
	}
}

// The definition's Choices read $.skip and $.next from the document
// lambdas.State marshals: both must always be present, since a Choice
// Variable that selects nothing fails the execution (States.Runtime).
func TestScanDefinitionWithStateDocument(t *testing.T) {
	t.Parallel()
	s := newSteps(map[string]workflow.Handler{
		"Claim": stateStep(func(st *asl.Document) {
			st.Status, st.LeaseToken, st.Skip, st.Next = domain.StatusScanning, "lease-1", false, "scan"
		}),
		"Scan":   stateStep(func(st *asl.Document) { st.Verdict = &domain.Verdict{Outcome: domain.OutcomeClean} }),
		"Record": stateStep(func(st *asl.Document) { st.Status, st.Next = domain.StatusClean, "done" }),
	})
	m := loadDefinition(t, asl.Scan(), s, &workflow.Options{Sleep: new(sleeps).sleep})
	input, err := json.Marshal(asl.Document{ID: "r1", Object: domain.ObjectRef{Bucket: "uploads", Key: "a.txt", VersionID: "v1"}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := m.Start(t.Context(), "state-document", input)
	if err != nil {
		t.Fatal(err)
	}
	res := wait(t, e)
	if res.Status != workflow.StatusSucceeded {
		t.Errorf("result %+v; want SUCCEEDED", res)
	}
	if diff := cmp.Diff(e.States(), []string{"Claimed", "Claim", "AlreadyDecided", "Scan", "Record", "Route", "Done"}); diff != "" {
		t.Errorf("states (-got +want):\n%s", diff)
	}
}

// The Claimed choice: the ingest's input (a lease token, no location)
// goes straight to Scan; an input that also names a location is not the
// ingest's and goes through Claim, as one without a token does.
func TestScanDefinitionClaimedChoice(t *testing.T) {
	t.Parallel()
	const object = `"id": "r1", "object": {"bucket": "uploads", "key": "a.txt", "versionId": "v1", "etag": "e1", "size": 10}, "next": ""`
	for _, tc := range []struct {
		name       string
		input      string
		wantStates []string
	}{
		{"the ingest's claim", `{` + object + `, "leaseToken": "lease-1"}`,
			[]string{"Claimed", "Scan", "Record", "Route", "Done"}},
		{"a token and a location", `{` + object + `, "leaseToken": "lease-1", "location": {"bucket": "elsewhere", "key": "b.txt"}}`,
			[]string{"Claimed", "Claim", "AlreadyDecided", "Scan", "Record", "Route", "Done"}},
		{"no token", `{` + object + `}`,
			[]string{"Claimed", "Claim", "AlreadyDecided", "Scan", "Record", "Route", "Done"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSteps(map[string]workflow.Handler{
				"Claim":  merge(claimed),
				"Scan":   merge(verdict),
				"Record": merge(`{"status": "clean", "next": "done"}`),
			})
			m := loadDefinition(t, asl.Scan(), s, &workflow.Options{Name: "scan", Sleep: (&sleeps{}).sleep, Cause: lambdaCause})
			e, err := m.Start(t.Context(), asl.ExecutionName("scan", "a.txt", "r1", 0), json.RawMessage(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if res := wait(t, e); res.Status != workflow.StatusSucceeded {
				t.Fatalf("result %+v; want SUCCEEDED", res)
			}
			if diff := cmp.Diff(e.States(), tc.wantStates); diff != "" {
				t.Errorf("states (-got +want):\n%s", diff)
			}
		})
	}
}
