package gate

import (
	"github.com/scangate/scangate/internal/sigset"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// S3 action sets, named for what the handlers do with them.
var (
	// s3Read streams or heads a version (HeadObject is GetObject).
	s3Read = []string{"s3:GetObject", "s3:GetObjectVersion"}
	// s3List lets S3 answer 404 rather than 403 for a version that is
	// gone, so gone is told from a permission problem (docs/aws.md); and
	// lists a key's versions (ingest's version resolution, the sweep's
	// intents).
	s3List     = []string{"s3:ListBucket", "s3:ListBucketVersions"}
	s3TagRead  = []string{"s3:GetObjectTagging", "s3:GetObjectVersionTagging"}
	s3TagWrite = []string{"s3:PutObjectTagging", "s3:PutObjectVersionTagging"}
	s3Delete   = []string{"s3:DeleteObject", "s3:DeleteObjectVersion"}
	// s3Write puts a copy (CopyObject, multipart copies for large ones).
	s3Write = []string{"s3:PutObject", "s3:AbortMultipartUpload"}
)

// sigAccess is what a function does with the signatures bucket.
type sigAccess int

const (
	sigNone sigAccess = iota
	// sigLoad reads the current set's objects (sigset.Load).
	sigLoad
	// sigPointer reads the pointer alone (sigset.ReadPointer): the sweep's
	// retro-hunt needs the current set's database, not its files.
	sigPointer
	// sigPublish also writes sets and the pointer (sigset.Publish), and
	// lists the bucket so that S3 answers 404, not 403, for a pointer not
	// written yet: the first run must tell "no set" from "no access".
	sigPublish
)

// access is what one function does with objects, the table and the
// workflows: the handler under lambdas/ that it runs decides it.
type access struct {
	// noTable: the function never touches the table (standalone ones).
	noTable    bool
	tableWrite bool
	// protected and quarantine are the S3 actions on objects in the
	// protected buckets and in the quarantine bucket.
	protected, quarantine  [][]string
	startScan, startReview bool
	// taskResponse sends a review's decision back (SendTaskSuccess).
	taskResponse bool
	signatures   sigAccess
	// putEvents: the handler emits result events (lambdas/results.go's
	// emitResult and emitRetro callers), so it gets SCANGATE_RESULT_BUS
	// and events:PutEvents on that bus.
	putEvents bool
}

// accessOf is the table of what each function needs. Read it with the
// handlers in lambdas/*.go.
var accessOf = map[string]access{
	// Ingest heads a version for its size, resolves versions, reads tags
	// (ownWrite) and starts the scan workflow.
	"ingest": {tableWrite: true, protected: [][]string{s3Read, s3List, s3TagRead}, startScan: true},
	// Claim only takes the lease.
	"claim": {tableWrite: true},
	// Scan reads the version it scans: in a protected bucket, or a
	// quarantined copy being rescanned. It writes nothing. At start it
	// loads the current signature set. Tag reading lets S3 send the
	// version's tag count with the GetObject (x-amz-tagging-count, absent
	// for a caller that may not read tags), from which Record learns that
	// an untagged version needs no tag read before it is tagged.
	"scan": {protected: [][]string{s3Read, s3List, s3TagRead}, quarantine: [][]string{s3Read, s3List}, signatures: sigLoad},
	// The signature updater loads the current set, and publishes new ones;
	// nothing else.
	"sigupdate": {noTable: true, signatures: sigPublish},
	// Record tags the verdict onto the version (a merge: read, then put).
	"record": {tableWrite: true, protected: [][]string{s3Read, s3List, s3TagRead, s3TagWrite}, quarantine: [][]string{s3Read, s3List, s3TagRead, s3TagWrite}, putEvents: true},
	// Quarantine copies the version out (with its tags) and deletes it,
	// then starts the review workflow.
	"quarantine": {tableWrite: true, protected: [][]string{s3Read, s3List, s3TagRead, s3Delete}, quarantine: [][]string{s3Write, s3TagWrite, s3List}, startReview: true, putEvents: true},
	// Block tags in place. It emits nothing: the blocked unscannable
	// outcome is emitted by Record.
	"block": {tableWrite: true, protected: [][]string{s3Read, s3List, s3TagRead, s3TagWrite}, quarantine: [][]string{s3Read, s3List, s3TagRead, s3TagWrite}},
	// Fail only records.
	"fail": {tableWrite: true, putEvents: true},
	// AwaitReview stores the task token; a decision made first is sent
	// back at once.
	"awaitreview": {tableWrite: true, taskResponse: true},
	// Decide restores a released copy to its key (with the verdict's
	// tags), deletes a confirmed one's leftovers, or starts a rescan.
	"decide": {tableWrite: true, protected: [][]string{s3Write, s3TagWrite, s3List}, quarantine: [][]string{s3Read, s3List, s3TagRead, s3Delete}, startScan: true, putEvents: true},
	// Review is the admin console's function: it records a decision and
	// resumes the waiting workflow, or starts a rescan; without a
	// waiting workflow it carries a decision out itself (Decide), which
	// emits.
	"review": {tableWrite: true, taskResponse: true, startScan: true, putEvents: true},
	// Sweep restarts workflows and ingests versions whose event was lost;
	// its retro-hunt reads the current set's pointer and starts rescans.
	"sweep": {tableWrite: true, protected: [][]string{s3Read, s3List, s3TagRead}, startScan: true, startReview: true, signatures: sigPointer},
	// Offload reads the record and starts a task (offload() adds ECS).
	"offload": {},
}

func flat(sets [][]string) []string {
	var out []string
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}

// permissions grants each function's role what accessOf says, and the KMS
// keys of the buckets it reads or writes.
func (g *Gate) permissions(scanArn, reviewArn *string) {
	for name, role := range g.Roles {
		a, ok := accessOf[name]
		if !ok {
			panic("gate: no access entry for function " + name)
		}
		g.grantAccess(role, name, a, scanArn, reviewArn)
	}
}

func (g *Gate) grantAccess(role awsiam.Role, name string, a access, scanArn, reviewArn *string) {
	switch {
	case a.noTable:
	case a.tableWrite:
		g.Table.GrantReadWriteData(role)
	default:
		g.Table.GrantReadData(role)
	}
	switch a.signatures {
	case sigLoad:
		g.grantS3(role, g.Signatures.BucketArn(), []*string{g.Signatures.ArnForObjects(jsii.String("*"))}, s3Read)
	case sigPointer:
		g.grantS3(role, g.Signatures.BucketArn(), []*string{g.Signatures.ArnForObjects(jsii.String(sigset.PointerKey))}, s3Read)
	case sigPublish:
		g.grantS3(role, g.Signatures.BucketArn(), []*string{g.Signatures.ArnForObjects(jsii.String("*"))}, slices.Concat(s3Read, s3Write, []string{"s3:ListBucket"}))
	}
	if acts := flat(a.protected); len(acts) > 0 {
		for _, b := range g.protected {
			g.grantS3(role, b.arn, b.objectArns(), acts)
			g.grantKMS(role, b.kmsKey, acts)
		}
	}
	if acts := flat(a.quarantine); len(acts) > 0 {
		g.grantS3(role, g.Quarantine.BucketArn(), []*string{g.Quarantine.ArnForObjects(jsii.String("*"))}, acts)
	}
	var start []*string
	if a.startScan {
		start = append(start, scanArn)
	}
	if a.startReview {
		start = append(start, reviewArn)
	}
	if len(start) > 0 {
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("states:StartExecution"),
			Resources: &start,
		}))
	}
	if a.putEvents {
		g.grantPutEvents(role)
	}
	if a.taskResponse {
		// Task tokens are checked against the state machine.
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"),
			Resources: &[]*string{reviewArn},
		}))
	}
}

// grantS3 allows acts on the objects, and the bucket-level ones (List*) on
// the bucket itself.
func (g *Gate) grantS3(role awsiam.Role, bucketArn *string, objectArns []*string, acts []string) {
	var obj, bucket []string
	for _, a := range acts {
		if a == "s3:ListBucket" || a == "s3:ListBucketVersions" {
			bucket = append(bucket, a)
		} else {
			obj = append(obj, a)
		}
	}
	if len(obj) > 0 {
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings(obj...), Resources: &objectArns,
		}))
	}
	if len(bucket) > 0 {
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings(bucket...), Resources: &[]*string{bucketArn},
		}))
	}
}

// grantKMS allows the key of an SSE-KMS bucket: Decrypt to read,
// GenerateDataKey (and Decrypt, which a multipart copy needs) to write.
func (g *Gate) grantKMS(role awsiam.Role, keyArn string, acts []string) {
	if keyArn == "" {
		return
	}
	var kms []string
	for _, a := range acts {
		switch a {
		case "s3:GetObject":
			kms = append(kms, "kms:Decrypt")
		case "s3:PutObject":
			kms = append(kms, "kms:Decrypt", "kms:GenerateDataKey")
		}
	}
	if len(kms) == 0 {
		return
	}
	kms = uniq(kms)
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings(kms...), Resources: jsii.Strings(keyArn),
	}))
}

func uniq(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func importKey(scope constructs.Construct, id, arn string) awskms.IKey {
	return awskms.Key_FromKeyArn(scope, jsii.String(id), jsii.String(arn))
}

// exemptRoles are the roles the bucket policy lets read unscanned objects
// and write scangate's tags: every function that touches protected
// objects, and the large-object task.
func (g *Gate) exemptRoles() []*string {
	var out []*string
	for _, name := range []string{"ingest", "scan", "record", "quarantine", "block", "decide", "sweep"} {
		out = append(out, g.Roles[name].RoleArn())
	}
	if g.taskRole != nil {
		out = append(out, g.taskRole.RoleArn())
	}
	for _, a := range g.props.ExemptPrincipalArns {
		out = append(out, jsii.String(a))
	}
	return out
}
