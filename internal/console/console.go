// Package console is scangate's admin console: server-rendered pages
// (html/template, embedded) for the review queue, one record with its
// history and executions, decisions, the allowlist, a records search and a
// dashboard, with a sign-in of its own.
//
// The same package serves `scangate run` at /admin/ (accounts from the
// store, password sign-in, server-side sessions) and the review function
// on AWS (OpenID Connect sign-in). Every decision goes through
// lambdas.Handlers.Review with the principal of the session, never one
// named in a form. The pages need no JavaScript.
package console

import (
	"context"
	"crypto/hmac"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/notify"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is served; notification links and scripts
// rely on the addresses under it.
const Prefix = "/admin/"

// CookieName is the session cookie's name.
const CookieName = "scangate_session"

// Accounts checks local sign-ins; *store.Store is one.
type Accounts interface {
	CheckPassword(ctx context.Context, name string, password []byte) (*domain.Account, error)
	Account(ctx context.Context, name string) (*domain.Account, error)
}

// Options configure the console.
type Options struct {
	// Handlers carry out decisions (Review) and are required.
	Handlers *lambdas.Handlers
	// Store is read for records, reviews and the allowlist; required.
	Store *store.Store
	// Accounts checks password sign-ins; nil turns the password form off
	// (OIDC only). *store.Store is one.
	Accounts Accounts
	// OIDC, when set, signs in through an OpenID Connect issuer.
	OIDC *OIDC
	// Sessions keeps sessions; nil means in memory (NewMemorySessions).
	Sessions SessionStore
	// SessionKey, when set, keeps sessions in their cookies instead,
	// encrypted with this key, for a console served by instances that
	// share no memory (the review function). Every instance needs the
	// same key. Signing out cannot then revoke a copied cookie: it lasts
	// until the session's expiry (see sealer).
	SessionKey []byte
	// SessionTTL bounds a session from sign-in (default 8 h); IdleTTL
	// from its last request (default 1 h).
	SessionTTL, IdleTTL time.Duration
	// SecureCookies marks the cookie Secure even when the request did not
	// arrive over TLS here: behind a TLS-terminating proxy or on AWS.
	// Requests that did arrive over TLS always get Secure cookies.
	SecureCookies bool
	// History serves workflow execution histories; nil shows none.
	History interface {
		History(id string) ([]local.ExecutionHistory, error)
	}
	// ExecutionURL, when set, links an execution ARN to its page in the
	// Step Functions console (on AWS).
	ExecutionURL func(arn string) string
	// Engine and Clamd, when set, feed the dashboard's signature and
	// clamd health figures.
	Engine interface {
		Describe(ctx context.Context) (engine.Info, error)
	}
	Clamd interface {
		Ping(ctx context.Context) error
	}
	// Deliveries, when set, lists the result notifications sent, for the
	// deliveries page.
	Deliveries DeliveryLog
	// LinkKey checks the links notifications carry (notify.SignedLink);
	// nil accepts none.
	LinkKey []byte
	// MaxFailures bounds failed sign-ins per account (default 5) and,
	// four times that, per address, within FailureWindow (default 15
	// min).
	MaxFailures   int
	FailureWindow time.Duration
	// OutcomeWait is how long a decision waits for the workflow to carry
	// it out before the page says it is still under way (default 10 s).
	OutcomeWait time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// DeliveryLog lists recent result notifications, newest first;
// *notify.Webhook is one.
type DeliveryLog interface {
	Deliveries(limit int) []notify.Delivery
}

// Console serves the admin pages.
type Console struct {
	opts     Options
	log      *slog.Logger
	pages    map[string]*template.Template
	sealer   *sealer
	mux      *http.ServeMux
	handler  http.Handler
	acctFail *limiter
	addrFail *limiter
	audit    *auditLog
}

// New builds the console.
func New(opts Options) (*Console, error) {
	if opts.Handlers == nil || opts.Store == nil {
		return nil, errors.New("console: handlers and store are required")
	}
	if opts.Accounts == nil && opts.OIDC == nil {
		return nil, errors.New("console: no way to sign in: give Accounts or OIDC")
	}
	if opts.Sessions == nil {
		opts.Sessions = NewMemorySessions()
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 8 * time.Hour
	}
	if opts.IdleTTL <= 0 {
		opts.IdleTTL = time.Hour
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 5
	}
	if opts.FailureWindow <= 0 {
		opts.FailureWindow = 15 * time.Minute
	}
	if opts.OutcomeWait <= 0 {
		opts.OutcomeWait = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Console{
		opts: opts, log: opts.Logger, mux: http.NewServeMux(),
		acctFail: newLimiter(opts.MaxFailures, opts.FailureWindow, opts.Now),
		addrFail: newLimiter(4*opts.MaxFailures, opts.FailureWindow, opts.Now),
		audit:    &auditLog{},
	}
	var err error
	if len(opts.SessionKey) > 0 {
		if c.sealer, err = newSealer(opts.SessionKey); err != nil {
			return nil, err
		}
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.routes()
	c.handler = c.protect(c.mux)
	return c, nil
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

func (c *Console) routes() {
	m := c.mux
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /admin/static/", http.StripPrefix("/admin/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /admin/login", c.loginPage)
	m.HandleFunc("POST /admin/login", c.login)
	m.HandleFunc("GET /admin/oidc/callback", c.oidcCallback)
	m.HandleFunc("POST /admin/logout", c.logout)
	m.HandleFunc("GET /admin/link/{token}", c.followLink)
	viewer := func(h func(http.ResponseWriter, *http.Request, *view)) http.HandlerFunc {
		return c.page(domain.RoleViewer, h)
	}
	reviewer := func(h func(http.ResponseWriter, *http.Request, *view)) http.HandlerFunc {
		return c.page(domain.RoleReviewer, h)
	}
	m.HandleFunc("GET /admin/{$}", viewer(c.queue))
	m.HandleFunc("GET /admin/records/{id}", viewer(c.record))
	m.HandleFunc("POST /admin/records/{id}/decision", reviewer(c.decide))
	m.HandleFunc("GET /admin/allowlist", viewer(c.allowlist))
	m.HandleFunc("POST /admin/allowlist/{sha}/remove", reviewer(c.removeAllowlist))
	m.HandleFunc("GET /admin/search", viewer(c.search))
	m.HandleFunc("GET /admin/dashboard", viewer(c.dashboard))
	m.HandleFunc("GET /admin/deliveries", viewer(c.deliveries))
	m.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "error", &view{Title: "Not found", Error: "There is no such page."})
	})
}

// protect adds the console's own defences, which hold wherever it is
// mounted (behind the local API's guard, or alone in the review
// function): cross-origin state changes are refused, pages may not be
// framed, run scripts or be cached, and nothing is sniffed.
func (c *Console) protect(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.log.Info("console: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", quote(r.Header.Get("Origin")), "secFetchSite", quote(r.Header.Get("Sec-Fetch-Site")))
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	inner := cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		inner.ServeHTTP(w, r)
	})
}

// view is what every template gets.
type view struct {
	Title     string
	Principal domain.Principal
	CSRF      string
	// CanDecide shows the action forms; the server checks the role again.
	CanDecide bool
	Error     string
	Notice    string
	Data      any
}

// page serves h to a signed-in principal whose role allows need. A page
// (GET) without a session redirects to the sign-in form; a state change
// without one is refused (401), and so is one without the session's CSRF
// token or, with too small a role, 403.
func (c *Console) page(need domain.Role, h func(http.ResponseWriter, *http.Request, *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, sess, ok := c.principal(w, r)
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/admin/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.render(w, r, http.StatusUnauthorized, "error", &view{Title: "Sign in first", Error: "Sign in to do this."})
			return
		}
		v := &view{Principal: p, CSRF: sess.CSRF, CanDecide: p.Can(domain.RoleReviewer)}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				c.render(w, r, http.StatusBadRequest, "error", &view{Title: "Bad request", Error: "The form could not be read."})
				return
			}
			if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(sess.CSRF)) {
				c.log.Info("console: form without this session's CSRF token", "path", r.URL.Path, "principal", p.Name)
				c.render(w, r, http.StatusForbidden, "error", &view{Principal: p, CSRF: sess.CSRF, Title: "Refused", Error: "The form is stale or was not sent by this console. Reload the page and try again."})
				return
			}
		}
		if !p.Can(need) {
			c.log.Info("console: role too small", "path", r.URL.Path, "principal", p.Name, "role", p.Role, "need", need)
			v.Title, v.Error = "Not allowed", fmt.Sprintf("%s (%s) may not do this: it needs the %s role.", p.Name, p.Role, need)
			c.render(w, r, http.StatusForbidden, "error", v)
			return
		}
		h(w, r, v)
	}
}

// principal returns the request's signed-in principal, touching its
// session. A session whose account was disabled or removed is ended.
func (c *Console) principal(w http.ResponseWriter, r *http.Request) (domain.Principal, Session, bool) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 3000 {
		return domain.Principal{}, Session{}, false
	}
	now := c.opts.Now()
	var key string
	var s Session
	var ok bool
	if c.sealer != nil {
		s, ok = c.sealer.open(ck.Value)
	} else {
		key = sessionKey(ck.Value)
		s, ok = c.opts.Sessions.Get(key)
	}
	if !ok {
		return domain.Principal{}, Session{}, false
	}
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeen) >= c.opts.IdleTTL {
		if c.sealer == nil {
			c.opts.Sessions.Delete(key)
		}
		return domain.Principal{}, Session{}, false
	}
	var p domain.Principal
	switch {
	case s.Principal != nil:
		p = *s.Principal
	case c.opts.Accounts != nil:
		a, err := c.opts.Accounts.Account(r.Context(), s.Account)
		if err != nil || a.Disabled {
			if c.sealer == nil && (err == nil || errcode.Of(err) == errcode.NotFound) {
				c.opts.Sessions.Delete(key)
			}
			return domain.Principal{}, Session{}, false
		}
		p = domain.Principal{Name: a.Name, Role: a.Role, Via: "session"}
	default:
		return domain.Principal{}, Session{}, false
	}
	s.LastSeen = now
	if c.sealer != nil {
		// The idle expiry slides with a fresh cookie.
		c.setCookie(w, r, c.sealer.seal(s), s.ExpiresAt)
	} else {
		c.opts.Sessions.Put(key, s)
	}
	return p, s, true
}

// startSession signs a browser in: any session it had is ended first, so
// that a session identifier planted before sign-in is never promoted.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, s Session) {
	if ck, err := r.Cookie(CookieName); err == nil && ck.Value != "" && c.sealer == nil {
		c.opts.Sessions.Delete(sessionKey(ck.Value))
	}
	now := c.opts.Now()
	s.CSRF, s.Created, s.LastSeen, s.ExpiresAt = newSecret(), now, now, now.Add(c.opts.SessionTTL)
	if c.sealer != nil {
		c.setCookie(w, r, c.sealer.seal(s), s.ExpiresAt)
		return
	}
	secret := newSecret()
	c.opts.Sessions.Put(sessionKey(secret), s)
	c.setCookie(w, r, secret, s.ExpiresAt)
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: value, Path: Prefix, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: c.secure(r), Expires: expires, MaxAge: int(expires.Sub(c.opts.Now()) / time.Second),
	})
}

func (c *Console) secure(r *http.Request) bool { return c.opts.SecureCookies || r.TLS != nil }

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.secure(r), MaxAge: -1})
}

type loginData struct {
	Next     string
	Username string
	Password bool // the password form is offered
	OIDC     bool
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if c.opts.Accounts == nil && c.opts.OIDC != nil {
		// Only one way in: go straight to the issuer.
		c.oidcStart(w, r, next)
		return
	}
	c.render(w, r, http.StatusOK, "login", &view{Title: "Sign in", Data: loginData{
		Next: next, Password: c.opts.Accounts != nil, OIDC: c.opts.OIDC != nil}})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.render(w, r, http.StatusBadRequest, "error", &view{Title: "Bad request", Error: "The form could not be read."})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if r.PostForm.Get("oidc") != "" && c.opts.OIDC != nil {
		c.oidcStart(w, r, next)
		return
	}
	name, password := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password")
	again := func(code int, msg string) {
		c.render(w, r, code, "login", &view{Title: "Sign in", Error: msg, Data: loginData{
			Next: next, Username: name, Password: c.opts.Accounts != nil, OIDC: c.opts.OIDC != nil}})
	}
	if c.opts.Accounts == nil {
		again(http.StatusNotFound, "Password sign-in is off here.")
		return
	}
	addr := remoteIP(r)
	acctKey, addrKey := "acct:"+strings.ToLower(name), "addr:"+addr
	if wait := max(c.acctFail.retryAfter(acctKey), c.addrFail.retryAfter(addrKey)); wait > 0 {
		c.log.Warn("console: sign-in refused: too many failures", "account", quote(name), "remote", addr)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		again(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Try again in %d minutes.", int(wait/time.Minute)+1))
		return
	}
	a, err := c.opts.Accounts.CheckPassword(r.Context(), name, []byte(password))
	if err != nil {
		if errors.Is(err, store.ErrBadCredentials) {
			c.acctFail.fail(acctKey)
			c.addrFail.fail(addrKey)
			c.log.Info("console: sign-in failed", "account", quote(name), "remote", addr)
			again(http.StatusUnauthorized, "Wrong username or password.")
			return
		}
		c.log.Error("console: sign-in: store", "err", err)
		again(http.StatusServiceUnavailable, "The store did not answer; try again.")
		return
	}
	c.acctFail.reset(acctKey)
	c.startSession(w, r, Session{Account: a.Name})
	c.log.Info("console: signed in", "account", a.Name, "role", a.Role, "remote", addr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	// Sign-out needs the session's CSRF token, so that another site
	// cannot sign a reviewer out mid-review.
	p, s, ok := c.principal(w, r)
	if ok {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if r.ParseForm() != nil || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(s.CSRF)) {
			c.render(w, r, http.StatusForbidden, "error", &view{Title: "Refused", Error: "The form is stale; reload and sign out again."})
			return
		}
		if ck, _ := r.Cookie(CookieName); c.sealer == nil {
			c.opts.Sessions.Delete(sessionKey(ck.Value))
		}
		c.log.Info("console: signed out", "principal", p.Name)
	}
	c.clearCookie(w, r)
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in destination inside the console, so that
// the sign-in form cannot be made an open redirect.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.User != nil ||
		!strings.HasPrefix(u.Path, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return Prefix
	}
	if strings.Contains(u.Path, "/..") || u.Path == "/admin/login" {
		return Prefix
	}
	return u.RequestURI()
}

// remoteIP is the peer address, never a header a client wrote: behind a
// proxy the limit counts the proxy, which is the safe way to be wrong.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// quote keeps a value an attacker wrote from forging log lines.
func quote(v string) string {
	if len(v) > 200 {
		v = v[:200]
	}
	return strconv.Quote(v)
}

func (c *Console) followLink(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(r.PathValue("token"), ".")
	bad := func(msg string) {
		c.render(w, r, http.StatusNotFound, "error", &view{Title: "Link not valid", Error: msg})
	}
	if len(c.opts.LinkKey) == 0 || len(parts) != 3 {
		bad("This link is not one the console issued.")
		return
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		bad("This link is not one the console issued.")
		return
	}
	want := notify.SignedLink(c.opts.LinkKey, parts[0], time.Unix(exp, 0))
	if !hmac.Equal([]byte(want), []byte(r.URL.Path)) {
		bad("This link is not one the console issued.")
		return
	}
	if c.opts.Now().Unix() > exp {
		bad("This link has expired; find the item in the queue.")
		return
	}
	// The record page asks for sign-in itself.
	http.Redirect(w, r, "/admin/records/"+url.PathEscape(parts[0]), http.StatusSeeOther)
}
