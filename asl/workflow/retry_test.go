package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/asl/workflow"
)

// retryDelays returns the Delay of each TaskRetry event.
func retryDelays(evs []workflow.Event) []time.Duration {
	var out []time.Duration
	for _, ev := range evs {
		if ev.Type == "TaskRetry" {
			out = append(out, ev.Delay)
		}
	}
	return out
}

func countEvents(evs []workflow.Event, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	// IntervalSeconds × BackoffRate^n: 2, 6, 18, then capped at 30.
	def := task(`"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 5, "MaxDelaySeconds": 30}],`)
	sl := &sleeps{}
	m := load(t, def, handlers{"fn": failing("E")}, &workflow.Options{Sleep: sl.sleep})
	e, res := run(t, m, `{}`)
	if res.Status != workflow.StatusFailed || res.Error != "E" || res.Cause != "E: always" {
		t.Errorf("result %+v; want FAILED with E", res)
	}
	want := []time.Duration{2 * time.Second, 6 * time.Second, 18 * time.Second, 30 * time.Second, 30 * time.Second}
	if diff := cmp.Diff(sl.got(), want); diff != "" {
		t.Errorf("sleeps (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(retryDelays(e.History()), want); diff != "" {
		t.Errorf("TaskRetry delays (-got +want):\n%s", diff)
	}
	if n := countEvents(e.History(), "TaskScheduled"); n != 6 {
		t.Errorf("%d attempts; want 6 (1 + MaxAttempts)", n)
	}
}

func TestRetryDefaults(t *testing.T) {
	t.Parallel()
	// IntervalSeconds 1, BackoffRate 2.0, MaxAttempts 3.
	sl := &sleeps{}
	m := load(t, task(`"Retry": [{"ErrorEquals": ["States.ALL"]}],`), handlers{"fn": failing("E")}, &workflow.Options{Sleep: sl.sleep})
	run(t, m, `{}`)
	if diff := cmp.Diff(sl.got(), []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}); diff != "" {
		t.Errorf("sleeps (-got +want):\n%s", diff)
	}
}

func TestRetryFullJitter(t *testing.T) {
	t.Parallel()
	def := task(`"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 8, "MaxDelaySeconds": 10, "JitterStrategy": "FULL"}],`)
	ceiling := []time.Duration{1, 2, 4, 8, 10, 10, 10, 10}
	sl := &sleeps{}
	m := load(t, def, handlers{"fn": failing("E")}, &workflow.Options{Sleep: sl.sleep})
	run(t, m, `{}`)
	got := sl.got()
	if len(got) != len(ceiling) {
		t.Fatalf("%d sleeps; want %d", len(got), len(ceiling))
	}
	same := true
	for i, d := range got {
		if d < 0 || d > ceiling[i]*time.Second {
			t.Errorf("retry %d slept %v; want within [0, %v]", i+1, d, ceiling[i]*time.Second)
		}
		same = same && d == ceiling[i]*time.Second
	}
	if same {
		t.Errorf("sleeps %v show no jitter", got)
	}
}

// States Language specification, "Complex retry scenarios": a task
// failing with ErrorA, ErrorB, ErrorC, ErrorB waits 1, 2 and 5 seconds; the
// fourth error finds the first retrier's MaxAttempts (two retries, counted
// across all its errors) used up and is caught. (Older copies of the AWS
// guide counted per error name, with a fifth error; the spec corrected it.)
func TestRetryCountsPerRetrier(t *testing.T) {
	t.Parallel()
	names := []string{"ErrorA", "ErrorB", "ErrorC", "ErrorB"}
	var calls atomic.Int32
	h := func(context.Context, json.RawMessage) (json.RawMessage, error) {
		return nil, &stepError{typ: names[calls.Add(1)-1], msg: "x"}
	}
	def := `{"StartAt": "X", "States": {
		"X": {"Type": "Task", "Resource": "fn", "Next": "Y",
			"Retry": [{"ErrorEquals": ["ErrorA", "ErrorB"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 2},
				{"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5}],
			"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}]},
		"Y": {"Type": "Succeed"}, "Z": {"Type": "Succeed"}}}`
	sl := &sleeps{}
	m := load(t, def, handlers{"fn": h}, &workflow.Options{Sleep: sl.sleep})
	e, res := run(t, m, `{}`)
	if diff := cmp.Diff(sl.got(), []time.Duration{time.Second, 2 * time.Second, 5 * time.Second}); diff != "" {
		t.Errorf("sleeps (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(e.States(), []string{"X", "Z"}); diff != "" {
		t.Errorf("states (-got +want):\n%s", diff)
	}
	// Without a ResultPath the error output replaces the input.
	if diff := jsonDiff(t, res.Output, `{"Error": "ErrorB", "Cause": "ErrorB: x"}`); diff != "" {
		t.Errorf("output (-got +want):\n%s", diff)
	}
}

// MaxAttempts 0 never retries: AWS docs, "Error handling", the retrier that
// retries everything except States.Timeout.
func TestRetryMaxAttemptsZero(t *testing.T) {
	t.Parallel()
	def := task(`"TimeoutSeconds": 1, "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 0}, {"ErrorEquals": ["States.ALL"]}],`)
	sl := &sleeps{}
	m := load(t, def, handlers{"fn": blocking}, &workflow.Options{Sleep: sl.sleep, TimeScale: 0.001})
	e, res := run(t, m, `{}`)
	if res.Status != workflow.StatusFailed || res.Error != workflow.ErrorTimeout {
		t.Errorf("result %+v; want FAILED with States.Timeout", res)
	}
	if n := countEvents(e.History(), "TaskScheduled"); n != 1 || len(sl.got()) != 0 {
		t.Errorf("%d attempts, sleeps %v; want 1 attempt and no retry", n, sl.got())
	}
}

func TestRetryRetryCount(t *testing.T) {
	t.Parallel()
	rec := &recorder{outputs: []func(json.RawMessage) (json.RawMessage, error){
		func(json.RawMessage) (json.RawMessage, error) { return nil, errors.New("plain error") },
		func(json.RawMessage) (json.RawMessage, error) { return nil, errors.New("plain error") },
		func(in json.RawMessage) (json.RawMessage, error) { return in, nil },
	}}
	def := task(`"Parameters": {"retry.$": "$$.State.RetryCount"}, "Retry": [{"ErrorEquals": ["States.TaskFailed"]}],`)
	m := load(t, def, handlers{"fn": rec.handle}, nil)
	_, res := run(t, m, `{}`)
	if res.Status != workflow.StatusSucceeded {
		t.Fatalf("result %+v", res)
	}
	want := []string{`{"retry":0}`, `{"retry":1}`, `{"retry":2}`}
	if diff := cmp.Diff(rec.calls(), want); diff != "" {
		t.Errorf("task inputs (-got +want):\n%s", diff)
	}
}

// States.TaskFailed matches every task error except States.Timeout.
func TestTaskFailedDoesNotMatchTimeout(t *testing.T) {
	t.Parallel()
	def := `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fn", "TimeoutSeconds": 1, "End": true,
		"Retry": [{"ErrorEquals": ["States.TaskFailed"]}],
		"Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"}, {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "TimedOut"}]},
		"Failed": {"Type": "Succeed"}, "TimedOut": {"Type": "Succeed"}}}`
	m := load(t, def, handlers{"fn": blocking}, &workflow.Options{Sleep: new(sleeps).sleep, TimeScale: 0.001})
	e, res := run(t, m, `{"in": 1}`)
	if diff := cmp.Diff(e.States(), []string{"T", "TimedOut"}); diff != "" {
		t.Errorf("states (-got +want):\n%s", diff)
	}
	var out struct {
		In    int
		Error struct{ Error string }
	}
	if err := json.Unmarshal(res.Output, &out); err != nil || out.In != 1 || out.Error.Error != workflow.ErrorTimeout {
		t.Errorf("output %s; want the input with a States.Timeout error", res.Output)
	}
	if n := countEvents(e.History(), "TaskTimedOut"); n != 1 {
		t.Errorf("%d TaskTimedOut events; want 1 (no retry)", n)
	}
}

func TestErrorNames(t *testing.T) {
	t.Parallel()
	wrapped := func(context.Context, json.RawMessage) (json.RawMessage, error) {
		return nil, errors.Join(errors.New("context"), &stepError{typ: "Wrapped", msg: "deep"})
	}
	panics := func(context.Context, json.RawMessage) (json.RawMessage, error) { panic("boom") }
	notJSON := func(context.Context, json.RawMessage) (json.RawMessage, error) { return json.RawMessage("{"), nil }
	for _, tc := range []struct {
		name      string
		h         workflow.Handler
		wantError string
	}{
		{"typed", failing("ClamdUnavailable"), "ClamdUnavailable"},
		{"wrapped", wrapped, "Wrapped"},
		{"untyped", func(context.Context, json.RawMessage) (json.RawMessage, error) { return nil, errors.New("x") }, workflow.ErrorTaskFailed},
		{"empty type", failing(""), workflow.ErrorTaskFailed},
		{"panic", panics, workflow.ErrorTaskFailed},
		{"output not JSON", notJSON, workflow.ErrorTaskFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cause := func(err error) string { return "cause of " + err.Error() }
			m := load(t, task(""), handlers{"fn": tc.h}, &workflow.Options{Cause: cause})
			e, res := run(t, m, `{}`)
			if res.Status != workflow.StatusFailed || res.Error != tc.wantError {
				t.Errorf("result %+v; want FAILED with %s", res, tc.wantError)
			}
			h := e.History()
			failed := h[len(h)-2]
			if failed.Type != "TaskFailed" || failed.Error != tc.wantError || failed.Cause != res.Cause {
				t.Errorf("event %+v; want TaskFailed with the result's error", failed)
			}
		})
	}
}

func TestCatchOrderAndResultPath(t *testing.T) {
	t.Parallel()
	def := `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fn", "End": true,
		"Catch": [{"ErrorEquals": ["Other"], "Next": "Wrong"},
			{"ErrorEquals": ["E", "F"], "ResultPath": "$.error", "Next": "Right"},
			{"ErrorEquals": ["States.ALL"], "Next": "Wrong"}]},
		"Wrong": {"Type": "Fail"}, "Right": {"Type": "Succeed"}}}`
	m := load(t, def, handlers{"fn": failing("F")}, nil)
	e, res := run(t, m, `{"foo": "bar"}`)
	if diff := cmp.Diff(e.States(), []string{"T", "Right"}); diff != "" {
		t.Errorf("states (-got +want):\n%s", diff)
	}
	// AWS docs, "ResultPath" > Use ResultPath to Include Both Error and Input in a Catch.
	if diff := jsonDiff(t, res.Output, `{"foo": "bar", "error": {"Error": "F", "Cause": "F: always"}}`); diff != "" {
		t.Errorf("output (-got +want):\n%s", diff)
	}
	got := eventTypes(e.History())
	want := []string{"ExecutionStarted", "TaskStateEntered T", "TaskScheduled T", "TaskFailed T", "TaskStateExited T",
		"SucceedStateEntered Right", "SucceedStateExited Right", "ExecutionSucceeded"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("history (-got +want):\n%s", diff)
	}
}

// Cancelling the execution while it waits to retry aborts it: no retry.
func TestAbortDuringRetryWait(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	h := func(context.Context, json.RawMessage) (json.RawMessage, error) {
		calls.Add(1)
		return nil, &stepError{typ: "E"}
	}
	def := task(`"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 3600}],`)
	m := load(t, def, handlers{"fn": h}, &workflow.Options{}) // real sleep
	ctx, cancel := context.WithCancel(t.Context())
	e, err := m.Start(ctx, "abort", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first retry", func() bool { return countEvents(e.History(), "TaskRetry") == 1 })
	cancel()
	res := wait(t, e)
	if res.Status != workflow.StatusAborted || calls.Load() != 1 {
		t.Errorf("result %+v after %d calls; want ABORTED after 1", res, calls.Load())
	}
	if h := e.History(); h[len(h)-1].Type != "ExecutionAborted" {
		t.Errorf("last event %+v", h[len(h)-1])
	}
}

// A handler cut off by the execution's end is not retried or caught.
func TestAbortDuringTask(t *testing.T) {
	t.Parallel()
	def := `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fn", "End": true,
		"Retry": [{"ErrorEquals": ["States.ALL"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}]},
		"C": {"Type": "Succeed"}}}`
	started := make(chan struct{})
	h := func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		close(started)
		<-ctx.Done()
		return nil, &stepError{typ: "E"}
	}
	m := load(t, def, handlers{"fn": h}, nil)
	e, err := m.Start(t.Context(), "abort", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	m.Close()
	res := wait(t, e)
	if res.Status != workflow.StatusAborted || res.Cause != workflow.ErrClosed.Error() {
		t.Errorf("result %+v; want ABORTED by Close", res)
	}
	if diff := cmp.Diff(e.States(), []string{"T"}); diff != "" {
		t.Errorf("states (-got +want):\n%s", diff)
	}
}

func TestExecutionTimeout(t *testing.T) {
	t.Parallel()
	def := `{"TimeoutSeconds": 1, "StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fn", "End": true,
		"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}]}, "C": {"Type": "Succeed"}}}`
	m := load(t, def, handlers{"fn": blocking}, &workflow.Options{TimeScale: 0.001})
	e, res := run(t, m, `{}`)
	if res.Status != workflow.StatusTimedOut || res.Error != workflow.ErrorTimeout {
		t.Errorf("result %+v; want TIMED_OUT", res)
	}
	if h := e.History(); h[len(h)-1].Type != "ExecutionTimedOut" {
		t.Errorf("last event %+v", h[len(h)-1])
	}
}

// A retrier's backoff grows with its own retries, whatever error caused
// them: ErrorA, ErrorB, ErrorC, ErrorA wait 1, 2, 5 and 4 seconds.
func TestRetryBackoffAcrossErrors(t *testing.T) {
	t.Parallel()
	names := []string{"ErrorA", "ErrorB", "ErrorC", "ErrorA"}
	var calls atomic.Int32
	h := func(context.Context, json.RawMessage) (json.RawMessage, error) {
		if n := calls.Add(1); int(n) <= len(names) {
			return nil, &stepError{typ: names[n-1], msg: "x"}
		}
		return json.RawMessage(`"done"`), nil
	}
	def := task(`"Retry": [{"ErrorEquals": ["ErrorA", "ErrorB"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 3},
		{"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5}],`)
	sl := &sleeps{}
	m := load(t, def, handlers{"fn": h}, &workflow.Options{Sleep: sl.sleep})
	_, res := run(t, m, `{}`)
	if string(res.Output) != `"done"` {
		t.Errorf("result %+v", res)
	}
	if diff := cmp.Diff(sl.got(), []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 4 * time.Second}); diff != "" {
		t.Errorf("sleeps (-got +want):\n%s", diff)
	}
}
