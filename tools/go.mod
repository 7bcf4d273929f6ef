// The npm test tools are not Go code, but node_modules carries Go files
// (aws-cdk's init templates, named "%name%.template.go") that break
// `go list ./...` from the root. A module boundary here keeps them out of
// the root module's ./... pattern.
module github.com/scangate/scangate/tools

go 1.26
