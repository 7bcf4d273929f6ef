package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/console"
	"github.com/scangate/scangate/internal/notify"
)

// reviewing uploads EICAR under key and waits until it is under review.
func (e *env) reviewing(key string) *domain.Record {
	e.t.Helper()
	return e.wait(e.upload(key, eicar), domain.StatusReviewing)
}

// TestEndpointRoles sends every console endpoint a request from an
// anonymous browser and from a session of every role, and checks the
// status: pages redirect the anonymous to the sign-in form, state
// changes refuse them, and only reviewers and admins change anything.
func TestEndpointRoles(t *testing.T) {
	e := newEnv(t, envOpts{})
	rec := e.reviewing("roles/eicar.com")
	sum := rec.Verdict.SHA256
	if _, err := e.st.AddAllowlist(context.Background(), domain.AllowlistEntry{SHA256: strings.Repeat("ab", 32), AddedBy: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	const (
		anon = "anonymous"
	)
	type row struct {
		method, path string
		form         url.Values
		want         map[string]int // by account; anon for none
	}
	page := func(path string) row {
		return row{http.MethodGet, path, nil, map[string]int{
			anon: http.StatusSeeOther, "hook": http.StatusForbidden, "vic": http.StatusOK, "rita": http.StatusOK, "alice": http.StatusOK}}
	}
	change := func(path string, form url.Values, ok int) row {
		return row{http.MethodPost, path, form, map[string]int{
			anon: http.StatusUnauthorized, "hook": http.StatusForbidden, "vic": http.StatusForbidden, "rita": ok, "alice": ok}}
	}
	rows := []row{
		page("/admin/"),
		page("/admin/?bucket=uploads&prefix=roles/&signature=eicar&age=0"),
		page("/admin/records/" + rec.ID),
		page("/admin/allowlist"),
		page("/admin/search"),
		page("/admin/search?q=" + sum),
		page("/admin/search?prefix=roles/&state=reviewing"),
		page("/admin/dashboard"),
		page("/admin/deliveries"),
		// Confirm is idempotent: the second reviewer's identical decision
		// is answered as already made.
		change("/admin/records/"+rec.ID+"/decision", url.Values{"decision": {"confirm"}, "comment": {"a real virus"}}, http.StatusSeeOther),
		change("/admin/allowlist/"+strings.Repeat("ab", 32)+"/remove", url.Values{"comment": {"no longer needed"}}, http.StatusSeeOther),
	}
	clients := map[string]*browserless{anon: e.client()}
	for _, name := range []string{"hook", "vic", "rita", "alice"} {
		b := e.client()
		if name == "hook" {
			// An ingest account can sign in but sees no page, so its
			// CSRF token is read from the sign-in's session directly.
			code, _, _ := b.do(http.MethodPost, "/admin/login", url.Values{"username": {name}, "password": {password}}, nil)
			if code != http.StatusSeeOther {
				t.Fatalf("hook sign-in: %d", code)
			}
			_, _, _ = b.do(http.MethodGet, "/admin/", nil, nil)
		} else {
			b.signIn(name)
		}
		clients[name] = b
	}
	for _, r := range rows {
		for _, who := range []string{anon, "hook", "vic", "rita", "alice"} {
			b := clients[who]
			var form url.Values
			if r.form != nil {
				form = url.Values{}
				for k, v := range r.form {
					form[k] = v
				}
				form.Set("csrf", b.csrf)
			}
			code, body, resp := b.do(r.method, r.path, form, nil)
			if code != r.want[who] {
				t.Errorf("%s %s as %s: %d, want %d\n%s", r.method, r.path, who, code, r.want[who], body)
			}
			if who == anon && r.method == http.MethodGet && !strings.HasPrefix(resp.Header.Get("Location"), "/admin/login?next=") {
				t.Errorf("%s as anonymous: Location %q", r.path, resp.Header.Get("Location"))
			}
			if code == http.StatusOK && resp.Header.Get("Content-Security-Policy") == "" {
				t.Errorf("%s: no Content-Security-Policy", r.path)
			}
		}
	}
	got, err := e.st.Review(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Decision != domain.DecisionConfirm || got.Reviewer != "rita" {
		t.Errorf("review decided %q by %q; want confirm by rita (the first reviewer)", got.Decision, got.Reviewer)
	}
}

// TestViewerSeesNoActions: the record page offers a viewer no decision
// form and no removal, and the server refuses the viewer's forged POST
// with a valid CSRF token of its own session.
func TestViewerSeesNoActions(t *testing.T) {
	e := newEnv(t, envOpts{})
	rec := e.reviewing("viewer/eicar.com")
	v := e.client()
	v.signIn("vic")
	_, body, _ := v.do(http.MethodGet, "/admin/records/"+rec.ID, nil, nil)
	if strings.Contains(body, `id="decide"`) || strings.Contains(body, "/decision") {
		t.Errorf("viewer's record page has a decision form:\n%s", body)
	}
	if code, _, _ := v.do(http.MethodPost, "/admin/records/"+rec.ID+"/decision",
		url.Values{"csrf": {v.csrf}, "decision": {"release"}, "comment": {"let me"}}, nil); code != http.StatusForbidden {
		t.Errorf("viewer's release: %d, want 403", code)
	}
	if _, err := e.st.AddAllowlist(context.Background(), domain.AllowlistEntry{SHA256: strings.Repeat("cd", 32), AddedBy: "alice", Reason: "fixture"}); err != nil {
		t.Fatal(err)
	}
	_, body, _ = v.do(http.MethodGet, "/admin/allowlist", nil, nil)
	if !strings.Contains(body, strings.Repeat("cd", 32)) || strings.Contains(body, "/remove") {
		t.Errorf("viewer's allowlist page: want the entry without a removal form")
	}
	r := e.client()
	r.signIn("rita")
	_, body, _ = r.do(http.MethodGet, "/admin/records/"+rec.ID, nil, nil)
	if !strings.Contains(body, `id="decide"`) {
		t.Errorf("reviewer's record page has no decision form")
	}
	if _, body, _ = r.do(http.MethodGet, "/admin/allowlist", nil, nil); !strings.Contains(body, "/remove") {
		t.Errorf("reviewer's allowlist page has no removal form")
	}
	if got, _ := e.st.Get(context.Background(), rec.ID); got.State != domain.StatusReviewing {
		t.Errorf("after the viewer's POST the record is %s", got.State)
	}
}

func cookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == console.CookieName {
			return c
		}
	}
	return nil
}

// TestSession checks the cookie's attributes, its rotation at sign-in,
// its revocation at sign-out and when the account is disabled.
func TestSession(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.client()
	// A cookie planted before sign-in is not promoted.
	u, _ := url.Parse(e.srv.URL + "/admin/")
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: console.CookieName, Value: "planted", Path: "/admin/"}})
	code, _, resp := b.do(http.MethodPost, "/admin/login", url.Values{"username": {"rita"}, "password": {password}, "next": {"/admin/search?q=x"}}, nil)
	if code != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/search?q=x" {
		t.Fatalf("sign-in: %d to %q", code, resp.Header.Get("Location"))
	}
	first := cookieOf(resp)
	if first == nil || !first.HttpOnly || first.SameSite != http.SameSiteLaxMode || first.Path != "/admin/" || first.Secure || first.MaxAge <= 0 || first.Value == "planted" {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/admin/, expiring, not Secure over plain HTTP, fresh", first)
	}
	// Signing in again rotates the session: the old cookie stops working.
	_, _, resp = b.do(http.MethodPost, "/admin/login", url.Values{"username": {"rita"}, "password": {password}}, nil)
	second := cookieOf(resp)
	if second == nil || second.Value == first.Value {
		t.Fatalf("the session was not rotated at sign-in")
	}
	old := e.client()
	old.c.Jar.SetCookies(u, []*http.Cookie{first})
	if code, _, _ := old.do(http.MethodGet, "/admin/", nil, nil); code != http.StatusSeeOther {
		t.Errorf("the replaced session still works: %d", code)
	}
	// Sign-out revokes server-side: the cookie, replayed, is refused.
	if code, _, _ := b.do(http.MethodGet, "/admin/", nil, nil); code != http.StatusOK {
		t.Fatalf("queue: %d", code)
	}
	if code, _, _ := b.do(http.MethodPost, "/admin/logout", url.Values{"csrf": {"wrong"}}, nil); code != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %d, want 403", code)
	}
	if code, _, _ := b.do(http.MethodPost, "/admin/logout", url.Values{"csrf": {b.csrf}}, nil); code != http.StatusSeeOther {
		t.Errorf("sign-out: %d", code)
	}
	replay := e.client()
	replay.c.Jar.SetCookies(u, []*http.Cookie{second})
	if code, _, _ := replay.do(http.MethodGet, "/admin/", nil, nil); code != http.StatusSeeOther {
		t.Errorf("a signed-out session still works: %d", code)
	}
	// Disabling the account ends its sessions at their next request.
	b.signIn("vic")
	if _, err := e.st.DisableAccount(context.Background(), "vic"); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := b.do(http.MethodGet, "/admin/", nil, nil); code != http.StatusSeeOther {
		t.Errorf("a disabled account's session still works: %d", code)
	}
	// A bearer token is the API's credential, not the console's; the
	// session cookie is not the API's.
	tb := e.client()
	if code, _, _ := tb.do(http.MethodGet, "/admin/", nil, map[string]string{"Authorization": "Bearer " + e.token}); code != http.StatusSeeOther {
		t.Errorf("console with a bearer token: %d, want a redirect to sign in", code)
	}
	b.signIn("alice")
	if code, _, _ := b.do(http.MethodGet, "/v1/whoami", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("API with the session cookie: %d, want 401", code)
	}
}

func TestSecureCookieOption(t *testing.T) {
	e := newEnv(t, envOpts{consoleOpts: func(o *console.Options) { o.SecureCookies = true }})
	_, _, resp := e.client().do(http.MethodPost, "/admin/login", url.Values{"username": {"rita"}, "password": {password}}, nil)
	if c := cookieOf(resp); c == nil || !c.Secure {
		t.Errorf("cookie %+v: want Secure", c)
	}
}

// TestSignInRateLimit: after MaxFailures wrong passwords an account is
// refused even the right one, without telling whether it exists; an
// address that tries many names is refused too.
func TestSignInRateLimit(t *testing.T) {
	e := newEnv(t, envOpts{consoleOpts: func(o *console.Options) { o.MaxFailures = 3 }})
	b := e.client()
	try := func(name, pw string) int {
		code, _, _ := b.do(http.MethodPost, "/admin/login", url.Values{"username": {name}, "password": {pw}}, nil)
		return code
	}
	for i := range 3 {
		if code := try("rita", "wrong password!"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, code)
		}
	}
	code, body, resp := b.do(http.MethodPost, "/admin/login", url.Values{"username": {"rita"}, "password": {password}}, nil)
	if code != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || cookieOf(resp) != nil {
		t.Fatalf("right password after 3 failures: %d (Retry-After %q)\n%s", code, resp.Header.Get("Retry-After"), body)
	}
	// The same answer for a name that does not exist.
	for range 3 {
		try("nobody-here", "wrong password!")
	}
	if code := try("nobody-here", "wrong password!"); code != http.StatusTooManyRequests {
		t.Errorf("missing account after 3 failures: %d, want 429 like a real one", code)
	}
	// Another account from the same address: the address has 6 failures,
	// under its limit of 12, so alice may still sign in...
	if code := try("alice", password); code != http.StatusSeeOther {
		t.Errorf("alice: %d", code)
	}
	// ...until the address passes its own limit over many names.
	for i := range 6 {
		try("name"+string(rune('a'+i)), "wrong password!")
	}
	if code := try("vic", password); code != http.StatusTooManyRequests {
		t.Errorf("after 12 failures from one address: %d, want 429", code)
	}
}

// TestAttacks replays the console's attacks: cross-site POSTs, forms
// without the session's token, a forged Host, an open redirect through
// next, a form that names its own reviewer, and keys that disguise
// themselves.
func TestAttacks(t *testing.T) {
	e := newEnv(t, envOpts{})
	rec := e.reviewing("attacks/invoice\u202Efdp.exe")
	r := e.client()
	r.signIn("rita")
	path := "/admin/records/" + rec.ID + "/decision"
	form := func() url.Values {
		return url.Values{"csrf": {r.csrf}, "decision": {"release"}, "comment": {"x"}, "reviewer": {"bob-the-ciso"}}
	}
	for _, c := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"Origin of another site", map[string]string{"Sec-Fetch-Site": "", "Origin": "http://evil.example"}, http.StatusForbidden},
		{"same-site subdomain", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"forged Host (DNS rebinding)", map[string]string{"Host": "evil.example"}, http.StatusMisdirectedRequest},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form().Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		for k, v := range c.hdr {
			if k == "Host" {
				req.Host = v
			} else if v == "" {
				req.Header.Del(k)
			} else {
				req.Header.Set(k, v)
			}
		}
		u, _ := url.Parse(e.srv.URL + "/admin/")
		for _, ck := range r.c.Jar.Cookies(u) {
			req.AddCookie(ck)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
	// A form without the session's CSRF token (a page that learnt the
	// path but not the token).
	f := form()
	f.Del("csrf")
	if code, _, _ := r.do(http.MethodPost, path, f, nil); code != http.StatusForbidden {
		t.Errorf("POST without the CSRF token: %d, want 403", code)
	}
	f.Set("csrf", "guessed")
	if code, _, _ := r.do(http.MethodPost, path, f, nil); code != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token: %d, want 403", code)
	}
	if got, _ := e.st.Get(context.Background(), rec.ID); got.State != domain.StatusReviewing {
		t.Fatalf("a refused POST changed the record: %s", got.State)
	}
	// A decision without a comment is refused.
	if code, _, _ := r.do(http.MethodPost, path, url.Values{"csrf": {r.csrf}, "decision": {"release"}, "comment": {"  "}}, nil); code != http.StatusBadRequest {
		t.Errorf("decision without a comment: %d, want 400", code)
	}
	// The form's "reviewer" is ignored: the decision names the session.
	if code, body, _ := r.do(http.MethodPost, path, form(), nil); code != http.StatusSeeOther {
		t.Fatalf("release: %d\n%s", code, body)
	}
	got := e.wait(rec.ID, domain.StatusReleased)
	for _, h := range got.History {
		if h.Actor == "bob-the-ciso" {
			t.Errorf("history names the form's reviewer: %+v", h)
		}
	}
	if item, _ := e.st.Review(context.Background(), rec.ID); item.Reviewer != "rita" {
		t.Errorf("review decided by %q, want rita", item.Reviewer)
	}
	// The key is shown escaped, never with its bidi override.
	_, body, _ := r.do(http.MethodGet, "/admin/records/"+rec.ID, nil, nil)
	if strings.Contains(body, "\u202E") || !strings.Contains(body, `invoice\u{202E}fdp.exe`) {
		t.Errorf("the record page shows the key unescaped")
	}
	// next cannot leave the console.
	for _, next := range []string{"//evil.example/", "https://evil.example/admin/", "/\\evil.example", "/admin/../v1/records", "javascript:alert(1)"} {
		code, _, resp := e.client().do(http.MethodPost, "/admin/login", url.Values{"username": {"rita"}, "password": {password}, "next": {next}}, nil)
		if loc := resp.Header.Get("Location"); code != http.StatusSeeOther || loc != "/admin/" {
			t.Errorf("next=%q: %d to %q, want /admin/", next, code, loc)
		}
	}
}

// TestSignedLink: a notification's link leads to the record (which asks
// for sign-in); a tampered or expired one leads nowhere.
func TestSignedLink(t *testing.T) {
	key := []byte("link key for the test")
	e := newEnv(t, envOpts{consoleOpts: func(o *console.Options) { o.LinkKey = key }})
	b := e.client()
	good := notify.SignedLink(key, "abc123", time.Now().Add(time.Hour))
	code, _, resp := b.do(http.MethodGet, good, nil, nil)
	if code != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/records/abc123" {
		t.Errorf("good link: %d to %q", code, resp.Header.Get("Location"))
	}
	for name, link := range map[string]string{
		"tampered": strings.Replace(good, "abc123", "abc124", 1),
		"expired":  notify.SignedLink(key, "abc123", time.Now().Add(-time.Minute)),
		"foreign":  notify.SignedLink([]byte("another key"), "abc123", time.Now().Add(time.Hour)),
	} {
		if code, _, _ := b.do(http.MethodGet, link, nil, nil); code != http.StatusNotFound {
			t.Errorf("%s link: %d, want 404", name, code)
		}
	}
}

// The dashboard reports the retro-hunt's progress.
func TestDashboardShowsRetroHunt(t *testing.T) {
	e := newEnv(t, envOpts{})
	v := e.client()
	v.signIn("vic")
	code, body, _ := v.do(http.MethodGet, "/admin/dashboard", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("dashboard: %d", code)
	}
	for _, id := range []string{`id="retro-pending"`, `id="retro-started"`, `id="retro-detected"`} {
		if !strings.Contains(body, id) {
			t.Errorf("dashboard lacks %s", id)
		}
	}
}
