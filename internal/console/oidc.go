package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/authn"
)

// OIDCConfig names an OpenID Connect issuer the console signs in with: a
// Cognito user pool, or any issuer.
type OIDCConfig struct {
	// Issuer is the issuer URL (for Cognito,
	// https://cognito-idp.REGION.amazonaws.com/POOL_ID).
	Issuer string
	// ClientID and ClientSecret are the console's client at the issuer.
	ClientID, ClientSecret string
	// RedirectURL is the console's callback as the issuer knows it:
	// https://HOST/admin/oidc/callback.
	RedirectURL string
	// Scopes default to openid, email and profile.
	Scopes []string
	// NameClaim names the caller (default email, then sub); RoleClaim
	// lists their roles (default cognito:groups): the highest scangate
	// role named wins, as for API Gateway's JWT authorizer.
	NameClaim, RoleClaim string
	// StateKey signs the short-lived cookie that carries a sign-in's
	// state, nonce and PKCE verifier from the start to the callback, which
	// may reach another instance: it must be the same everywhere. Empty
	// means a key derived from ClientSecret.
	StateKey []byte
	// HTTPClient reaches the issuer; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// OIDC signs in through an OpenID Connect issuer with the authorization
// code flow, PKCE, a state and a nonce.
type OIDC struct {
	cfg      OIDCConfig
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
	key      []byte
}

// NewOIDC discovers the issuer.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("console: OIDC needs an issuer, a client ID and a redirect URL")
	}
	key := cfg.StateKey
	if len(key) == 0 {
		if cfg.ClientSecret == "" {
			return nil, errors.New("console: OIDC without a client secret needs a StateKey")
		}
		mac := hmac.New(sha256.New, []byte(cfg.ClientSecret))
		mac.Write([]byte("scangate/oidc-state"))
		key = mac.Sum(nil)
	}
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("console: OIDC issuer %s: %w", cfg.Issuer, err)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	return &OIDC{
		cfg:      cfg,
		verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: cfg.RedirectURL, Scopes: cfg.Scopes},
		key: key,
	}, nil
}

const stateCookie = "scangate_oidc"

// oidcState travels from the start of a sign-in to its callback.
type oidcState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	Expires  int64  `json:"e"`
}

func (o *OIDC) seal(st oidcState) string {
	b, _ := json.Marshal(st)
	p := base64.RawURLEncoding.EncodeToString(b)
	mac := hmac.New(sha256.New, o.key)
	mac.Write([]byte(p))
	return p + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (o *OIDC) open(v string, now time.Time) (oidcState, error) {
	var st oidcState
	p, sig, ok := strings.Cut(v, ".")
	mac := hmac.New(sha256.New, o.key)
	mac.Write([]byte(p))
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return st, errors.New("the sign-in state is not this console's")
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(raw, &st) != nil {
		return st, errors.New("the sign-in state is malformed")
	}
	if now.Unix() > st.Expires {
		return st, errors.New("the sign-in took too long")
	}
	return st, nil
}

func (c *Console) oidcStart(w http.ResponseWriter, r *http.Request, next string) {
	o := c.opts.OIDC
	if o == nil {
		c.render(w, r, http.StatusNotFound, "error", &view{Title: "Not available", Error: "Single sign-on is not configured."})
		return
	}
	st := oidcState{State: newSecret(), Nonce: newSecret(), Verifier: oauth2.GenerateVerifier(), Next: next,
		Expires: c.opts.Now().Add(10 * time.Minute).Unix()}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: o.seal(st), Path: "/admin/oidc/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.secure(r), MaxAge: 600})
	http.Redirect(w, r, o.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
}

func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	o := c.opts.OIDC
	refuse := func(code int, msg string, err error) {
		c.log.Info("console: OIDC sign-in refused", "reason", msg, "err", err, "remote", remoteIP(r))
		c.render(w, r, code, "error", &view{Title: "Sign-in failed", Error: msg})
	}
	if o == nil {
		refuse(http.StatusNotFound, "Single sign-on is not configured.", nil)
		return
	}
	ck, err := r.Cookie(stateCookie)
	if err != nil {
		refuse(http.StatusBadRequest, "The sign-in did not start here; start again.", err)
		return
	}
	// The state is single use: it goes whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/admin/oidc/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.secure(r), MaxAge: -1})
	st, err := o.open(ck.Value, c.opts.Now())
	if err != nil {
		refuse(http.StatusBadRequest, "The sign-in did not start here or took too long; start again.", err)
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		refuse(http.StatusUnauthorized, "The identity provider refused the sign-in.", errors.New(quote(e)))
		return
	}
	if !hmac.Equal([]byte(q.Get("state")), []byte(st.State)) {
		refuse(http.StatusBadRequest, "The sign-in did not start here; start again.", errors.New("state mismatch"))
		return
	}
	ctx := r.Context()
	if o.cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, o.cfg.HTTPClient)
	}
	tok, err := o.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		refuse(http.StatusUnauthorized, "The identity provider did not confirm the sign-in.", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		refuse(http.StatusUnauthorized, "The identity token did not verify.", err)
		return
	}
	if !hmac.Equal([]byte(idt.Nonce), []byte(st.Nonce)) {
		refuse(http.StatusUnauthorized, "The identity token was not issued for this sign-in.", errors.New("nonce mismatch"))
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		refuse(http.StatusUnauthorized, "The identity token is malformed.", err)
		return
	}
	p, err := o.principal(claims)
	if err != nil {
		refuse(http.StatusForbidden, "You are signed in at the identity provider, but hold no scangate role.", err)
		return
	}
	c.startSession(w, r, Session{Principal: &p})
	c.log.Info("console: signed in", "principal", p.Name, "role", p.Role, "via", p.Via, "remote", remoteIP(r))
	http.Redirect(w, r, safeNext(st.Next), http.StatusSeeOther)
}

// principal maps verified claims to a principal, as the review API's JWT
// path does (authn.HighestRole), so that the console and the API agree on
// who holds which role.
func (o *OIDC) principal(claims map[string]any) (domain.Principal, error) {
	nameClaim, roleClaim := o.cfg.NameClaim, o.cfg.RoleClaim
	if nameClaim == "" {
		nameClaim = "email"
	}
	if roleClaim == "" {
		roleClaim = "cognito:groups"
	}
	name, _ := claims[nameClaim].(string)
	if name == "" {
		name, _ = claims["sub"].(string)
	}
	if name == "" {
		return domain.Principal{}, errors.New("the token names nobody")
	}
	var roles string
	switch v := claims[roleClaim].(type) {
	case string:
		roles = v
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				roles += " " + s
			}
		}
	}
	role, ok := authn.HighestRole(roles)
	if !ok {
		return domain.Principal{}, fmt.Errorf("%s has no scangate role in claim %q", name, roleClaim)
	}
	// The name is prefixed so that it can never pass for a local account
	// or one of scangate's own actors in a history.
	return domain.Principal{Name: "oidc:" + name, Role: role, Via: "oidc"}, nil
}
