// Command sweep is the Sweep step, run on a schedule, as a Lambda.
package main

import (
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

func main() {
	lambdaenv.Main(func(h *lambdas.Handlers) any { return lambdas.ForLambda(h.Sweep) })
}
