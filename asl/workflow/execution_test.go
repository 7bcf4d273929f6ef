package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scangate/scangate/asl/workflow"
)

const passDef = `{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}`

func TestStartNames(t *testing.T) {
	t.Parallel()
	m := load(t, passDef, nil, nil)
	e, err := m.Start(t.Context(), "once", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(t.Context(), "once", nil); !errors.Is(err, workflow.ErrExecutionAlreadyExists) {
		t.Errorf("second Start: %v; want ErrExecutionAlreadyExists", err)
	}
	if res := wait(t, e); string(res.Output) != `{}` {
		t.Errorf("empty input gave output %s; want {}", res.Output)
	}
	if _, err := m.Start(t.Context(), "once", nil); !errors.Is(err, workflow.ErrExecutionAlreadyExists) {
		t.Errorf("Start after the end: %v; want ErrExecutionAlreadyExists", err)
	}
	if got, ok := m.Execution("once"); !ok || got != e || got.Name() != "once" {
		t.Errorf("Execution(once) = %v, %v", got, ok)
	}
	if _, ok := m.Execution("other"); ok {
		t.Error("Execution(other) found something")
	}
	for _, name := range []string{"", "a b", "a/b", "a:b", string(make([]byte, 81))} {
		if _, err := m.Start(t.Context(), name, nil); !errors.Is(err, workflow.ErrInvalid) {
			t.Errorf("Start(%q): %v; want ErrInvalid", name, err)
		}
	}
	if _, err := m.Start(t.Context(), "bad-input", json.RawMessage(`{"a":`)); !errors.Is(err, workflow.ErrInvalid) {
		t.Errorf("Start with invalid input: %v; want ErrInvalid", err)
	}
	m.Close()
	m.Close()
	if _, err := m.Start(t.Context(), "late", nil); !errors.Is(err, workflow.ErrClosed) {
		t.Errorf("Start after Close: %v; want ErrClosed", err)
	}
}

func TestHistoryAndOnEvent(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []workflow.Event
	clock := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	opts := &workflow.Options{
		Name: "Scan",
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			clock = clock.Add(time.Millisecond)
			return clock
		},
		OnEvent: func(exec string, ev workflow.Event) {
			if exec != "h1" {
				t.Errorf("OnEvent for %q", exec)
			}
			mu.Lock()
			seen = append(seen, ev)
			mu.Unlock()
		},
	}
	def := `{"StartAt": "T", "States": {
		"T": {"Type": "Task", "Resource": "fn", "Parameters": {"start.$": "$$.Execution.StartTime", "entered.$": "$$.State.EnteredTime"}, "Next": "F"},
		"F": {"Type": "Fail", "ErrorPath": "$.start", "CausePath": "$.entered"}}}`
	m := load(t, def, handlers{"fn": echo}, opts)
	e, err := m.Start(t.Context(), "h1", json.RawMessage(`{"a": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	res := wait(t, e)
	// The Fail state took its error and cause from the context object.
	if res.Status != workflow.StatusFailed || res.Error != "2024-05-01T12:00:00.001Z" || res.Cause != "2024-05-01T12:00:00.003Z" {
		t.Errorf("result %+v", res)
	}
	h := e.History()
	want := []workflow.Event{
		{ID: 1, Type: "ExecutionStarted", Input: json.RawMessage(`{"a":1}`)},
		{ID: 2, Type: "TaskStateEntered", State: "T", Input: json.RawMessage(`{"a":1}`)},
		{ID: 3, Type: "TaskScheduled", State: "T", Input: json.RawMessage(`{"entered":"2024-05-01T12:00:00.003Z","start":"2024-05-01T12:00:00.001Z"}`), Attempt: 1},
		{ID: 4, Type: "TaskSucceeded", State: "T", Output: json.RawMessage(`{"entered":"2024-05-01T12:00:00.003Z","start":"2024-05-01T12:00:00.001Z"}`), Attempt: 1},
		{ID: 5, Type: "TaskStateExited", State: "T", Output: json.RawMessage(`{"entered":"2024-05-01T12:00:00.003Z","start":"2024-05-01T12:00:00.001Z"}`)},
		{ID: 6, Type: "FailStateEntered", State: "F", Input: json.RawMessage(`{"entered":"2024-05-01T12:00:00.003Z","start":"2024-05-01T12:00:00.001Z"}`)},
		{ID: 7, Type: "ExecutionFailed", Error: "2024-05-01T12:00:00.001Z", Cause: "2024-05-01T12:00:00.003Z"},
	}
	if diff := cmp.Diff(h, want, cmpopts.IgnoreFields(workflow.Event{}, "Time")); diff != "" {
		t.Errorf("history (-got +want):\n%s", diff)
	}
	for i := 1; i < len(h); i++ {
		if !h[i].Time.After(h[i-1].Time) {
			t.Errorf("event %d at %v is not after event %d at %v", h[i].ID, h[i].Time, h[i-1].ID, h[i-1].Time)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(seen, h); diff != "" {
		t.Errorf("OnEvent saw (-got +want):\n%s", diff)
	}
	if got := e.ARN(); got != "arn:aws:states:local:000000000000:execution:Scan:h1" {
		t.Errorf("ARN %s", got)
	}
	if got := m.ARN(); got != "arn:aws:states:local:000000000000:stateMachine:Scan" {
		t.Errorf("machine ARN %s", got)
	}
}

// History and States may be read while the execution runs (run with -race).
func TestHistoryWhileRunning(t *testing.T) {
	t.Parallel()
	inc := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		var v struct{ N int }
		if err := json.Unmarshal(in, &v); err != nil {
			return nil, err
		}
		return json.RawMessage(`{"N":` + strconv.Itoa(v.N+1) + `}`), nil
	}
	def := `{"StartAt": "Inc", "States": {
		"Inc": {"Type": "Task", "Resource": "inc", "Next": "Loop"},
		"Loop": {"Type": "Choice", "Choices": [{"Variable": "$.N", "NumericLessThan": 200, "Next": "Inc"}], "Default": "Done"},
		"Done": {"Type": "Succeed"}}}`
	m := load(t, def, handlers{"inc": inc}, nil)
	e, err := m.Start(t.Context(), "loop", json.RawMessage(`{"N": 0}`))
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	for e.Status() == workflow.StatusRunning {
		_ = e.History()
		_ = e.States()
		reads++
	}
	res := wait(t, e)
	if string(res.Output) != `{"N":200}` || len(e.States()) != 401 {
		t.Errorf("result %+v after %d states", res, len(e.States()))
	}
	t.Logf("%d reads while running", reads)
}

func TestWaitState(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	def := `{"StartAt": "W1", "States": {
		"W1": {"Type": "Wait", "Seconds": 10, "Next": "W2"},
		"W2": {"Type": "Wait", "SecondsPath": "$.secs", "Next": "W3"},
		"W3": {"Type": "Wait", "Timestamp": "2024-05-01T12:01:00Z", "Next": "W4"},
		"W4": {"Type": "Wait", "TimestampPath": "$.until", "OutputPath": "$.secs", "End": true}}}`
	sl := &sleeps{}
	m := load(t, def, nil, &workflow.Options{Sleep: sl.sleep, Now: func() time.Time { return now }, TimeScale: 0.5})
	_, res := run(t, m, `{"secs": 4, "until": "2024-05-01T12:00:30Z"}`)
	if string(res.Output) != `4` {
		t.Errorf("result %+v", res)
	}
	// TimeScale halves every wait.
	want := []time.Duration{5 * time.Second, 2 * time.Second, 30 * time.Second, 15 * time.Second}
	if diff := cmp.Diff(sl.got(), want); diff != "" {
		t.Errorf("sleeps (-got +want):\n%s", diff)
	}

	_, res = run2(t, m, "bad-secs", `{"secs": -1}`)
	if res.Error != workflow.ErrorRuntime {
		t.Errorf("negative SecondsPath: %+v; want States.Runtime", res)
	}
}

// run2 is run with an explicit execution name.
func run2(t *testing.T, m *workflow.Machine, name, input string) (*workflow.Execution, workflow.Result) {
	t.Helper()
	e, err := m.Start(t.Context(), name, json.RawMessage(input))
	if err != nil {
		t.Fatal(err)
	}
	return e, wait(t, e)
}

func TestWaitReturnsOnContext(t *testing.T) {
	t.Parallel()
	m := load(t, task(""), handlers{"fn": blocking}, nil)
	e, err := m.Start(t.Context(), "blocked", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := e.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait: %v; want the context's error", err)
	}
	m.Close()
	if res := wait(t, e); res.Status != workflow.StatusAborted {
		t.Errorf("after Close: %+v", res)
	}
}

func TestSucceedAndFailStates(t *testing.T) {
	t.Parallel()
	def := `{"StartAt": "C", "States": {
		"C": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "S"}], "Default": "F"},
		"S": {"Type": "Succeed", "InputPath": "$.data", "OutputPath": "$.x"},
		"F": {"Type": "Fail", "Error": "Nope", "Cause": "not ok"}}}`
	m := load(t, def, nil, nil)
	e, res := run2(t, m, "ok", `{"ok": true, "data": {"x": [1]}}`)
	if res.Status != workflow.StatusSucceeded || string(res.Output) != `[1]` {
		t.Errorf("result %+v", res)
	}
	if diff := cmp.Diff(eventTypes(e.History()), []string{"ExecutionStarted", "ChoiceStateEntered C", "ChoiceStateExited C",
		"SucceedStateEntered S", "SucceedStateExited S", "ExecutionSucceeded"}); diff != "" {
		t.Errorf("history (-got +want):\n%s", diff)
	}
	e, res = run2(t, m, "not-ok", `{"ok": false}`)
	if diff := cmp.Diff(res, workflow.Result{Status: workflow.StatusFailed, Error: "Nope", Cause: "not ok"}); diff != "" {
		t.Errorf("result (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(eventTypes(e.History()), []string{"ExecutionStarted", "ChoiceStateEntered C", "ChoiceStateExited C",
		"FailStateEntered F", "ExecutionFailed"}); diff != "" {
		t.Errorf("history (-got +want):\n%s", diff)
	}
}

// Every event carries the document as it stands at that event, whether
// the document changed at the state before or passed through unchanged
// (the interpreter renders an unchanged document once per execution and
// reuses the text: a stale text would show here).
func TestEventsCarryTheirDocument(t *testing.T) {
	t.Parallel()
	const def = `{"StartAt": "A", "States": {
		"A": {"Type": "Pass", "Result": {"step": 1}, "ResultPath": "$.a", "Next": "C"},
		"C": {"Type": "Choice", "Choices": [{"Variable": "$.a.step", "NumericEquals": 1, "Next": "B"}], "Default": "D"},
		"B": {"Type": "Pass", "Next": "E"},
		"E": {"Type": "Pass", "Result": 2, "ResultPath": "$.a.step", "Next": "D"},
		"D": {"Type": "Pass", "Parameters": {"x.$": "$.a.step", "kept.$": "$"}, "End": true}}}`
	m := load(t, def, nil, nil)
	e, res := run(t, m, `{"n": 0}`)
	if res.Status != workflow.StatusSucceeded {
		t.Fatalf("status %s", res.Status)
	}
	const (
		in  = `{"n": 0}`
		a1  = `{"n": 0, "a": {"step": 1}}`
		a2  = `{"n": 0, "a": {"step": 2}}`
		out = `{"x": 2, "kept": {"n": 0, "a": {"step": 2}}}`
	)
	want := map[string][2]string{ // state: entered input, exited output
		"A": {in, a1}, "C": {a1, a1}, "B": {a1, a1}, "E": {a1, a2}, "D": {a2, out},
	}
	seen := 0
	for _, ev := range e.History() {
		w, ok := want[ev.State]
		switch {
		case !ok:
		case ev.Type == "PassStateEntered" || ev.Type == "ChoiceStateEntered":
			seen++
			if diff := jsonDiff(t, ev.Input, w[0]); diff != "" {
				t.Errorf("%s %s input: %s", ev.State, ev.Type, diff)
			}
		case ev.Type == "PassStateExited" || ev.Type == "ChoiceStateExited":
			seen++
			if diff := jsonDiff(t, ev.Output, w[1]); diff != "" {
				t.Errorf("%s %s output: %s", ev.State, ev.Type, diff)
			}
		}
	}
	if seen != 2*len(want) {
		t.Errorf("checked %d events, want %d", seen, 2*len(want))
	}
	if diff := jsonDiff(t, res.Output, out); diff != "" {
		t.Errorf("output: %s", diff)
	}
}
