// Package gate is scangate's AWS deployment as one CDK construct: the
// protected buckets and their policy, the event path (EventBridge, SQS,
// the ingest Lambda), the two workflows from asl/*.asl.json, one Lambda per
// lambdas/cmd/*, the DynamoDB table from store/dynamo.TableSchema, the
// sweep, alarms and a dashboard. docs/aws.md explains why each piece is
// there; docs/deploy.md how to deploy it.
//
// Another CDK Go app uses it as
//
//	g, err := gate.New(stack, "Gate", &gate.Props{...})
package gate

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/scangate/scangate/lambdas/lambdaenv"
	"github.com/scangate/scangate/store/dynamo"
)

// Gate is the deployed gate. Its fields are for apps that extend it (the
// admin console) and for tests.
type Gate struct {
	// Scope holds every resource of the gate (a Go type cannot embed a
	// jsii construct and be passed as one).
	Scope constructs.Construct

	Table       awsdynamodb.Table
	Queue       awssqs.Queue
	DeadLetters awssqs.Queue
	// Quarantine receives infected (and, under the quarantine policy,
	// unscannable) objects. It is kept when the stack is deleted.
	Quarantine awss3.Bucket
	// Bucket is the protected bucket the stack created, or nil.
	Bucket awss3.Bucket
	// Signatures holds the published signature sets (package sigset)
	// that the scan function and the task load at start.
	Signatures awss3.Bucket

	ScanMachine   awsstepfunctions.StateMachine
	ReviewMachine awsstepfunctions.StateMachine
	// BackfillMachine runs asl/backfill.asl.json (backfill.go).
	BackfillMachine awsstepfunctions.StateMachine
	// Functions holds one function per folder under lambdas/cmd.
	Functions map[string]awslambda.Function
	// Roles holds each function's own role.
	Roles map[string]awsiam.Role

	// Review is the review function: the review API (lambdas.Review:
	// list, get, decide, rescan) and the admin console at /admin/.
	Review awslambda.Function

	// ResultBus receives one event per final outcome (docs/console.md).
	ResultBus awsevents.IEventBus
	// The console (console.go), unless Props.Console.Disabled:
	// ConsoleURL fronts Review (auth NONE: the console signs in with
	// OpenID Connect itself), ReviewAPIURL fronts its "api" alias
	// (AWS_IAM), which ReviewAPIRole may call as a reviewer. UserPool is
	// nil when the console signs in with a named issuer.
	ConsoleURL    awslambda.FunctionUrl
	ReviewAPIURL  awslambda.FunctionUrl
	ReviewAPIRole awsiam.Role
	UserPool      awscognito.UserPool
	sessionSecret awssecretsmanager.Secret

	props      Props
	stack      awscdk.Stack
	imageAsset awsecrassets.DockerImageAsset
	scanAlias  awslambda.Alias
	taskRole   awsiam.Role
	taskDef    awsecs.FargateTaskDefinition
	alarms     []awscloudwatch.Alarm
	protected  []*protectedBucket
	logs       awss3.Bucket
}

// protectedBucket is one bucket scangate guards, new or existing.
type protectedBucket struct {
	id       string
	name     *string
	arn      *string
	prefixes []string
	kmsKey   string
	bucket   awss3.IBucket
	existing bool
}

// objectArns are the ARNs of the objects scangate guards in b.
func (b *protectedBucket) objectArns() []*string {
	if len(b.prefixes) == 0 {
		return []*string{awscdk.Fn_Join(jsii.String(""), &[]*string{b.arn, jsii.String("/*")})}
	}
	var out []*string
	for _, p := range b.prefixes {
		out = append(out, awscdk.Fn_Join(jsii.String(""), &[]*string{b.arn, jsii.String("/" + p + "*")}))
	}
	return out
}

// New builds the gate in scope.
func New(scope constructs.Construct, id string, props *Props) (*Gate, error) {
	if props == nil {
		props = &Props{}
	}
	p := props.withDefaults()
	if err := p.validate(); err != nil {
		return nil, err
	}
	g := &Gate{
		Scope:     constructs.NewConstruct(scope, jsii.String(id)),
		Functions: map[string]awslambda.Function{},
		Roles:     map[string]awsiam.Role{},
		props:     p,
	}
	g.stack = awscdk.Stack_Of(g.Scope)
	g.table()
	g.buckets()
	g.resultBus()
	scanArn, reviewArn := g.machineArn("scan"), g.machineArn("review")
	env := g.environment(scanArn, reviewArn)
	if err := g.functions(env); err != nil {
		return nil, err
	}
	g.permissions(scanArn, reviewArn)
	g.shipPolicy(env)
	if err := g.machines(); err != nil {
		return nil, err
	}
	if err := g.backfill(); err != nil {
		return nil, err
	}
	g.events()
	g.sweep()
	g.signatureUpdates()
	if p.LargeObjects != nil {
		// Before the policies: the task's role is exempt in them.
		g.offload(scanArn, reviewArn, env)
	}
	g.policies()
	g.console()
	g.observe()
	g.suppress()
	return g, nil
}

func (g *Gate) removal() awscdk.RemovalPolicy {
	if g.props.DestroyOnDelete {
		return awscdk.RemovalPolicy_DESTROY
	}
	return awscdk.RemovalPolicy_RETAIN
}

// table is store/dynamo.TableSchema, the one definition the driver and its
// tests use too.
func (g *Gate) table() {
	s := dynamo.TableSchema()
	attr := func(a dynamo.Attribute) *awsdynamodb.Attribute {
		types := map[string]awsdynamodb.AttributeType{
			"S": awsdynamodb.AttributeType_STRING, "N": awsdynamodb.AttributeType_NUMBER, "B": awsdynamodb.AttributeType_BINARY,
		}
		t, ok := types[a.Type]
		if !ok {
			panic("gate: unknown attribute type " + a.Type + " in the table schema")
		}
		return &awsdynamodb.Attribute{Name: jsii.String(a.Name), Type: t}
	}
	props := &awsdynamodb.TableProps{
		PartitionKey: attr(s.PartitionKey),
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(!g.props.DestroyOnDelete),
		Encryption:         awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy:      g.removal(),
	}
	if s.SortKey.Name != "" {
		props.SortKey = attr(s.SortKey)
	}
	if s.BillingMode != "PAY_PER_REQUEST" {
		panic("gate: the table schema is no longer on-demand; size its capacity here")
	}
	g.Table = awsdynamodb.NewTable(g.Scope, jsii.String("Table"), props)
	for _, ix := range s.Indexes {
		gsi := &awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   attr(ix.PartitionKey),
			ProjectionType: awsdynamodb.ProjectionType(ix.Projection),
		}
		if ix.SortKey.Name != "" {
			gsi.SortKey = attr(ix.SortKey)
		}
		if len(ix.NonKeyAttributes) > 0 {
			gsi.NonKeyAttributes = jsii.Strings(ix.NonKeyAttributes...)
		}
		g.Table.AddGlobalSecondaryIndex(gsi)
	}
}

// buckets makes the quarantine bucket, the access-log bucket and the new
// protected bucket, and imports the existing ones.
func (g *Gate) buckets() {
	g.logs = awss3.NewBucket(g.Scope, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		RemovalPolicy:     g.removal(),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Expiration: awscdk.Duration_Days(jsii.Number(365)),
		}},
	})
	q := &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		Versioned:              jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:          g.removal(),
		ServerAccessLogsBucket: g.logs,
		ServerAccessLogsPrefix: jsii.String("quarantine/"),
	}
	if d := g.props.QuarantineExpireDays; d > 0 {
		q.LifecycleRules = &[]*awss3.LifecycleRule{{
			Expiration:                  awscdk.Duration_Days(jsii.Number(float64(d))),
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(1)),
		}}
	}
	g.Quarantine = awss3.NewBucket(g.Scope, jsii.String("Quarantine"), q)

	// Signature sets: written only by the updater, read by the scan
	// function and the task. Versioned, so a set's files are read at the
	// versions its manifest pins. A set is published after its database
	// was built, so one published more than the guard's limit ago can no
	// longer be scanned with: sets expire after twice that (at least two
	// days), their pinned versions a day later. Every run that finds a
	// new daily publishes a whole set, so keeping them longer would only
	// pile up copies of main.cvd.
	keep := max(2, (2*g.props.MaxSignatureAgeHours+23)/24)
	g.Signatures = awss3.NewBucket(g.Scope, jsii.String("Signatures"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		Versioned:              jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:          g.removal(),
		ServerAccessLogsBucket: g.logs,
		ServerAccessLogsPrefix: jsii.String("signatures/"),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Prefix:                              jsii.String("sets/"),
			Expiration:                          awscdk.Duration_Days(jsii.Number(float64(keep))),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(1)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}, {
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(7)),
		}},
	})

	if nb := g.props.NewBucket; nb != nil {
		bp := &awss3.BucketProps{
			BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
			Encryption:             awss3.BucketEncryption_S3_MANAGED,
			EnforceSSL:             jsii.Bool(true),
			Versioned:              jsii.Bool(true),
			ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
			EventBridgeEnabled:     jsii.Bool(true),
			RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
			ServerAccessLogsBucket: g.logs,
			ServerAccessLogsPrefix: jsii.String("uploads/"),
		}
		if nb.Name != "" {
			bp.BucketName = jsii.String(nb.Name)
		}
		if nb.KMSKeyArn != "" {
			bp.Encryption = awss3.BucketEncryption_KMS
			bp.EncryptionKey = importKey(g.Scope, "UploadsKey", nb.KMSKeyArn)
			bp.BucketKeyEnabled = jsii.Bool(true)
		}
		g.Bucket = awss3.NewBucket(g.Scope, jsii.String("Uploads"), bp)
		g.protected = append(g.protected, &protectedBucket{
			id: "Uploads", name: g.Bucket.BucketName(), arn: g.Bucket.BucketArn(),
			kmsKey: nb.KMSKeyArn, bucket: g.Bucket,
		})
	}
	for i, eb := range g.props.ExistingBuckets {
		id := "Existing" + strconv.Itoa(i)
		b := awss3.Bucket_FromBucketName(g.Scope, jsii.String(id), jsii.String(eb.Name))
		// An imported bucket's notifications are written by CDK's
		// BucketNotifications custom resource in unmanaged mode: it reads
		// the bucket's configuration and adds EventBridge to it, keeping
		// the notifications others set (see TestExistingBucketKeepsNotifications).
		b.EnableEventBridgeNotification()
		g.protected = append(g.protected, &protectedBucket{
			id: id, name: b.BucketName(), arn: b.BucketArn(), prefixes: eb.Prefixes,
			kmsKey: eb.KMSKeyArn, bucket: b, existing: true,
		})
	}
}

// machineName is a state machine's physical name. It is fixed (derived
// from the stack name) so that functions can name the machines that
// invoke them without a circular reference: the scan machine names the
// quarantine function, whose handler starts the review machine and,
// through package stepfunctions, needs both ARNs.
func (g *Gate) machineName(kind string) *string {
	return awscdk.Fn_Join(jsii.String("-"), &[]*string{g.stack.StackName(), jsii.String(kind)})
}

func (g *Gate) machineArn(kind string) *string {
	return g.stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("states"),
		Resource:     jsii.String("stateMachine"),
		ResourceName: g.machineName(kind),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

// environment returns every variable's value in this deployment; each
// function gets those lambdaenv says it requires, plus optional ones
// (optionalVars).
func (g *Gate) environment(scanArn, reviewArn *string) map[string]*string {
	p := g.props
	env := map[string]*string{
		lambdaenv.VarStore:              awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("dynamodb://"), g.Table.TableName()}),
		lambdaenv.VarObjects:            awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("s3://"), g.Quarantine.BucketName()}),
		lambdaenv.VarQuarantineBucket:   g.Quarantine.BucketName(),
		lambdaenv.VarScanStateMachine:   scanArn,
		lambdaenv.VarReviewStateMachine: reviewArn,
		lambdaenv.VarClamAVDB:           jsii.String(loadedDatabaseDir),
		lambdaenv.VarSignaturesBucket:   awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("s3://"), g.Signatures.BucketName()}),
		lambdaenv.VarStreamMax:          jsii.String(strconv.FormatInt(p.StreamMaxBytes, 10)),
		lambdaenv.VarMaxDBAge:           jsii.String(fmt.Sprintf("%dh", p.MaxSignatureAgeHours)),
		lambdaenv.VarUnscannablePolicy:  jsii.String(p.UnscannablePolicy),
	}
	if p.Signatures.Mirror != "" {
		env[lambdaenv.VarSignaturesMirror] = jsii.String(p.Signatures.Mirror)
	}
	if p.Signatures.SideBySide {
		env[lambdaenv.VarSignaturesSwap] = jsii.String(lambdaenv.SwapSideBySide)
	}
	env[lambdaenv.VarResultBus] = g.busValue()
	g.consoleBefore(env)
	return env
}

// loadedDatabaseDir is where the scan function and the task load the
// current signature set: the image has no database, and /tmp is the only
// place Lambda lets them write.
const loadedDatabaseDir = "/tmp/signatures"

// imageFunctions are built from the scan image rather than a zip: clamd
// and the signatures do not fit a zip, and the updater runs freshclam and
// scangate, which only the image has. Each starts at its own entrypoint.
var imageFunctions = map[string]string{
	"scan":      "/usr/local/bin/scan",
	"sigupdate": "/usr/local/bin/sigupdate",
}

// optionalVars go to every function besides its required ones: the
// unscannable policy decides routes in Claim, Record and Fail, and every
// function must agree on it. The mirror is the updater's alone.
var optionalVars = []string{lambdaenv.VarUnscannablePolicy}

func optionalFor(name string) []string {
	if name == "sigupdate" {
		return []string{lambdaenv.VarSignaturesMirror}
	}
	if lambdaenv.Standalone(name) {
		return nil
	}
	out := slices.Clone(optionalVars)
	if accessOf[name].putEvents {
		out = append(out, lambdaenv.VarResultBus)
	}
	if name == "scan" {
		out = append(out, lambdaenv.VarSignaturesSwap)
	}
	if name == "sweep" {
		// The retro-hunt's current database (lambdas.Signatures).
		out = append(out, lambdaenv.VarSignaturesBucket)
	}
	if name == "review" {
		// Present only when the console is on (consoleBefore).
		out = append(out, append(slices.Clone(lambdaenv.Console), varReviewIAMRoles)...)
	}
	return out
}

// functions makes one function per lambdas/cmd folder (lambdaenv's table
// lists them). The scan function and the signature updater are container
// images (imageFunctions): Debian's ClamAV is what the tests run.
func (g *Gate) functions(values map[string]*string) error {
	p := g.props
	var image awsecrassets.DockerImageAsset
	for _, name := range lambdaenv.Functions() {
		env := map[string]*string{}
		for _, k := range append(lambdaenv.Required(name), optionalFor(name)...) {
			if v, ok := values[k]; ok {
				env[k] = v
			}
		}
		role := awsiam.NewRole(g.Scope, jsii.String(title(name)+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("scangate " + name + " function: only what lambdas/" + name + " calls"),
		})
		logs := awslogs.NewLogGroup(g.Scope, jsii.String(title(name)+"Logs"), &awslogs.LogGroupProps{
			Retention:     retention(p.LogRetentionDays),
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		logs.GrantWrite(role)
		size := p.Small
		switch name {
		case "scan":
			size = p.Scan
		case "sigupdate":
			size = p.Signatures.Updater
		}
		timeout := size.TimeoutSeconds
		if name == "decide" && p.Small.TimeoutSeconds == DefaultSmall.TimeoutSeconds {
			// The Decide state allows 300 s: a release copies the object back.
			timeout = 300
		}
		env[lambdaenv.VarLogLevel] = jsii.String(p.FunctionLogLevel)
		common := awslambda.FunctionOptions{
			Architecture: awslambda.Architecture_ARM_64(),
			MemorySize:   jsii.Number(float64(size.MemoryMiB)),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(float64(timeout))),
			Environment:  &env,
			Role:         role,
			LogGroup:     logs,
			Tracing:      g.tracing(),
			Description:  jsii.String("scangate " + name + " (lambdas/cmd/" + name + ")"),
			// JSON, so that Lambda's system log level applies. The
			// application level stays INFO whatever FunctionLogLevel
			// says: Lambda counts a line without a level (the scan
			// function's metric lines) as INFO, and would drop it at
			// WARN. The handlers filter their own lines
			// (SCANGATE_LOG_LEVEL).
			LoggingFormat:         awslambda.LoggingFormat_JSON,
			ApplicationLogLevelV2: awslambda.ApplicationLogLevel_INFO,
			SystemLogLevelV2:      systemLogLevel(p.PlatformLogs),
		}
		if size.EphemeralMiB > 0 {
			common.EphemeralStorageSize = awscdk.Size_Mebibytes(jsii.Number(float64(size.EphemeralMiB)))
		}
		if size.ReservedConcurrency > 0 {
			common.ReservedConcurrentExecutions = jsii.Number(float64(size.ReservedConcurrency))
		}
		if name == "sigupdate" {
			// One run at a time: two would race to publish. A failed run
			// is not retried by Lambda: the next scheduled one is soon,
			// and each retry would download from the mirror again.
			common.ReservedConcurrentExecutions = jsii.Number(1)
			common.RetryAttempts = jsii.Number(0)
		}
		var fn awslambda.Function
		if entry, ok := imageFunctions[name]; ok {
			if image == nil {
				image = g.image()
			}
			fn = awslambda.NewDockerImageFunction(g.Scope, jsii.String(title(name)+"Function"), &awslambda.DockerImageFunctionProps{
				Architecture: common.Architecture, MemorySize: common.MemorySize, Timeout: common.Timeout,
				Environment: common.Environment, Role: role, LogGroup: logs, Tracing: common.Tracing,
				Description: common.Description, EphemeralStorageSize: common.EphemeralStorageSize,
				ReservedConcurrentExecutions: common.ReservedConcurrentExecutions,
				LoggingFormat:                common.LoggingFormat, ApplicationLogLevelV2: common.ApplicationLogLevelV2,
				SystemLogLevelV2: common.SystemLogLevelV2, RetryAttempts: common.RetryAttempts,
				Code: awslambda.DockerImageCode_FromEcr(image.Repository(), &awslambda.EcrImageCodeProps{
					TagOrDigest: image.ImageTag(), Entrypoint: jsii.Strings(entry),
				}),
			})
		} else {
			dir := filepath.Join(p.LambdaAssets, name)
			if _, err := os.Stat(filepath.Join(dir, "bootstrap")); err != nil {
				return fmt.Errorf("gate: no bootstrap for %s in %s (make lambda-assets builds them): %w", name, p.LambdaAssets, err)
			}
			fn = awslambda.NewFunction(g.Scope, jsii.String(title(name)+"Function"), &awslambda.FunctionProps{
				Runtime: awslambda.Runtime_PROVIDED_AL2023(), Handler: jsii.String("bootstrap"),
				Code:         awslambda.Code_FromAsset(jsii.String(dir), nil),
				Architecture: common.Architecture, MemorySize: common.MemorySize, Timeout: common.Timeout,
				Environment: common.Environment, Role: role, LogGroup: logs, Tracing: common.Tracing,
				Description: common.Description, EphemeralStorageSize: common.EphemeralStorageSize,
				ReservedConcurrentExecutions: common.ReservedConcurrentExecutions,
				LoggingFormat:                common.LoggingFormat, ApplicationLogLevelV2: common.ApplicationLogLevelV2,
				SystemLogLevelV2: common.SystemLogLevelV2,
			})
		}
		g.Functions[name] = fn
		g.Roles[name] = role
	}
	g.Review = g.Functions["review"]
	g.imageAsset = image
	return nil
}

// tracing is the functions' X-Ray mode: active, or off (Props.Tracing).
func (g *Gate) tracing() awslambda.Tracing {
	if g.props.Tracing {
		return awslambda.Tracing_ACTIVE
	}
	return awslambda.Tracing_DISABLED
}

// systemLogLevel keeps Lambda's START, END and REPORT lines (INFO) or
// drops them (WARN: what is left are Lambda's own warnings).
func systemLogLevel(platform bool) awslambda.SystemLogLevel {
	if platform {
		return awslambda.SystemLogLevel_INFO
	}
	return awslambda.SystemLogLevel_WARN
}

// image is the scan function's image (and the large-object task's): the
// Dockerfile at the repository root. Synthesis only hashes the context.
func (g *Gate) image() awsecrassets.DockerImageAsset {
	contexts, extraHash, err := policyImage(g.props.PolicyFile) // policyfile.go
	if err != nil {
		panic(err) // checked by validate
	}
	var buildContexts *map[string]*string
	var hash *string
	if extraHash != "" {
		buildContexts, hash = &contexts, jsii.String(extraHash)
	}
	return awsecrassets.NewDockerImageAsset(g.Scope, jsii.String("ScanImage"), &awsecrassets.DockerImageAssetProps{
		BuildContexts: buildContexts, ExtraHash: hash,
		Directory: jsii.String(g.props.ImageDir),
		File:      jsii.String("Dockerfile"),
		Platform:  awsecrassets.Platform_LINUX_ARM64(),
		// The same list as .dockerignore, so the hash changes only with
		// what the image is built from.
		Exclude: jsii.Strings(".git", ".cache", "bin", "cdk", "cdk.out", "tools/node_modules",
			"scangate-data", "testdata", "!testdata/signatures", "bench", "docs", "**/*_test.go"),
		IgnoreMode: awscdk.IgnoreMode_DOCKER,
	})
}

// scanTarget is what the workflow invokes for Scan: with provisioned
// concurrency an alias, so that invocations land on warm environments
// whose clamd has loaded.
func (g *Gate) scanTarget() awslambda.IFunction {
	fn := g.Functions["scan"]
	if n := g.props.Scan.ProvisionedConcurrency; n > 0 {
		if g.scanAlias == nil {
			g.scanAlias = awslambda.NewAlias(g.Scope, jsii.String("ScanLive"), &awslambda.AliasProps{
				AliasName:                       jsii.String("live"),
				Version:                         fn.CurrentVersion(),
				ProvisionedConcurrentExecutions: jsii.Number(float64(n)),
			})
		}
		return g.scanAlias
	}
	return fn
}

// machines deploys the two workflows from the committed ASL, never
// rewritten here: only the ${...} placeholders are substituted.
func (g *Gate) machines() error {
	p := g.props
	arns := map[string]*string{}
	for name, fn := range g.Functions {
		arns[name] = fn.FunctionArn()
	}
	scan := g.scanTarget().FunctionArn()
	arns["scan"], arns["scanlarge"] = scan, scan // no large scanner in a Lambda; fails closed as too-large
	level := awsstepfunctions.LogLevel(p.WorkflowLogLevel)
	make := func(kind, file string, typ awsstepfunctions.StateMachineType) (awsstepfunctions.StateMachine, error) {
		def, err := os.ReadFile(filepath.Join(p.ASLDir, file))
		if err != nil {
			return nil, fmt.Errorf("gate: %w", err)
		}
		subs := map[string]*string{}
		for _, ph := range placeholders(def) {
			step, ok := stepOf(ph)
			if !ok || arns[step] == nil {
				return nil, fmt.Errorf("gate: %s: no function for ${%s}", file, ph)
			}
			subs[ph] = arns[step]
		}
		logs := awslogs.NewLogGroup(g.Scope, jsii.String(title(kind)+"WorkflowLogs"), &awslogs.LogGroupProps{
			Retention:     retention(p.LogRetentionDays),
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		sm := awsstepfunctions.NewStateMachine(g.Scope, jsii.String(title(kind)+"Workflow"), &awsstepfunctions.StateMachineProps{
			StateMachineName:        g.machineName(kind),
			StateMachineType:        typ,
			DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(string(def))),
			DefinitionSubstitutions: &subs,
			TracingEnabled:          jsii.Bool(p.Tracing),
			Logs: &awsstepfunctions.LogOptions{
				Destination:          logs,
				Level:                level,
				IncludeExecutionData: jsii.Bool(!p.OmitExecutionData),
			},
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		for _, ph := range placeholders(def) {
			step, _ := stepOf(ph)
			fn := g.Functions[step]
			if step == "scan" || step == "scanlarge" {
				g.scanTarget().GrantInvoke(sm)
				continue
			}
			fn.GrantInvoke(sm)
		}
		return sm, nil
	}
	var err error
	if g.ScanMachine, err = make("scan", "scan.asl.json", awsstepfunctions.StateMachineType_EXPRESS); err != nil {
		return err
	}
	g.ReviewMachine, err = make("review", "review.asl.json", awsstepfunctions.StateMachineType_STANDARD)
	return err
}

// events wires EventBridge "Object Created" for each bucket (and prefix)
// into one SQS queue that the ingest function drains.
func (g *Gate) events() {
	p := g.props
	ingest := g.Functions["ingest"]
	g.DeadLetters = awssqs.NewQueue(g.Scope, jsii.String("DeadLetters"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	// Lambda's guidance: a visibility timeout of six times the function's
	// timeout, so a batch still being processed (with its retries of
	// throttled invocations) is not handed out again.
	visibility := 6 * g.props.Small.TimeoutSeconds
	g.Queue = awssqs.NewQueue(g.Scope, jsii.String("IngestQueue"), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(float64(visibility))),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(4)),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           g.DeadLetters,
			MaxReceiveCount: jsii.Number(float64(p.MaxReceiveCount)),
		},
	})
	for _, b := range g.protected {
		detail := map[string]any{"bucket": map[string]any{"name": []any{b.name}}}
		if len(b.prefixes) > 0 {
			var keys []any
			for _, pre := range b.prefixes {
				keys = append(keys, map[string]any{"prefix": pre})
			}
			detail["object"] = map[string]any{"key": keys}
		}
		awsevents.NewRule(g.Scope, jsii.String(b.id+"Created"), &awsevents.RuleProps{
			Description: jsii.String("scangate: Object Created in a protected bucket, to the ingest queue"),
			EventPattern: &awsevents.EventPattern{
				Source:     jsii.Strings("aws.s3"),
				DetailType: jsii.Strings("Object Created"),
				Detail:     &detail,
			},
			Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSqsQueue(g.Queue, &awseventstargets.SqsQueueProps{
				DeadLetterQueue: g.DeadLetters,
			})},
		})
	}
	window := awscdk.Duration_Seconds(jsii.Number(float64(p.IngestBatchWindowSeconds)))
	ingest.AddEventSource(awslambdaeventsources.NewSqsEventSource(g.Queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(p.IngestBatchSize)),
		MaxBatchingWindow:       window,
		ReportBatchItemFailures: jsii.Bool(true),
	}))
}

// sweep runs the sweep function on a schedule. minAgeSeconds exceeds the
// Express workflow's 5-minute limit, so the sweep never restarts a record
// whose execution may still be running.
func (g *Gate) sweep() {
	awsevents.NewRule(g.Scope, jsii.String("SweepSchedule"), &awsevents.RuleProps{
		Description: jsii.String("scangate: re-drive records no execution is driving; settle expired upload intents; retro-hunt"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(float64(g.props.SweepEveryMinutes)))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(g.Functions["sweep"], &awseventstargets.LambdaFunctionProps{
			Event: awsevents.RuleTargetInput_FromObject(map[string]any{
				"minAgeSeconds": 360, "limit": 1000,
				// The retro-hunt (lambdas.SweepRequest): rescans of versions
				// found clean under an older database than the current set's.
				"retroWindowSeconds": g.props.RetroWindowHours * 3600, "retroLimit": g.props.RetroPerSweep,
			}),
			RetryAttempts: jsii.Number(2),
		})},
	})
	awscdk.NewCfnOutput(g.stack, jsii.String("SweepFunction"), &awscdk.CfnOutputProps{
		Description: jsii.String("The sweep (re-drives, upload intents, the retro-hunt): invoking it runs one sweep now"),
		Value:       g.Functions["sweep"].FunctionName(),
	})
}

func title(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func retention(days int) awslogs.RetentionDays {
	known := map[int]awslogs.RetentionDays{
		1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
		7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
		60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS,
		365: awslogs.RetentionDays_ONE_YEAR, 731: awslogs.RetentionDays_TWO_YEARS, 3653: awslogs.RetentionDays_TEN_YEARS,
	}
	if r, ok := known[days]; ok {
		return r
	}
	// CloudWatch Logs accepts only its fixed periods: take the next longer.
	keys := make([]int, 0, len(known))
	for k := range known {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k > days {
			return known[k]
		}
	}
	return awslogs.RetentionDays_TEN_YEARS
}
