// Package fargate is the large-object path's link to Amazon ECS: it starts
// a Fargate task that runs scangate's own binary in task mode (`scangate
// task`) with a clamd of its own whose stream limit fits objects the scan
// Lambda cannot take. The task runs the committed scan definition for that
// one object with the local workflow interpreter, so it claims, scans,
// records and quarantines exactly as the Express workflow would.
//
// Express workflows cannot wait on a task (.sync and .waitForTaskToken are
// Standard-only), and an Express execution lasts at most five minutes, so
// the Offload step only starts the task and the Express execution ends; the
// record stays pending until the task claims it, and the sweep re-drives
// it should the task never start.
package fargate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/scangate/scangate/asl"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/scangate/scangate/domain/errcode"
)

// StateEnv is the environment variable that carries the offloaded
// execution's input (an asl.Document as JSON) into the task.
const StateEnv = "SCANGATE_TASK_STATE"

// maxOverrideBytes is ECS's limit on a RunTask's container overrides; a
// state larger than it cannot be handed over (it never is: it carries the
// object's identity, not its verdict).
const maxOverrideBytes = 8192

// RunTaskAPI is the part of the ECS client the offloader uses.
type RunTaskAPI interface {
	RunTask(ctx context.Context, in *ecs.RunTaskInput, optFns ...func(*ecs.Options)) (*ecs.RunTaskOutput, error)
}

// Config names the task to run.
type Config struct {
	Cluster        string
	TaskDefinition string
	// Container is the container in the task definition that runs
	// `scangate task`.
	Container      string
	Subnets        []string
	SecurityGroups []string
	// PublicIP assigns a public address (only for subnets without a NAT
	// or VPC endpoints for S3, DynamoDB and Step Functions).
	PublicIP bool
	// CapacityProvider is e.g. FARGATE or FARGATE_SPOT; "" launches on
	// FARGATE.
	CapacityProvider string
}

// Offloader starts one Fargate task per offloaded object. It implements
// lambdas.Offloader.
type Offloader struct {
	api RunTaskAPI
	cfg Config
}

// New returns an offloader over api.
func New(api RunTaskAPI, cfg Config) (*Offloader, error) {
	if api == nil || cfg.Cluster == "" || cfg.TaskDefinition == "" || cfg.Container == "" || len(cfg.Subnets) == 0 {
		return nil, errors.New("fargate: an ECS client, cluster, task definition, container and subnets are required")
	}
	return &Offloader{api: api, cfg: cfg}, nil
}

// Offload starts the task for st. The record ID and version make the
// RunTask's client token: a duplicate Offload of the same version (Express
// runs at least once) starts no second task, while a record offloaded again
// after its task died has a new version and gets a new task.
func (o *Offloader) Offload(ctx context.Context, st asl.Document, version int64) error {
	in, err := o.input(st, version)
	if err != nil {
		return err
	}
	// Every failure to start a task is worth retrying: capacity and
	// throttling pass, and a task that never starts leaves the record
	// pending for the sweep, never clean.
	out, err := o.api.RunTask(ctx, in)
	if err != nil {
		return errcode.Errorf(errcode.Unavailable, "fargate: run task", st.ID, "%w", err)
	}
	if len(out.Failures) > 0 {
		f := out.Failures[0]
		return errcode.Errorf(errcode.Unavailable, "fargate: run task", st.ID, "%s (%s)", aws.ToString(f.Reason), aws.ToString(f.Detail))
	}
	if len(out.Tasks) == 0 {
		return errcode.Errorf(errcode.Unavailable, "fargate: run task", st.ID, "no task started and no failure given")
	}
	return nil
}

// input builds the RunTask request; separate so tests can read it whole.
func (o *Offloader) input(st asl.Document, version int64) (*ecs.RunTaskInput, error) {
	state, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if len(state) > maxOverrideBytes-512 {
		return nil, fmt.Errorf("fargate: state of %s is %d bytes, too large for a task override", st.ID, len(state))
	}
	in := &ecs.RunTaskInput{
		Cluster:        aws.String(o.cfg.Cluster),
		TaskDefinition: aws.String(o.cfg.TaskDefinition),
		Count:          aws.Int32(1),
		ClientToken:    aws.String(clientToken(st.ID, version)),
		StartedBy:      aws.String("scangate"),
		// The tag lets operators find the task of a record.
		Tags: []types.Tag{{Key: aws.String("scangate:record"), Value: aws.String(st.ID)}},
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: o.cfg.Subnets, SecurityGroups: o.cfg.SecurityGroups,
			AssignPublicIp: map[bool]types.AssignPublicIp{true: types.AssignPublicIpEnabled, false: types.AssignPublicIpDisabled}[o.cfg.PublicIP],
		}},
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
			Name:        aws.String(o.cfg.Container),
			Command:     []string{"task"},
			Environment: []types.KeyValuePair{{Name: aws.String(StateEnv), Value: aws.String(string(state))}},
		}}},
	}
	if o.cfg.CapacityProvider != "" {
		in.CapacityProviderStrategy = []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String(o.cfg.CapacityProvider), Weight: 1}}
	} else {
		in.LaunchType = types.LaunchTypeFargate
	}
	return in, nil
}

// clientToken is RunTask's idempotency token: at most 64 characters.
func clientToken(id string, version int64) string {
	t := fmt.Sprintf("%s-v%d", id, version)
	if len(t) > 64 {
		t = t[len(t)-64:]
	}
	return strings.ToLower(t)
}
