// Package tools is not Go: this file only marks a module boundary, so
// that ./... patterns skip node_modules (aws-cdk ships Go templates whose
// file names are not valid Go file names).
module github.com/scangate/scangate/tools

go 1.26.8
