// Package stepfunctions connects the step handlers to AWS Step Functions:
// it starts the scan workflow for a record, starts the review workflow for
// a quarantined record, and resumes a waiting review with the admin's
// decision through its task token.
//
// # Idempotency
//
// Execution names are deterministic per object version and rescan
// generation (asl.ExecutionName). For the Standard review workflow a
// duplicate start returns ExecutionAlreadyExists, which counts as success.
// Express workflows do not deduplicate by name; there the record's
// conditional claim makes a duplicate execution end without effect.
package stepfunctions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
)

// API is the part of the Step Functions client scangate uses.
type API interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, opts ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
}

// Runner implements lambdas.Starter, lambdas.ReviewStarter and
// lambdas.Resumer over Step Functions.
type Runner struct {
	api       API
	scanARN   string
	reviewARN string
	log       *slog.Logger
}

// New returns a Runner for the two state machines.
func New(api API, scanARN, reviewARN string, log *slog.Logger) (*Runner, error) {
	if api == nil || scanARN == "" || reviewARN == "" {
		return nil, errors.New("stepfunctions: a client and both state machine ARNs are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{api: api, scanARN: scanARN, reviewARN: reviewARN, log: log}, nil
}

// Generation counts the rescans in a record's history: each rescan needs
// an execution of its own.
func Generation(rec *domain.Record) int {
	n := 0
	for _, h := range rec.History {
		if h.Event == "rescan" {
			n++
		}
	}
	return n
}

// Start starts the scan workflow for rec and returns the execution ARN.
func (r *Runner) Start(ctx context.Context, rec *domain.Record) (string, error) {
	name := asl.ExecutionName("scan", rec.Object.Key, rec.ID, Generation(rec))
	return r.start(ctx, r.scanARN, name, asl.Document{ID: rec.ID, Object: rec.Object})
}

// StartClaimed starts the scan workflow for rec, which ingest created
// claimed for it: the input carries the lease's token, so the workflow's
// Claim has nothing to write (lambdas.ClaimStarter).
func (r *Runner) StartClaimed(ctx context.Context, rec *domain.Record) (string, error) {
	if rec.Lease == nil || rec.Lease.Token == "" {
		return "", errcode.Errorf(errcode.Invalid, "stepfunctions: start", rec.ID, "record holds no lease")
	}
	name := asl.ExecutionName("scan", rec.Object.Key, rec.ID, Generation(rec))
	return r.start(ctx, r.scanARN, name, asl.Document{ID: rec.ID, Object: rec.Object, LeaseToken: rec.Lease.Token})
}

// ExecutionID is the ARN Start gives rec's execution: its name is derived
// from the record and its generation (lambdas.ExecutionNamer).
func (r *Runner) ExecutionID(rec *domain.Record) string {
	return ExecutionARN(r.scanARN, asl.ExecutionName("scan", rec.Object.Key, rec.ID, Generation(rec)))
}

// StartReview starts the review workflow for a quarantined record.
func (r *Runner) StartReview(ctx context.Context, rec *domain.Record) error {
	name := asl.ExecutionName("review", rec.Object.Key, rec.ID, Generation(rec))
	loc := rec.Location()
	_, err := r.start(ctx, r.reviewARN, name, asl.Document{ID: rec.ID, Object: rec.Object, Status: rec.State, Location: &loc})
	return err
}

func (r *Runner) start(ctx context.Context, machine, name string, st asl.Document) (string, error) {
	input, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	out, err := r.api.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(machine), Name: aws.String(name), Input: aws.String(string(input)),
	})
	var exists *types.ExecutionAlreadyExists
	switch {
	case err == nil:
		return aws.ToString(out.ExecutionArn), nil
	case errors.As(err, &exists):
		// A duplicate event: the execution of this generation runs or ran.
		r.log.Info("execution already exists", "name", name, "id", st.ID)
		return ExecutionARN(machine, name), nil
	}
	return "", classify("start "+name, st.ID, err)
}

// Resume sends the decision to the review workflow waiting on the item's
// task token. A token that is no longer waiting (resumed already, timed
// out) is not an error: the decision is recorded and the workflow moved on.
func (r *Runner) Resume(ctx context.Context, item *domain.ReviewItem, st asl.Document) error {
	if item.TaskToken == "" || st.Decision == nil {
		return errcode.Errorf(errcode.Invalid, "stepfunctions: resume", item.ID, "no task token or decision")
	}
	out, err := json.Marshal(st.Decision)
	if err != nil {
		return err
	}
	_, err = r.api.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(item.TaskToken), Output: aws.String(string(out))})
	var gone *types.TaskDoesNotExist
	var timedOut *types.TaskTimedOut
	if errors.As(err, &gone) || errors.As(err, &timedOut) {
		r.log.Info("review already resumed", "id", item.ID, "err", err)
		return nil
	}
	if err != nil {
		return classify("resume", item.ID, err)
	}
	return nil
}

// ExecutionARN derives an execution's ARN from its state machine's.
func ExecutionARN(machine, name string) string {
	return strings.Replace(machine, ":stateMachine:", ":execution:", 1) + ":" + name
}

func classify(op, id string, err error) error {
	code := errcode.Unknown
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = errcode.Unavailable
	default:
		var api interface{ ErrorCode() string }
		if errors.As(err, &api) {
			switch api.ErrorCode() {
			case "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable", "InternalFailure":
				code = errcode.Throttled
			case "StateMachineDoesNotExist", "InvalidArn", "InvalidName", "InvalidExecutionInput":
				code = errcode.Invalid
			}
		} else {
			code = errcode.Unavailable // transport: no API answer at all
		}
	}
	return &errcode.Error{Code: code, Op: "stepfunctions: " + op, ID: id, Err: fmt.Errorf("%w", err)}
}
