// Package authn authenticates callers of scangate's admin surfaces (the
// local HTTP API and the review Lambda) and names them as a
// domain.Principal.
//
// A principal's name always comes from a credential: an API token issued
// to an account, the break-glass admin token, an IAM caller ARN or the
// claims of a verified JWT. Nothing in a request body or a header other
// than Authorization can name one, so a recorded decision always names
// whoever proved who they are.
package authn

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/scangate/scangate/domain"
)

// AdminTokenPrincipal is the name the break-glass admin token acts under.
const AdminTokenPrincipal = domain.AdminTokenPrincipal

// ErrBadCredentials is returned for any credential that does not
// authenticate. It never says which part failed.
var ErrBadCredentials = errors.New("authn: credentials not accepted")

// maxAuthorization bounds the header; a real token is under 100 bytes.
const maxAuthorization = 4096

// ParseAuthorization splits an Authorization header value into its scheme
// and credentials (RFC 9110, section 11.4). The scheme is returned in
// lower case, since it is case-insensitive; ok is false for a value that
// is not "scheme SP credentials" with a non-empty token68-like credential.
func ParseAuthorization(v string) (scheme, cred string, ok bool) {
	if v == "" || len(v) > maxAuthorization {
		return "", "", false
	}
	scheme, cred, ok = strings.Cut(v, " ")
	if !ok || scheme == "" {
		return "", "", false
	}
	for _, c := range scheme {
		if !isTChar(c) {
			return "", "", false
		}
	}
	cred = strings.TrimLeft(cred, " ")
	if cred == "" {
		return "", "", false
	}
	for _, c := range cred {
		// Tokens are token68; any control character, space or non-ASCII
		// byte means this is not a credential we issued.
		if c <= ' ' || c >= 0x7f {
			return "", "", false
		}
	}
	return strings.ToLower(scheme), cred, true
}

func isTChar(c rune) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", c)
}

// Token returns the API token r carries: a bearer token, or the password
// of Basic credentials, which is how a webhook URL of the form
// https://NAME:TOKEN@host/v1/events sends one (S3-compatible servers'
// webhooks can send no other header). ok is false when r has no
// Authorization header; err is set when it has one that carries no
// well-formed token.
func Token(r *http.Request) (tok string, ok bool, err error) {
	vs := r.Header.Values("Authorization")
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", true, fmt.Errorf("%w: more than one Authorization header", ErrBadCredentials)
	}
	scheme, cred, good := ParseAuthorization(vs[0])
	switch {
	case good && scheme == "bearer":
		return cred, true, nil
	case good && scheme == "basic":
		if _, pass, ok := r.BasicAuth(); ok && pass != "" {
			return pass, true, nil
		}
	}
	return "", true, fmt.Errorf("%w: Authorization carries no token", ErrBadCredentials)
}

// TokenStore checks an API token's secret against the stored hashes; the
// store package implements it.
type TokenStore interface {
	Authenticate(ctx context.Context, secret string) (*domain.Account, *domain.APIToken, error)
}

// Authenticator names the caller of an HTTP request from its bearer token.
type Authenticator struct {
	// Tokens checks API tokens issued to accounts; nil accepts none.
	Tokens TokenStore
	// AdminToken, when set, is the break-glass credential: it acts as an
	// admin named AdminTokenPrincipal.
	AdminToken string
}

// Authenticate returns the request's principal. A request without
// credentials gives the zero Principal and no error; a request with
// credentials that do not check out gives an error wrapping
// ErrBadCredentials, so that a mistyped token is reported rather than
// silently treated as anonymous.
func (a *Authenticator) Authenticate(r *http.Request) (domain.Principal, error) {
	tok, ok, err := Token(r)
	if !ok || err != nil {
		return domain.Principal{}, err
	}
	if a.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.AdminToken)) == 1 {
		return domain.Principal{Name: AdminTokenPrincipal, Role: domain.RoleAdmin, Via: "admin-token"}, nil
	}
	if a.Tokens == nil {
		return domain.Principal{}, ErrBadCredentials
	}
	acct, t, err := a.Tokens.Authenticate(r.Context(), tok)
	if err != nil || acct == nil || t == nil {
		return domain.Principal{}, ErrBadCredentials
	}
	return domain.Principal{Name: acct.Name, Role: acct.Role, Via: "token:" + t.ID}, nil
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p domain.Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal ctx carries; the zero Principal (who
// can do nothing) when none.
func FromContext(ctx context.Context) domain.Principal {
	p, _ := ctx.Value(ctxKey{}).(domain.Principal)
	return p
}
