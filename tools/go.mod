// The npm test tools live in their own (empty) Go module, so that Go
// files inside node_modules (aws-cdk ships Go templates) are not part of
// the scangate module and `go test ./...` does not see them.
module github.com/scangate/scangate/tools

go 1.26.8
