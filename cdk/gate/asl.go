package gate

import (
	"regexp"
	"slices"
	"strings"
)

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`)

// placeholders lists the ${Name} placeholders in an ASL definition, sorted,
// once each (the same rule as package asl's, which the cdk module does not
// import: only the files are shared).
func placeholders(def []byte) []string {
	var names []string
	for _, m := range placeholder.FindAllSubmatch(def, -1) {
		if n := string(m[1]); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// stepOf names the function of a placeholder, lower case as the folders
// under lambdas/cmd are: "AwaitReviewFunctionArn" is "awaitreview".
func stepOf(ph string) (string, bool) {
	step, ok := strings.CutSuffix(ph, "FunctionArn")
	if !ok || step == "" {
		return "", false
	}
	return strings.ToLower(step), true
}
