// Command cdk is scangate's CDK app: one stack holding the gate (package
// gate), configured through context. docs/deploy.md lists every key.
//
//	cdk deploy -c existingBuckets=uploads -c alarmEmail=ops@example.com
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/scangate/scangate/cdk/gate"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	if _, err := build(app, contextOf(app)); err != nil {
		fmt.Fprintln(os.Stderr, "scangate cdk:", err)
		os.Exit(1)
	}
	app.Synth(nil)
}

// build adds the stack to app, and cdk-nag's AwsSolutions checks, which
// run at synthesis and report as error annotations (make synth fails on
// them; so does TestNag).
func build(app awscdk.App, c context) (awscdk.Stack, error) {
	props, err := c.props()
	if err != nil {
		return nil, err
	}
	stack := awscdk.NewStack(app, jsii.String(c.stackName()), &awscdk.StackProps{
		Description: jsii.String("scangate: uploads are readable only after clamd scanned them"),
	})
	if _, err := gate.New(stack, "Gate", props); err != nil {
		return nil, err
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return stack, nil
}
