package workflow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/scangate/scangate/asl/workflow"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// stepError is a handler error with a name for Retry and Catch, like
// scangate's *lambdas.StepError.
type stepError struct{ typ, msg string }

func (e *stepError) Error() string     { return e.typ + ": " + e.msg }
func (e *stepError) ErrorType() string { return e.typ }

// handlers maps resources to handlers; it is the Resolver of most tests.
type handlers map[string]workflow.Handler

func (h handlers) resolve(resource, _ string) (workflow.Handler, error) {
	fn, ok := h[resource]
	if !ok {
		return nil, fmt.Errorf("no handler for %s", resource)
	}
	return fn, nil
}

// echo returns its input.
func echo(_ context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil }

// failing returns a handler that always fails with typ.
func failing(typ string) workflow.Handler {
	return func(context.Context, json.RawMessage) (json.RawMessage, error) {
		return nil, &stepError{typ: typ, msg: "always"}
	}
}

// blocking waits for its context to end.
func blocking(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// recorder is a handler that records each input it gets and answers with
// the next of its outputs (the last one repeating).
type recorder struct {
	mu      sync.Mutex
	inputs  []string
	outputs []func(in json.RawMessage) (json.RawMessage, error)
}

func (r *recorder) handle(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
	r.mu.Lock()
	r.inputs = append(r.inputs, string(in))
	n := len(r.inputs)
	r.mu.Unlock()
	if len(r.outputs) == 0 {
		return in, nil
	}
	return r.outputs[min(n, len(r.outputs))-1](in)
}

func (r *recorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.inputs...)
}

// sleeps records the waits the interpreter asks for and returns at once.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// load loads def, closing the Machine when the test ends. A nil opts gets
// a Sleep that returns at once, so that retries cost no time.
func load(t *testing.T, def string, h handlers, opts *workflow.Options) *workflow.Machine {
	t.Helper()
	if opts == nil {
		opts = &workflow.Options{Sleep: new(sleeps).sleep}
	}
	m, err := workflow.Load([]byte(def), h.resolve, opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// run starts an execution and waits for its result.
func run(t *testing.T, m *workflow.Machine, input string) (*workflow.Execution, workflow.Result) {
	t.Helper()
	e, err := m.Start(t.Context(), execName(t), json.RawMessage(input))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return e, wait(t, e)
}

// execName is the test's name as an execution name.
func execName(t *testing.T) string {
	return strings.ReplaceAll(t.Name(), "/", "_")
}

func wait(t *testing.T, e *workflow.Execution) workflow.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := e.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v; history: %v", err, e.History())
	}
	return res
}

// jsonDiff compares two JSON texts by value; it reports got before want.
func jsonDiff(t *testing.T, got []byte, want string) string {
	t.Helper()
	g, err := decodeNumbers(got)
	if err != nil {
		return fmt.Sprintf("got is not JSON (%v): %s", err, got)
	}
	w, err := decodeNumbers([]byte(want))
	if err != nil {
		t.Fatalf("want is not JSON (%v): %s", err, want)
	}
	return cmp.Diff(g, w)
}

// decodeNumbers decodes JSON keeping numbers as written.
func decodeNumbers(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// eventTypes lists the types of events, with their state when they have one.
func eventTypes(evs []workflow.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
		if ev.State != "" {
			out[i] += " " + ev.State
		}
	}
	return out
}

// waitFor polls cond until it holds or the test's time runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
