package console_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/console"
)

// issuer is a minimal OpenID Connect provider: discovery, keys, an
// authorization endpoint that signs in whoever the test says at once, and
// a token endpoint that checks the client, the code and its PKCE
// verifier.
type issuer struct {
	srv    *httptest.Server
	key    *rsa.PrivateKey
	mu     sync.Mutex
	codes  map[string]grant
	claims map[string]any // the next sign-in's claims
	// forge, when set, replaces the nonce in the next ID token.
	forgeNonce string
}

type grant struct {
	nonce, challenge, redirect string
	claims                     map[string]any
}

const (
	clientID     = "console-client"
	clientSecret = "console-client-secret"
)

func newIssuer(t *testing.T) *issuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, codes: map[string]grant{}}
	mux := http.NewServeMux()
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	b64 := base64.RawURLEncoding.EncodeToString
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": is.srv.URL, "authorization_endpoint": is.srv.URL + "/authorize", "token_endpoint": is.srv.URL + "/token",
			"jwks_uri": is.srv.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != clientID || q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := rand.Text()
		is.mu.Lock()
		is.codes[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), claims: is.claims}
		is.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.FormValue("client_id"), r.FormValue("client_secret")
		}
		is.mu.Lock()
		g, found := is.codes[r.FormValue("code")]
		delete(is.codes, r.FormValue("code"))
		forged := is.forgeNonce
		is.mu.Unlock()
		sum := sha256.Sum256([]byte(r.FormValue("code_verifier")))
		if id != clientID || secret != clientSecret || !found || b64(sum[:]) != g.challenge || r.FormValue("redirect_uri") != g.redirect {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		claims := map[string]any{"iss": is.srv.URL, "aud": clientID, "sub": "u-1", "nonce": g.nonce,
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
		if forged != "" {
			claims["nonce"] = forged
		}
		for k, v := range g.claims {
			claims[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": is.sign(claims)})
	})
	return is
}

func (is *issuer) sign(claims map[string]any) string {
	b64 := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "k1", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	in := b64(h) + "." + b64(p)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, is.key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return in + "." + b64(sig)
}

// follow walks a browser's redirects from start through the issuer and
// back, carrying the console's cookies, and returns the last answer.
func (b *browserless) follow(t *testing.T, start string) (int, string) {
	t.Helper()
	u := start
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Sec-Fetch-Site", "none")
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := csrfRE.FindSubmatch(raw); m != nil {
			b.csrf = string(m[1])
		}
		loc := resp.Header.Get("Location")
		if resp.StatusCode/100 != 3 || loc == "" {
			return resp.StatusCode, string(raw)
		}
		next, _ := resp.Request.URL.Parse(loc)
		u = next.String()
	}
	t.Fatal("too many redirects")
	return 0, ""
}

// TestOIDCSignIn signs in through an OpenID Connect issuer, as the
// review function does with Cognito, with the role from cognito:groups
// and sessions sealed in the cookie.
func TestOIDCSignIn(t *testing.T) {
	is := newIssuer(t)
	base := newEnv(t, envOpts{})
	rec := base.reviewing("oidc/eicar.com")
	// A console with single sign-on only, alone on its server as in the
	// review function. Its redirect URL needs the server's address, so
	// the handler is set once the server runs.
	var h atomic.Pointer[console.Console]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Load().ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	o, err := console.NewOIDC(context.Background(), console.OIDCConfig{
		Issuer: is.srv.URL, ClientID: clientID, ClientSecret: clientSecret, RedirectURL: srv.URL + "/admin/oidc/callback",
	})
	if err != nil {
		t.Fatal(err)
	}
	con, err := console.New(console.Options{Handlers: base.h, Store: base.st, OIDC: o, SessionKey: []byte("shared by every instance")})
	if err != nil {
		t.Fatal(err)
	}
	h.Store(con)
	e := *base
	e.srv = srv

	is.claims = map[string]any{"email": "rita@example.com", "cognito:groups": []any{"viewer", "reviewer"}}
	b := e.client()
	code, body := b.follow(t, e.srv.URL+"/admin/records/"+rec.ID)
	if code != http.StatusOK || !strings.Contains(body, "oidc:rita@example.com") || !strings.Contains(body, `id="decide"`) {
		t.Fatalf("after single sign-on: %d\n%s", code, body)
	}
	if code, body, _ := b.do(http.MethodPost, "/admin/records/"+rec.ID+"/decision",
		url.Values{"csrf": {b.csrf}, "decision": {"confirm"}, "comment": {"real"}}, nil); code != http.StatusSeeOther {
		t.Fatalf("decision: %d %s", code, body)
	}
	if item, _ := e.st.Review(context.Background(), rec.ID); item.Reviewer != "oidc:rita@example.com" {
		t.Errorf("decided by %q", item.Reviewer)
	}
	e.wait(rec.ID, domain.StatusConfirmed)

	// A tampered sealed cookie is nobody.
	u, _ := url.Parse(e.srv.URL + "/admin/")
	for _, ck := range b.c.Jar.Cookies(u) {
		if ck.Name == console.CookieName {
			forged := e.client()
			v := []byte(ck.Value)
			v[len(v)/2] ^= 1
			forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: console.CookieName, Value: string(v), Path: "/admin/"}})
			if code, _, _ := forged.do(http.MethodGet, "/admin/", nil, nil); code != http.StatusSeeOther {
				t.Errorf("a tampered sealed session: %d", code)
			}
		}
	}

	// A viewer group gives a viewer.
	is.claims = map[string]any{"email": "vic@example.com", "cognito:groups": "viewer"}
	v := e.client()
	if code, body := v.follow(t, e.srv.URL+"/admin/"); code != http.StatusOK || !strings.Contains(body, "(viewer)") {
		t.Errorf("viewer sign-on: %d", code)
	}
	// No scangate group: signed in at the issuer, refused here.
	is.claims = map[string]any{"email": "mallory@example.com", "cognito:groups": []any{"admins-of-something-else"}}
	if code, _ := e.client().follow(t, e.srv.URL+"/admin/"); code != http.StatusForbidden {
		t.Errorf("no role: %d, want 403", code)
	}
	// An ID token for another sign-in (its nonce) is refused.
	is.claims = map[string]any{"email": "rita@example.com", "cognito:groups": "reviewer"}
	is.forgeNonce = "replayed"
	if code, _ := e.client().follow(t, e.srv.URL+"/admin/"); code != http.StatusUnauthorized {
		t.Errorf("foreign nonce: %d, want 401", code)
	}
	is.forgeNonce = ""
	// A callback that did not start here (no state cookie, or another
	// state) is refused.
	if code, _, _ := e.client().do(http.MethodGet, "/admin/oidc/callback?code=x&state=y", nil, nil); code != http.StatusBadRequest {
		t.Errorf("callback without a start: %d, want 400", code)
	}
}
