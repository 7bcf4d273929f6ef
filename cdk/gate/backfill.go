package gate

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// backfillFile is the backfill workflow, committed under ASLDir and run
// by the local runtime too (docs/backfill.md).
const backfillFile = "backfill.asl.json"

// backfillSteps maps the backfill definition's placeholders to functions
// that are not named after them: ${BackfillFunctionArn} is the ingest
// function, whose entry point on AWS (lambdas.IngestOrBackfill) takes the
// Distributed Map's batches as well as upload events.
var backfillSteps = map[string]string{"backfill": "ingest"}

// backfill deploys asl/backfill.asl.json as a Standard state machine,
// built like the scan and review machines (the file from disk, only its
// placeholders substituted, logs and X-Ray), with its own role: what a
// Distributed Map needs to run its child executions, the S3 reads of its
// ItemReaders, and the ingest function. `scangate backfill --aws
// --state-machine ARN` starts it; the ARN is the BackfillStateMachine
// output.
func (g *Gate) backfill() error {
	p := g.props
	def, err := os.ReadFile(filepath.Join(p.ASLDir, backfillFile))
	if err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	subs := map[string]*string{}
	var invoked []string
	for _, ph := range placeholders(def) {
		step, ok := stepOf(ph)
		if name, mapped := backfillSteps[step]; mapped {
			step = name
		}
		fn := g.Functions[step]
		if !ok || fn == nil {
			return fmt.Errorf("gate: %s: no function for ${%s}", backfillFile, ph)
		}
		subs[ph] = fn.FunctionArn()
		invoked = append(invoked, step)
	}

	role := awsiam.NewRole(g.Scope, jsii.String("BackfillWorkflowRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil),
		Description: jsii.String("scangate backfill workflow: list or read an inventory, hand batches to the ingest function"),
	})
	name := g.machineName("backfill")
	// A Distributed Map starts its items' child executions as executions
	// of this very machine (StartExecution on it), and watches and stops
	// them; their ARNs are execution:NAME/MAPRUNLABEL:ID, known only when
	// the Map Run starts. The machine's own ARN is built from its fixed
	// name: a reference to it from its own role would be circular.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("states:StartExecution"),
		Resources: &[]*string{g.machineArn("backfill")},
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("states:DescribeExecution", "states:StopExecution"),
		Resources: &[]*string{g.stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("states"), Resource: jsii.String("execution"),
			ResourceName: awscdk.Fn_Join(jsii.String(""), &[]*string{name, jsii.String("/*")}),
			ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})},
	}))
	// The Listing branch's ItemReader (s3:listObjectsV2) lists the
	// protected buckets; it never reads their objects (the ingest
	// function heads each version with its own role).
	for _, b := range g.protected {
		g.grantS3(role, b.arn, nil, []string{"s3:ListBucket"})
	}
	// The Inventory branch reads the manifest and the CSV files it names
	// from the inventory's destination bucket.
	for _, ib := range p.InventoryBuckets {
		arn := g.stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("s3"), Region: jsii.String(""), Account: jsii.String(""),
			Resource: jsii.String(ib),
		})
		g.grantS3(role, arn, []*string{awscdk.Fn_Join(jsii.String(""), &[]*string{arn, jsii.String("/*")})},
			[]string{"s3:GetObject", "s3:ListBucket"})
	}

	logs := awslogs.NewLogGroup(g.Scope, jsii.String("BackfillWorkflowLogs"), &awslogs.LogGroupProps{
		Retention:     retention(p.LogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	sm := awsstepfunctions.NewStateMachine(g.Scope, jsii.String("BackfillWorkflow"), &awsstepfunctions.StateMachineProps{
		StateMachineName:        name,
		StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(string(def))),
		DefinitionSubstitutions: &subs,
		Role:                    role,
		TracingEnabled:          jsii.Bool(p.Tracing),
		Logs: &awsstepfunctions.LogOptions{
			Destination:          logs,
			Level:                awsstepfunctions.LogLevel(p.WorkflowLogLevel),
			IncludeExecutionData: jsii.Bool(!p.OmitExecutionData),
		},
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	for _, step := range invoked {
		g.Functions[step].GrantInvoke(sm)
	}
	g.BackfillMachine = sm

	awscdk.NewCfnOutput(g.stack, jsii.String("BackfillStateMachine"), &awscdk.CfnOutputProps{
		Description: jsii.String("The backfill workflow: scangate backfill --aws --state-machine <this> s3://BUCKET/PREFIX (docs/deploy.md)"),
		Value:       sm.StateMachineArn(),
	})

	// The role is the machine's own but not its child: the findings are
	// on the role's default policy.
	for _, s := range []Suppression{suppressInvoke, suppressWorkflowRole, suppressChildExecutions} {
		cdknag.NagSuppressions_AddResourceSuppressions(role, nag(s), jsii.Bool(true))
	}
	if len(p.InventoryBuckets) > 0 {
		cdknag.NagSuppressions_AddResourceSuppressions(role, nag(suppressInventoryObjects), jsii.Bool(true))
	}
	g.suppressWorkflowChoices(sm)
	return nil
}
