package gate

import (
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/scangate/scangate/lambdas/lambdaenv"
)

// offloadContainer names the task's container; the offload function
// passes the object's state to it by this name.
const offloadContainer = "scangate"

// offload turns on the large-object path (docs/aws.md): an ECS cluster and
// a Fargate task definition from the scan function's image running
// `scangate task`, in the user's VPC and subnets, and the Offload
// variables on the functions that run Claim and Offload.
func (g *Gate) offload(scanArn, reviewArn *string, values map[string]*string) {
	lo := g.props.LargeObjects
	// L1 resources: the L2 cluster and security group want an IVpc, which
	// only a context lookup (AWS credentials at synth) could give for an
	// existing VPC.
	cluster := awsecs.NewCfnCluster(g.Scope, jsii.String("OffloadCluster"), &awsecs.CfnClusterProps{
		ClusterSettings:   &[]any{map[string]any{"name": "containerInsights", "value": "enabled"}},
		CapacityProviders: &[]any{"FARGATE", "FARGATE_SPOT"},
	})
	sg := awsec2.NewCfnSecurityGroup(g.Scope, jsii.String("OffloadTasks"), &awsec2.CfnSecurityGroupProps{
		GroupDescription: jsii.String("scangate large-object tasks: no inbound; outbound to AWS APIs"),
		VpcId:            jsii.String(lo.VpcID),
		SecurityGroupEgress: &[]any{map[string]any{
			"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIp": "0.0.0.0/0",
			"description": "HTTPS to S3, DynamoDB, Step Functions, ECR, CloudWatch Logs",
		}},
	})
	logs := awslogs.NewLogGroup(g.Scope, jsii.String("OffloadTaskLogs"), &awslogs.LogGroupProps{
		Retention:     retention(g.props.LogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	g.taskRole = awsiam.NewRole(g.Scope, jsii.String("OffloadTaskRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
		Description: jsii.String("scangate large-object task: runs the whole scan workflow for one object"),
	})
	// The task runs Claim, ScanLarge, Record, Quarantine, Block and Fail
	// itself: the union of their access.
	// One grant of the union keeps the role's policy under IAM's size
	// limit (CDK would otherwise spill into overflow policies).
	var union access
	for _, step := range []string{"claim", "scan", "record", "quarantine", "block", "fail"} {
		a := accessOf[step]
		union.tableWrite = union.tableWrite || a.tableWrite
		union.protected = append(union.protected, uniq(flat(a.protected)))
		union.quarantine = append(union.quarantine, uniq(flat(a.quarantine)))
		union.startScan = union.startScan || a.startScan
		union.startReview = union.startReview || a.startReview
		union.signatures = max(union.signatures, a.signatures)
	}
	union.protected = [][]string{uniq(flat(union.protected))}
	union.quarantine = [][]string{uniq(flat(union.quarantine))}
	g.grantAccess(g.taskRole, "task", union, scanArn, reviewArn)
	td := awsecs.NewFargateTaskDefinition(g.Scope, jsii.String("OffloadTask"), &awsecs.FargateTaskDefinitionProps{
		Cpu:            jsii.Number(float64(lo.CPU)),
		MemoryLimitMiB: jsii.Number(float64(lo.MemoryMiB)),
		TaskRole:       g.taskRole,
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       awsecs.CpuArchitecture_ARM64(),
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
		EphemeralStorageGiB: jsii.Number(float64(min(200, max(21, lo.MaxBytes>>30+10)))),
	})
	g.taskDef = td
	env := map[string]*string{}
	for k, v := range values {
		env[k] = v
	}
	env[lambdaenv.VarLargeStreamMax] = jsii.String(strconv.FormatInt(lo.MaxBytes, 10))
	td.AddContainer(jsii.String(offloadContainer), &awsecs.ContainerDefinitionOptions{
		Image:       awsecs.ContainerImage_FromDockerImageAsset(g.imageAsset),
		EntryPoint:  jsii.Strings("/usr/local/bin/scangate"),
		Command:     jsii.Strings("task"),
		Environment: &env,
		Logging:     awsecs.LogDriver_AwsLogs(&awsecs.AwsLogDriverProps{StreamPrefix: jsii.String("task"), LogGroup: logs}),
		Essential:   jsii.Bool(true),
		// The whole task's memory, as a hard limit (cfn-guard's
		// ecs_task_definition_memory_hard_limit_check); nobody, as Lambda
		// runs the same image unprivileged.
		MemoryLimitMiB:         jsii.Number(float64(lo.MemoryMiB)),
		User:                   jsii.String("65534"),
		ReadonlyRootFilesystem: jsii.Bool(false),
	})
	off := map[string]*string{
		lambdaenv.VarOffloadCluster:        cluster.Ref(),
		lambdaenv.VarOffloadTaskDefinition: td.TaskDefinitionArn(),
		lambdaenv.VarOffloadContainer:      jsii.String(offloadContainer),
		lambdaenv.VarOffloadSubnets:        jsii.String(strings.Join(lo.SubnetIDs, ",")),
		lambdaenv.VarOffloadSecurityGroups: sg.AttrGroupId(),
	}
	if lo.Spot {
		off[lambdaenv.VarOffloadCapacityProvider] = jsii.String("FARGATE_SPOT")
	}
	for _, fn := range lambdaenv.OffloadFunctions {
		for k, v := range off {
			g.Functions[fn].AddEnvironment(jsii.String(k), v, nil)
		}
	}
	// What the offload function needs for RunTask: the task definition,
	// tagging the task it starts, and passing the task's roles.
	role := g.Roles["offload"]
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("ecs:RunTask"),
		Resources:  &[]*string{td.TaskDefinitionArn()},
		Conditions: &map[string]any{"ArnEquals": map[string]any{"ecs:cluster": cluster.AttrArn()}},
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ecs:TagResource"),
		Resources: &[]*string{g.stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ecs"), Resource: jsii.String("task"),
			ResourceName: awscdk.Fn_Join(jsii.String(""), &[]*string{cluster.Ref(), jsii.String("/*")}),
		})},
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("iam:PassRole"),
		Resources: &[]*string{g.taskRole.RoleArn(), td.ObtainExecutionRole().RoleArn()},
	}))
}
