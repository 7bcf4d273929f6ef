// Package localsfn runs scangate's committed workflow definitions in
// aws-local-stepfunctions, an open-source Amazon States Language
// interpreter, with every Task reaching the real Go handlers. It is a test
// helper: tests execute the very JSON that is deployed, and check the path
// the interpreter took and the state it left in the store.
//
// The interpreter is the npm package pinned by tools/package-lock.json,
// run by tools/run-local-sfn.mjs on the Node.js 22 that the lockfile
// installs (testsvc.Node). Its Task states call the Lambda Invoke API of
// the AWS SDK for JavaScript; a LambdaServer answers those calls in the
// test process by calling a *lambdas.Handlers, as Lambda would call the
// thin mains under lambdas/cmd.
//
// # What the interpreter does differently from AWS
//
// These were observed with aws-local-stepfunctions 3.0.0; tests that rely
// on the deployed behaviour must not rely on them:
//
//   - A function error (X-Amz-Function-Error) becomes a state error named
//     errorType, so Retry and Catch match scangate's error names as in
//     AWS. The caught error's Cause is the text "<errorType>:
//     <errorMessage>", where AWS gives the JSON of the error response.
//   - Lambda service and client errors keep the SDK's names
//     (ResourceNotFoundException, or Error for a refused connection), not
//     the Lambda.* names that AWS gives them, so the definitions'
//     Lambda.* retriers never match here.
//   - .waitForTaskToken has no callbacks. The Resource
//     "arn:aws:states:::lambda:invoke.waitForTaskToken" is invoked as a
//     function of that name with {FunctionName, Payload}; LambdaServer
//     unwraps it, and the function's return value is the task's result.
//     LambdaServer's awaitReview function therefore blocks until the
//     review is decided and returns the decision, standing in for
//     SendTaskSuccess. $$.Task.Token is one token per execution, put in
//     the Context Object by the runner.
//   - A Task without TimeoutSeconds times out after 60 s, also a
//     waitForTaskToken task (AWS waits up to a year).
//   - A retry-interval override replaces a retrier's whole wait: backoff
//     and jitter do not apply, MaxDelaySeconds still caps it.
package localsfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/scangate/scangate/internal/testsvc"
)

// Execution statuses, as DescribeExecution names them. InvalidDefinition
// means the interpreter refused the definition before running it.
const (
	StatusSucceeded         = "SUCCEEDED"
	StatusFailed            = "FAILED"
	StatusTimedOut          = "TIMED_OUT"
	StatusAborted           = "ABORTED"
	StatusInvalidDefinition = "INVALID_DEFINITION"
)

// DefaultRetryIntervalScale turns a retrier's IntervalSeconds of 1 into a
// wait of 1 ms.
const DefaultRetryIntervalScale = 0.001

// DefaultTimeout bounds one execution, Node's start included.
const DefaultTimeout = 2 * time.Minute

// Options configure one execution. The zero value means the defaults.
type Options struct {
	// Name is the execution's name ($$.Execution.Name). Default: a random
	// one.
	Name string
	// Endpoint is the Lambda Invoke API's base URL, given to the SDK as
	// AWS_ENDPOINT_URL_LAMBDA. LambdaServer.Start sets it.
	Endpoint string
	// RetryIntervalScale sets each retrier's wait to its IntervalSeconds
	// times the scale, fixed for every attempt. Default:
	// DefaultRetryIntervalScale.
	RetryIntervalScale float64
	// RetryIntervals sets the waits of named states' retriers in
	// milliseconds, one entry per retrier in definition order; -1 keeps
	// the scaled wait. It wins over RetryIntervalScale.
	RetryIntervals map[string][]int
	// TaskToken is $$.Task.Token. Default: a random token per execution.
	TaskToken string
	// Timeout bounds the execution. Default: DefaultTimeout.
	Timeout time.Duration
}

// Result is how an execution ended, with the interpreter's event log.
type Result struct {
	// Status is one of the Status* constants.
	Status string `json:"status"`
	// Output is the execution's output when it succeeded.
	Output json.RawMessage `json:"output"`
	// Error and Cause name the error that ended a failed execution.
	Error string `json:"error"`
	Cause string `json:"cause"`
	// Events is the interpreter's event log, in order.
	Events []Event `json:"events"`
}

// Event is one entry of aws-local-stepfunctions' event log
// (docs/execution-event-logs.md in that package).
type Event struct {
	// Type is ExecutionStarted, StateEntered, StateExited, StateFailed,
	// StateRetried, StateCaught, ExecutionSucceeded, ExecutionFailed, ...
	Type      string `json:"type"`
	Timestamp int64  `json:"timestamp"`
	// State is set on State* events.
	State *EventState `json:"state,omitempty"`
	// Input and Output are set on ExecutionStarted and ExecutionSucceeded.
	Input  json.RawMessage `json:"input,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	// Error and Cause are set on StateFailed and ExecutionFailed. A failed
	// Lambda invocation's Cause is its error response as an object.
	Error string          `json:"Error,omitempty"`
	Cause json.RawMessage `json:"Cause,omitempty"`
	// Retry is set on StateRetried: the retrier and its attempt (from 1).
	Retry *struct {
		Retrier json.RawMessage `json:"retrier"`
		Attempt int             `json:"attempt"`
	} `json:"retry,omitempty"`
	// Catch is set on StateCaught.
	Catch *struct {
		Catcher json.RawMessage `json:"catcher"`
	} `json:"catch,omitempty"`
}

// EventState is the state an event is about.
type EventState struct {
	Name   string          `json:"name"`
	Type   string          `json:"type"`
	Input  json.RawMessage `json:"input,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
}

// States returns the names of the states the execution entered, in order.
// A retried state is entered once.
func (r Result) States() []string {
	var names []string
	for _, e := range r.Events {
		if e.Type == "StateEntered" && e.State != nil {
			names = append(names, e.State.Name)
		}
	}
	return names
}

// Attempts returns how many times state ran: once per entry plus once per
// retry. For a Task state that is how often its resource was invoked.
func (r Result) Attempts(state string) int {
	n := 0
	for _, e := range r.Events {
		if e.State != nil && e.State.Name == state && (e.Type == "StateEntered" || e.Type == "StateRetried") {
			n++
		}
	}
	return n
}

// Errors returns the error names of state's failed attempts, in order.
func (r Result) Errors(state string) []string {
	var names []string
	for _, e := range r.Events {
		if e.Type == "StateFailed" && e.State != nil && e.State.Name == state {
			names = append(names, e.Error)
		}
	}
	return names
}

// Exited returns the output of state's last exit, or nil when it never
// exited.
func (r Result) Exited(state string) json.RawMessage {
	var out json.RawMessage
	for _, e := range r.Events {
		if e.Type == "StateExited" && e.State != nil && e.State.Name == state {
			out = e.State.Output
		}
	}
	return out
}

// Execution is an execution running in its own Node process.
type Execution struct {
	cmd     *exec.Cmd
	stdout  bytes.Buffer
	stderr  bytes.Buffer
	done    chan struct{}
	waitErr error
	cancel  context.CancelFunc
	name    string
}

// job is what tools/run-local-sfn.mjs reads on stdin.
type job struct {
	Definition             json.RawMessage  `json:"definition"`
	Input                  json.RawMessage  `json:"input"`
	Name                   string           `json:"name,omitempty"`
	RetryIntervalScale     float64          `json:"retryIntervalScale"`
	RetryIntervalOverrides map[string][]int `json:"retryIntervalOverrides,omitempty"`
	TaskToken              string           `json:"taskToken,omitempty"`
}

// Run runs def with input to its end and returns the result. def must
// have no placeholders left (see LambdaServer.Run). At most one Options
// is used. Run must be called from the test's goroutine.
func Run(t testing.TB, def []byte, input any, opts ...Options) Result {
	t.Helper()
	return Start(t, def, input, opts...).Wait(t)
}

// Start starts def with input in a new Node process and returns at once;
// Wait collects the result. Executions started one after the other run
// concurrently. The process is killed when the test ends. Start must be
// called from the test's goroutine.
func Start(t testing.TB, def []byte, input any, opts ...Options) *Execution {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if len(opts) > 1 {
		t.Fatal("localsfn: at most one Options")
	}
	if !json.Valid(def) {
		t.Fatal("localsfn: the definition is not valid JSON")
	}
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatalf("localsfn: input: %v", err)
	}
	if o.RetryIntervalScale == 0 {
		o.RetryIntervalScale = DefaultRetryIntervalScale
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	stdin, err := json.Marshal(job{
		Definition: def, Input: in, Name: o.Name, RetryIntervalScale: o.RetryIntervalScale,
		RetryIntervalOverrides: o.RetryIntervals, TaskToken: o.TaskToken,
	})
	if err != nil {
		t.Fatalf("localsfn: %v", err)
	}
	node := testsvc.Node(t)
	script := filepath.Join(testsvc.ModuleRoot(t), "tools", "run-local-sfn.mjs")
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("localsfn: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	cmd := exec.CommandContext(ctx, node, script)
	// The script imports aws-local-stepfunctions from tools/node_modules.
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(),
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=localsfn",
		"AWS_SECRET_ACCESS_KEY=localsfn",
		// No shared config or credentials files of the machine.
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
	)
	if o.Endpoint != "" {
		cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL_LAMBDA="+o.Endpoint)
	} else {
		// Never reach the real AWS: an unroutable endpoint makes every
		// Task fail instead.
		cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:1")
	}
	cmd.Stdin = bytes.NewReader(stdin)
	e := &Execution{cmd: cmd, done: make(chan struct{}), cancel: cancel, name: o.Name}
	cmd.Stdout, cmd.Stderr = &e.stdout, &e.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("localsfn: start %s: %v", node, err)
	}
	go func() {
		e.waitErr = cmd.Wait()
		cancel()
		close(e.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-e.done
	})
	return e
}

// Wait waits for the execution to end and returns its result. It fails
// the test when the runner itself broke (a crash, no result, a timeout).
// Wait must be called from the test's goroutine.
func (e *Execution) Wait(t testing.TB) Result {
	t.Helper()
	res, err := e.wait()
	if err != nil {
		t.Fatalf("localsfn: execution %q: %v", e.name, err)
	}
	return res
}

func (e *Execution) wait() (Result, error) {
	<-e.done
	var res Result
	if e.waitErr != nil {
		var ee *exec.ExitError
		if errors.As(e.waitErr, &ee) || errors.Is(e.waitErr, context.DeadlineExceeded) {
			return res, fmt.Errorf("runner: %v\n%s", e.waitErr, e.stderr.String())
		}
		return res, e.waitErr
	}
	if err := json.Unmarshal(e.stdout.Bytes(), &res); err != nil {
		return res, fmt.Errorf("runner output: %v\nstdout: %s\nstderr: %s", err, e.stdout.String(), e.stderr.String())
	}
	if !slices.Contains([]string{StatusSucceeded, StatusFailed, StatusTimedOut, StatusAborted, StatusInvalidDefinition}, res.Status) {
		return res, fmt.Errorf("runner: unknown status %q", res.Status)
	}
	return res, nil
}

// Validate runs asl-validator --json-path (the version pinned by the
// lockfile) on def, written to a temporary file, and returns its reasons
// when it rejects def.
func Validate(t testing.TB, def []byte) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "definition.asl.json")
	if err := os.WriteFile(path, def, 0o600); err != nil {
		t.Fatal(err)
	}
	return ValidateFile(t, path)
}

// ValidateFile runs asl-validator --json-path on the file at path and
// returns its reasons when it rejects the definition.
func ValidateFile(t testing.TB, path string) error {
	t.Helper()
	bin := filepath.Join(testsvc.ToolsDir(t), "asl-validator", "dist", "bin", "asl-validator.js")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testsvc.Node(t), bin, "--json-path", path).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return fmt.Errorf("asl-validator rejects %s:\n%s", filepath.Base(path), out)
	}
	t.Fatalf("localsfn: asl-validator: %v\n%s", err, out)
	return nil
}
