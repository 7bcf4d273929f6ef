package lambdaenv

import (
	"maps"
	"slices"
)

// The environment variables Config reads, by name. The package comment
// says what each one means.
const (
	VarStore              = "SCANGATE_STORE"
	VarObjects            = "SCANGATE_OBJECTS"
	VarQuarantineBucket   = "SCANGATE_QUARANTINE_BUCKET"
	VarQuarantinePrefix   = "SCANGATE_QUARANTINE_PREFIX"
	VarSelfPrincipals     = "SCANGATE_SELF_PRINCIPALS"
	VarUnscannablePolicy  = "SCANGATE_UNSCANNABLE_POLICY"
	VarClamd              = "SCANGATE_CLAMD"
	VarClamAVDB           = "SCANGATE_CLAMAV_DB"
	VarStreamMax          = "SCANGATE_STREAM_MAX"
	VarLargeStreamMax     = "SCANGATE_LARGE_STREAM_MAX"
	VarMaxDBAge           = "SCANGATE_MAX_DB_AGE"
	VarLease              = "SCANGATE_LEASE"
	VarClamdDir           = "SCANGATE_CLAMD_DIR"
	VarScanStateMachine   = "SCANGATE_SCAN_STATE_MACHINE"
	VarReviewStateMachine = "SCANGATE_REVIEW_STATE_MACHINE"
	VarRecordIntents      = "SCANGATE_RECORD_INTENTS"
	VarIntentGrace        = "SCANGATE_INTENT_GRACE"
	VarSignaturesBucket   = "SCANGATE_SIGNATURES_BUCKET"
	VarSignaturesMirror   = "SCANGATE_SIGNATURES_MIRROR"
	VarSignaturesCheck    = "SCANGATE_SIGNATURES_CHECK"
	VarSignaturesSwap     = "SCANGATE_SIGNATURES_SWAP"
	VarPolicyFile         = "SCANGATE_POLICY_FILE"
	VarResultBus          = "SCANGATE_RESULT_BUS"

	VarOffloadCluster          = "SCANGATE_OFFLOAD_CLUSTER"
	VarOffloadTaskDefinition   = "SCANGATE_OFFLOAD_TASK_DEFINITION"
	VarOffloadContainer        = "SCANGATE_OFFLOAD_CONTAINER"
	VarOffloadSubnets          = "SCANGATE_OFFLOAD_SUBNETS"
	VarOffloadSecurityGroups   = "SCANGATE_OFFLOAD_SECURITY_GROUPS"
	VarOffloadCapacityProvider = "SCANGATE_OFFLOAD_CAPACITY_PROVIDER"
)

// The review function's console settings on AWS. Config does not read
// them (lambdas/cmd/review does), so Vars leaves them out. The deployment
// cannot put the console's OpenID Connect client in the function's
// environment: the client's callback is the function's own URL, which
// CloudFormation makes after the function (a cycle). So the CDK stack
// writes the settings to an SSM parameter with a fixed name once the
// client and the URL exist, and keeps the session key in a secret it
// generates; the environment only names them.
const (
	// VarConsoleConfigParameter names the SSM parameter holding the
	// console's settings as JSON: issuer, clientId, consoleUrl and
	// optionally clientSecretArn (a Secrets Manager secret holding the
	// client's secret), nameClaim, roleClaim.
	VarConsoleConfigParameter = "SCANGATE_CONSOLE_CONFIG_PARAMETER"
	// VarConsoleSessionSecret is the ARN of the Secrets Manager secret
	// whose value is the console's session key (32+ bytes).
	VarConsoleSessionSecret = "SCANGATE_CONSOLE_SESSION_SECRET_ARN"
)

// The values of VarSignaturesSwap.
const (
	SwapOneAtATime = "one-at-a-time"
	SwapSideBySide = "side-by-side"
)

// Console lists the review function's console variables on AWS.
var Console = []string{VarConsoleConfigParameter, VarConsoleSessionSecret}

// Vars lists every variable Config reads, sorted.
func Vars() []string {
	return []string{
		VarClamAVDB, VarClamd, VarClamdDir, VarIntentGrace, VarLargeStreamMax,
		VarLease, VarMaxDBAge, VarObjects, VarOffloadCapacityProvider,
		VarOffloadCluster, VarOffloadContainer, VarOffloadSecurityGroups,
		VarOffloadSubnets, VarOffloadTaskDefinition, VarPolicyFile, VarQuarantineBucket,
		VarQuarantinePrefix, VarRecordIntents, VarResultBus, VarReviewStateMachine,
		VarScanStateMachine, VarSelfPrincipals, VarSignaturesBucket,
		VarSignaturesCheck, VarSignaturesMirror, VarSignaturesSwap, VarStore, VarStreamMax, VarUnscannablePolicy,
	}
}

// Common are the variables without which Config fails in every function.
var Common = []string{VarStore, VarObjects, VarQuarantineBucket}

// workflows are needed together: package stepfunctions takes both ARNs or
// neither, and a function whose handler starts or resumes a workflow does
// nothing useful without them.
var workflows = []string{VarScanStateMachine, VarReviewStateMachine}

// Offload are the variables that turn the large-object path on, in the
// functions that run Claim and Offload (OffloadFunctions). Without them
// Claim never routes to Offload, and objects above the stream limit are
// unscannable (too-large).
var Offload = []string{VarOffloadCluster, VarOffloadTaskDefinition, VarOffloadContainer, VarOffloadSubnets}

// OffloadFunctions run Claim and Offload: both need the Offload variables
// for the large-object path to work.
var OffloadFunctions = []string{"claim", "offload"}

// required maps each function (its folder under lambdas/cmd) to the
// variables it cannot do its work without, beyond Common. Config itself
// starts with only Common set; these are what the handler then needs:
//
//   - ingest starts the scan workflow; it and every function that starts,
//     or resumes, a workflow needs both ARNs (see workflows);
//   - scan needs a scanner: here clamd started on a signature directory,
//     which it first fills with the current set from the signatures
//     bucket (there is no other database in AWS: the image carries none);
//   - sigupdate publishes new sets to that bucket, and needs nothing
//     else (it is standalone: not even Common).
//   - claim must know the stream limit the scan function applies, or it
//     claims objects the scan function then refuses as too large, and it
//     could not route them to the large-object path; ingest and sweep
//     too, since they claim a new record for its execution only below
//     that limit (that execution then skips Claim and goes to Scan).
var required = map[string][]string{
	"awaitreview": workflows,
	"block":       nil,
	"claim":       {VarStreamMax},
	"decide":      workflows,
	"fail":        nil,
	"ingest":      append(slices.Clone(workflows), VarStreamMax),
	"offload":     nil,
	"quarantine":  workflows,
	"record":      nil,
	"review":      workflows,
	"scan":        {VarClamAVDB, VarStreamMax, VarMaxDBAge, VarSignaturesBucket},
	"sigupdate":   {VarSignaturesBucket},
	"sweep":       append(slices.Clone(workflows), VarStreamMax),
}

// standalone functions do not build the step handlers, so they need no
// store, objects or quarantine bucket: Required lists only their own
// variables, and a deployment gives them nothing more.
var standalone = map[string]bool{"sigupdate": true}

// Standalone reports whether function builds no step handlers, so that
// it needs none of Common (and is given none).
func Standalone(function string) bool { return standalone[function] }

// Functions lists the Lambda functions, one per folder under lambdas/cmd,
// sorted.
func Functions() []string {
	return slices.Sorted(maps.Keys(required))
}

// Required returns the variables that function must have set: Common and
// its own (only its own for a standalone function). It returns nil for an
// unknown function.
func Required(function string) []string {
	own, ok := required[function]
	if !ok {
		return nil
	}
	if standalone[function] {
		return slices.Clone(own)
	}
	return append(slices.Clone(Common), own...)
}

// Missing returns the variables of Required(function) that getenv leaves
// empty, for a deployment check (the CDK app's tests) or a start-up log.
func Missing(function string, getenv func(string) string) []string {
	var out []string
	for _, k := range Required(function) {
		if getenv(k) == "" {
			out = append(out, k)
		}
	}
	return out
}
