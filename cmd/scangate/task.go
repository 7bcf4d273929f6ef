package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"io"
	"log/slog"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/asl/workflow"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/fargate"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

// cmdTask is the large-object path's task (an ECS Fargate task in AWS,
// started by the Offload step): it runs the committed scan definition for
// the one object in $SCANGATE_TASK_STATE with the local interpreter, so it
// claims, scans with its own clamd (stream limit
// $SCANGATE_LARGE_STREAM_MAX), records and quarantines exactly as the
// Express workflow does. Everything else comes from the environment the
// Lambdas read (package lambdaenv). It exits 0 when the execution
// succeeded, whatever the verdict, and 1 when it failed.
func cmdTask(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("task", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: scangate task   (configured by the environment: "+fargate.StateEnv+", SCANGATE_LARGE_STREAM_MAX and the Lambdas' SCANGATE_* variables)")
	}
	if err := fl.Parse(args); err != nil || fl.NArg() > 0 {
		fl.Usage()
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	var st asl.Document
	if err := json.Unmarshal([]byte(getenv(fargate.StateEnv)), &st); err != nil || st.ID == "" {
		log.Error("no object to scan", "env", fargate.StateEnv, "err", err)
		return 2
	}
	log = log.With("id", st.ID, "bucket", st.Object.Bucket, "key", domain.DisplayKey(st.Object.Key), "versionId", st.Object.VersionID)
	if getenv("SCANGATE_LARGE_STREAM_MAX") == "" {
		log.Error("SCANGATE_LARGE_STREAM_MAX is not set: this task would scan no larger than the Lambda")
		return 2
	}
	cfg, stop, err := lambdaenv.Config(ctx, getenv, log)
	defer stop()
	if err != nil {
		log.Error("init failed", "err", err)
		return 2
	}
	// The task scans; it never offloads again.
	cfg.Offloader = nil
	h, err := lambdas.New(cfg)
	if err != nil {
		log.Error("init failed", "err", err)
		return 2
	}
	flows, err := local.NewRunner(cfg.Store, h, local.WorkflowOptions{Workers: 1, Logger: log})
	if err != nil {
		log.Error("init failed", "err", err)
		return 2
	}
	res, err := flows.RunOffloaded(ctx, st)
	if err != nil {
		log.Error("execution did not end", "err", err)
		return 1
	}
	rec, gerr := cfg.Store.Get(ctx, st.ID)
	if gerr != nil {
		log.Warn("reading the record", "err", gerr)
	}
	out := map[string]any{"status": res.Status, "error": res.Error, "cause": res.Cause}
	if rec != nil {
		out["state"], out["reason"] = rec.State, rec.Reason
	}
	json.NewEncoder(stdout).Encode(out)
	if res.Status != workflow.StatusSucceeded {
		return 1
	}
	return 0
}
