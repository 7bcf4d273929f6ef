// Command ingest is the Ingest step as a Lambda; it also takes the
// backfill state machine's batches (lambdas.Handlers.IngestOrBackfill).
package main

import (
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

func main() {
	lambdaenv.Main(func(h *lambdas.Handlers) any { return lambdas.ForLambda(h.IngestOrBackfill) })
}
