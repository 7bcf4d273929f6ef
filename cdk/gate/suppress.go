package gate

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Suppression is one accepted cdk-nag finding: which rule, on which
// resources of the gate, which part of it (AppliesTo, a finding's
// "Resource::..." or "Action::..." text or a /regex/), and why.
type Suppression struct {
	Rule      string
	AppliesTo []string
	Reason    string
}

// Reasons, once each: docs/deploy.md lists them too.
var (
	suppressXRay = Suppression{"AwsSolutions-IAM5", []string{"Resource::*"},
		"X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions (Service Authorization Reference), so active tracing can only be granted on *."}
	suppressIndexes = Suppression{"AwsSolutions-IAM5", []string{"regex:/^Resource::<GateTable[0-9A-F]+\\.Arn>\\/index\\/\\*$/"},
		"The global secondary indexes of scangate's one table (by-state, open-reviews, intents-by-key from store/dynamo.TableSchema): the handlers Query them, and no other table is reachable."}
	suppressObjects = Suppression{"AwsSolutions-IAM5", []string{"regex:/^Resource::(<Gate(Uploads|Quarantine)[0-9A-F]+\\.Arn>|arn:<AWS::Partition>:s3:::[a-z0-9.-]+)\\/[^*]*\\*$/"},
		"Objects of the protected or quarantine bucket: uploads have arbitrary keys, so object-level actions name the bucket's objects; the actions are only those the handler calls (gate/permissions.go)."}
	suppressInvoke = Suppression{"AwsSolutions-IAM5", []string{"regex:/^Resource::<Gate[A-Za-z]+Function[0-9A-F]+\\.Arn>:\\*$/"},
		"Versions and aliases of the very functions the workflow definition names (CDK's grantInvoke): the scan function is invoked through its alias when provisioned concurrency is on."}
	suppressWorkflowRole = Suppression{"AwsSolutions-IAM5", []string{"Resource::*"},
		"The state machine's role: X-Ray (PutTraceSegments, PutTelemetryRecords, GetSampling*) and CloudWatch Logs' vended-log delivery (logs:CreateLogDelivery and the other *LogDelivery, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) have no resource-level permissions."}
	suppressNotificationsManaged = Suppression{"AwsSolutions-IAM4", []string{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
		"CDK's own BucketNotifications handler, which turns on EventBridge for the buckets while keeping their other notifications: a CDK singleton whose role only writes its logs with this policy."}
	suppressNotificationsPut = Suppression{"AwsSolutions-IAM5", []string{"Resource::*"},
		"CDK's BucketNotifications handler is one function for every bucket of the stack, created by CDK with s3:PutBucketNotification (and GetBucketNotification) on *; it runs only at deploy."}

	suppressSignatureObjects = Suppression{"AwsSolutions-IAM5", []string{"regex:/^Resource::<GateSignatures[0-9A-F]+\\.Arn>\\/\\*$/"},
		"Objects of the signatures bucket: each published set has its own keys (sets/ID/FILE, ID made from the database's contents at publish time), so the updater writes and the scanners read the bucket's objects; the scanners only read (GetObject, GetObjectVersion)."}

	suppressTaskTags = Suppression{"AwsSolutions-IAM5", []string{"regex:/^Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task\\/<GateOffloadCluster[0-9A-F]+>\\/\\*$/"},
		"ecs:TagResource on the tasks of the gate's own cluster: a task's id is made by RunTask, so the ARN cannot be named in advance."}
	suppressExecutionRole = Suppression{"AwsSolutions-IAM5", []string{"Resource::*"},
		"The task's execution role (CDK's): ecr:GetAuthorizationToken has no resource-level permission; image pulls are granted on the asset repository only."}
	suppressChildExecutions = Suppression{"AwsSolutions-IAM5", []string{"regex:/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:[^/:*]+-backfill\\/\\*$/"},
		"The backfill workflow's Distributed Map watches and stops its own child executions (DescribeExecution, StopExecution): their ARNs (execution:NAME/MAPRUNLABEL:ID) are made when a Map Run starts, so only the machine's own executions are named, by a wildcard after its name."}
	suppressInventoryObjects = Suppression{"AwsSolutions-IAM5", []string{"regex:/^Resource::arn:<AWS::Partition>:s3:::[a-z0-9.-]+\\/\\*$/"},
		"The S3 Inventory buckets the user named (inventoryBuckets): the backfill workflow's ItemReader reads a manifest and the CSV files it lists, whose keys S3 Inventory makes (NAME/CONFIG/DATE/...), so the bucket's objects are named; only GetObject, and only in those buckets."}
	suppressTaskEnv = Suppression{"AwsSolutions-ECS2", nil,
		"The task's environment holds names and ARNs only (table, buckets, state machines, limits), the same as the Lambdas': no secret to move to Secrets Manager."}
)

// Suppressions lists every suppression the gate applies, for the report
// and the tests.
func Suppressions() []Suppression {
	return []Suppression{suppressXRay, suppressIndexes, suppressObjects, suppressInvoke, suppressWorkflowRole,
		suppressNotificationsManaged, suppressNotificationsPut, suppressSignatureObjects, suppressTaskTags, suppressExecutionRole, suppressTaskEnv,
		suppressChildExecutions, suppressInventoryObjects}
}

func nag(s Suppression) *[]*cdknag.NagPackSuppression {
	sup := &cdknag.NagPackSuppression{Id: jsii.String(s.Rule), Reason: jsii.String(s.Reason)}
	if len(s.AppliesTo) == 0 {
		return &[]*cdknag.NagPackSuppression{sup}
	}
	var applies []any
	for _, a := range s.AppliesTo {
		if re, ok := cutPrefix(a, "regex:"); ok {
			applies = append(applies, &cdknag.RegexAppliesTo{Regex: jsii.String(re)})
		} else {
			applies = append(applies, a)
		}
	}
	sup.AppliesTo = &applies
	return &[]*cdknag.NagPackSuppression{sup}
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

// suppress records, on each resource, the cdk-nag findings that are
// accepted, with the reason. Everything else cdk-nag finds fails the
// synthesis (make synth) and TestNag.
func (g *Gate) suppress() {
	for _, role := range g.Roles {
		for _, s := range []Suppression{suppressXRay, suppressIndexes, suppressObjects} {
			cdknag.NagSuppressions_AddResourceSuppressions(role, nag(s), jsii.Bool(true))
		}
	}
	for name, role := range g.Roles {
		if accessOf[name].signatures != sigNone {
			cdknag.NagSuppressions_AddResourceSuppressions(role, nag(suppressSignatureObjects), jsii.Bool(true))
		}
	}
	if g.taskRole != nil {
		for _, s := range []Suppression{suppressIndexes, suppressObjects, suppressSignatureObjects} {
			cdknag.NagSuppressions_AddResourceSuppressions(g.taskRole, nag(s), jsii.Bool(true))
		}
		cdknag.NagSuppressions_AddResourceSuppressions(g.Roles["offload"], nag(suppressTaskTags), jsii.Bool(true))
		cdknag.NagSuppressions_AddResourceSuppressions(g.taskDef, nag(suppressTaskEnv), jsii.Bool(false))
		cdknag.NagSuppressions_AddResourceSuppressions(g.taskDef.ObtainExecutionRole(), nag(suppressExecutionRole), jsii.Bool(true))
	}
	for _, sm := range []awscdk.Resource{g.ScanMachine, g.ReviewMachine} {
		cdknag.NagSuppressions_AddResourceSuppressions(sm, nag(suppressInvoke), jsii.Bool(true))
		cdknag.NagSuppressions_AddResourceSuppressions(sm, nag(suppressWorkflowRole), jsii.Bool(true))
	}
	// CDK's BucketNotifications handler is a singleton at the stack's
	// root, under this fixed id (aws-s3's notifications-resource-handler).
	if h := g.stack.Node().TryFindChild(jsii.String(notificationsHandlerID)); h != nil {
		cdknag.NagSuppressions_AddResourceSuppressions(h, nag(suppressNotificationsManaged), jsii.Bool(true))
		cdknag.NagSuppressions_AddResourceSuppressions(h, nag(suppressNotificationsPut), jsii.Bool(true))
	}
}

const notificationsHandlerID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
