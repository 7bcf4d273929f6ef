// Command offload is the Offload step as a Lambda: it starts the
// large-object path's Fargate task (package fargate).
package main

import (
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

func main() {
	lambdaenv.Main(func(h *lambdas.Handlers) any { return lambdas.ForLambda(h.Offload) })
}
