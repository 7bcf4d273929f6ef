package authn_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/authn"
)

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		in           string
		scheme, cred string
		ok           bool
	}{
		{"Bearer abc", "bearer", "abc", true},
		{"bearer abc", "bearer", "abc", true},
		{"BEARER   abc", "bearer", "abc", true},
		{"Basic dXNlcjpwYXNz", "basic", "dXNlcjpwYXNz", true},
		{"Bearer", "", "", false},
		{"Bearer ", "", "", false},
		{" Bearer abc", "", "", false},
		{"Bearer abc def", "", "", false},
		{"Bearer abc\x00", "", "", false},
		{"Bearer abc\u202e", "", "", false},
		{"Bea(rer abc", "", "", false},
		{"", "", "", false},
		{"Bearer " + strings.Repeat("a", 5000), "", "", false},
	}
	for _, tt := range tests {
		scheme, cred, ok := authn.ParseAuthorization(tt.in)
		if scheme != tt.scheme || cred != tt.cred || ok != tt.ok {
			t.Errorf("ParseAuthorization(%q) = %q, %q, %v; want %q, %q, %v", tt.in, scheme, cred, ok, tt.scheme, tt.cred, tt.ok)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abc", "basic Zm9vOmJhcg==", "Bearer  x", "Digest a=b, c=d", "\x00", "Bearer sgt_0123456789ab_" + strings.Repeat("A", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		scheme, cred, ok := authn.ParseAuthorization(v)
		if !ok {
			if scheme != "" || cred != "" {
				t.Fatalf("not ok but returned %q, %q", scheme, cred)
			}
			return
		}
		if scheme != strings.ToLower(scheme) || scheme == "" || cred == "" {
			t.Fatalf("ParseAuthorization(%q) = %q, %q", v, scheme, cred)
		}
		for _, c := range cred {
			if c <= ' ' || c >= 0x7f {
				t.Fatalf("credential %q holds %U", cred, c)
			}
		}
		if !strings.HasSuffix(v, cred) || !strings.EqualFold(v[:len(scheme)], scheme) {
			t.Fatalf("ParseAuthorization(%q) = %q, %q: not parts of the input", v, scheme, cred)
		}
	})
}

// fakeTokens accepts one secret, for one account.
type fakeTokens struct {
	secret string
	acct   domain.Account
}

func (f fakeTokens) Authenticate(_ context.Context, secret string) (*domain.Account, *domain.APIToken, error) {
	if secret != f.secret {
		return nil, nil, errors.New("no such token")
	}
	a := f.acct
	return &a, &domain.APIToken{ID: "tok1", Account: a.Name}, nil
}

func TestAuthenticator(t *testing.T) {
	a := &authn.Authenticator{
		Tokens:     fakeTokens{secret: "sgt_tok1_good", acct: domain.Account{Name: "vera", Role: domain.RoleViewer}},
		AdminToken: "break-glass",
	}
	tests := []struct {
		name    string
		headers []string
		want    domain.Principal
		wantErr bool
	}{
		{"none is anonymous", nil, domain.Principal{}, false},
		{"account token", []string{"Bearer sgt_tok1_good"}, domain.Principal{Name: "vera", Role: domain.RoleViewer, Via: "token:tok1"}, false},
		{"scheme in lower case", []string{"bearer sgt_tok1_good"}, domain.Principal{Name: "vera", Role: domain.RoleViewer, Via: "token:tok1"}, false},
		{"token as basic password, for webhooks", []string{"Basic " + basic("hook", "sgt_tok1_good")}, domain.Principal{Name: "vera", Role: domain.RoleViewer, Via: "token:tok1"}, false},
		{"admin token", []string{"Bearer break-glass"}, domain.Principal{Name: "admin-token", Role: domain.RoleAdmin, Via: "admin-token"}, false},
		{"wrong token", []string{"Bearer sgt_tok1_bad"}, domain.Principal{}, true},
		{"admin token prefix", []string{"Bearer break-glas"}, domain.Principal{}, true},
		{"two headers", []string{"Bearer sgt_tok1_good", "Bearer break-glass"}, domain.Principal{}, true},
		{"other scheme", []string{"Digest sgt_tok1_good"}, domain.Principal{}, true},
		{"empty header", []string{""}, domain.Principal{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := a.Authenticate(r)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Authenticate = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, authn.ErrBadCredentials) {
				t.Errorf("error %v does not wrap ErrBadCredentials", err)
			}
		})
	}
}

func basic(user, pass string) string {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestHighestRole(t *testing.T) {
	tests := []struct {
		claim string
		want  domain.Role
		ok    bool
	}{
		{"viewer", domain.RoleViewer, true},
		{"[viewer reviewer]", domain.RoleReviewer, true},
		{"reviewer,admin", domain.RoleAdmin, true},
		{`["ingest","viewer"]`, domain.RoleViewer, true},
		{"ingest", domain.RoleIngest, true},
		{"Admin", domain.RoleAdmin, true},
		{"[staff everyone]", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := authn.HighestRole(tt.claim)
		if got != tt.want || ok != tt.ok {
			t.Errorf("HighestRole(%q) = %q, %v; want %q, %v", tt.claim, got, ok, tt.want, tt.ok)
		}
	}
}

func TestInvocation(t *testing.T) {
	inv := authn.Invocation{IAMRoles: map[string]domain.Role{
		"arn:aws:iam::111122223333:role/scangate-reviewers": domain.RoleReviewer,
		"arn:aws:iam::111122223333:user/auditor":            domain.RoleViewer,
	}}
	jwt := func(claims map[string]string) events.APIGatewayV2HTTPRequestContext {
		return events.APIGatewayV2HTTPRequestContext{Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}}
	}
	iam := func(arn string) events.APIGatewayV2HTTPRequestContext {
		return events.APIGatewayV2HTTPRequestContext{Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{UserARN: arn}}}
	}
	tests := []struct {
		name string
		rc   events.APIGatewayV2HTTPRequestContext
		want domain.Principal
	}{
		{"cognito groups", jwt(map[string]string{"email": "rita@example.com", "sub": "abc", "cognito:groups": "[viewer reviewer]"}),
			domain.Principal{Name: "rita@example.com", Role: domain.RoleReviewer, Via: "jwt"}},
		{"sub when no email", jwt(map[string]string{"sub": "abc", "cognito:groups": "viewer"}),
			domain.Principal{Name: "abc", Role: domain.RoleViewer, Via: "jwt"}},
		{"no role", jwt(map[string]string{"email": "x@example.com", "cognito:groups": "staff"}), domain.Principal{}},
		{"nobody", jwt(map[string]string{"cognito:groups": "admin"}), domain.Principal{}},
		{"assumed role session", iam("arn:aws:sts::111122223333:assumed-role/scangate-reviewers/rita"),
			domain.Principal{Name: "arn:aws:sts::111122223333:assumed-role/scangate-reviewers/rita", Role: domain.RoleReviewer, Via: "iam"}},
		{"iam user", iam("arn:aws:iam::111122223333:user/auditor"),
			domain.Principal{Name: "arn:aws:iam::111122223333:user/auditor", Role: domain.RoleViewer, Via: "iam"}},
		{"unmapped role", iam("arn:aws:sts::111122223333:assumed-role/other/x"), domain.Principal{}},
		{"other account, same role name", iam("arn:aws:sts::999999999999:assumed-role/scangate-reviewers/x"), domain.Principal{}},
		{"no authorizer", events.APIGatewayV2HTTPRequestContext{}, domain.Principal{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inv.FromHTTPContext(tt.rc)
			if got != tt.want || (err == nil) != (tt.want.Name != "") {
				t.Errorf("FromHTTPContext = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
