package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/asl/workflow"
)

// callbackDef is a callback task whose function gets the task token; extra
// goes into the task state.
func callbackDef(extra string) string {
	return `{"StartAt": "Await", "States": {
		"Await": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
			"Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token", "in.$": "$"}},
			"ResultPath": "$.answer", ` + extra + ` "Next": "Done"},
		"Done": {"Type": "Succeed"},
		"Caught": {"Type": "Succeed"}}}`
}

// tokens is the callback function of callbackDef: it passes on each token
// it is given.
type tokens chan string

func (c tokens) notify(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
	var p struct{ Token string }
	if err := json.Unmarshal(in, &p); err != nil {
		return nil, err
	}
	c <- p.Token
	return json.RawMessage(`{"ignored": true}`), nil
}

func startCallback(t *testing.T, extra string, opts *workflow.Options) (*workflow.Machine, *workflow.Execution, tokens) {
	t.Helper()
	tok := make(tokens, 10)
	m := load(t, callbackDef(extra), handlers{"notify": tok.notify}, opts)
	e, err := m.Start(t.Context(), "callback", json.RawMessage(`{"id": "r1"}`))
	if err != nil {
		t.Fatal(err)
	}
	return m, e, tok
}

func TestTaskTokenSuccess(t *testing.T) {
	t.Parallel()
	m, e, tok := startCallback(t, "", nil)
	token := <-tok
	if err := m.SendTaskSuccess(t.Context(), token, json.RawMessage(`{"decision": "release"}`)); err != nil {
		t.Fatal(err)
	}
	res := wait(t, e)
	if diff := jsonDiff(t, res.Output, `{"id": "r1", "answer": {"decision": "release"}}`); diff != "" {
		t.Errorf("output (-got +want):\n%s", diff)
	}
	want := []string{"ExecutionStarted", "TaskStateEntered Await", "TaskScheduled Await", "TaskSubmitted Await",
		"TaskSucceeded Await", "TaskStateExited Await", "SucceedStateEntered Done", "SucceedStateExited Done", "ExecutionSucceeded"}
	if diff := cmp.Diff(eventTypes(e.History()), want); diff != "" {
		t.Errorf("history (-got +want):\n%s", diff)
	}
	if err := m.SendTaskSuccess(t.Context(), token, json.RawMessage(`{}`)); !errors.Is(err, workflow.ErrTaskTimedOut) {
		t.Errorf("second SendTaskSuccess: %v; want ErrTaskTimedOut", err)
	}
	if err := m.SendTaskFailure(t.Context(), token, "E", ""); !errors.Is(err, workflow.ErrTaskTimedOut) {
		t.Errorf("SendTaskFailure after success: %v; want ErrTaskTimedOut", err)
	}
}

func TestTaskTokenFailure(t *testing.T) {
	t.Parallel()
	m, e, tok := startCallback(t, `"Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.error", "Next": "Caught"}],`, nil)
	if err := m.SendTaskFailure(t.Context(), <-tok, "Rejected", "not today"); err != nil {
		t.Fatal(err)
	}
	res := wait(t, e)
	if diff := cmp.Diff(e.States(), []string{"Await", "Caught"}); diff != "" {
		t.Errorf("states (-got +want):\n%s", diff)
	}
	if diff := jsonDiff(t, res.Output, `{"id": "r1", "error": {"Error": "Rejected", "Cause": "not today"}}`); diff != "" {
		t.Errorf("output (-got +want):\n%s", diff)
	}
}

// A failure sent with the token is retried like a handler's: the task runs
// again with a new token, and the old one is closed.
func TestTaskTokenFailureRetried(t *testing.T) {
	t.Parallel()
	m, e, tok := startCallback(t, `"Retry": [{"ErrorEquals": ["Busy"]}],`, nil)
	first := <-tok
	if err := m.SendTaskFailure(t.Context(), first, "Busy", ""); err != nil {
		t.Fatal(err)
	}
	second := <-tok
	if second == first {
		t.Fatal("the retry reused the token")
	}
	if err := m.SendTaskSuccess(t.Context(), first, json.RawMessage(`1`)); !errors.Is(err, workflow.ErrTaskTimedOut) {
		t.Errorf("SendTaskSuccess with the first token: %v; want ErrTaskTimedOut", err)
	}
	if err := m.SendTaskSuccess(t.Context(), second, json.RawMessage(`2`)); err != nil {
		t.Fatal(err)
	}
	if res := wait(t, e); res.Status != workflow.StatusSucceeded {
		t.Errorf("result %+v", res)
	}
}

func TestTaskTokenTimeout(t *testing.T) {
	t.Parallel()
	m, e, tok := startCallback(t, `"TimeoutSeconds": 1,`, &workflow.Options{TimeScale: 0.001})
	token := <-tok
	res := wait(t, e)
	if res.Status != workflow.StatusFailed || res.Error != workflow.ErrorTimeout {
		t.Errorf("result %+v; want FAILED with States.Timeout", res)
	}
	if err := m.SendTaskSuccess(t.Context(), token, json.RawMessage(`{}`)); !errors.Is(err, workflow.ErrTaskTimedOut) {
		t.Errorf("SendTaskSuccess after the timeout: %v; want ErrTaskTimedOut", err)
	}
}

func TestTaskTokenUnknownAndInvalid(t *testing.T) {
	t.Parallel()
	m, e, tok := startCallback(t, "", nil)
	token := <-tok
	if err := m.SendTaskSuccess(t.Context(), "not-a-token", json.RawMessage(`{}`)); !errors.Is(err, workflow.ErrTaskDoesNotExist) {
		t.Errorf("SendTaskSuccess with an unknown token: %v; want ErrTaskDoesNotExist", err)
	}
	if err := m.SendTaskFailure(t.Context(), "", "E", "c"); !errors.Is(err, workflow.ErrTaskDoesNotExist) {
		t.Errorf("SendTaskFailure with an empty token: %v; want ErrTaskDoesNotExist", err)
	}
	if err := m.SendTaskSuccess(t.Context(), token, json.RawMessage(`{`)); !errors.Is(err, workflow.ErrInvalid) {
		t.Errorf("SendTaskSuccess with invalid JSON: %v; want ErrInvalid", err)
	}
	if got := e.Status(); got != workflow.StatusRunning {
		t.Errorf("status %s; the bad answers must leave the task waiting", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.SendTaskSuccess(ctx, token, json.RawMessage(`{}`)); !errors.Is(err, context.Canceled) {
		t.Errorf("SendTaskSuccess with a done context: %v", err)
	}
	if err := m.SendTaskSuccess(t.Context(), token, json.RawMessage(`"ok"`)); err != nil {
		t.Fatal(err)
	}
	if res := wait(t, e); res.Status != workflow.StatusSucceeded {
		t.Errorf("result %+v", res)
	}
}

// The answer may come before the function has even returned.
func TestTaskTokenAnsweredByTheFunction(t *testing.T) {
	t.Parallel()
	var m *workflow.Machine
	answer := func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		var p struct{ Token string }
		if err := json.Unmarshal(in, &p); err != nil {
			return nil, err
		}
		return nil, m.SendTaskSuccess(ctx, p.Token, json.RawMessage(`"early"`))
	}
	m = load(t, callbackDef(""), handlers{"notify": answer}, nil)
	_, res := run(t, m, `{}`)
	if diff := jsonDiff(t, res.Output, `{"answer": "early"}`); diff != "" {
		t.Errorf("output (-got +want):\n%s", diff)
	}
}

// A function that fails fails the task at once: there is nothing to wait for.
func TestTaskTokenFunctionFails(t *testing.T) {
	t.Parallel()
	m := load(t, callbackDef(""), handlers{"notify": failing("BackendUnavailable")}, nil)
	e, res := run(t, m, `{}`)
	if res.Error != "BackendUnavailable" {
		t.Errorf("result %+v", res)
	}
	if n := countEvents(e.History(), "TaskSubmitted"); n != 0 {
		t.Errorf("%d TaskSubmitted events; want none", n)
	}
}

func TestTaskTokenAbortedWhileWaiting(t *testing.T) {
	t.Parallel()
	tok := make(tokens, 1)
	m := load(t, callbackDef(""), handlers{"notify": tok.notify}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	e, err := m.Start(ctx, "abort", nil)
	if err != nil {
		t.Fatal(err)
	}
	token := <-tok
	cancel()
	if res := wait(t, e); res.Status != workflow.StatusAborted {
		t.Errorf("result %+v; want ABORTED", res)
	}
	if err := m.SendTaskSuccess(t.Context(), token, json.RawMessage(`{}`)); !errors.Is(err, workflow.ErrTaskTimedOut) {
		t.Errorf("SendTaskSuccess after the abort: %v; want ErrTaskTimedOut", err)
	}
}
