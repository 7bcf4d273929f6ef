// Command offload is the Offload step as a Lambda: it starts the
// large-object path's Fargate task (package fargate).
package main

import (
	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

func main() {
	lambdaenv.Step(asl.FuncOffload)
}
