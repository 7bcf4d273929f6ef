package local

import (
	"encoding/json"

	"github.com/scangate/scangate/lambdas"
)

// causeJSON renders a step error the way Lambda reports it to Step
// Functions, with the reason carried along for the failure record.
func causeJSON(se *lambdas.StepError) string {
	b, _ := json.Marshal(se)
	return string(b)
}
