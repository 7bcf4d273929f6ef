package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/scangate/scangate/lambdas/lambdaenv"
)

// ParameterAPI and SecretAPI are the parts of the SSM and Secrets Manager
// clients the console's settings are read with.
type ParameterAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

type SecretAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// consoleParameter is the JSON the CDK stack writes to the parameter
// that lambdaenv.VarConsoleConfigParameter names.
type consoleParameter struct {
	Issuer          string `json:"issuer"`
	ClientID        string `json:"clientId"`
	ClientSecretArn string `json:"clientSecretArn,omitempty"`
	ConsoleURL      string `json:"consoleUrl"`
	NameClaim       string `json:"nameClaim,omitempty"`
	RoleClaim       string `json:"roleClaim,omitempty"`
}

// awsSettings returns getenv with the console's settings from SSM and
// Secrets Manager laid over it, when getenv names them
// (lambdaenv.Console): the parameter gives the issuer, client, console
// URL and claims (and the ARN of the client's secret, read from Secrets
// Manager), the session secret the session key. Values read there win
// over the same variables in the environment. clients is called only
// when something is to be read. They are read once, at init: a changed
// parameter reaches new instances only.
func awsSettings(ctx context.Context, getenv func(string) string, clients func(context.Context) (ParameterAPI, SecretAPI, error)) (func(string) string, error) {
	param, session := getenv(lambdaenv.VarConsoleConfigParameter), getenv(lambdaenv.VarConsoleSessionSecret)
	if param == "" && session == "" {
		return getenv, nil
	}
	ps, sm, err := clients(ctx)
	if err != nil {
		return nil, err
	}
	over := map[string]string{}
	secret := func(arn string) (string, error) {
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", arn, err)
		}
		if out.SecretString == nil {
			return "", fmt.Errorf("secret %s has no string value", arn)
		}
		return *out.SecretString, nil
	}
	if param != "" {
		out, err := ps.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param), WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", lambdaenv.VarConsoleConfigParameter, param, err)
		}
		if out.Parameter == nil || out.Parameter.Value == nil {
			return nil, fmt.Errorf("%s %s: no value", lambdaenv.VarConsoleConfigParameter, param)
		}
		var p consoleParameter
		dec := json.NewDecoder(strings.NewReader(*out.Parameter.Value))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("%s %s: %w", lambdaenv.VarConsoleConfigParameter, param, err)
		}
		if p.Issuer == "" || p.ClientID == "" || p.ConsoleURL == "" {
			return nil, fmt.Errorf("%s %s: want issuer, clientId and consoleUrl", lambdaenv.VarConsoleConfigParameter, param)
		}
		over[varIssuer], over[varClientID], over[varConsoleURL] = p.Issuer, p.ClientID, p.ConsoleURL
		if p.NameClaim != "" {
			over[varNameClaim] = p.NameClaim
		}
		if p.RoleClaim != "" {
			over[varRoleClaim] = p.RoleClaim
		}
		if p.ClientSecretArn != "" {
			if over[varSecret], err = secret(p.ClientSecretArn); err != nil {
				return nil, fmt.Errorf("the OIDC client's %w", err)
			}
		}
	}
	if session != "" {
		if over[varSessionKey], err = secret(session); err != nil {
			return nil, fmt.Errorf("%s: %w", lambdaenv.VarConsoleSessionSecret, err)
		}
	}
	return func(k string) string {
		if v, ok := over[k]; ok {
			return v
		}
		return getenv(k)
	}, nil
}
