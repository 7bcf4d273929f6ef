package asl

import (
	"encoding/json"
	"strings"

	"github.com/scangate/scangate/domain"
)

// The workflow contract: the document that flows through the definitions,
// the functions their Task states call, and the routes their Choices
// branch on. The definitions (JSON) and the handlers (Go) must agree on
// all three; TestContract fails when they do not.

// Document is what flows through the workflows: every step reads it and
// returns it enriched. Its JSON shape is part of the definitions'
// contract: the Choices read $.skip and $.next, the Catches write $.error,
// the review's callback writes $.decision.
type Document struct {
	ID     string           `json:"id"`
	Object domain.ObjectRef `json:"object"`
	// Status is the record's state after the step ran.
	Status domain.Status `json:"status,omitempty"`
	// Skip is set by Claim when the record is already decided. It is
	// always present: a Choice on a missing field is a runtime error.
	Skip       bool              `json:"skip"`
	LeaseToken string            `json:"leaseToken,omitempty"`
	Location   *domain.ObjectRef `json:"location,omitempty"`
	Verdict    *domain.Verdict   `json:"verdict,omitempty"`
	// Read is what the Scan step's read of the version established, for
	// Record to tag it with fewer requests: Scan sets it from the
	// backend's answer to its read, Claim clears it.
	Read *Read `json:"read,omitempty"`
	// Next is where the scan definition's Choices go after Claim and
	// Record. Always present.
	Next Route `json:"next"`
	// Offloaded is set on the input of an execution that runs in the
	// large-object path: its Claim routes an object above the stream
	// limit to ScanLarge instead of offloading it again.
	Offloaded bool `json:"offloaded,omitempty"`
	// Retro is set by Claim when the scan is a retro-hunt's rescan (a
	// version found clean under an older signature database); Record
	// marks the verdict.
	Retro bool `json:"retro,omitempty"`
	// RetroFrom, on a retro-hunt's rescan, is the signature database of
	// the clean verdict being hunted: a scanner that still answers with
	// it has not picked up the new database, and must not judge.
	RetroFrom string `json:"retroFrom,omitempty"`
	// Decision is the reviewer's decision, filled in when a review resumes.
	Decision *Decision `json:"decision,omitempty"`
	// Error is where the workflow's Catch puts a failed step's error.
	Error *CaughtError `json:"error,omitempty"`

	// An EventBridge "Object Created" event given directly to the state
	// machine (an EventBridge rule targeting it) arrives in these fields;
	// Claim records it and goes on as for any record. Its "id", the
	// event's own, is replaced by the record's.
	EventVersion string          `json:"version,omitempty"`
	DetailType   string          `json:"detail-type,omitempty"`
	Source       string          `json:"source,omitempty"`
	Time         string          `json:"time,omitempty"`
	Detail       json.RawMessage `json:"detail,omitempty"`
}

// Read is a successful read of one version, as the backend answered it.
// A version ID names bytes that never change, so the ETag a read of it
// matched stays that version's; Record then tags the version without
// checking the ETag again (objects.MergeTagsRead), and only when Object
// is exactly the record's version.
type Read struct {
	// Object is the version read: its bucket, key, VersionID and ETag as
	// the backend reported them.
	Object domain.ObjectRef `json:"object"`
	// TagCount is how many tags the version had when it was read; nil when
	// the backend did not say.
	TagCount *int `json:"tagCount,omitempty"`
}

// Decision is a reviewer's decision as the review workflow carries it.
type Decision struct {
	Decision domain.Decision `json:"decision"`
	// Reviewer is the authenticated principal who decided.
	Reviewer string `json:"reviewer"`
	Comment  string `json:"comment,omitempty"`
}

// CaughtError is the shape Step Functions gives a caught error.
type CaughtError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Route is a value of Document.Next: where the scan definition goes after
// Claim (AlreadyDecided) and after Record (Route).
type Route string

// The routes. Each leads to one state of the scan definition (State).
const (
	RouteScan       Route = "scan"
	RouteScanLarge  Route = "scanLarge"
	RouteOffload    Route = "offload"
	RouteQuarantine Route = "quarantine"
	RouteBlock      Route = "block"
	RouteDone       Route = "done"
)

// Routes lists every route.
func Routes() []Route {
	return []Route{RouteScan, RouteScanLarge, RouteOffload, RouteQuarantine, RouteBlock, RouteDone}
}

// State names the state of the scan definition that r leads to.
func (r Route) State() string {
	switch r {
	case RouteScan:
		return "Scan"
	case RouteScanLarge:
		return "ScanLarge"
	case RouteOffload:
		return "Offload"
	case RouteQuarantine:
		return "Quarantine"
	case RouteBlock:
		return "Block"
	case RouteDone:
		return "Done"
	}
	return ""
}

// Function is a function the definitions' Task states call. Its Resource
// (or, for a callback task, its FunctionName) is the placeholder
// ${<Name>FunctionArn}, which each runner substitutes.
type Function string

// The functions.
const (
	FuncClaim       Function = "claim"
	FuncScan        Function = "scan"
	FuncScanLarge   Function = "scanLarge"
	FuncOffload     Function = "offload"
	FuncRecord      Function = "record"
	FuncQuarantine  Function = "quarantine"
	FuncBlock       Function = "block"
	FuncFail        Function = "fail"
	FuncAwaitReview Function = "awaitReview"
	FuncDecide      Function = "decide"
	// FuncBackfill takes a batch of versions from the backfill
	// definition's Distributed Map (lambdas.BackfillBatch). On AWS it is
	// the ingest function, which tells a batch from an event.
	FuncBackfill Function = "backfill"
)

// Functions lists every function the definitions call.
func Functions() []Function {
	return []Function{FuncClaim, FuncScan, FuncScanLarge, FuncOffload, FuncRecord, FuncQuarantine, FuncBlock, FuncFail, FuncAwaitReview, FuncDecide, FuncBackfill}
}

// Placeholder names f's placeholder, e.g. "ClaimFunctionArn".
func (f Function) Placeholder() string {
	if f == "" {
		return ""
	}
	return strings.ToUpper(string(f[:1])) + string(f[1:]) + "FunctionArn"
}
