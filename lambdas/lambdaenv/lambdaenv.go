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
//	SCANGATE_SCAN_STATE_MACHINE   ARN of the scan workflow (ingest, rescan)
//	SCANGATE_REVIEW_STATE_MACHINE ARN of the review workflow (quarantine,
//	                              review decisions)
//	SCANGATE_RECORD_INTENTS     true when upload intents are recorded
//	                            (false by default): ingest then links each
//	                            new version to its intent. The sweep settles
//	                            expired intents either way.
//	SCANGATE_INTENT_GRACE       how long after its URL expired an upload
//	                            may still arrive (15m)
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
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/internal/notify"
	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/fargate"
	"github.com/scangate/scangate/lambdas/stepfunctions"
	"github.com/scangate/scangate/store"
)

// Main builds the handlers and serves the one that pick returns. It is the
// whole body of every Lambda's main.
func Main(pick func(*lambdas.Handlers) any) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx := context.Background()
	h, err := Handlers(ctx, os.Getenv, log)
	if err != nil {
		log.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(pick(h))
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
func Config(ctx context.Context, getenv func(string) string, log *slog.Logger) (_ lambdas.Config, stop func(), err error) {
	var none lambdas.Config
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
	need := func(k string) (string, error) {
		v := getenv(k)
		if v == "" {
			return "", fmt.Errorf("lambdaenv: %s is not set", k)
		}
		return v, nil
	}
	storeURL, err := need("SCANGATE_STORE")
	if err != nil {
		return none, stop, err
	}
	objURL, err := need("SCANGATE_OBJECTS")
	if err != nil {
		return none, stop, err
	}
	qBucket, err := need("SCANGATE_QUARANTINE_BUCKET")
	if err != nil {
		return none, stop, err
	}
	drv, err := urlopen.Store(ctx, storeURL)
	if err != nil {
		return none, stop, err
	}
	st := store.New(drv, nil)
	stops = append(stops, func() { st.Close() })
	objs, err := openObjects(ctx, objURL)
	if err != nil {
		return none, stop, err
	}
	streamMax, err := intEnv(getenv, "SCANGATE_STREAM_MAX", 100<<20)
	if err != nil {
		return none, stop, err
	}
	largeMax, err := intEnv(getenv, "SCANGATE_LARGE_STREAM_MAX", 0)
	if err != nil {
		return none, stop, err
	}
	maxAge, err := durEnv(getenv, "SCANGATE_MAX_DB_AGE", 24*time.Hour)
	if err != nil {
		return none, stop, err
	}
	lease, err := durEnv(getenv, "SCANGATE_LEASE", 5*time.Minute)
	if err != nil {
		return none, stop, err
	}
	intents, err := boolEnv(getenv, "SCANGATE_RECORD_INTENTS")
	if err != nil {
		return none, stop, err
	}
	grace, err := durEnv(getenv, "SCANGATE_INTENT_GRACE", lambdas.DefaultIntentGrace)
	if err != nil {
		return none, stop, err
	}
	cfg := lambdas.Config{
		Store: st, Objects: objs, Logger: log,
		QuarantineBucket: qBucket, QuarantinePrefix: getenv("SCANGATE_QUARANTINE_PREFIX"),
		UnscannablePolicy: getenv("SCANGATE_UNSCANNABLE_POLICY"), MaxScanBytes: streamMax,
		SelfPrincipals: list(getenv("SCANGATE_SELF_PRINCIPALS")),
		LeaseTTL:       lease, Owner: "lambda:" + getenv("AWS_LAMBDA_FUNCTION_NAME"),
		// CloudWatch Embedded Metric Format on stdout: metrics from the
		// function's log, with no API call.
		Metrics: metrics.NewEMF(os.Stdout, metrics.EMFOptions{}),
		Intents: intents, IntentGrace: grace,
	}
	if addr, db := getenv("SCANGATE_CLAMD"), getenv("SCANGATE_CLAMAV_DB"); addr != "" || db != "" {
		// In the large-object task, clamd takes streams up to largeMax and
		// the engine is the LargeScanner.
		limit := streamMax
		if largeMax > 0 {
			limit = largeMax
		}
		var scanner lambdas.Scanner
		if addr == "" {
			dir := getenv("SCANGATE_CLAMD_DIR")
			if dir == "" {
				dir = "/tmp/clamd"
			}
			// Started once per execution environment, in the background
			// (see startingScanner); the supervisor restarts it should it
			// crash between invocations.
			s, stopClamd, err := startClamd(ctx,
				daemon.Config{DatabaseDir: db, Dir: dir, StreamMaxLength: limit, Logger: log},
				clamd.Options{MaxStreamBytes: limit}, engine.Options{DatabaseDir: db, MaxAge: maxAge}, log)
			if err != nil {
				return none, stop, err
			}
			stops = append(stops, stopClamd)
			scanner = s
		} else {
			c, err := clamd.New(addr, clamd.Options{MaxStreamBytes: limit})
			if err != nil {
				return none, stop, err
			}
			eng, err := engine.New(c, engine.Options{DatabaseDir: db, MaxAge: maxAge})
			if err != nil {
				return none, stop, err
			}
			scanner = eng
		}
		cfg.Scanner = scanner
		if largeMax > 0 {
			cfg.Owner = "task:" + hostname()
			cfg.LargeScanner, cfg.LargeMaxBytes = scanner, largeMax
		}
	}
	var awsCfg *aws.Config
	loadAWS := func() (aws.Config, error) {
		if awsCfg == nil {
			c, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return aws.Config{}, fmt.Errorf("lambdaenv: aws config: %w", err)
			}
			awsCfg = &c
		}
		return *awsCfg, nil
	}
	if scanARN, reviewARN := getenv("SCANGATE_SCAN_STATE_MACHINE"), getenv("SCANGATE_REVIEW_STATE_MACHINE"); scanARN != "" || reviewARN != "" {
		ac, err := loadAWS()
		if err != nil {
			return none, stop, err
		}
		r, err := stepfunctions.New(sfn.NewFromConfig(ac), scanARN, reviewARN, log)
		if err != nil {
			return none, stop, err
		}
		cfg.Starter, cfg.Reviews, cfg.Resumer = r, r, r
	}
	if cluster := getenv("SCANGATE_OFFLOAD_CLUSTER"); cluster != "" {
		ac, err := loadAWS()
		if err != nil {
			return none, stop, err
		}
		o, err := fargate.New(ecs.NewFromConfig(ac), fargate.Config{
			Cluster: cluster, TaskDefinition: getenv("SCANGATE_OFFLOAD_TASK_DEFINITION"),
			Container: getenv("SCANGATE_OFFLOAD_CONTAINER"), Subnets: list(getenv("SCANGATE_OFFLOAD_SUBNETS")),
			SecurityGroups: list(getenv("SCANGATE_OFFLOAD_SECURITY_GROUPS")), CapacityProvider: getenv("SCANGATE_OFFLOAD_CAPACITY_PROVIDER"),
		})
		if err != nil {
			return none, stop, fmt.Errorf("lambdaenv: %w", err)
		}
		cfg.Offloader = o
	}
	if bus := getenv(VarResultBus); bus != "" {
		ac, err := loadAWS()
		if err != nil {
			return none, stop, err
		}
		cfg.Results = &notify.EventBridge{Client: eventbridge.NewFromConfig(ac), Bus: bus, Logger: log}
	}
	return cfg, stop, nil
}

// list splits a comma-separated value, dropping empty items.
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
