package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/scangate/scangate/internal/backfill"
)

// awsBackfillInput is the backfill state machine's input: the shape
// asl/backfill.asl.json reads ($.bucket, $.prefix, $.inventory, ...).
func awsBackfillInput(spec backfill.Spec) ([]byte, error) {
	in := map[string]any{"bucket": spec.Bucket, "prefix": spec.Prefix, "dryRun": spec.DryRun,
		"allVersions": spec.AllVersions, "maxConcurrency": spec.Concurrency}
	if spec.Inventory != "" {
		ref := spec.InventoryRef()
		in["inventory"] = map[string]string{"bucket": ref.Bucket, "key": ref.Key}
	}
	return json.Marshal(in)
}

// startAWSBackfill starts the backfill state machine with the default AWS
// configuration (environment, profile, role). The execution's name is the
// job's, with a suffix per start: Step Functions keeps names for 90 days,
// and a Standard execution's progress is in its Map Run, not in the
// store. --rate has no counterpart there: MaxConcurrency bounds it.
func startAWSBackfill(ctx context.Context, arn string, spec backfill.Spec) (string, error) {
	if arn == "" {
		return "", errNoStateMachine
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return "", fmt.Errorf("aws config: %w", err)
	}
	return startExecution(ctx, sfn.NewFromConfig(cfg), arn, spec)
}

type sfnStarter interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

func startExecution(ctx context.Context, c sfnStarter, arn string, spec backfill.Spec) (string, error) {
	input, err := awsBackfillInput(spec)
	if err != nil {
		return "", err
	}
	out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(arn),
		Name:            aws.String(fmt.Sprintf("%s-%s", spec.JobID(), randomSuffix())),
		Input:           aws.String(string(input)),
	})
	if err != nil {
		return "", fmt.Errorf("start backfill execution: %w", err)
	}
	return aws.ToString(out.ExecutionArn), nil
}

// randomSuffix tells two starts of one job apart: 8 hex digits.
func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
