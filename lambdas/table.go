package lambdas

import (
	"context"
	"encoding/json"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
)

// StepFunc is a step handler as every runner calls it: the step's input
// as JSON in, its output as JSON out, and a *StepError (which names its
// ErrorType for the definitions' Retry and Catch) on failure.
type StepFunc func(ctx context.Context, in json.RawMessage) (json.RawMessage, error)

// Steps is the one table from the functions the definitions call to the
// handlers that serve them. The local runtime, the Lambda mains, the
// large-object task and the emulator tests all take their handlers from
// it, so a function cannot be served by one runner and missing from
// another; TestSteps checks that it covers asl.Functions exactly.
func (h *Handlers) Steps() map[asl.Function]StepFunc {
	return map[asl.Function]StepFunc{
		asl.FuncClaim:       step(h.Claim),
		asl.FuncScan:        step(h.Scan),
		asl.FuncScanLarge:   step(h.ScanLarge),
		asl.FuncOffload:     step(h.Offload),
		asl.FuncRecord:      step(h.Record),
		asl.FuncQuarantine:  step(h.Quarantine),
		asl.FuncBlock:       step(h.Block),
		asl.FuncFail:        step(h.Fail),
		asl.FuncAwaitReview: step(h.AwaitReview),
		asl.FuncDecide:      step(h.Decide),
		asl.FuncBackfill:    step(h.Backfill),
	}
}

// step adapts a typed handler to a StepFunc. Input that does not decode
// is InvalidInput, which no definition retries.
func step[In, Out any](fn func(context.Context, In) (Out, error)) StepFunc {
	return func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		var in In
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, &StepError{Type: ErrInvalidInput, Reason: domain.ReasonInternal, Msg: "step input: " + err.Error(), Err: err}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	}
}
