package lambdas_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/lambdas"
)

// The step table serves exactly the functions the definitions call.
func TestSteps(t *testing.T) {
	f := newFixture(t)
	steps := f.h.Steps()
	for _, fn := range asl.Functions() {
		if steps[fn] == nil {
			t.Errorf("no handler for %s", fn)
		}
	}
	for fn := range steps {
		if !slices.Contains(asl.Functions(), fn) {
			t.Errorf("handler for %s, which no definition calls", fn)
		}
	}
	// A step's input that does not decode is InvalidInput, never retried.
	_, err := steps[asl.FuncClaim](context.Background(), json.RawMessage(`{"id": 7}`))
	if lambdas.TypeOf(err) != lambdas.ErrInvalidInput {
		t.Errorf("undecodable input: %v; want %s", err, lambdas.ErrInvalidInput)
	}
}
