// Command sigupdate is the signature updater, run on a schedule as a
// Lambda from the scan image (it needs freshclam and scangate): it runs
// `scangate update` on the current signature set and publishes the result
// as a new set in the signatures bucket (package sigset), which the scan
// function loads at its next cold start.
package main

import "github.com/scangate/scangate/lambdas/lambdaenv"

func main() {
	lambdaenv.MainSignatureUpdater()
}
