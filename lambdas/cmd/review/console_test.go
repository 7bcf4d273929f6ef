package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/crypto/bcrypt"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/authn"
	"github.com/scangate/scangate/internal/console"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/store"
)

func funcURLEvent(method, path, body string, hdr map[string]string, cookies ...string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{RawPath: path, Body: body, Headers: map[string]string{"host": "abc.lambda-url.eu-west-1.on.aws"}, Cookies: cookies}
	for k, v := range hdr {
		ev.Headers[k] = v
	}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.HTTP.SourceIP = "203.0.113.9"
	ev.RequestContext.DomainName = "abc.lambda-url.eu-west-1.on.aws"
	return ev
}

// TestRoute drives the review function with Function URL events: pages
// under /admin/ go to the console (which signs in, sets Secure cookies
// and refuses cross-site posts), everything else to the review API,
// which wants a verified identity.
func TestRoute(t *testing.T) {
	env := localtest.Open(t, &localtest.Options{Sync: true, Store: &store.Options{PasswordCost: bcrypt.MinCost}})
	st, objs := env.Store, env.Bucket
	h, err := lambdas.New(lambdas.Config{Store: st, Objects: objs, QuarantineBucket: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddAccount(context.Background(), "rita", domain.RoleReviewer, []byte("correct horse battery")); err != nil {
		t.Fatal(err)
	}
	con, err := console.New(console.Options{Handlers: h, Store: st, Accounts: st, SessionKey: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	fn := route(con, h.ReviewHTTP(authn.Invocation{}))
	ctx := context.Background()

	resp, _ := fn(ctx, funcURLEvent(http.MethodGet, "/admin/", "", nil))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Headers["Location"], "/admin/login") {
		t.Errorf("anonymous page: %d %v", resp.StatusCode, resp.Headers)
	}
	form := url.Values{"username": {"rita"}, "password": {"correct horse battery"}}.Encode()
	ct := map[string]string{"content-type": "application/x-www-form-urlencoded"}
	resp, _ = fn(ctx, funcURLEvent(http.MethodPost, "/admin/login", form, map[string]string{
		"content-type": ct["content-type"], "sec-fetch-site": "cross-site"}))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d", resp.StatusCode)
	}
	resp, _ = fn(ctx, funcURLEvent(http.MethodPost, "/admin/login", form, map[string]string{
		"content-type": ct["content-type"], "sec-fetch-site": "same-origin"}))
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies) != 1 || !strings.Contains(resp.Cookies[0], "Secure") || !strings.Contains(resp.Cookies[0], "HttpOnly") {
		t.Fatalf("sign-in: %d cookies %v", resp.StatusCode, resp.Cookies)
	}
	session := strings.SplitN(resp.Cookies[0], ";", 2)[0]
	resp, _ = fn(ctx, funcURLEvent(http.MethodGet, "/admin/", "", nil, session))
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, "rita") {
		t.Errorf("signed-in queue: %d", resp.StatusCode)
	}
	// The JSON API is not the console's: a session opens nothing there.
	resp, _ = fn(ctx, funcURLEvent(http.MethodPost, "/", `{"action":"list"}`, nil, session))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("review API with a session cookie and no verified identity: %d", resp.StatusCode)
	}
}

func TestNewConsoleNeedsItsSettings(t *testing.T) {
	env := map[string]string{}
	if c, err := newConsole(context.Background(), func(k string) string { return env[k] }, nil, nil, nil); c != nil || err != nil {
		t.Errorf("without an issuer: %v, %v; want no console", c, err)
	}
	env[varIssuer] = "https://issuer.example"
	env[varConsoleURL] = "http://plain.example"
	env[varSessionKey] = strings.Repeat("k", 32)
	if _, err := newConsole(context.Background(), func(k string) string { return env[k] }, nil, nil, nil); err == nil {
		t.Error("a console on plain HTTP was accepted")
	}
	env[varConsoleURL] = "https://console.example"
	env[varSessionKey] = "short"
	if _, err := newConsole(context.Background(), func(k string) string { return env[k] }, nil, nil, nil); err == nil {
		t.Error("a short session key was accepted")
	}
}

func TestExecutionURL(t *testing.T) {
	got := executionURL("arn:aws:states:eu-west-1:123456789012:execution:review:abc")
	if got != "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:review:abc" {
		t.Errorf("%s", got)
	}
	if executionURL("nonsense") != "" {
		t.Error("a link for a non-ARN")
	}
}
