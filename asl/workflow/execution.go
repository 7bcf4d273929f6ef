package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Status is an execution's status, named as in Step Functions.
type Status string

// Execution statuses.
const (
	StatusRunning   Status = "RUNNING"
	StatusSucceeded Status = "SUCCEEDED"
	StatusFailed    Status = "FAILED"
	StatusTimedOut  Status = "TIMED_OUT"
	StatusAborted   Status = "ABORTED"
)

// Result is how an execution ended. Output is set when it succeeded; Error
// and Cause when it failed or timed out. An aborted execution's Cause says
// why it was stopped.
type Result struct {
	Status       Status
	Output       json.RawMessage
	Error, Cause string
}

// Event is one entry of an execution's history, modelled on Step
// Functions' GetExecutionHistory. Types are:
//
//   - ExecutionStarted (Input), ExecutionSucceeded (Output), ExecutionFailed
//     and ExecutionTimedOut (Error, Cause), ExecutionAborted (Cause);
//   - <Type>StateEntered (Input: the state's raw input) and
//     <Type>StateExited (Output), for Task, Pass, Choice, Wait, Succeed and
//     Fail states; a state whose error is not caught has no StateExited;
//   - TaskScheduled (Input: what the handler gets), TaskSubmitted (Output:
//     what a callback task's handler returned; the task then waits for its
//     token), TaskSucceeded (Output: the task's result), TaskFailed and
//     TaskTimedOut (Error, Cause); Attempt counts the task's calls within
//     the state, from 1;
//   - TaskRetry (Error, Cause, Delay): the task failed and will be tried
//     again after Delay; Attempt is the retry's number within its retrier,
//     so Delay is IntervalSeconds × BackoffRate^(Attempt-1), capped by
//     MaxDelaySeconds, before jitter.
type Event struct {
	ID            int
	Time          time.Time
	Type, State   string
	Input, Output json.RawMessage
	Error, Cause  string
	Attempt       int
	Delay         time.Duration
}

// Execution is one run of a Machine.
type Execution struct {
	m      *Machine
	child  bool // a Map's child execution: its events are its own
	name   string
	arn    string
	input  any
	start  time.Time
	cancel func(cause error)
	done   chan struct{} // closed when the execution has ended

	// rendered memoizes the execution's last renderings of objects for
	// its history (see render). Only the execution's own goroutine uses
	// it (and Start, before that goroutine starts).
	rendered renderMemo

	mu     sync.Mutex
	events []Event
	status Status
	result Result
}

// Name is the execution's name.
func (e *Execution) Name() string { return e.name }

// ARN is the execution's fake but well-formed ARN,
// arn:aws:states:local:000000000000:execution:<machine>:<name>.
func (e *Execution) ARN() string { return e.arn }

// Status reports the execution's status without waiting.
func (e *Execution) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// Wait waits for the execution to end and returns how it ended, or ctx's
// error if ctx ends first.
func (e *Execution) Wait(ctx context.Context) (Result, error) {
	select {
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-e.done:
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.result, nil
}

// History returns a copy of the events recorded so far. It is safe to call
// while the execution runs.
func (e *Execution) History() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

// States returns the names of the states entered so far, in order.
func (e *Execution) States() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.events {
		if strings.HasSuffix(ev.Type, "StateEntered") {
			out = append(out, ev.State)
		}
	}
	return out
}

func (e *Execution) emit(ev Event) {
	e.mu.Lock()
	ev.ID = len(e.events) + 1
	ev.Time = e.m.now()
	e.events = append(e.events, ev)
	e.mu.Unlock()
	// Checked first: the arguments alone cost allocations per event, and
	// debug logging is usually off.
	if e.m.log.Enabled(context.Background(), slog.LevelDebug) {
		e.m.log.Debug("workflow event", "execution", e.name, "id", ev.ID, "type", ev.Type, "state", ev.State)
	}
	if e.m.onEvent != nil && !e.child {
		e.m.onEvent(e.name, ev)
	}
}

// failure is an error in States Language terms.
type failure struct {
	name, cause string
}

func runtimeFailure(format string, args ...any) *failure {
	return &failure{name: ErrorRuntime, cause: fmt.Sprintf(format, args...)}
}

// output is the error output a Catch passes on.
func (f *failure) output() any {
	out := map[string]any{"Error": f.name}
	if f.cause != "" {
		out["Cause"] = f.cause
	}
	return out
}

func (e *Execution) run(ctx context.Context) {
	defer e.m.wg.Done()
	res := e.execute(ctx)
	switch res.Status {
	case StatusSucceeded:
		e.emit(Event{Type: "ExecutionSucceeded", Output: res.Output})
	case StatusFailed:
		e.m.log.Warn("workflow execution failed", "execution", e.name, "error", res.Error, "cause", res.Cause)
		e.emit(Event{Type: "ExecutionFailed", Error: res.Error, Cause: res.Cause})
	case StatusTimedOut:
		e.m.log.Warn("workflow execution timed out", "execution", e.name)
		e.emit(Event{Type: "ExecutionTimedOut", Error: res.Error, Cause: res.Cause})
	case StatusAborted:
		e.m.log.Info("workflow execution aborted", "execution", e.name, "cause", res.Cause)
		e.emit(Event{Type: "ExecutionAborted", Cause: res.Cause})
	}
	e.mu.Lock()
	e.status, e.result = res.Status, res
	e.mu.Unlock()
	e.cancel(nil) // release the context's resources
	close(e.done)
}

// interrupted is the result of an execution whose context ended.
func interrupted(ctx context.Context) Result {
	cause := context.Cause(ctx)
	if errors.Is(cause, errExecutionTimedOut) {
		return Result{Status: StatusTimedOut, Error: ErrorTimeout, Cause: errorExecutionTimeoutMessage}
	}
	return Result{Status: StatusAborted, Cause: cause.Error()}
}

func (e *Execution) execute(ctx context.Context) Result {
	return e.executeDef(ctx, e.m.def)
}

// executeDef runs d's states from its StartAt on the execution's input:
// the machine's definition, or a Map's processor in a child execution.
func (e *Execution) executeDef(ctx context.Context, d *definition) Result {
	name, data := d.startAt, e.input
	for {
		if ctx.Err() != nil {
			return interrupted(ctx)
		}
		s := d.states[name]
		entered := e.m.now()
		e.emit(Event{Type: s.typ + "StateEntered", State: name, Input: e.render(data)})
		out, next, f := e.runState(ctx, s, data, entered)
		if ctx.Err() != nil {
			return interrupted(ctx)
		}
		if f != nil {
			return Result{Status: StatusFailed, Error: f.name, Cause: f.cause}
		}
		e.emit(Event{Type: s.typ + "StateExited", State: name, Output: e.render(out)})
		if next == "" {
			return Result{Status: StatusSucceeded, Output: e.render(out)}
		}
		name, data = next, out
	}
}

// runState runs one state on its raw input and returns its output and the
// next state ("" to end the execution), or the failure that ends it.
func (e *Execution) runState(ctx context.Context, s *state, raw any, entered time.Time) (any, string, *failure) {
	if s.typ == typeTask {
		return e.runTask(ctx, s, raw, entered)
	}
	if s.typ == typeFail {
		return nil, "", failState(s, raw)
	}
	if s.typ == typeMap {
		return e.runMap(ctx, s, raw, entered)
	}
	var ctxObj map[string]any
	if s.usesContext {
		ctxObj = e.contextObject(s, entered, 0, "")
	}
	in, f := selectPath(s.inputPath, raw, "InputPath")
	if f != nil {
		return nil, "", f
	}
	next := s.next
	var out any
	switch s.typ {
	case typePass:
		if s.parameters != nil {
			if in, f = evalTemplate(s.parameters, in, ctxObj, "Parameters"); f != nil {
				return nil, "", f
			}
		}
		result := in
		if s.hasResult {
			result = s.result
		}
		if out, f = applyResultPath(s.resultPath, raw, result); f != nil {
			return nil, "", f
		}
	case typeChoice:
		if next, f = choose(s, in, ctxObj); f != nil {
			return nil, "", f
		}
		out = in
	case typeWait:
		if f = e.wait(ctx, s, in); f != nil {
			return nil, "", f
		}
		out = in
	case typeSucceed:
		out = in
	}
	out, f = selectPath(s.outputPath, out, "OutputPath")
	return out, next, f
}

func failState(s *state, raw any) *failure {
	f := &failure{name: s.errorName, cause: s.cause}
	for _, x := range []struct {
		p   *refPath
		dst *string
	}{{s.errorPath, &f.name}, {s.causePath, &f.cause}} {
		if x.p == nil {
			continue
		}
		v, ok := x.p.get(raw)
		str, isString := v.(string)
		if !ok || !isString {
			return runtimeFailure("the path %s does not select a string in the input", x.p)
		}
		*x.dst = str
	}
	return f
}

func choose(s *state, in, ctxObj any) (string, *failure) {
	for _, c := range s.choices {
		ok, err := c.rule.match(in, ctxObj)
		if err != nil {
			return "", runtimeFailure("%v", err)
		}
		if ok {
			return c.next, nil
		}
	}
	if s.defaultNext != "" {
		return s.defaultNext, nil
	}
	return "", &failure{name: ErrorNoChoiceMatched, cause: fmt.Sprintf("no choice rule matched in state %q and it has no Default", s.name)}
}

func (e *Execution) wait(ctx context.Context, s *state, in any) *failure {
	d := s.seconds
	switch {
	case s.secondsPath != nil:
		v, ok := s.secondsPath.get(in)
		n, isNumber := v.(json.Number)
		secs, err := n.Int64()
		if !ok || !isNumber || err != nil || secs < 0 || secs > maxSeconds {
			return runtimeFailure("SecondsPath %s does not select a non-negative integer", s.secondsPath)
		}
		d = time.Duration(secs) * time.Second
	case s.timestampPath != nil:
		v, ok := s.timestampPath.get(in)
		t, isTime := timestamp(v)
		if !ok || !isTime {
			return runtimeFailure("TimestampPath %s does not select a timestamp", s.timestampPath)
		}
		d = t.(time.Time).Sub(e.m.now())
	case !s.timestamp.IsZero():
		d = s.timestamp.Sub(e.m.now())
	}
	if d <= 0 {
		return nil
	}
	if err := e.m.sleep(ctx, e.m.scaled(d)); err != nil && ctx.Err() == nil {
		return runtimeFailure("wait: %v", err)
	}
	return nil
}

// Task states.

func (e *Execution) runTask(ctx context.Context, s *state, raw any, entered time.Time) (any, string, *failure) {
	retries := make([]int, len(s.retry)) // retries made, per retrier
	for attempt := 1; ; attempt++ {
		out, f := e.attempt(ctx, s, raw, entered, attempt)
		if f == nil {
			return out, s.next, nil
		}
		if ctx.Err() != nil || f.name == ErrorRuntime {
			return nil, "", f
		}
		// The first retrier that matches decides, even when it has no
		// retries left.
		if i := slices.IndexFunc(s.retry, func(r retrier) bool { return matches(r.errorEquals, f.name) }); i >= 0 && retries[i] < s.retry[i].maxAttempts {
			d := s.retry[i].delay(retries[i])
			retries[i]++
			e.m.log.Info("workflow task retrying", "execution", e.name, "state", s.name, "error", f.name, "retry", retries[i], "delay", d)
			e.emit(Event{Type: "TaskRetry", State: s.name, Error: f.name, Cause: f.cause, Attempt: retries[i], Delay: d})
			if err := e.m.sleep(ctx, e.m.scaled(d)); err != nil {
				if ctx.Err() != nil {
					return nil, "", f
				}
				return nil, "", runtimeFailure("retry wait: %v", err)
			}
			continue
		}
		for _, c := range s.catch {
			if matches(c.errorEquals, f.name) {
				out, rf := applyResultPath(c.resultPath, raw, f.output())
				if rf != nil {
					return nil, "", rf
				}
				return out, c.next, nil
			}
		}
		return nil, "", f
	}
}

// matches implements ErrorEquals: States.ALL matches every error but
// States.Runtime; States.TaskFailed matches every error but States.Runtime
// and States.Timeout; any other name matches itself.
func matches(errorEquals []string, name string) bool {
	for _, want := range errorEquals {
		switch {
		case want == name:
			return true
		case name == ErrorRuntime:
		case want == ErrorAll:
			return true
		case want == ErrorTaskFailed && name != ErrorTimeout:
			return true
		}
	}
	return false
}

// delay is the wait before the retry that follows n earlier retries by r.
func (r retrier) delay(n int) time.Duration {
	secs := r.interval * math.Pow(r.backoffRate, float64(n))
	if r.maxDelay > 0 && secs > r.maxDelay {
		secs = r.maxDelay
	}
	secs = min(secs, maxSeconds)
	if r.fullJitter {
		secs *= rand.Float64()
	}
	return time.Duration(secs * float64(time.Second))
}

// errTaskTimedOut is the cause of a task context whose TimeoutSeconds passed.
var errTaskTimedOut = errors.New("workflow: task timed out")

// attempt makes one attempt of a Task state: input processing, the handler
// (and, for a callback task, the wait for its token), result processing.
func (e *Execution) attempt(ctx context.Context, s *state, raw any, entered time.Time, attempt int) (any, *failure) {
	var token string
	var w *taskWait
	if s.invoke == invokeLambdaToken {
		token, w = e.m.newToken()
		defer e.m.closeToken(token)
	}
	var ctxObj map[string]any
	if s.usesContext {
		ctxObj = e.contextObject(s, entered, attempt-1, token)
	}
	in, f := selectPath(s.inputPath, raw, "InputPath")
	if f != nil {
		return nil, f
	}
	if s.parameters != nil {
		if in, f = evalTemplate(s.parameters, in, ctxObj, "Parameters"); f != nil {
			return nil, f
		}
	}
	if s.invoke != invokePlain {
		// The lambda:invoke integrations take {FunctionName, Payload}; the
		// function gets the Payload.
		params, _ := in.(map[string]any)
		payload, ok := params["Payload"]
		if !ok {
			payload = map[string]any{}
		}
		in = payload
	}
	input := e.render(in)
	e.emit(Event{Type: "TaskScheduled", State: s.name, Input: input, Attempt: attempt})

	taskCtx, cancel := ctx, context.CancelFunc(func() {})
	if s.timeout > 0 {
		taskCtx, cancel = context.WithTimeoutCause(ctx, e.m.scaled(s.timeout), errTaskTimedOut)
	}
	defer cancel()
	timedOut := func() *failure {
		f := &failure{name: ErrorTimeout, cause: fmt.Sprintf("the task ran longer than its TimeoutSeconds (%s)", s.timeout)}
		e.emit(Event{Type: "TaskTimedOut", State: s.name, Error: f.name, Cause: f.cause, Attempt: attempt})
		return f
	}

	out, err := e.m.call(taskCtx, s, input)
	switch {
	case ctx.Err() != nil:
		return nil, &failure{name: "States.Aborted"} // the caller reports the interruption
	case errors.Is(context.Cause(taskCtx), errTaskTimedOut):
		return nil, timedOut()
	case err != nil:
		f := e.m.taskFailure(err)
		e.emit(Event{Type: "TaskFailed", State: s.name, Error: f.name, Cause: f.cause, Attempt: attempt})
		return nil, f
	}

	var result any
	if s.invoke == invokeLambdaToken {
		e.emit(Event{Type: "TaskSubmitted", State: s.name, Output: out, Attempt: attempt})
		var a tokenAnswer
		select {
		case <-taskCtx.Done():
			if ctx.Err() != nil {
				return nil, &failure{name: "States.Aborted"}
			}
			// An answer that SendTaskSuccess accepted before the token
			// closed is used, even if the timeout fired at the same time.
			e.m.closeToken(token)
			select {
			case a = <-w.answer:
			default:
				return nil, timedOut()
			}
		case a = <-w.answer:
		}
		if a.failed {
			f := &failure{name: a.error, cause: a.cause}
			e.emit(Event{Type: "TaskFailed", State: s.name, Error: f.name, Cause: f.cause, Attempt: attempt})
			return nil, f
		}
		result = a.output
	} else {
		if len(out) == 0 {
			out = json.RawMessage("null")
		}
		if result, err = decode(out); err != nil {
			f := &failure{name: ErrorTaskFailed, cause: fmt.Sprintf("the task's output is not JSON: %v", err)}
			e.emit(Event{Type: "TaskFailed", State: s.name, Error: f.name, Cause: f.cause, Attempt: attempt})
			return nil, f
		}
		if s.invoke == invokeLambda {
			result = invokeResult(result)
		}
	}
	e.emit(Event{Type: "TaskSucceeded", State: s.name, Output: e.render(result), Attempt: attempt})

	if s.resultSelector != nil {
		if result, f = evalTemplate(s.resultSelector, result, ctxObj, "ResultSelector"); f != nil {
			return nil, f
		}
	}
	res, f := applyResultPath(s.resultPath, raw, result)
	if f != nil {
		return nil, f
	}
	return selectPath(s.outputPath, res, "OutputPath")
}

// invokeResult wraps a function's result as the lambda:invoke integration
// returns it.
func invokeResult(payload any) any {
	return map[string]any{
		"ExecutedVersion": "$LATEST",
		"Payload":         payload,
		"SdkHttpMetadata": map[string]any{
			"HttpHeaders":    map[string]any{},
			"HttpStatusCode": json.Number("200"),
		},
		"SdkResponseMetadata": map[string]any{"RequestId": newUUID()},
		"StatusCode":          json.Number("200"),
	}
}

// call runs a handler. A panic is reported as the task's failure rather
// than taking the process down, as Lambda reports a crashed function.
func (m *Machine) call(ctx context.Context, s *state, input json.RawMessage) (out json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			m.log.Error("workflow task handler panicked", "state", s.name, "resource", s.resource, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return s.handler(ctx, input)
}

// taskFailure names a handler's error.
func (m *Machine) taskFailure(err error) *failure {
	name := ErrorTaskFailed
	var typed interface{ ErrorType() string }
	if errors.As(err, &typed) && typed.ErrorType() != "" {
		name = typed.ErrorType()
	}
	return &failure{name: name, cause: m.cause(err)}
}

// Input and output processing.

func selectPath(p optPath, v any, field string) (any, *failure) {
	switch {
	case !p.set:
		return v, nil
	case p.null:
		return map[string]any{}, nil
	}
	out, ok := p.p.get(v)
	if !ok {
		return nil, runtimeFailure("invalid path %s in %s: the path selects nothing in the input", p.p, field)
	}
	return out, nil
}

func applyResultPath(p optPath, raw, result any) (any, *failure) {
	switch {
	case !p.set:
		return result, nil
	case p.null:
		return raw, nil
	}
	out, err := p.p.set(raw, result)
	if err != nil {
		return nil, &failure{name: ErrorResultPathMatchFailure, cause: fmt.Sprintf("ResultPath %s cannot be applied to the input: %v", p.p, err)}
	}
	return out, nil
}

func evalTemplate(t template, in, ctxObj any, field string) (any, *failure) {
	out, err := t.eval(in, ctxObj)
	if err != nil {
		return nil, runtimeFailure("%s: %v", field, err)
	}
	return out, nil
}

// contextObject builds $$ for a state. token is set only in callback tasks.
func (e *Execution) contextObject(s *state, entered time.Time, retryCount int, token string) map[string]any {
	c := map[string]any{
		"Execution": map[string]any{
			"Id":        e.arn,
			"Input":     e.input,
			"Name":      e.name,
			"RoleArn":   "arn:aws:iam::000000000000:role/" + e.m.name,
			"StartTime": isoTime(e.start),
		},
		"State": map[string]any{
			"EnteredTime": isoTime(entered),
			"Name":        s.name,
			"RetryCount":  json.Number(strconv.Itoa(retryCount)),
		},
		"StateMachine": map[string]any{"Id": e.m.arn, "Name": e.m.name},
	}
	if token != "" {
		c["Task"] = map[string]any{"Token": token}
	}
	return c
}

func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
