// Package local is the local runtime of scangate's workflow definitions:
// it runs the committed asl/*.json definitions with the asl/workflow
// interpreter against the same step handlers the Lambdas run, keeps each
// execution's history (the local counterpart of the Step Functions
// console's trace), starts reviews and resumes them with a decision, and
// sweeps for stranded records on a schedule.
package local
