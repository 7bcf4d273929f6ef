// Command awaitreview is the AwaitReview step as a Lambda.
package main

import (
	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

func main() {
	lambdaenv.Step(asl.FuncAwaitReview)
}
