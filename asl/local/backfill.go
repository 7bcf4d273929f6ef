package local

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/asl/workflow"
	"github.com/scangate/scangate/lambdas"
)

// RunBackfill runs the committed backfill definition (asl.Backfill), the
// one Step Functions runs, to its end: its Distributed Map reads items
// through reader (the local counterpart of S3's ListObjectsV2 and
// GetObject readers) and hands each batch to the handlers' Backfill;
// tally, when set, sees each batch's result. Each run loads its own
// machine, since the reader and tally belong to one run.
func (w *Workflows) RunBackfill(ctx context.Context, name string, input json.RawMessage, reader workflow.ItemReader, tally func(lambdas.BackfillResult)) (workflow.Result, error) {
	if w.h == nil {
		return workflow.Result{}, fmt.Errorf("local: workflows have no handlers")
	}
	step := w.h.Steps()[asl.FuncBackfill]
	handler := func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		out, err := step(ctx, in)
		if err == nil && tally != nil {
			var res lambdas.BackfillResult
			if json.Unmarshal(out, &res) == nil {
				tally(res)
			}
		}
		return out, err
	}
	def, err := asl.Substitute(asl.Backfill(), map[string]string{asl.FuncBackfill.Placeholder(): functionARN(asl.FuncBackfill)})
	if err != nil {
		return workflow.Result{}, err
	}
	m, err := workflow.Load(def, func(resource, state string) (workflow.Handler, error) {
		if resource != functionARN(asl.FuncBackfill) {
			return nil, fmt.Errorf("local: no handler for resource %q of state %s", resource, state)
		}
		return handler, nil
	}, &workflow.Options{Name: "scangate-backfill", Sleep: w.sleep, Cause: cause, Logger: w.log, ItemReader: reader})
	if err != nil {
		return workflow.Result{}, err
	}
	defer m.Close()
	e, err := m.Start(ctx, name, input)
	if err != nil {
		return workflow.Result{}, err
	}
	return e.Wait(ctx)
}
