// Command scan is the Scan step as a Lambda.
package main

import (
	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

func main() {
	lambdaenv.Step(asl.FuncScan)
}
