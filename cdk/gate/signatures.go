package gate

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/jsii-runtime-go"
)

// signatureUpdates runs the signature updater on its schedule, and once
// when a deployment of the stack completes: without that, a new stack's
// scans would fail closed (no set) until the first scheduled run, and a
// stack left unchanged must not wait either.
func (g *Gate) signatureUpdates() {
	fn := g.Functions["sigupdate"]
	every := g.props.Signatures.EveryHours
	awsevents.NewRule(g.Scope, jsii.String("SignatureSchedule"), &awsevents.RuleProps{
		Description: jsii.String("scangate: update the signature database and publish it as a new set"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Hours(jsii.Number(float64(every)))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0),
		})},
	})
	// CloudFormation sends its stack status changes to the default event
	// bus: CREATE_COMPLETE and UPDATE_COMPLETE of this very stack.
	awsevents.NewRule(g.Scope, jsii.String("SignaturesAfterDeploy"), &awsevents.RuleProps{
		Description: jsii.String("scangate: publish a signature set as soon as a deployment of the stack completes"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.cloudformation"),
			DetailType: jsii.Strings("CloudFormation Stack Status Change"),
			Detail: &map[string]any{
				"stack-id":       []any{g.stack.StackId()},
				"status-details": map[string]any{"status": []any{"CREATE_COMPLETE", "UPDATE_COMPLETE"}},
			},
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0),
		})},
	})
	awscdk.NewCfnOutput(g.stack, jsii.String("SignaturesBucket"), &awscdk.CfnOutputProps{
		Description: jsii.String("Signature sets: current.json names the set the scan function loads (docs/deploy.md)"),
		Value:       g.Signatures.BucketName(),
	})
	awscdk.NewCfnOutput(g.stack, jsii.String("SignatureUpdater"), &awscdk.CfnOutputProps{
		Description: jsii.String("The signature updater: aws lambda invoke --function-name <this> out.json runs it now"),
		Value:       fn.FunctionName(),
	})
}
