package localsfn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/stepfunctions"
)

// FunctionName is the Lambda function LambdaServer serves a function of
// the definitions as: "scangate-claim", ..., "scangate-awaitreview".
func FunctionName(f asl.Function) string { return "scangate-" + strings.ToLower(string(f)) }

// FunctionARN is the ARN the definitions' placeholders are replaced with.
func FunctionARN(f asl.Function) string {
	return "arn:aws:lambda:us-east-1:123456789012:function:" + FunctionName(f)
}

// Definition returns def with every function's placeholder replaced by
// FunctionARN, as the CDK's definitionSubstitutions do at deploy.
func Definition(def []byte) ([]byte, error) {
	vals := map[string]string{}
	for _, f := range asl.Functions() {
		vals[f.Placeholder()] = FunctionARN(f)
	}
	return asl.Substitute(def, vals)
}

// Service integrations that invoke a Lambda function named in the state's
// Parameters: the interpreter sends them to the Invoke API as functions of
// these names, with the effective Parameters as the payload.
const (
	invokeIntegration       = "arn:aws:states:::lambda:invoke"
	waitForTokenIntegration = "arn:aws:states:::lambda:invoke.waitForTaskToken"
)

// DefaultAwaitTimeout bounds how long awaitReview waits for a decision;
// it is below the interpreter's default Task timeout of 60 s.
const DefaultAwaitTimeout = 50 * time.Second

// LambdaServer serves the Lambda Invoke API
// (POST /2015-03-31/functions/{name}/invocations) for the workflow steps,
// calling the real handlers in-process. A handler's error is answered as
// Lambda answers a function error: status 200, X-Amz-Function-Error:
// Unhandled, and the body lambdas.InvokeError renders.
type LambdaServer struct {
	// URL is the server's base URL, for AWS_ENDPOINT_URL_LAMBDA.
	URL string

	h            *lambdas.Handlers
	awaitTimeout time.Duration
	before       func(ctx context.Context, f asl.Function) error
	fns          map[string]lambdas.StepFunc
	steps        map[string]asl.Function // function name to function

	// base ends blocked awaits when the server closes.
	base context.Context

	mu    sync.Mutex
	calls map[string]int
}

// LambdaServerOptions configure a LambdaServer. The zero value means the
// defaults.
type LambdaServerOptions struct {
	// AwaitTimeout bounds how long awaitReview waits for a decision.
	// Default: DefaultAwaitTimeout.
	AwaitTimeout time.Duration
	// BeforeInvoke, when set, runs before each invocation of a step's
	// function, after it was counted; it may block to order concurrent
	// executions. An error it returns is the invocation's function error,
	// as if the handler had failed with it.
	BeforeInvoke func(ctx context.Context, f asl.Function) error
}

// NewLambdaServer starts a LambdaServer over h, closed when the test ends.
// Configure h with NopResumer (or no Resumer that resumes anything):
// awaitReview returns the decision itself. opts may be nil.
func NewLambdaServer(t testing.TB, h *lambdas.Handlers, opts *LambdaServerOptions) *LambdaServer {
	t.Helper()
	if h == nil {
		t.Fatal("localsfn: NewLambdaServer needs handlers")
	}
	s := &LambdaServer{h: h, awaitTimeout: DefaultAwaitTimeout, calls: map[string]int{}}
	if opts != nil {
		if opts.AwaitTimeout > 0 {
			s.awaitTimeout = opts.AwaitTimeout
		}
		s.before = opts.BeforeInvoke
	}
	// The handlers' own table, but for awaitReview: the emulator has no
	// callbacks, so its await waits for the decision and returns it.
	s.steps, s.fns = map[string]asl.Function{}, map[string]lambdas.StepFunc{}
	for f, fn := range h.Steps() {
		s.steps[FunctionName(f)], s.fns[FunctionName(f)] = f, fn
	}
	s.fns[FunctionName(asl.FuncAwaitReview)] = func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		var in lambdas.AwaitInput
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, &lambdas.StepError{Type: lambdas.ErrInvalidInput, Reason: domain.ReasonInternal, Msg: "decode payload: " + err.Error(), Err: err}
		}
		d, err := s.awaitReview(ctx, in)
		if err != nil {
			return nil, err
		}
		return json.Marshal(d)
	}
	base, cancel := context.WithCancel(context.Background())
	s.base = base
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", s.invoke)
	srv := httptest.NewServer(mux)
	s.URL = srv.URL
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	return s
}

// Invocations returns how many times f was invoked.
func (s *LambdaServer) Invocations(f asl.Function) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[FunctionName(f)]
}

// Start substitutes def's placeholders (Definition) and starts it against
// this server.
func (s *LambdaServer) Start(t testing.TB, def []byte, input any, opts ...Options) *Execution {
	t.Helper()
	d, err := Definition(def)
	if err != nil {
		t.Fatalf("localsfn: %v", err)
	}
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if len(opts) > 1 {
		t.Fatal("localsfn: at most one Options")
	}
	o.Endpoint = s.URL
	return Start(t, d, input, o)
}

// Run is Start, then Wait.
func (s *LambdaServer) Run(t testing.TB, def []byte, input any, opts ...Options) Result {
	t.Helper()
	return s.Start(t, def, input, opts...).Wait(t)
}

// functionName reads a function name from what Invoke accepts: a name, a
// partial ARN (123456789012:function:name) or an ARN, each optionally with
// a :qualifier.
func functionName(s string) string {
	if _, after, ok := strings.Cut(s, ":function:"); ok {
		s = after
	} else {
		s = strings.TrimPrefix(s, "function:")
	}
	name, _, _ := strings.Cut(s, ":")
	return name
}

func (s *LambdaServer) invoke(w http.ResponseWriter, r *http.Request) {
	ctx, stop := context.WithCancel(r.Context())
	defer stop()
	defer context.AfterFunc(s.base, stop)()

	payload, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	name := r.PathValue("name")
	wrap := name == invokeIntegration
	if name == invokeIntegration || name == waitForTokenIntegration {
		// {FunctionName, Payload}: the state's Parameters.
		var p struct {
			FunctionName string          `json:"FunctionName"`
			Payload      json.RawMessage `json:"Payload"`
		}
		if err := json.Unmarshal(payload, &p); err != nil || p.FunctionName == "" {
			serviceError(w, http.StatusBadRequest, "InvalidParameterValueException", "lambda:invoke needs Parameters with FunctionName")
			return
		}
		name, payload = p.FunctionName, p.Payload
		if len(payload) == 0 {
			payload = []byte("{}")
		}
	}
	fn, ok := s.fns[functionName(name)]
	if !ok {
		serviceError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
		return
	}
	s.mu.Lock()
	s.calls[functionName(name)]++
	s.mu.Unlock()

	var out any
	var res json.RawMessage
	if s.before != nil {
		err = s.before(ctx, s.steps[functionName(name)])
	}
	if err == nil {
		res, err = fn(ctx, payload)
		out = res
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if err != nil {
		body, merr := json.Marshal(lambdas.InvokeError(err))
		if merr != nil {
			http.Error(w, merr.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.Write(body)
		return
	}
	if wrap {
		// The plain lambda:invoke integration returns the Invoke
		// response, with the function's result as Payload.
		out = map[string]any{"ExecutedVersion": "$LATEST", "Payload": out, "StatusCode": 200}
	}
	body, err := json.Marshal(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(body)
}

// serviceError answers as the Lambda service answers a failed request
// (not a function error).
func serviceError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}

// awaitReview is the function behind the review workflow's
// waitForTaskToken task. It runs the real AwaitReview, which stores the
// task token on the review item, and then, since the interpreter has no
// SendTaskSuccess, blocks until the review is decided and returns the
// decision: the output the Resumer would send in AWS, which becomes the
// task's result. It gives up when the request ends or after the await
// timeout, with States.Timeout, as the task would time out in AWS.
// awaitReader is who the emulator's await step reads a review as.
var awaitReader = domain.Principal{Name: "local-sfn", Role: domain.RoleViewer, Via: "emulator"}

func (s *LambdaServer) awaitReview(ctx context.Context, in lambdas.AwaitInput) (*asl.Decision, error) {
	if _, err := s.h.AwaitReview(ctx, in); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.awaitTimeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := s.h.Review(ctx, awaitReader, lambdas.ReviewRequest{Action: "get", ID: in.State.ID})
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if err == nil && !resp.Item.Open() {
			it := resp.Item
			return &asl.Decision{Decision: it.Decision, Reviewer: it.Reviewer, Comment: it.Comment}, nil
		}
		select {
		case <-ctx.Done():
			return nil, &lambdas.StepError{Type: "States.Timeout",
				Msg: fmt.Sprintf("no decision on review %s: %v", in.State.ID, ctx.Err())}
		case <-tick.C:
		}
	}
}

// NopResumer is the Resumer for handlers served by a LambdaServer. In AWS
// the Resumer sends the decision to the waiting review workflow with
// SendTaskSuccess; aws-local-stepfunctions has no callbacks, so the
// LambdaServer's blocking awaitReview returns the decision instead, and
// resuming does nothing.
type NopResumer struct{}

var _ lambdas.Resumer = NopResumer{}

// Resume does nothing: the blocked awaitReview sees the decision.
func (NopResumer) Resume(ctx context.Context, item *domain.ReviewItem, st asl.Document) error {
	return nil
}

// Starts records the workflows the handlers start, with the input that
// stepfunctions.Runner gives them, so that a test runs them through the
// interpreter itself. It is a lambdas.Starter and a lambdas.ReviewStarter.
type Starts struct {
	mu      sync.Mutex
	scans   []asl.Document
	reviews []asl.Document
}

var (
	_ lambdas.Starter       = (*Starts)(nil)
	_ lambdas.ReviewStarter = (*Starts)(nil)
)

// Start records a scan workflow start for rec.
func (s *Starts) Start(ctx context.Context, rec *domain.Record) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scans = append(s.scans, asl.Document{ID: rec.ID, Object: rec.Object})
	name := asl.ExecutionName("scan", rec.Object.Key, rec.ID, stepfunctions.Generation(rec))
	return "arn:aws:states:us-east-1:123456789012:execution:scangate-scan:" + name, nil
}

// StartReview records a review workflow start for rec.
func (s *Starts) StartReview(ctx context.Context, rec *domain.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	loc := rec.Location()
	s.reviews = append(s.reviews, asl.Document{ID: rec.ID, Object: rec.Object, Status: rec.State, Location: &loc})
	return nil
}

// Scans returns the inputs of the scan workflows started so far.
func (s *Starts) Scans() []asl.Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]asl.Document(nil), s.scans...)
}

// Reviews returns the inputs of the review workflows started so far.
func (s *Starts) Reviews() []asl.Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]asl.Document(nil), s.reviews...)
}
