package gate

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/jsii-runtime-go"

	"github.com/scangate/scangate/lambdas/lambdaenv"
)

// Console configures the admin console that the review function serves
// at /admin/ (docs/console.md), and the review API beside it. It is on
// unless Disabled. Sign-in is OpenID Connect: a Cognito user pool the
// stack creates, or the issuer OIDCIssuer names.
type Console struct {
	// Disabled leaves the review function without a URL, as before the
	// console: no user pool, no URLs.
	Disabled bool

	// MFA is "required" (default: TOTP for every user) or "optional".
	MFA string
	// DomainPrefix is the Cognito hosted domain's prefix
	// (PREFIX.auth.REGION.amazoncognito.com); empty means the stack's
	// name in lower case and the account ID, unique per account.
	DomainPrefix string

	// OIDCIssuer, when set, is used instead of a Cognito user pool:
	// https://ISSUER, with OIDCClientID the console's client there
	// (register the ConsoleCallbackUrl output as its redirect URI) and
	// OIDCClientSecretArn, optional, the full ARN of a Secrets Manager
	// secret holding its secret (a public client uses PKCE alone).
	OIDCIssuer, OIDCClientID, OIDCClientSecretArn string
	// NameClaim and RoleClaim name the ID token's claims for the user's
	// name and roles; empty means email and cognito:groups.
	NameClaim, RoleClaim string

	// ReviewAPIRoles are IAM role or user ARNs allowed to call the review
	// API, with the scangate role each holds (viewer, reviewer, admin),
	// besides the ReviewApiRole the stack creates (reviewer).
	ReviewAPIRoles map[string]string
}

// Groups are the console's roles, as Cognito groups: the role claim
// (cognito:groups) names them, and the highest wins.
var Groups = []string{"viewer", "reviewer", "admin"}

// ConsoleCallbackPath is where the issuer sends the browser back
// (internal/console's OIDC callback).
const ConsoleCallbackPath = "admin/oidc/callback"

// varReviewIAMRoles is lambdas/cmd/review's mapping of IAM callers to
// roles.
const varReviewIAMRoles = "SCANGATE_REVIEW_IAM_ROLES"

var domainPrefixRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

func (c Console) validate() error {
	if c.Disabled {
		return nil
	}
	switch c.MFA {
	case "required", "optional":
	default:
		return fmt.Errorf("gate: console MFA %q (want required or optional)", c.MFA)
	}
	if c.DomainPrefix != "" && (!domainPrefixRe.MatchString(c.DomainPrefix) || strings.Contains(c.DomainPrefix, "aws") ||
		strings.Contains(c.DomainPrefix, "amazon") || strings.Contains(c.DomainPrefix, "cognito")) {
		return fmt.Errorf("gate: console domain prefix %q: lower-case letters, digits and hyphens, without aws, amazon or cognito", c.DomainPrefix)
	}
	if c.OIDCIssuer != "" || c.OIDCClientID != "" || c.OIDCClientSecretArn != "" {
		u, err := url.Parse(c.OIDCIssuer)
		if err != nil || u.Scheme != "https" || u.Host == "" || c.OIDCClientID == "" {
			return fmt.Errorf("gate: an OIDC issuer needs an https:// issuer URL and a client ID")
		}
		if a := c.OIDCClientSecretArn; a != "" && !strings.HasPrefix(a, "arn:") {
			return fmt.Errorf("gate: OIDC client secret %q is not a Secrets Manager ARN", a)
		}
	}
	for arn, role := range c.ReviewAPIRoles {
		if !strings.HasPrefix(arn, "arn:") || strings.ContainsAny(arn, ",=") {
			return fmt.Errorf("gate: review API role %q is not an ARN", arn)
		}
		switch role {
		case "viewer", "reviewer", "admin":
		default:
			return fmt.Errorf("gate: review API role %s=%q (want viewer, reviewer or admin)", arn, role)
		}
	}
	return nil
}

// consoleParameterName is the fixed name of the SSM parameter holding
// the console's settings. The review function's role and environment
// name it by this string, not by a reference: the parameter's value
// depends on the function's URL.
func (g *Gate) consoleParameterName() string {
	return "/" + *g.stack.StackName() + "/scangate/console"
}

// resultBus is the bus every final outcome goes to (ResultBus): a bus the
// stack creates, the account's default bus, or one the user names.
func (g *Gate) resultBus() {
	switch b := g.props.ResultBus; {
	case b == "":
		g.ResultBus = awsevents.NewEventBus(g.Scope, jsii.String("Results"), &awsevents.EventBusProps{
			Description: jsii.String("scangate: one event per final outcome (docs/console.md)"),
		})
	case strings.HasPrefix(b, "arn:"):
		g.ResultBus = awsevents.EventBus_FromEventBusArn(g.Scope, jsii.String("Results"), jsii.String(b))
	default:
		g.ResultBus = awsevents.EventBus_FromEventBusName(g.Scope, jsii.String("Results"), jsii.String(b))
	}
	awscdk.NewCfnOutput(g.Scope, jsii.String("ResultBusArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("The bus that receives one event per final outcome (source scangate, detail-type Scangate Result)"),
		Value:       g.ResultBus.EventBusArn(),
	})
}

// busValue is SCANGATE_RESULT_BUS: the bus's ARN, or "default".
func (g *Gate) busValue() *string {
	if g.props.ResultBus == "default" {
		return jsii.String("default")
	}
	return g.ResultBus.EventBusArn()
}

// consoleBefore makes what the review function's environment names,
// before the functions: the session key's secret and the API's role.
func (g *Gate) consoleBefore(env map[string]*string) {
	c := g.props.Console
	if c.Disabled {
		return
	}
	g.sessionSecret = awssecretsmanager.NewSecret(g.Scope, jsii.String("ConsoleSessionKey"), &awssecretsmanager.SecretProps{
		Description: jsii.String("scangate console: the key that encrypts sessions into their cookies (the review function reads it at init)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength: jsii.Number(64), ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	g.ReviewAPIRole = awsiam.NewRole(g.Scope, jsii.String("ReviewApiRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewAccountRootPrincipal(),
		Description: jsii.String("scangate review API: callers assuming it are reviewers (SCANGATE_REVIEW_IAM_ROLES)"),
	})
	pairs := []*string{awscdk.Fn_Join(jsii.String("="), &[]*string{g.ReviewAPIRole.RoleArn(), jsii.String("reviewer")})}
	for _, arn := range sortedKeys(c.ReviewAPIRoles) {
		pairs = append(pairs, jsii.String(arn+"="+c.ReviewAPIRoles[arn]))
	}
	env[varReviewIAMRoles] = awscdk.Fn_Join(jsii.String(","), &pairs)
	env[lambdaenv.VarConsoleConfigParameter] = jsii.String(g.consoleParameterName())
	env[lambdaenv.VarConsoleSessionSecret] = g.sessionSecret.SecretArn()
}

// console adds the sign-in, the two Function URLs and the settings'
// parameter, once the review function exists. The order avoids a
// cycle: URL (needs the function) → client (needs the URL) → parameter
// (needs both); the function only names the parameter.
func (g *Gate) console() {
	c := g.props.Console
	if c.Disabled {
		return
	}
	role := g.Roles["review"]
	consoleURL := g.Review.AddFunctionUrl(&awslambda.FunctionUrlOptions{AuthType: awslambda.FunctionUrlAuthType_NONE})
	g.ConsoleURL = consoleURL
	base := consoleURL.Url() // https://HOST/
	callback := awscdk.Fn_Join(jsii.String(""), &[]*string{base, jsii.String(ConsoleCallbackPath)})
	admin := awscdk.Fn_Join(jsii.String(""), &[]*string{base, jsii.String("admin/")})

	settings := map[string]any{"consoleUrl": base}
	if c.NameClaim != "" {
		settings["nameClaim"] = c.NameClaim
	}
	if c.RoleClaim != "" {
		settings["roleClaim"] = c.RoleClaim
	}
	if c.OIDCIssuer != "" {
		settings["issuer"], settings["clientId"] = c.OIDCIssuer, c.OIDCClientID
		if c.OIDCClientSecretArn != "" {
			settings["clientSecretArn"] = c.OIDCClientSecretArn
			role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("secretsmanager:GetSecretValue"), Resources: jsii.Strings(c.OIDCClientSecretArn),
			}))
		}
	} else {
		client := g.userPool(callback, admin)
		settings["issuer"] = g.UserPool.UserPoolProviderUrl()
		settings["clientId"] = client.UserPoolClientId()
	}
	awsssm.NewStringParameter(g.Scope, jsii.String("ConsoleSettings"), &awsssm.StringParameterProps{
		ParameterName: jsii.String(g.consoleParameterName()),
		Description:   jsii.String("scangate console: OIDC issuer, client and console URL, read by the review function at init"),
		StringValue:   g.stack.ToJsonString(settings, nil),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ssm:GetParameter"),
		Resources: &[]*string{g.stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ssm"), Resource: jsii.String("parameter"),
			ResourceName: jsii.String(strings.TrimPrefix(g.consoleParameterName(), "/")),
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})},
	}))
	g.sessionSecret.GrantRead(role, nil)

	// The review API: the same function through an alias, whose URL
	// takes only SigV4-signed requests (AWS_IAM); the function maps the
	// verified caller to a role (SCANGATE_REVIEW_IAM_ROLES).
	alias := awslambda.NewAlias(g.Scope, jsii.String("ReviewApi"), &awslambda.AliasProps{
		AliasName: jsii.String("api"), Version: g.Review.CurrentVersion(),
		Description: jsii.String("scangate review API (Function URL with AWS_IAM)"),
	})
	g.ReviewAPIURL = alias.AddFunctionUrl(&awslambda.FunctionUrlOptions{AuthType: awslambda.FunctionUrlAuthType_AWS_IAM})
	alias.GrantInvokeUrl(g.ReviewAPIRole)
	// CDK warns that the function's own permissions (the console URL's
	// public invoke) do not reach its versions: intended, the alias is
	// reached only through its AWS_IAM URL, by callers granted on it.
	awscdk.Annotations_Of(g.Review).AcknowledgeWarning(jsii.String("@aws-cdk/aws-lambda:addPermissionsToVersionOrAlias"),
		jsii.String("the api alias takes only AWS_IAM callers granted on the alias; the public permission is the console URL's, on the function"))

	out := func(id, desc string, v *string) {
		awscdk.NewCfnOutput(g.Scope, jsii.String(id), &awscdk.CfnOutputProps{Description: jsii.String(desc), Value: v})
	}
	out("ConsoleUrl", "The admin console (sign in with OpenID Connect)", admin)
	out("ConsoleCallbackUrl", "The console's OIDC redirect URI (register it at a named issuer)", callback)
	out("ReviewApiUrl", "The review API (AWS_IAM: SigV4-signed requests from a mapped role)", g.ReviewAPIURL.Url())
	out("ReviewApiRoleArn", "Assume this role to call the review API as a reviewer", g.ReviewAPIRole.RoleArn())
	if g.UserPool != nil {
		out("UserPoolId", "The console's Cognito user pool: add users to the viewer, reviewer or admin group", g.UserPool.UserPoolId())
	}
}

// userPool makes the Cognito user pool, its groups, its hosted domain and
// the console's app client, and returns the client.
func (g *Gate) userPool(callback, signedOut *string) awscognito.UserPoolClient {
	c := g.props.Console
	mfa := awscognito.Mfa_REQUIRED
	if c.MFA == "optional" {
		mfa = awscognito.Mfa_OPTIONAL
	}
	g.UserPool = awscognito.NewUserPool(g.Scope, jsii.String("ConsoleUsers"), &awscognito.UserPoolProps{
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		StandardAttributes: &awscognito.StandardAttributes{
			Email: &awscognito.StandardAttribute{Required: jsii.Bool(true), Mutable: jsii.Bool(true)},
		},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(14), RequireLowercase: jsii.Bool(true), RequireUppercase: jsii.Bool(true),
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
		},
		Mfa:             mfa,
		MfaSecondFactor: &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		// Plus: threat protection (compromised credentials, risky
		// sign-ins) enforced. Billed per monthly active user: a few
		// reviewers cost cents.
		FeaturePlan:                  awscognito.FeaturePlan_PLUS,
		StandardThreatProtectionMode: awscognito.StandardThreatProtectionMode_FULL_FUNCTION,
		DeletionProtection:           jsii.Bool(!g.props.DestroyOnDelete),
		RemovalPolicy:                g.removal(),
	})
	for i, name := range Groups {
		awscognito.NewCfnUserPoolGroup(g.Scope, jsii.String("ConsoleGroup"+title(name)), &awscognito.CfnUserPoolGroupProps{
			UserPoolId:  g.UserPool.UserPoolId(),
			GroupName:   jsii.String(name),
			Description: jsii.String("scangate " + name + " (docs/console.md)"),
			// Lower is stronger in Cognito: admin 0, reviewer 1, viewer 2.
			Precedence: jsii.Number(float64(len(Groups) - 1 - i)),
		})
	}
	prefix := jsii.String(c.DomainPrefix)
	if c.DomainPrefix == "" {
		name := strings.ToLower(*g.stack.StackName())
		prefix = awscdk.Fn_Join(jsii.String("-"), &[]*string{jsii.String(name), g.stack.Account()})
	}
	g.UserPool.AddDomain(jsii.String("ConsoleDomain"), &awscognito.UserPoolDomainOptions{
		CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: prefix},
	})
	return g.UserPool.AddClient(jsii.String("ConsoleClient"), &awscognito.UserPoolClientOptions{
		// A public client: the authorization code flow with PKCE, no
		// secret for the function to hold.
		GenerateSecret: jsii.Bool(false),
		AuthFlows:      &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: &[]*string{callback},
			LogoutUrls:   &[]*string{signedOut},
		},
		PreventUserExistenceErrors: jsii.Bool(true),
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(1)),
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(1)),
		EnableTokenRevocation:      jsii.Bool(true),
	})
}

// grantPutEvents lets role put events on the result bus, and nowhere else.
func (g *Gate) grantPutEvents(role awsiam.Role) {
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("events:PutEvents"), Resources: &[]*string{g.ResultBus.EventBusArn()},
	}))
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
