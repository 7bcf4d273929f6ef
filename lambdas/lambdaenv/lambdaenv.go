// Package lambdaenv builds the step handlers inside a Lambda execution
// environment from its environment variables, once per environment: warm
// invocations reuse the store, the object client and clamd.
//
// # Environment
//
//	SCANGATE_STORE              store URL (see package connect)
//	SCANGATE_OBJECTS            object backend URL
//	SCANGATE_QUARANTINE_BUCKET  bucket for quarantined copies
//	SCANGATE_QUARANTINE_PREFIX  key prefix in that bucket
//	SCANGATE_SELF_PRINCIPALS    comma-separated principals whose writes are
//	                            not scanned: the releasing role only (see
//	                            lambdas.Config.SelfPrincipals)
//	SCANGATE_UNSCANNABLE_POLICY quarantine (default) or block
//	SCANGATE_CLAMD              address of a running clamd; or
//	SCANGATE_CLAMAV_DB          signature directory: clamd is started in
//	                            this environment and kept for warm calls
//	SCANGATE_STREAM_MAX         largest object scanned, bytes
//	SCANGATE_MAX_DB_AGE         oldest signature database allowed (24h)
//	SCANGATE_LEASE              scan lease duration (5m)
//	SCANGATE_CLAMD_DIR          where a started clamd keeps its socket and
//	                            config (/tmp/clamd)
//	SCANGATE_SIGNATURES_BUCKET  bucket URL (s3://NAME, or file:///dir?bucket=NAME)
//	                            of published signature sets (package sigset):
//	                            before clamd starts, the current set is loaded
//	                            into SCANGATE_CLAMAV_DB, checked file by file;
//	                            if it cannot be, clamd is not started and every
//	                            scan fails (never clean). In the signature
//	                            updater (lambdas/cmd/sigupdate), where sets
//	                            are published. In the sweep, the current
//	                            set names the database the retro-hunt hunts
//	                            with.
//	SCANGATE_SIGNATURES_CHECK   how often a warm scan function looks for a
//	                            newer set in that bucket (5m)
//	SCANGATE_SIGNATURES_SWAP    how a warm scan function swaps in a newer
//	                            set: one-at-a-time (the default: the old
//	                            clamd stops, the next scan waits for the
//	                            new one's load) or side-by-side (the new
//	                            clamd loads while the old one scans: twice
//	                            the memory, docs/clamd-memory.md)
//	SCANGATE_SIGNATURES_MIRROR  the updater's private mirror URL (what
//	                            cvdupdate serves); empty means ClamAV's CDN
//	SCANGATE_SCAN_STATE_MACHINE   ARN of the scan workflow (ingest, rescan)
//	SCANGATE_REVIEW_STATE_MACHINE ARN of the review workflow (quarantine,
//	                              review decisions)
//	SCANGATE_RECORD_INTENTS     true when upload intents are recorded
//	                            (false by default): ingest then links each
//	                            new version to its intent. The sweep settles
//	                            expired intents either way.
//	SCANGATE_INTENT_GRACE       how long after its URL expired an upload
//	                            may still arrive (15m)
//	SCANGATE_POLICY_FILE        the per-prefix policy and denylist (see
//	                            package policy), read at init; the Scan
//	                            step applies it
//	SCANGATE_RESULT_BUS         EventBridge bus (name or ARN; "default" for
//	                            the default bus) that receives every final
//	                            outcome (package notify); unset: none
//
// The large-object path (see package fargate). In the functions that run
// Claim and Offload, these start a Fargate task for objects above
// SCANGATE_STREAM_MAX:
//
//	SCANGATE_OFFLOAD_CLUSTER          ECS cluster
//	SCANGATE_OFFLOAD_TASK_DEFINITION  task definition running `scangate task`
//	SCANGATE_OFFLOAD_CONTAINER        its container's name
//	SCANGATE_OFFLOAD_SUBNETS          comma-separated subnet IDs
//	SCANGATE_OFFLOAD_SECURITY_GROUPS  comma-separated security group IDs
//	SCANGATE_OFFLOAD_CAPACITY_PROVIDER  e.g. FARGATE_SPOT; default FARGATE
//
// In the task itself (`scangate task`), SCANGATE_LARGE_STREAM_MAX is the
// largest object it scans: its clamd is started with that stream limit and
// becomes the handlers' LargeScanner.
package lambdaenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/scangate/scangate/asl"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/internal/notify"
	"github.com/scangate/scangate/internal/policy"
	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/fargate"
	"github.com/scangate/scangate/lambdas/stepfunctions"
	"github.com/scangate/scangate/store"
)

// Main builds the handlers and serves the one that pick returns. It is the
// whole body of every Lambda's main.
func Main(pick func(*lambdas.Handlers) any) {
	log := Logger(os.Stdout, os.Getenv)
	ctx := context.Background()
	h, err := Handlers(ctx, os.Getenv, log)
	if err != nil {
		log.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(pick(h))
}

// Step is the main of a step function: fn's handler from the handlers'
// one table (lambdas.Handlers.Steps), its errors rendered as Lambda
// reports them to Step Functions.
func Step(fn asl.Function) {
	Main(func(h *lambdas.Handlers) any {
		step := h.Steps()[fn]
		return lambdas.ForLambda(func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
			return step(ctx, in)
		})
	})
}

// Handlers builds the handlers from getenv.
func Handlers(ctx context.Context, getenv func(string) string, log *slog.Logger) (*lambdas.Handlers, error) {
	// A Lambda environment ends with its process: nothing to stop.
	cfg, _, err := Config(ctx, getenv, log)
	if err != nil {
		return nil, err
	}
	return lambdas.New(cfg)
}

// Config builds the handlers' configuration from getenv. stop stops the
// clamd it started and closes the store, for a process that outlives its
// use of them (`scangate task` in tests); it is never nil.
func Config(ctx context.Context, getenv func(string) string, log *slog.Logger) (lambdas.Config, func(), error) {
	env, err := ParseEnv(getenv)
	if err != nil {
		return lambdas.Config{}, func() {}, err
	}
	return env.wire(ctx, log)
}

// Env is what a function's environment says, read and checked before
// anything is opened or started, so that a misconfigured function fails
// at init naming every bad variable at once.
type Env struct {
	StoreURL, ObjectsURL               string
	QuarantineBucket, QuarantinePrefix string
	Policy                             lambdas.Policy
	// Rules is the per-prefix policy and denylist read from the file
	// SCANGATE_POLICY_FILE names (shipped in the function's bundle);
	// nil without one.
	Rules          *policy.Policy
	SelfPrincipals []string
	FunctionName   string
	// StreamMax is the largest object scanned; LargeMax, when set, makes
	// this the large-object task, whose clamd takes streams up to it.
	StreamMax, LargeMax int64
	MaxDBAge, Lease     time.Duration
	Intents             bool
	IntentGrace         time.Duration
	// Clamd is a running clamd's address; otherwise ClamAVDB, when set,
	// starts one with its socket in ClamdDir, after loading the current
	// signature set from SignaturesBucket into ClamAVDB when that is set.
	Clamd, ClamAVDB, ClamdDir string
	SignaturesBucket          string
	// SignaturesCheck is how often a warm scan function looks for a newer
	// set; 0 means DefaultSignaturesCheck.
	SignaturesCheck time.Duration
	// SideBySide loads a newer set's clamd while the old one scans, which
	// needs memory for two databases; otherwise the old one stops first
	// (engine.GenerationsOptions.OneAtATime).
	SideBySide bool
	// ResultBus, when set, is the EventBridge bus every final outcome is
	// put on.
	ResultBus string
	// ScanStateMachine and ReviewStateMachine, when set, start and resume
	// workflows in Step Functions.
	ScanStateMachine, ReviewStateMachine string
	// Offload, when its Cluster is set, is the large-object path's ECS
	// task.
	Offload fargate.Config
}

// ParseEnv reads the variables of the table (vars.go) through getenv.
func ParseEnv(getenv func(string) string) (Env, error) {
	var errs []error
	need := func(k string) string {
		v := getenv(k)
		if v == "" {
			errs = append(errs, fmt.Errorf("lambdaenv: %s is not set", k))
		}
		return v
	}
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	e := Env{
		StoreURL: need("SCANGATE_STORE"), ObjectsURL: need("SCANGATE_OBJECTS"),
		QuarantineBucket: need("SCANGATE_QUARANTINE_BUCKET"), QuarantinePrefix: getenv("SCANGATE_QUARANTINE_PREFIX"),
		Policy:         lambdas.Policy(getenv("SCANGATE_UNSCANNABLE_POLICY")),
		SelfPrincipals: list(getenv("SCANGATE_SELF_PRINCIPALS")),
		FunctionName:   getenv("AWS_LAMBDA_FUNCTION_NAME"),
		Clamd:          getenv("SCANGATE_CLAMD"), ClamAVDB: getenv("SCANGATE_CLAMAV_DB"), ClamdDir: getenv("SCANGATE_CLAMD_DIR"),
		SignaturesBucket: getenv(VarSignaturesBucket),
		ResultBus:        getenv(VarResultBus),
		ScanStateMachine: getenv("SCANGATE_SCAN_STATE_MACHINE"), ReviewStateMachine: getenv("SCANGATE_REVIEW_STATE_MACHINE"),
	}
	var err error
	e.StreamMax, err = intEnv(getenv, "SCANGATE_STREAM_MAX", 100<<20)
	check(err)
	e.LargeMax, err = intEnv(getenv, "SCANGATE_LARGE_STREAM_MAX", 0)
	check(err)
	e.MaxDBAge, err = durEnv(getenv, "SCANGATE_MAX_DB_AGE", 24*time.Hour)
	check(err)
	e.SignaturesCheck, err = durEnv(getenv, VarSignaturesCheck, DefaultSignaturesCheck)
	check(err)
	switch v := getenv(VarSignaturesSwap); v {
	case "", SwapOneAtATime:
	case SwapSideBySide:
		e.SideBySide = true
	default:
		check(fmt.Errorf("%s=%q: want %s or %s", VarSignaturesSwap, v, SwapOneAtATime, SwapSideBySide))
	}
	e.Lease, err = durEnv(getenv, "SCANGATE_LEASE", 5*time.Minute)
	check(err)
	e.Intents, err = boolEnv(getenv, "SCANGATE_RECORD_INTENTS")
	check(err)
	e.IntentGrace, err = durEnv(getenv, "SCANGATE_INTENT_GRACE", lambdas.DefaultIntentGrace)
	check(err)
	if f := getenv(VarPolicyFile); f != "" {
		// Read at init: a bad policy fails the function's start, naming
		// the line, instead of its first scan.
		e.Rules, err = policy.Load(f)
		check(err)
	}
	if cluster := getenv("SCANGATE_OFFLOAD_CLUSTER"); cluster != "" {
		e.Offload = fargate.Config{
			Cluster: cluster, TaskDefinition: getenv("SCANGATE_OFFLOAD_TASK_DEFINITION"),
			Container: getenv("SCANGATE_OFFLOAD_CONTAINER"), Subnets: list(getenv("SCANGATE_OFFLOAD_SUBNETS")),
			SecurityGroups: list(getenv("SCANGATE_OFFLOAD_SECURITY_GROUPS")), CapacityProvider: getenv("SCANGATE_OFFLOAD_CAPACITY_PROVIDER"),
		}
	}
	return e, errors.Join(errs...)
}

// wire opens and starts what e names: the store, the object backend, the
// scan engine (a running clamd, or one started here), and the AWS
// runners. stop undoes it, in reverse; on error wire has already undone
// what it did.
func (e Env) wire(ctx context.Context, log *slog.Logger) (_ lambdas.Config, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	drv, err := urlopen.Store(ctx, e.StoreURL)
	if err != nil {
		return lambdas.Config{}, stop, err
	}
	st := store.New(drv, nil)
	stops = append(stops, func() { st.Close() })
	objs, err := openObjects(ctx, e.ObjectsURL)
	if err != nil {
		return lambdas.Config{}, stop, err
	}
	cfg := lambdas.Config{
		Store: st, Objects: objs, Logger: log,
		QuarantineBucket: e.QuarantineBucket, QuarantinePrefix: e.QuarantinePrefix,
		UnscannablePolicy: e.Policy, MaxScanBytes: e.StreamMax, SelfPrincipals: e.SelfPrincipals,
		LeaseTTL: e.Lease, Owner: "lambda:" + e.FunctionName,
		// CloudWatch Embedded Metric Format on stdout: metrics from the
		// function's log, with no API call.
		Metrics: metrics.NewEMF(os.Stdout, metrics.EMFOptions{}),
		Intents: e.Intents, IntentGrace: e.IntentGrace, Policy: e.Rules,
	}
	scanner, stopScanner, err := e.scanner(ctx, log)
	if err != nil {
		return lambdas.Config{}, stop, err
	}
	stops = append(stops, stopScanner)
	if scanner == nil && e.SignaturesBucket != "" {
		// Nothing scans here, but the sweep hunts with the current set.
		src, err := openSignatures(ctx, e.SignaturesBucket)
		if err != nil {
			return lambdas.Config{}, stop, err
		}
		cfg.Signatures = src
	}
	if scanner != nil {
		cfg.Scanner = scanner
		if e.LargeMax > 0 {
			cfg.Owner = "task:" + hostname()
			cfg.LargeScanner, cfg.LargeMaxBytes = scanner, e.LargeMax
		}
	}
	if err := e.awsRunners(ctx, &cfg, log); err != nil {
		return lambdas.Config{}, stop, err
	}
	return cfg, stop, nil
}

// scanner returns the scan engine, or nil when the function scans
// nothing. In the large-object task, clamd takes streams up to LargeMax.
func (e Env) scanner(ctx context.Context, log *slog.Logger) (lambdas.Scanner, func(), error) {
	nop := func() {}
	if e.Clamd == "" && e.ClamAVDB == "" {
		return nil, nop, nil
	}
	limit := e.StreamMax
	if e.LargeMax > 0 {
		limit = e.LargeMax
	}
	if e.Clamd != "" {
		if e.SignaturesBucket != "" {
			// Someone else's clamd loads its own database: loading a set
			// here would only mislead the staleness guard.
			return nil, nop, fmt.Errorf("lambdaenv: %s needs a clamd started here (%s), not one at %s", VarSignaturesBucket, VarClamAVDB, e.Clamd)
		}
		c, err := clamd.New(e.Clamd, clamd.Options{MaxStreamBytes: limit})
		if err != nil {
			return nil, nop, err
		}
		eng, err := engine.New(c, engine.Options{DatabaseDir: e.ClamAVDB, MaxAge: e.MaxDBAge})
		return eng, nop, err
	}
	dir := e.ClamdDir
	if dir == "" {
		dir = "/tmp/clamd"
	}
	// Started once per execution environment, in the background (see
	// startingScanner), after the signature set is loaded when there is
	// one; the supervisor restarts it should it crash between
	// invocations.
	if e.SignaturesBucket != "" {
		return e.setScanner(ctx, dir, limit, log)
	}
	return startClamd(ctx,
		daemon.Config{DatabaseDir: e.ClamAVDB, Dir: dir, StreamMaxLength: limit, Logger: log},
		clamd.Options{MaxStreamBytes: limit}, engine.Options{DatabaseDir: e.ClamAVDB, MaxAge: e.MaxDBAge}, nil, log)
}

// awsRunners sets cfg's Step Functions and ECS runners, when e names
// them; the AWS configuration is loaded only then.
func (e Env) awsRunners(ctx context.Context, cfg *lambdas.Config, log *slog.Logger) error {
	if e.ScanStateMachine == "" && e.ReviewStateMachine == "" && e.Offload.Cluster == "" && e.ResultBus == "" {
		return nil
	}
	ac, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("lambdaenv: aws config: %w", err)
	}
	if e.ScanStateMachine != "" || e.ReviewStateMachine != "" {
		r, err := stepfunctions.New(sfn.NewFromConfig(ac), e.ScanStateMachine, e.ReviewStateMachine, log)
		if err != nil {
			return err
		}
		cfg.Starter, cfg.Reviews, cfg.Resumer = r, r, r
	}
	if e.ResultBus != "" {
		cfg.Results = &notify.EventBridge{Client: eventbridge.NewFromConfig(ac), Bus: e.ResultBus, Logger: log}
	}
	if e.Offload.Cluster != "" {
		o, err := fargate.New(ecs.NewFromConfig(ac), e.Offload)
		if err != nil {
			return fmt.Errorf("lambdaenv: %w", err)
		}
		cfg.Offloader = o
	}
	return nil
}

// list splits a comma-separated value, dropping empty items.
// The AWS-side runners implement the handlers' ports; the packages do not
// import lambdas (they sit below it), so the check is here, where they
// are wired.
var (
	_ lambdas.Starter       = (*stepfunctions.Runner)(nil)
	_ lambdas.ReviewStarter = (*stepfunctions.Runner)(nil)
	_ lambdas.Resumer       = (*stepfunctions.Runner)(nil)
	_ lambdas.Offloader     = (*fargate.Offloader)(nil)
)

func list(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

func intEnv(getenv func(string) string, k string, def int64) (int64, error) {
	v := getenv(k)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("lambdaenv: %s=%q is not a positive integer", k, v)
	}
	return n, nil
}

func durEnv(getenv func(string) string, k string, def time.Duration) (time.Duration, error) {
	v := getenv(k)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("lambdaenv: %s=%q is not a positive duration", k, v)
	}
	return d, nil
}

func boolEnv(getenv func(string) string, k string) (bool, error) {
	v := getenv(k)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("lambdaenv: %s=%q is not true or false", k, v)
	}
	return b, nil
}
