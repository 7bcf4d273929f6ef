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
//	SCANGATE_UNSCANNABLE_POLICY quarantine (default) or block
//	SCANGATE_CLAMD              address of a running clamd; or
//	SCANGATE_CLAMAV_DB          signature directory: clamd is started in
//	                            this environment and kept for warm calls
//	SCANGATE_STREAM_MAX         largest object scanned, bytes
//	SCANGATE_MAX_DB_AGE         oldest signature database allowed (24h)
//	SCANGATE_LEASE              scan lease duration (5m)
//	SCANGATE_SCAN_STATE_MACHINE   ARN of the scan workflow (ingest, rescan)
//	SCANGATE_REVIEW_STATE_MACHINE ARN of the review workflow (quarantine,
//	                              review decisions)
//	SCANGATE_RECORD_INTENTS     true when upload intents are recorded
//	                            (false by default): ingest then links each
//	                            new version to its intent. The sweep settles
//	                            expired intents either way.
//	SCANGATE_INTENT_GRACE       how long after its URL expired an upload
//	                            may still arrive (15m)
package lambdaenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/scangate/scangate/clamd"
	"github.com/scangate/scangate/clamd/daemon"
	"github.com/scangate/scangate/connect"
	"github.com/scangate/scangate/engine"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/metrics"
	"github.com/scangate/scangate/stepfunctions"
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
	need := func(k string) (string, error) {
		v := getenv(k)
		if v == "" {
			return "", fmt.Errorf("lambdaenv: %s is not set", k)
		}
		return v, nil
	}
	storeURL, err := need("SCANGATE_STORE")
	if err != nil {
		return nil, err
	}
	objURL, err := need("SCANGATE_OBJECTS")
	if err != nil {
		return nil, err
	}
	qBucket, err := need("SCANGATE_QUARANTINE_BUCKET")
	if err != nil {
		return nil, err
	}
	drv, err := connect.Store(ctx, storeURL)
	if err != nil {
		return nil, err
	}
	objs, err := connect.Objects(ctx, objURL)
	if err != nil {
		return nil, err
	}
	streamMax, err := intEnv(getenv, "SCANGATE_STREAM_MAX", 100<<20)
	if err != nil {
		return nil, err
	}
	maxAge, err := durEnv(getenv, "SCANGATE_MAX_DB_AGE", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	lease, err := durEnv(getenv, "SCANGATE_LEASE", 5*time.Minute)
	if err != nil {
		return nil, err
	}
	intents, err := boolEnv(getenv, "SCANGATE_RECORD_INTENTS")
	if err != nil {
		return nil, err
	}
	grace, err := durEnv(getenv, "SCANGATE_INTENT_GRACE", lambdas.DefaultIntentGrace)
	if err != nil {
		return nil, err
	}
	var scanner lambdas.Scanner
	if addr, db := getenv("SCANGATE_CLAMD"), getenv("SCANGATE_CLAMAV_DB"); addr != "" || db != "" {
		if addr == "" {
			// Started once per execution environment; the supervisor
			// restarts it should it crash between invocations.
			d, err := daemon.Start(ctx, daemon.Config{DatabaseDir: db, Dir: "/tmp/clamd", StreamMaxLength: streamMax, Logger: log})
			if err != nil {
				return nil, err
			}
			addr = d.Addr()
		}
		c, err := clamd.New(addr, clamd.Options{MaxStreamBytes: streamMax})
		if err != nil {
			return nil, err
		}
		eng, err := engine.New(c, engine.Options{DatabaseDir: db, MaxAge: maxAge})
		if err != nil {
			return nil, err
		}
		scanner = eng
	}
	cfg := lambdas.Config{
		Store: store.New(drv, nil), Objects: objs, Scanner: scanner, Logger: log,
		QuarantineBucket: qBucket, QuarantinePrefix: getenv("SCANGATE_QUARANTINE_PREFIX"),
		UnscannablePolicy: getenv("SCANGATE_UNSCANNABLE_POLICY"), MaxScanBytes: streamMax,
		LeaseTTL: lease, Owner: "lambda:" + getenv("AWS_LAMBDA_FUNCTION_NAME"),
		// CloudWatch Embedded Metric Format on stdout: metrics from the
		// function's log, with no API call.
		Metrics: metrics.NewEMF(os.Stdout, metrics.EMFOptions{}),
		Intents: intents, IntentGrace: grace,
	}
	if scanARN, reviewARN := getenv("SCANGATE_SCAN_STATE_MACHINE"), getenv("SCANGATE_REVIEW_STATE_MACHINE"); scanARN != "" || reviewARN != "" {
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("lambdaenv: aws config: %w", err)
		}
		r, err := stepfunctions.New(sfn.NewFromConfig(awsCfg), scanARN, reviewARN, log)
		if err != nil {
			return nil, err
		}
		cfg.Starter, cfg.Reviews, cfg.Resumer = r, r, r
	}
	return lambdas.New(cfg)
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
