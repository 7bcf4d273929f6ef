package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/lambdaenv"
	"github.com/scangate/scangate/store"
)

type fakeSSM map[string]string

func (f fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	v, ok := f[aws.ToString(in.Name)]
	if !ok {
		return nil, errors.New("ParameterNotFound")
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(v)}}, nil
}

type fakeSecrets map[string]string

func (f fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	v, ok := f[aws.ToString(in.SecretId)]
	if !ok {
		return nil, errors.New("ResourceNotFoundException")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

const (
	sessionArn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:session-AbCdEf"
	clientArn  = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:client-AbCdEf"
)

// The console's settings come from the parameter and the secrets the
// environment names, over the environment; nothing is read (and no
// client made) when it names neither.
func TestAWSSettings(t *testing.T) {
	ctx := context.Background()
	sessionKey := strings.Repeat("s", 64)
	params := fakeSSM{
		"/Scangate/console": `{"issuer":"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc","clientId":"client1","consoleUrl":"https://abc.lambda-url.eu-west-1.on.aws/"}`,
		"/Other/console":    `{"issuer":"https://login.example","clientId":"c2","clientSecretArn":"` + clientArn + `","consoleUrl":"https://x.example/","roleClaim":"groups","nameClaim":"preferred_username"}`,
		"/Bad/console":      `{"issuer":"https://login.example"}`,
		"/Unknown/console":  `{"issuer":"https://login.example","clientId":"c","consoleUrl":"https://x","typo":1}`,
	}
	secrets := fakeSecrets{sessionArn: sessionKey, clientArn: "client-secret"}
	made := 0
	clients := func(context.Context) (ParameterAPI, SecretAPI, error) {
		made++
		return params, secrets, nil
	}
	envOf := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	get, err := awsSettings(ctx, envOf(map[string]string{varIssuer: "https://env.example"}), clients)
	if err != nil || get(varIssuer) != "https://env.example" || made != 0 {
		t.Fatalf("without the AWS variables: %v, issuer %q, %d clients made", err, get(varIssuer), made)
	}

	env := map[string]string{
		lambdaenv.VarConsoleConfigParameter: "/Scangate/console",
		lambdaenv.VarConsoleSessionSecret:   sessionArn,
		varIssuer:                           "https://stale.example",
		varRoleClaim:                        "cognito:groups",
	}
	get, err = awsSettings(ctx, envOf(env), clients)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		varIssuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", varClientID: "client1",
		varConsoleURL: "https://abc.lambda-url.eu-west-1.on.aws/", varSessionKey: sessionKey, varSecret: "",
		varRoleClaim: "cognito:groups",
	} {
		if got := get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	env[lambdaenv.VarConsoleConfigParameter] = "/Other/console"
	get, err = awsSettings(ctx, envOf(env), clients)
	if err != nil {
		t.Fatal(err)
	}
	if get(varSecret) != "client-secret" || get(varRoleClaim) != "groups" || get(varNameClaim) != "preferred_username" {
		t.Errorf("named issuer: secret %q role claim %q name claim %q", get(varSecret), get(varRoleClaim), get(varNameClaim))
	}

	for name, e := range map[string]map[string]string{
		"missing parameter":      {lambdaenv.VarConsoleConfigParameter: "/None/console"},
		"incomplete parameter":   {lambdaenv.VarConsoleConfigParameter: "/Bad/console"},
		"unknown field":          {lambdaenv.VarConsoleConfigParameter: "/Unknown/console"},
		"missing session secret": {lambdaenv.VarConsoleSessionSecret: clientArn + "x"},
		"missing client secret":  {lambdaenv.VarConsoleConfigParameter: "/Other/console", lambdaenv.VarConsoleSessionSecret: sessionArn + "x"},
	} {
		if name == "missing client secret" {
			delete(secrets, clientArn)
		}
		if _, err := awsSettings(ctx, envOf(e), clients); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := awsSettings(ctx, envOf(env), func(context.Context) (ParameterAPI, SecretAPI, error) {
		return nil, nil, errors.New("no credentials")
	}); err == nil {
		t.Error("a client failure was ignored")
	}
}

// With the settings from AWS and a public client (no secret), the
// console is built: its sign-in state is signed with a key derived from
// the session key. The issuer is a fake that serves discovery.
func TestConsoleFromAWSSettings(t *testing.T) {
	srv := fakeIssuer(t)
	ctx := context.Background()
	params := fakeSSM{"/Scangate/console": `{"issuer":"` + srv + `","clientId":"client1","consoleUrl":"https://abc.lambda-url.eu-west-1.on.aws/"}`}
	secrets := fakeSecrets{sessionArn: strings.Repeat("s", 64)}
	env := map[string]string{lambdaenv.VarConsoleConfigParameter: "/Scangate/console", lambdaenv.VarConsoleSessionSecret: sessionArn}
	get, err := awsSettings(ctx, func(k string) string { return env[k] }, func(context.Context) (ParameterAPI, SecretAPI, error) {
		return params, secrets, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h, st := testHandlers(t)
	con, err := newConsole(ctx, get, h, st, nil)
	if err != nil || con == nil {
		t.Fatalf("console from the AWS settings with a public client: %v, %v", con, err)
	}
}

// fakeIssuer serves an OpenID Connect discovery document and returns its
// issuer URL.
func fakeIssuer(t *testing.T) string {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": srv.URL, "authorization_endpoint": srv.URL + "/oauth2/authorize", "token_endpoint": srv.URL + "/oauth2/token",
			"jwks_uri": srv.URL + "/.well-known/jwks.json", "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func testHandlers(t *testing.T) (*lambdas.Handlers, *store.Store) {
	t.Helper()
	env := localtest.Open(t, &localtest.Options{Sync: true})
	st, objs := env.Store, env.Bucket
	h, err := lambdas.New(lambdas.Config{Store: st, Objects: objs, QuarantineBucket: "q"})
	if err != nil {
		t.Fatal(err)
	}
	return h, st
}
