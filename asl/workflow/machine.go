package workflow

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"
)

// Handler runs a Task state's work: it takes the task's effective input
// and returns its result, both JSON. It must honour ctx: ctx ends when the
// state's TimeoutSeconds pass, when the execution is aborted and when the
// Machine is closed, and the interpreter waits for the handler to return.
//
// A failing handler's error is named for Retry and Catch by its
// ErrorType() string method when it has one (found with errors.As), and
// is States.TaskFailed otherwise.
type Handler func(ctx context.Context, input json.RawMessage) (json.RawMessage, error)

// Resolver returns the handler of a Task state. resource is the state's
// Resource or, for the lambda:invoke integrations, the FunctionName of its
// Parameters. Load calls it once per Task state.
type Resolver func(resource, stateName string) (Handler, error)

// Options configure a Machine. The zero value gives the defaults.
type Options struct {
	// Name is the state machine's name, used in ARNs and in $$.StateMachine.
	// Empty means "StateMachine".
	Name string
	// Sleep waits d or until ctx ends, returning ctx's error then. The
	// interpreter sleeps through it for retry backoff and Wait states.
	// Nil means a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// TimeScale multiplies every duration the definition states (retry
	// delays, Wait states, TimeoutSeconds) before the interpreter waits or
	// sets a deadline; the history keeps the unscaled delays. 0 means 1.
	// The local runtime and tests use it to compress time.
	TimeScale float64
	// Now is the clock for the history and the context object. Nil means
	// time.Now.
	Now func() time.Time
	// Cause renders a failed handler's error as the Cause of the task
	// failure. Nil means err.Error().
	Cause func(error) string
	// OnEvent, when set, receives every history event as it is recorded, in
	// order, from the goroutine that records it (for an execution's first
	// event, the caller of Start). It must not block for long.
	OnEvent func(execName string, ev Event)
	// Logger receives the interpreter's logs. Nil discards them.
	Logger *slog.Logger
	// ItemReader reads a Distributed Map's items; nil fails every Map
	// with States.ItemReaderFailed.
	ItemReader ItemReader
}

// Errors returned by the Machine's API.
var (
	// ErrExecutionAlreadyExists: an execution with this name runs or ran on
	// this Machine.
	ErrExecutionAlreadyExists = errors.New("workflow: execution already exists")
	// ErrTaskDoesNotExist: no task was ever given this token.
	ErrTaskDoesNotExist = errors.New("workflow: task does not exist")
	// ErrTaskTimedOut: the token's task is no longer waiting: it was
	// answered already, timed out, or its execution ended (Step Functions'
	// TaskTimedOut).
	ErrTaskTimedOut = errors.New("workflow: task timed out or already closed")
	// ErrInvalid: an execution name, execution input or task output is not
	// acceptable.
	ErrInvalid = errors.New("workflow: invalid argument")
	// ErrClosed: the Machine has been closed.
	ErrClosed = errors.New("workflow: machine closed")
)

// Error names defined by the States Language that the interpreter reports
// or matches.
const (
	ErrorAll                    = "States.ALL"
	ErrorTaskFailed             = "States.TaskFailed"
	ErrorTimeout                = "States.Timeout"
	ErrorRuntime                = "States.Runtime"
	ErrorNoChoiceMatched        = "States.NoChoiceMatched"
	ErrorResultPathMatchFailure = "States.ResultPathMatchFailure"
)

// Machine is a loaded state machine definition. It runs executions, each
// in a goroutine of its own, until they end or Close is called.
type Machine struct {
	name, arn string
	def       *definition

	sleep      func(context.Context, time.Duration) error
	timeScale  float64
	now        func() time.Time
	cause      func(error) string
	onEvent    func(string, Event)
	log        *slog.Logger
	itemReader ItemReader

	mu     sync.Mutex
	closed bool
	execs  map[string]*Execution
	tokens map[string]*taskWait
	wg     sync.WaitGroup
}

// Load validates a definition and returns a Machine that runs it. It fails
// on anything the interpreter does not implement (state types, fields,
// paths, intrinsic functions, choice operators, service integrations), on
// a StartAt or transition to a state that does not exist, and when resolve
// fails for a Task. Unreachable states are logged, not rejected.
func Load(def []byte, resolve Resolver, opts *Options) (*Machine, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = "StateMachine"
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.TimeScale <= 0 || math.IsNaN(o.TimeScale) || math.IsInf(o.TimeScale, 0) {
		o.TimeScale = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Cause == nil {
		o.Cause = func(err error) string { return err.Error() }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d, unreachable, err := parseDefinition(def, resolve)
	if err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	if len(unreachable) > 0 {
		o.Logger.Warn("workflow: unreachable states", "machine", o.Name, "states", unreachable)
	}
	return &Machine{
		name:       o.Name,
		arn:        "arn:aws:states:local:000000000000:stateMachine:" + o.Name,
		def:        d,
		sleep:      o.Sleep,
		timeScale:  o.TimeScale,
		now:        o.Now,
		cause:      o.Cause,
		onEvent:    o.OnEvent,
		log:        o.Logger,
		itemReader: o.ItemReader,
		execs:      map[string]*Execution{},
		tokens:     map[string]*taskWait{},
	}, nil
}

// ARN is the state machine's fake but well-formed ARN.
func (m *Machine) ARN() string { return m.arn }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (m *Machine) scaled(d time.Duration) time.Duration {
	f := float64(d) * m.timeScale
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(f)
}

// errExecutionTimedOut is the cause of an execution context that ended
// because the definition's TimeoutSeconds passed.
var errExecutionTimedOut = errors.New("workflow: execution timed out")

const errorExecutionTimeoutMessage = "the execution ran longer than its TimeoutSeconds"

// Start starts an execution named name with input (empty means {}). The
// execution runs in its own goroutine until it ends, ctx ends (it is then
// aborted), or the Machine is closed. Names are unique for the Machine's
// lifetime: reusing one fails with ErrExecutionAlreadyExists, whether the
// execution with that name still runs or not.
func (m *Machine) Start(ctx context.Context, name string, input json.RawMessage) (*Execution, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(input)) == 0 {
		input = json.RawMessage("{}")
	}
	in, err := decode(input)
	if err != nil {
		return nil, fmt.Errorf("%w: execution input is not JSON: %v", ErrInvalid, err)
	}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if _, dup := m.execs[name]; dup {
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrExecutionAlreadyExists, name)
	}
	execCtx, cancel := context.WithCancelCause(ctx)
	stop := func(cause error) { cancel(cause) }
	if m.def.timeout > 0 {
		var cancelTimeout context.CancelFunc
		execCtx, cancelTimeout = context.WithTimeoutCause(execCtx, m.scaled(m.def.timeout), errExecutionTimedOut)
		stop = func(cause error) { cancel(cause); cancelTimeout() }
	}
	e := &Execution{
		m:      m,
		name:   name,
		arn:    "arn:aws:states:local:000000000000:execution:" + m.name + ":" + name,
		input:  in,
		start:  m.now(),
		cancel: stop,
		done:   make(chan struct{}),
		status: StatusRunning,
	}
	m.execs[name] = e
	m.wg.Add(1)
	m.mu.Unlock()

	e.emit(Event{Type: "ExecutionStarted", Input: e.render(in)})
	go e.run(execCtx)
	return e, nil
}

// validName applies Step Functions' rules for execution names.
func validName(name string) error {
	if name == "" || len(name) > 80 {
		return fmt.Errorf("%w: execution name %q must have 1 to 80 characters", ErrInvalid, name)
	}
	for _, r := range name {
		if r <= ' ' || (r >= 0x7f && r <= 0x9f) || strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r) {
			return fmt.Errorf("%w: execution name %q has a character Step Functions does not allow", ErrInvalid, name)
		}
	}
	return nil
}

// Execution returns the execution named name, running or ended.
func (m *Machine) Execution(name string) (*Execution, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.execs[name]
	return e, ok
}

// Close aborts the running executions and waits for their goroutines (and
// so for their handlers) to return. Start fails after Close. Close may be
// called more than once.
func (m *Machine) Close() {
	m.mu.Lock()
	m.closed = true
	for _, e := range m.execs {
		e.cancel(ErrClosed)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// Task tokens.

// taskWait is a callback task waiting for its token to be answered.
type taskWait struct {
	closed bool
	answer chan tokenAnswer // buffered: answering never blocks
}

type tokenAnswer struct {
	output       any
	failed       bool
	error, cause string
}

// newToken mints an unguessable token and registers its task as waiting.
func (m *Machine) newToken() (string, *taskWait) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	token := base64.RawURLEncoding.EncodeToString(b[:])
	w := &taskWait{answer: make(chan tokenAnswer, 1)}
	m.mu.Lock()
	m.tokens[token] = w
	m.mu.Unlock()
	return token, w
}

// closeToken stops accepting answers for token.
func (m *Machine) closeToken(token string) {
	m.mu.Lock()
	m.tokens[token].closed = true
	m.mu.Unlock()
}

func (m *Machine) answer(token string, a tokenAnswer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.tokens[token]
	switch {
	case !ok:
		return ErrTaskDoesNotExist
	case w.closed:
		return ErrTaskTimedOut
	}
	w.closed = true
	w.answer <- a
	return nil
}

// SendTaskSuccess completes the callback task waiting on token with output,
// which becomes the task's result. It fails with ErrTaskDoesNotExist for a
// token never issued and ErrTaskTimedOut for one no longer waiting.
func (m *Machine) SendTaskSuccess(ctx context.Context, token string, output json.RawMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := decode(output)
	if err != nil {
		return fmt.Errorf("%w: task output is not JSON: %v", ErrInvalid, err)
	}
	return m.answer(token, tokenAnswer{output: v})
}

// SendTaskFailure fails the callback task waiting on token with the error
// name and cause, which Retry and Catch then handle like a failed handler's.
// It fails like SendTaskSuccess for tokens that are not waiting.
func (m *Machine) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.answer(token, tokenAnswer{failed: true, error: errName, cause: cause})
}
