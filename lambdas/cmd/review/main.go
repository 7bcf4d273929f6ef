// Command review is the review Lambda: the admin UI's API behind a
// Function URL or API Gateway, which verify the caller, and, when an
// OpenID Connect issuer is configured (console.go), the admin console
// under /admin/.
//
// Besides lambdaenv's variables it reads:
//
//	SCANGATE_REVIEW_IAM_ROLES  comma-separated ARN=ROLE pairs: IAM roles or
//	                           users and the scangate role each holds
//	SCANGATE_JWT_NAME_CLAIM    JWT claim naming the caller (email)
//	SCANGATE_JWT_ROLE_CLAIM    JWT claim listing roles (cognito:groups)
//
// and the console's (console.go, settings.go).
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/authn"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

func main() {
	inv, err := invocation(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "review:", err)
		os.Exit(2)
	}
	log := lambdaenv.Logger(os.Stdout, os.Getenv)
	ctx := context.Background()
	cfg, _, err := lambdaenv.Config(ctx, os.Getenv, log)
	if err != nil {
		log.Error("init failed", "err", err)
		os.Exit(1)
	}
	h, err := lambdas.New(cfg)
	if err != nil {
		log.Error("init failed", "err", err)
		os.Exit(1)
	}
	getenv, err := awsSettings(ctx, os.Getenv, awsClients)
	if err != nil {
		log.Error("console settings", "err", err)
		os.Exit(1)
	}
	con, err := newConsole(ctx, getenv, h, cfg.Store, log)
	if err != nil {
		log.Error("console init failed", "err", err)
		os.Exit(1)
	}
	var page http.Handler
	if con != nil {
		page = con
	}
	lambda.Start(route(page, h.ReviewHTTP(inv)))
}

// awsClients are the SSM and Secrets Manager clients of the function's
// own AWS configuration.
func awsClients(ctx context.Context) (ParameterAPI, SecretAPI, error) {
	ac, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("aws config: %w", err)
	}
	return ssm.NewFromConfig(ac), secretsmanager.NewFromConfig(ac), nil
}

// invocation reads how verified callers map to roles.
func invocation(getenv func(string) string) (authn.Invocation, error) {
	inv := authn.Invocation{
		IAMRoles:  map[string]domain.Role{},
		NameClaim: getenv("SCANGATE_JWT_NAME_CLAIM"),
		RoleClaim: getenv("SCANGATE_JWT_ROLE_CLAIM"),
	}
	for _, pair := range strings.Split(getenv("SCANGATE_REVIEW_IAM_ROLES"), ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		arn, role, ok := strings.Cut(pair, "=")
		if !ok || !strings.HasPrefix(arn, "arn:") || !domain.Role(role).Valid() {
			return inv, fmt.Errorf("SCANGATE_REVIEW_IAM_ROLES: %q is not ARN=ROLE with a role of %v", pair, domain.Roles())
		}
		inv.IAMRoles[arn] = domain.Role(role)
	}
	return inv, nil
}
