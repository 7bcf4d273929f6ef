package gate

import (
	"fmt"
	"net/url"
	"strings"
)

// Props configure a Gate. The zero value of every field but the paths
// (LambdaAssets, ImageDir, ASLDir) and at least one bucket is a sound
// default; docs/deploy.md explains each default.
type Props struct {
	// NewBucket, when set, makes the stack create a protected bucket:
	// versioned, public access blocked, TLS only, the bucket policy
	// attached.
	NewBucket *NewBucket
	// ExistingBuckets are buckets the stack protects without owning them.
	// Their bucket policy is usually managed elsewhere, so the stack
	// outputs the statements to merge rather than attaching them
	// (docs/deploy.md).
	ExistingBuckets []ExistingBucket
	// ExemptPrincipalArns may read unscanned objects and write scangate's
	// tags besides scangate's own roles: a replication or backup role.
	// Each one weakens the gate; keep it empty unless you must.
	ExemptPrincipalArns []string

	// LambdaAssets is the folder holding one folder per function under
	// lambdas/cmd, each with the function's bootstrap binary (make
	// lambda-assets writes bin/lambda).
	LambdaAssets string
	// ImageDir is the Docker build context of the scan function's image:
	// the repository root, which holds the Dockerfile. Synthesis only
	// hashes it; cdk deploy builds it.
	ImageDir string
	// ASLDir holds scan.asl.json and review.asl.json.
	ASLDir string

	// InventoryBuckets are the destination buckets of S3 Inventory
	// reports that the backfill workflow may read (backfill.go); none: it
	// can only list.
	InventoryBuckets []string

	// PolicyFile is a local per-prefix policy file (YAML or JSON,
	// docs/policy.md). Its folder is built into the scan image and
	// SCANGATE_POLICY_FILE set on the scanners (policyfile.go); keep the
	// policy and its denylist files in a folder of their own.
	PolicyFile string

	// AlarmEmail, when set, subscribes an address to the alarms' topic.
	AlarmEmail string

	// LargeObjects, when set, turns on the Offload path (Fargate). Off,
	// objects above StreamMaxBytes are recorded unscannable (too-large).
	LargeObjects *LargeObjects

	// WorkflowLogLevel is the state machines' log level: ERROR (default),
	// ALL, FATAL or OFF. ERROR logs the executions that fail; every record
	// keeps its own history in the table either way. ALL with execution
	// data lets one object's Express execution be followed in the console,
	// for about $14 per million 1 MB uploads (docs/cost.md).
	WorkflowLogLevel string
	// OmitExecutionData leaves inputs and outputs out of the workflow
	// logs (they hold bucket names, keys and verdicts).
	OmitExecutionData bool
	// LogRetentionDays applies to every log group; 0 means 90.
	LogRetentionDays int
	// FunctionLogLevel is the Lambdas' application log level
	// (INFO by default, a line per ingest, scan and verdict; DEBUG, WARN,
	// ERROR). The scan function's metric lines are written at every level.
	FunctionLogLevel string
	// PlatformLogs keeps Lambda's own START, END and REPORT lines (system
	// log level INFO). Off by default (WARN): Lambda's Duration, Errors and
	// Throttles metrics carry the same figures, and the lines are a third
	// of the functions' log volume.
	PlatformLogs bool
	// Tracing turns on X-Ray active tracing for every function and state
	// machine. Off by default: about $5 per million uploads for each trace
	// recorded (docs/cost.md), and each record's history already says what
	// happened to its object and when.
	Tracing bool

	// Scan sizes the scan function; see DefaultScan.
	Scan FunctionSize
	// Small sizes every other function; see DefaultSmall.
	Small FunctionSize

	// StreamMaxBytes is the largest object the scan function streams into
	// clamd; 0 means 100 MiB. Larger objects go to the large-object path,
	// or are unscannable (too-large) without it.
	StreamMaxBytes int64
	// MaxSignatureAgeHours is the staleness guard: a scan on an older
	// database fails (StaleSignatures) rather than answer. 0 means 24.
	MaxSignatureAgeHours int
	// UnscannablePolicy is "quarantine" (default) or "block".
	UnscannablePolicy string

	// IngestBatchSize is the SQS batch size; 0 means 10.
	IngestBatchSize int
	// IngestBatchWindowSeconds waits to fill a batch; 0 means none, so an
	// upload is ingested at once.
	IngestBatchWindowSeconds int
	// MaxReceiveCount is how often a message is received before it goes
	// to the dead-letter queue; 0 means 5.
	MaxReceiveCount int
	// SweepEveryMinutes is the sweep's schedule; 0 means 10.
	SweepEveryMinutes int
	// RetroWindowHours: when the updater publishes a newer signature set,
	// the sweep rescans versions found clean within this long under an
	// older one (the retro-hunt); 0 means 168 (7 days), negative turns it
	// off. RetroPerSweep bounds the rescans one sweep starts; 0 means 200
	// (at 5 a second, well within the sweep function's timeout; a pass
	// that runs out of time goes on at the next sweep).
	RetroWindowHours int
	RetroPerSweep    int

	// Signatures configures the signatures bucket and its updater.
	Signatures Signatures

	// Console configures the admin console and the review API's URLs;
	// the zero value deploys them with a Cognito user pool.
	Console Console
	// ResultBus is where result events go: empty creates a bus,
	// "default" is the account's default bus, anything else names an
	// existing bus (name or ARN).
	ResultBus string

	// QuarantineExpireDays expires quarantined copies after this many
	// days; 0 keeps them until an admin decides.
	QuarantineExpireDays int
	// DestroyOnDelete removes the table and the quarantine bucket with the
	// stack. The default keeps them: records and quarantined objects are
	// evidence. For test stacks only.
	DestroyOnDelete bool
}

// Signatures configures where the scan function's signature database
// comes from: a bucket of published sets (package sigset) that a
// scheduled updater keeps current, with no VPC or EFS.
type Signatures struct {
	// Mirror is a private mirror's http(s) URL, as cvdupdate serves one;
	// empty means ClamAV's CDN (database.clamav.net).
	Mirror string
	// EveryHours is the updater's schedule; 0 means 2. At most 12, so that
	// a missed run is noticed well inside the staleness guard's day.
	EveryHours int
	// Updater sizes the updater function; see DefaultUpdater.
	Updater FunctionSize
	// SideBySide makes a warm scan function load a newer set's clamd
	// while the old one keeps scanning, so that no scan waits for the
	// load (20 to 40 s); it needs memory for two databases, so the scan
	// function's memory must be at least SideBySideMiB. By default the
	// old clamd stops first and the next scan in that environment waits
	// (docs/clamd-memory.md).
	SideBySide bool
}

// SideBySideMiB is the least scan function memory for Signatures.SideBySide:
// two clamds with the official-scale database (4,610 MiB measured on the
// proxy in docs/clamd-memory.md), a scan and the function, with headroom.
const SideBySideMiB = 5376

// DefaultUpdater sizes the signature updater. freshclam tests the
// database it downloaded by loading it, as clamd does (about 1.2 GiB for
// the official one), so it gets the scan function's memory. Its /tmp
// holds the current set, freshclam's staging copy and downloads: three
// copies of a database of about 350 MB. 900 s is Lambda's limit; a full
// download from the CDN takes a minute or two.
var DefaultUpdater = FunctionSize{MemoryMiB: 3008, TimeoutSeconds: 900, EphemeralMiB: 4096}

// NewBucket is a bucket the stack creates and protects.
type NewBucket struct {
	// Name is the bucket's name; empty lets CloudFormation choose.
	Name string
	// KMSKeyArn encrypts it with that key (SSE-KMS); empty means SSE-S3.
	KMSKeyArn string
}

// ExistingBucket is a bucket the stack protects but does not own.
type ExistingBucket struct {
	Name string
	// Prefixes limit scanning (and the policy's statements) to keys under
	// them; empty means the whole bucket.
	Prefixes []string
	// KMSKeyArn is the key of an SSE-KMS bucket: the scanner is granted
	// kms:Decrypt, and kms:GenerateDataKey where it writes.
	KMSKeyArn string
}

// LargeObjects configures the Offload path: a Fargate task from the scan
// function's image running `scangate task`.
type LargeObjects struct {
	// VpcID and SubnetIDs place the task. The task gets no public IP
	// (package fargate asks for none), so the subnets need a route to S3,
	// DynamoDB, Step Functions, ECR and CloudWatch Logs: a NAT gateway or
	// VPC endpoints.
	VpcID     string
	SubnetIDs []string
	// MaxBytes is the task's stream limit; 0 means 4 GiB (clamd's own
	// maximum).
	MaxBytes int64
	// CPU and MemoryMiB size the task; 0 means 2048 and 8192.
	CPU       int
	MemoryMiB int
	// Spot runs the task on FARGATE_SPOT (cheaper; may be interrupted,
	// and then the sweep re-drives the record).
	Spot bool
}

// FunctionSize sizes a function. Zero fields take the defaults.
type FunctionSize struct {
	MemoryMiB      int
	TimeoutSeconds int
	EphemeralMiB   int
	// ReservedConcurrency caps the function (0: no cap). For the scan
	// function it bounds the load on S3 and the bill.
	ReservedConcurrency int
	// ProvisionedConcurrency keeps environments warm, with clamd loaded:
	// the cure for clamd's cold start (0: none). It is billed by the hour.
	ProvisionedConcurrency int
}

// DefaultScan sizes the scan function from a measurement
// (docs/clamd-memory.md): clamd with an official-scale database held 2,299
// MiB, a scan added at most 113 MiB and the function 23 MiB; with 10 %
// headroom, 2,688 MiB. That is one database: a set swap stops the old
// clamd before the new one loads (Signatures.SideBySide needs twice the
// memory). 2,688 MiB also buys about 1.5 vCPUs; a stream scan uses one.
// 240 s is the Scan state's own timeout in scan.asl.json: a longer
// function timeout would outlive the state. Ephemeral storage holds
// clamd's temporary copy of the stream (up to StreamMaxBytes) and the
// signatures.
var DefaultScan = FunctionSize{MemoryMiB: 2688, TimeoutSeconds: 240, EphemeralMiB: 2048}

// DefaultSmall sizes the other functions: Go handlers making a few SDK
// calls. 256 MiB gives them twice the CPU of 128 MiB for TLS and JSON. 60 s
// matches the Task states' TimeoutSeconds; the review machine's Decide
// allows 300 s, which a restore of a large object can need.
var DefaultSmall = FunctionSize{MemoryMiB: 256, TimeoutSeconds: 60}

// withDefaults fills zero fields.
func (p Props) withDefaults() Props {
	fill := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if p.WorkflowLogLevel == "" {
		p.WorkflowLogLevel = "ERROR"
	}
	if p.FunctionLogLevel == "" {
		p.FunctionLogLevel = "INFO"
	}
	fill(&p.LogRetentionDays, 90)
	fill(&p.Scan.MemoryMiB, DefaultScan.MemoryMiB)
	fill(&p.Scan.TimeoutSeconds, DefaultScan.TimeoutSeconds)
	fill(&p.Scan.EphemeralMiB, DefaultScan.EphemeralMiB)
	fill(&p.Small.MemoryMiB, DefaultSmall.MemoryMiB)
	fill(&p.Small.TimeoutSeconds, DefaultSmall.TimeoutSeconds)
	if p.StreamMaxBytes == 0 {
		p.StreamMaxBytes = 100 << 20
	}
	fill(&p.MaxSignatureAgeHours, 24)
	if p.UnscannablePolicy == "" {
		p.UnscannablePolicy = "quarantine"
	}
	fill(&p.IngestBatchSize, 10)
	fill(&p.MaxReceiveCount, 5)
	fill(&p.SweepEveryMinutes, 10)
	fill(&p.RetroWindowHours, 7*24)
	fill(&p.RetroPerSweep, 200)
	if p.RetroWindowHours < 0 {
		p.RetroWindowHours = -1 // lambdas.SweepRequest: negative is off
	}
	fill(&p.Signatures.EveryHours, 2)
	fill(&p.Signatures.Updater.MemoryMiB, DefaultUpdater.MemoryMiB)
	fill(&p.Signatures.Updater.TimeoutSeconds, DefaultUpdater.TimeoutSeconds)
	fill(&p.Signatures.Updater.EphemeralMiB, DefaultUpdater.EphemeralMiB)
	if p.Console.MFA == "" {
		p.Console.MFA = "required"
	}
	if lo := p.LargeObjects; lo != nil {
		c := *lo
		if c.MaxBytes == 0 {
			c.MaxBytes = 4 << 30
		}
		fill(&c.CPU, 2048)
		fill(&c.MemoryMiB, 8192)
		p.LargeObjects = &c
	}
	return p
}

// validate rejects props that cannot make a working gate.
func (p Props) validate() error {
	if p.NewBucket == nil && len(p.ExistingBuckets) == 0 {
		return fmt.Errorf("gate: no bucket to protect: set NewBucket or ExistingBuckets")
	}
	if p.LambdaAssets == "" || p.ImageDir == "" || p.ASLDir == "" {
		return fmt.Errorf("gate: LambdaAssets, ImageDir and ASLDir are required")
	}
	for _, b := range p.ExistingBuckets {
		if b.Name == "" {
			return fmt.Errorf("gate: an existing bucket without a name")
		}
	}
	switch p.WorkflowLogLevel {
	case "ALL", "ERROR", "FATAL", "OFF":
	default:
		return fmt.Errorf("gate: workflow log level %q (want ALL, ERROR, FATAL or OFF)", p.WorkflowLogLevel)
	}
	switch p.FunctionLogLevel {
	case "DEBUG", "INFO", "WARN", "ERROR":
	default:
		return fmt.Errorf("gate: function log level %q (want DEBUG, INFO, WARN or ERROR)", p.FunctionLogLevel)
	}
	switch p.UnscannablePolicy {
	case "quarantine", "block":
	default:
		return fmt.Errorf("gate: unscannable policy %q (want quarantine or block)", p.UnscannablePolicy)
	}
	if p.Scan.TimeoutSeconds > 240 {
		return fmt.Errorf("gate: scan timeout %d s exceeds the Scan state's 240 s", p.Scan.TimeoutSeconds)
	}
	if p.Signatures.SideBySide && p.Scan.MemoryMiB < SideBySideMiB {
		return fmt.Errorf("gate: side-by-side signature swaps hold two databases: the scan function needs at least %d MiB, not %d", SideBySideMiB, p.Scan.MemoryMiB)
	}
	if h := p.Signatures.EveryHours; h < 1 || h > 12 {
		return fmt.Errorf("gate: signature updates every %d hours (want 1 to 12)", h)
	}
	if m := p.Signatures.Mirror; m != "" {
		// The same check as scangate update's --mirror: a bad URL should
		// fail the deploy, not every run of the updater.
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(m, " \t\r\n") {
			return fmt.Errorf("gate: signature mirror %q: want an http:// or https:// URL", m)
		}
	}
	if t := p.Signatures.Updater.TimeoutSeconds; t > 900 {
		return fmt.Errorf("gate: updater timeout %d s exceeds Lambda's 900 s", t)
	}
	if err := p.Console.validate(); err != nil {
		return err
	}
	if _, _, err := policyImage(p.PolicyFile); err != nil {
		return err
	}
	if lo := p.LargeObjects; lo != nil && (lo.VpcID == "" || len(lo.SubnetIDs) == 0) {
		return fmt.Errorf("gate: large objects need a VPC and subnets")
	}
	return nil
}
