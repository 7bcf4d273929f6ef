package gate_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/scangate/scangate/cdk/gate"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

// functionsByName maps each scangate function to its template resource.
func (s synthed) functionsByName() map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.resources("AWS::Lambda::Function") {
		desc, _ := props(r)["Description"].(string)
		if f := strings.Fields(desc); len(f) > 1 && f[0] == "scangate" {
			r["id"] = id
			out[f[1]] = r
		}
	}
	return out
}

func fnEnv(fn map[string]any) map[string]any { return envOf(props(fn)) }

// statementsOf returns every Allow statement in the policies attached to
// the role whose logical id starts with prefix.
func (s synthed) statementsOf(prefix string) []map[string]any {
	var out []map[string]any
	for _, r := range s.resources("AWS::IAM::Policy") {
		p := props(r)
		attached := false
		for _, role := range asStrings(p["Roles"]) {
			if strings.HasPrefix(role, "<"+prefix) {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			if st := st.(map[string]any); st["Effect"] == "Allow" {
				out = append(out, st)
			}
		}
	}
	return out
}

// The user pool: no self sign-up, a strong password policy, MFA required
// by default, Plus with threat protection enforced; the three groups; a
// hosted domain derived from the stack name and account.
func TestConsoleUserPool(t *testing.T) {
	s := get(t, "new")
	must(t, "user pool", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]any{
			"AdminCreateUserConfig": map[string]any{"AllowAdminCreateUserOnly": true},
			"Policies": map[string]any{"PasswordPolicy": assertions.Match_ObjectLike(&map[string]any{
				"MinimumLength": 14, "RequireLowercase": true, "RequireUppercase": true, "RequireNumbers": true, "RequireSymbols": true,
			})},
			"MfaConfiguration":   "ON",
			"EnabledMfas":        []any{"SOFTWARE_TOKEN_MFA"},
			"UserPoolTier":       "PLUS",
			"UserPoolAddOns":     map[string]any{"AdvancedSecurityMode": "ENFORCED"},
			"UsernameAttributes": []any{"email"},
			"DeletionProtection": "ACTIVE",
		})
	})
	var groups []string
	for _, r := range s.resources("AWS::Cognito::UserPoolGroup") {
		groups = append(groups, props(r)["GroupName"].(string))
	}
	slices.Sort(groups)
	if !slices.Equal(groups, []string{"admin", "reviewer", "viewer"}) {
		t.Errorf("groups = %v, want admin, reviewer, viewer", groups)
	}
	var domain string
	for _, r := range s.resources("AWS::Cognito::UserPoolDomain") {
		domain = resolve(props(r)["Domain"])
	}
	if domain != "test-<AWS::AccountId>" {
		t.Errorf("hosted domain prefix = %q, want the stack name and account", domain)
	}
	opt := get(t, "optional-mfa")
	must(t, "optional MFA", func() {
		opt.tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]any{"MfaConfiguration": "OPTIONAL"})
	})
	must(t, "domain prefix from props", func() {
		opt.tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolDomain"), map[string]any{"Domain": "reviews-example"})
	})
}

// The app client: code flow only (PKCE is the console's), openid email
// profile, no secret, the callback on the console's Function URL.
func TestConsoleClient(t *testing.T) {
	s := get(t, "new")
	clients := s.resources("AWS::Cognito::UserPoolClient")
	if len(clients) != 1 {
		t.Fatalf("%d app clients, want 1", len(clients))
	}
	var urlID string
	for id, r := range s.resources("AWS::Lambda::Url") {
		if props(r)["AuthType"] == "NONE" {
			urlID = id
		}
	}
	for _, c := range clients {
		p := props(c)
		if got := asStrings(p["AllowedOAuthFlows"]); !slices.Equal(got, []string{"code"}) {
			t.Errorf("flows = %v, want code", got)
		}
		if got := asStrings(p["AllowedOAuthScopes"]); !slices.Equal(got, []string{"email", "openid", "profile"}) {
			t.Errorf("scopes = %v", got)
		}
		if p["GenerateSecret"] != false || p["AllowedOAuthFlowsUserPoolClient"] != true {
			t.Errorf("secret %v, OAuth on %v", p["GenerateSecret"], p["AllowedOAuthFlowsUserPoolClient"])
		}
		if got, want := asStrings(p["CallbackURLs"]), []string{"<" + urlID + ".FunctionUrl>admin/oidc/callback"}; !slices.Equal(got, want) {
			t.Errorf("callback = %v, want %v", got, want)
		}
		if got, want := asStrings(p["LogoutURLs"]), []string{"<" + urlID + ".FunctionUrl>admin/"}; !slices.Equal(got, want) {
			t.Errorf("sign-out URL = %v, want %v", got, want)
		}
		if got := asStrings(p["SupportedIdentityProviders"]); !slices.Equal(got, []string{"COGNITO"}) {
			t.Errorf("identity providers = %v", got)
		}
	}
	if gate.ConsoleCallbackPath != "admin/oidc/callback" {
		t.Errorf("the console's callback is /admin/oidc/callback (internal/console/oidc.go)")
	}
}

// Two Function URLs: the console's on the function (NONE), the API's on
// the api alias (AWS_IAM), which the created role may invoke.
func TestConsoleFunctionURLs(t *testing.T) {
	s := get(t, "new")
	review := s.functionsByName()["review"]["id"].(string)
	auth := map[string]string{}
	for _, r := range s.resources("AWS::Lambda::Url") {
		p := props(r)
		auth[p["AuthType"].(string)] = resolve(p["TargetFunctionArn"])
		if q, ok := p["Qualifier"]; ok {
			auth[p["AuthType"].(string)] += ":" + resolve(q)
		}
	}
	if auth["NONE"] != "<"+review+".Arn>" {
		t.Errorf("console URL targets %q, want the review function", auth["NONE"])
	}
	var alias string
	for id, r := range s.resources("AWS::Lambda::Alias") {
		if props(r)["Name"] == "api" && strings.HasPrefix(resolve(props(r)["FunctionName"]), "<"+review) {
			alias = id
		}
	}
	if alias == "" || auth["AWS_IAM"] != "<"+review+".Arn>:api" {
		t.Errorf("API URL targets %q, want the api alias %s", auth["AWS_IAM"], alias)
	}
	if len(auth) != 2 {
		t.Errorf("URLs by auth type: %v", auth)
	}
	var invoke []string
	for _, st := range s.statementsOf("GateReviewApiRole") {
		for _, a := range asStrings(st["Action"]) {
			if got := asStrings(st["Resource"]); !slices.Equal(got, []string{"<" + alias + ">"}) {
				t.Errorf("the API role's %s is on %v, want the alias only", a, got)
			}
			invoke = append(invoke, a)
		}
	}
	slices.Sort(invoke)
	if !slices.Equal(invoke, []string{"lambda:InvokeFunction", "lambda:InvokeFunctionUrl"}) {
		t.Errorf("the API role may %v", invoke)
	}
	roles := resolve(fnEnv(s.functionsByName()["review"])["SCANGATE_REVIEW_IAM_ROLES"])
	if !strings.HasPrefix(roles, "<GateReviewApiRole") || !strings.HasSuffix(roles, ".Arn>=reviewer") {
		t.Errorf("SCANGATE_REVIEW_IAM_ROLES = %q, want the API role as reviewer", roles)
	}
	off := get(t, "no-console")
	if n := len(off.resources("AWS::Lambda::Url")) + len(off.resources("AWS::Cognito::UserPool")); n != 0 {
		t.Errorf("console off, yet %d URLs and user pools", n)
	}
}

// The settings reach the function without a cycle: its environment names
// the parameter by its fixed name and the session secret by reference;
// the role reads exactly those.
func TestConsoleSettings(t *testing.T) {
	s := get(t, "new")
	env := fnEnv(s.functionsByName()["review"])
	if got := resolve(env[lambdaenv.VarConsoleConfigParameter]); got != "/Test/scangate/console" {
		t.Errorf("%s = %q", lambdaenv.VarConsoleConfigParameter, got)
	}
	var secretID string
	for id := range s.resources("AWS::SecretsManager::Secret") {
		secretID = id
	}
	if got := resolve(env[lambdaenv.VarConsoleSessionSecret]); got != "<"+secretID+">" {
		t.Errorf("%s = %q, want the secret %s", lambdaenv.VarConsoleSessionSecret, got, secretID)
	}
	must(t, "generated session key", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), map[string]any{
			"GenerateSecretString": map[string]any{"PasswordLength": 64, "ExcludePunctuation": true},
		})
	})
	var param map[string]any
	for _, r := range s.resources("AWS::SSM::Parameter") {
		if props(r)["Name"] == "/Test/scangate/console" {
			param = props(r)
		}
	}
	if param == nil {
		t.Fatal("no console parameter")
	}
	value := resolve(param["Value"])
	for _, want := range []string{`"issuer":"<GateConsoleUsers`, `.ProviderURL>"`, `"clientId":"<GateConsoleUsersConsoleClient`, `"consoleUrl":"<GateReviewFunctionFunctionUrl`} {
		if !strings.Contains(value, want) {
			t.Errorf("parameter value %s lacks %s", value, want)
		}
	}
	grants := map[string][]string{}
	for _, st := range s.statementsOf("GateReviewRole") {
		for _, a := range asStrings(st["Action"]) {
			if strings.HasPrefix(a, "ssm:") || strings.HasPrefix(a, "secretsmanager:") {
				grants[a] = asStrings(st["Resource"])
			}
		}
	}
	if got := grants["ssm:GetParameter"]; !slices.Equal(got, []string{"arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/Test/scangate/console"}) {
		t.Errorf("ssm:GetParameter on %v", got)
	}
	if got := grants["secretsmanager:GetSecretValue"]; !slices.Equal(got, []string{"<" + secretID + ">"}) {
		t.Errorf("secretsmanager:GetSecretValue on %v", got)
	}
	if len(grants) > 3 {
		t.Errorf("the review role's SSM and Secrets Manager grants: %v", grants)
	}
	noCycle(t, s)

	// A named issuer: no user pool, its client secret read by ARN.
	n := get(t, "issuer")
	if len(n.resources("AWS::Cognito::UserPool")) != 0 {
		t.Error("a user pool beside a named issuer")
	}
	var nv string
	for _, r := range n.resources("AWS::SSM::Parameter") {
		nv = resolve(props(r)["Value"])
	}
	if !strings.Contains(nv, `"issuer":"https://login.example.com"`) || !strings.Contains(nv, `"clientSecretArn":"`+issuerSecret+`"`) || !strings.Contains(nv, `"clientId":"scangate"`) {
		t.Errorf("named issuer's parameter: %s", nv)
	}
	found := false
	for _, st := range n.statementsOf("GateReviewRole") {
		if slices.Contains(asStrings(st["Action"]), "secretsmanager:GetSecretValue") && slices.Equal(asStrings(st["Resource"]), []string{issuerSecret}) {
			found = true
		}
	}
	if !found {
		t.Error("the review role cannot read the named issuer's client secret")
	}
	noCycle(t, n)
}

// noCycle fails when the template's references (Ref, GetAtt, Sub,
// DependsOn) loop, which CloudFormation refuses to deploy.
func noCycle(t *testing.T, s synthed) {
	t.Helper()
	res := s.js["Resources"].(map[string]any)
	deps := map[string][]string{}
	var walk func(from string, v any)
	walk = func(from string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				switch k {
				case "Ref":
					if id, ok := x.(string); ok && res[id] != nil {
						deps[from] = append(deps[from], id)
					}
				case "Fn::GetAtt":
					if l, ok := x.([]any); ok {
						if id, _ := l[0].(string); res[id] != nil {
							deps[from] = append(deps[from], id)
						}
					}
				case "Fn::Sub":
					for id := range res {
						if strings.Contains(resolve(x), "${"+id) {
							deps[from] = append(deps[from], id)
						}
					}
				}
				walk(from, x)
			}
		case []any:
			for _, x := range v {
				walk(from, x)
			}
		}
	}
	for id, r := range res {
		r := r.(map[string]any)
		walk(id, r["Properties"])
		deps[id] = append(deps[id], asStrings(r["DependsOn"])...)
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var path []string
	var visit func(id string) bool
	visit = func(id string) bool {
		color[id] = grey
		path = append(path, id)
		for _, d := range deps[id] {
			if color[d] == grey {
				t.Errorf("CloudFormation cycle: %v -> %s", path, d)
				return true
			}
			if color[d] == white && visit(d) {
				return true
			}
		}
		path = path[:len(path)-1]
		color[id] = black
		return false
	}
	for id := range res {
		if color[id] == white && visit(id) {
			return
		}
	}
}

// Result events: a bus of the stack's own; the functions that emit get
// SCANGATE_RESULT_BUS and events:PutEvents on that bus alone; no other
// function gets either.
func TestResultEvents(t *testing.T) {
	s := get(t, "new")
	buses := s.resources("AWS::Events::EventBus")
	if len(buses) != 1 {
		t.Fatalf("%d event buses, want 1", len(buses))
	}
	var bus string
	for id := range buses {
		bus = "<" + id + ".Arn>"
	}
	emitters := []string{"decide", "fail", "quarantine", "record", "review"}
	for name, fn := range s.functionsByName() {
		got := ""
		if v, ok := fnEnv(fn)[lambdaenv.VarResultBus]; ok {
			got = resolve(v)
		}
		var put [][]string
		role := "Gate" + strings.ToUpper(name[:1]) + name[1:] + "Role"
		for _, st := range s.statementsOf(role) {
			if slices.Contains(asStrings(st["Action"]), "events:PutEvents") {
				put = append(put, asStrings(st["Resource"]))
			}
		}
		if slices.Contains(emitters, name) {
			if got != bus {
				t.Errorf("%s: %s = %q, want %s", name, lambdaenv.VarResultBus, got, bus)
			}
			if len(put) != 1 || !slices.Equal(put[0], []string{bus}) {
				t.Errorf("%s: events:PutEvents on %v, want the bus alone", name, put)
			}
			continue
		}
		if got != "" || len(put) > 0 {
			t.Errorf("%s emits nothing, yet has the bus %q and PutEvents on %v", name, got, put)
		}
	}
	d := get(t, "no-console")
	if len(d.resources("AWS::Events::EventBus")) != 0 {
		t.Error("resultBus=default, yet a bus was created")
	}
	rec := d.functionsByName()["record"]
	if got := resolve(fnEnv(rec)[lambdaenv.VarResultBus]); got != "default" {
		t.Errorf("record's bus with resultBus=default: %q", got)
	}
	for _, st := range d.statementsOf("GateRecordRole") {
		if slices.Contains(asStrings(st["Action"]), "events:PutEvents") {
			if got := asStrings(st["Resource"]); !slices.Equal(got, []string{"arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:event-bus/default"}) {
				t.Errorf("PutEvents on %v, want the default bus", got)
			}
		}
	}
}

func TestConsoleOutputs(t *testing.T) {
	s := get(t, "new")
	var keys []string
	for id := range s.js["Outputs"].(map[string]any) {
		keys = append(keys, id)
	}
	for _, want := range []string{"GateConsoleUrl", "GateConsoleCallbackUrl", "GateReviewApiUrl", "GateReviewApiRoleArn", "GateUserPoolId"} {
		if !slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, want) }) {
			t.Errorf("no output %s in %v", want, keys)
		}
	}
}

func TestConsolePropsValidated(t *testing.T) {
	for name, c := range map[string]gate.Console{
		"mfa":            {MFA: "sometimes"},
		"prefix":         {DomainPrefix: "Scangate_Reviews"},
		"reserved":       {DomainPrefix: "my-cognito"},
		"http issuer":    {OIDCIssuer: "http://login.example.com", OIDCClientID: "c"},
		"no client":      {OIDCIssuer: "https://login.example.com"},
		"bad secret":     {OIDCIssuer: "https://login.example.com", OIDCClientID: "c", OIDCClientSecretArn: "secret"},
		"bad role":       {ReviewAPIRoles: map[string]string{"arn:aws:iam::111111111111:role/x": "root"}},
		"bad caller arn": {ReviewAPIRoles: map[string]string{"x": "viewer"}},
	} {
		p := newBucket
		p.Console = c
		p.LambdaAssets, p.ImageDir, p.ASLDir = "a", "b", "c"
		if _, err := gate.New(nil, "Gate", &p); err == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
}
