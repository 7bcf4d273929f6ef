package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scangate/scangate/internal/console"
	"github.com/scangate/scangate/internal/lambdahttp"
	"github.com/scangate/scangate/internal/notify"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/store"
)

// The console's variables. Without SCANGATE_OIDC_ISSUER the function
// serves the review API alone.
//
//	SCANGATE_OIDC_ISSUER         OpenID Connect issuer URL (a Cognito user
//	                             pool's, or any other)
//	SCANGATE_OIDC_CLIENT_ID      the console's client at the issuer
//	SCANGATE_OIDC_CLIENT_SECRET  its secret
//	SCANGATE_CONSOLE_URL         the console's base URL, https://HOST: the
//	                             callback is HOST/admin/oidc/callback
//	SCANGATE_CONSOLE_SESSION_KEY encrypts sessions into their cookies; the
//	                             same in every instance (32+ random bytes)
//	SCANGATE_NOTIFY_SECRET       when set, checks notification links
//
// The claims are those of the JWT path: SCANGATE_JWT_NAME_CLAIM (email),
// SCANGATE_JWT_ROLE_CLAIM (cognito:groups).
//
// On AWS the CDK stack sets none of these but the claims: it names an SSM
// parameter and a secret instead (lambdaenv.Console), which awsSettings
// reads at init.
const (
	varIssuer     = "SCANGATE_OIDC_ISSUER"
	varClientID   = "SCANGATE_OIDC_CLIENT_ID"
	varSecret     = "SCANGATE_OIDC_CLIENT_SECRET"
	varConsoleURL = "SCANGATE_CONSOLE_URL"
	varSessionKey = "SCANGATE_CONSOLE_SESSION_KEY"
	varNotify     = "SCANGATE_NOTIFY_SECRET"
	varNameClaim  = "SCANGATE_JWT_NAME_CLAIM"
	varRoleClaim  = "SCANGATE_JWT_ROLE_CLAIM"
)

// newConsole builds the console from getenv; nil when it is not
// configured.
func newConsole(ctx context.Context, getenv func(string) string, h *lambdas.Handlers, st *store.Store, log *slog.Logger) (*console.Console, error) {
	if getenv(varIssuer) == "" {
		return nil, nil
	}
	base := strings.TrimSuffix(getenv(varConsoleURL), "/")
	key := getenv(varSessionKey)
	if !strings.HasPrefix(base, "https://") || len(key) < 32 {
		return nil, errors.New("the console needs SCANGATE_CONSOLE_URL (https://...) and SCANGATE_CONSOLE_SESSION_KEY (at least 32 bytes)")
	}
	o, err := console.NewOIDC(ctx, console.OIDCConfig{
		Issuer: getenv(varIssuer), ClientID: getenv(varClientID), ClientSecret: getenv(varSecret),
		RedirectURL: base + "/admin/oidc/callback",
		NameClaim:   getenv(varNameClaim), RoleClaim: getenv(varRoleClaim),
		// The sign-in state's cookie is signed with a key of its own,
		// derived from the session key: a public client (PKCE, no
		// secret, as the stack's Cognito client is) has no secret to
		// derive it from.
		StateKey: notify.DeriveKey([]byte(key), "oidc-state"),
	})
	if err != nil {
		return nil, err
	}
	opts := console.Options{
		Handlers: h, Store: st, OIDC: o, SessionKey: []byte(key), SecureCookies: true, Logger: log,
		ExecutionURL: executionURL,
	}
	if s := getenv(varNotify); s != "" {
		opts.LinkKey = notify.DeriveKey([]byte(s), "console-links")
	}
	return console.New(opts)
}

// executionURL links an execution to the Step Functions console.
func executionURL(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 4 || parts[0] != "arn" {
		return ""
	}
	return "https://" + parts[3] + ".console.aws.amazon.com/states/home?region=" + parts[3] + "#/v2/executions/details/" + arn
}

// route sends /admin/ to the console and everything else to the review
// API, whose JSON requests carry the identity API Gateway verified.
func route(con http.Handler, api func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if con == nil {
		return api
	}
	page := lambdahttp.Handler(con)
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if ev.RawPath == "/admin" || strings.HasPrefix(ev.RawPath, console.Prefix) {
			return page(ctx, ev)
		}
		return api(ctx, ev)
	}
}
