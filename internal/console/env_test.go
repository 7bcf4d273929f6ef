package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/authn"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/console"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/httpapi"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/store"
)

// eicar is the antivirus test string, assembled so that this file is not
// itself detected.
var eicar = []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$` + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")

const (
	bucket   = "uploads"
	password = "correct horse battery"
)

// env is the whole local pipeline as `scangate run` assembles it: a real
// clamd, the embedded store, a local bucket, the committed workflows, the
// HTTP API with the console mounted, on a loopback server.
type env struct {
	t     testing.TB
	st    *store.Store
	h     *lambdas.Handlers
	srv   *httptest.Server
	con   *console.Console
	token string // an admin API token
}

type envOpts struct {
	consoleOpts func(*console.Options)
	cfg         func(*lambdas.Config)
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	client, err := clamd.New(clamdtest.Start(t, nil).Addr(), clamd.Options{IOTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(client, engine.Options{DatabaseDir: clamdtest.SignaturesDir(t), DevMode: true})
	if err != nil {
		t.Fatal(err)
	}
	lenv := localtest.Open(t, &localtest.Options{Sync: true, Store: &store.Options{PasswordCost: bcrypt.MinCost}})
	st, objs := lenv.Store, lenv.Bucket
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := lambdas.Config{
		Store: st, Objects: objs, Scanner: eng, Logger: log,
		QuarantineBucket: "quarantine", LeaseTTL: time.Minute, Owner: "test",
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	flows, h, err := local.New(st, cfg, local.WorkflowOptions{
		Workers: 4, TimeScale: 0.01, SweepEvery: time.Hour, Drain: 5 * time.Second,
		HistoryDir: filepath.Join(lenv.Dir, "history"), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	copts := console.Options{
		Handlers: h, Store: st, Accounts: st, History: flows, Engine: eng, Clamd: client, Logger: log,
		OutcomeWait: 20 * time.Second,
	}
	if o.consoleOpts != nil {
		o.consoleOpts(&copts)
	}
	con, err := console.New(copts)
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.NewAPI(h, st, objs, httpapi.APIOptions{
		Bucket: bucket, Logger: log, History: flows, Console: con,
		Auth: &authn.Authenticator{Tokens: st},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := flows.Run(ctx); err != nil {
			t.Errorf("workflows: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
	})
	e := &env{t: t, st: st, h: h, srv: srv, con: con}
	for _, a := range []struct {
		name string
		role domain.Role
	}{{"alice", domain.RoleAdmin}, {"rita", domain.RoleReviewer}, {"vic", domain.RoleViewer}, {"hook", domain.RoleIngest}} {
		if _, err := st.AddAccount(context.Background(), a.name, a.role, []byte(password)); err != nil {
			t.Fatal(err)
		}
	}
	if e.token, _, err = st.IssueToken(context.Background(), "alice", "test"); err != nil {
		t.Fatal(err)
	}
	return e
}

// upload PUTs body under key through the API and returns the record ID.
func (e *env) upload(key string, body []byte) string {
	e.t.Helper()
	u := e.srv.URL + "/v1/objects/" + strings.ReplaceAll(url.PathEscape(key), "%2F", "/")
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec domain.Record
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&rec) != nil {
		e.t.Fatalf("upload %q: %s", key, resp.Status)
	}
	return rec.ID
}

// wait waits until the record is in one of the states.
func (e *env) wait(id string, states ...domain.Status) *domain.Record {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rec, err := e.st.Get(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, s := range states {
			if rec.State == s {
				return rec
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("record %s is %s after 60 s; want one of %v; history %+v", id, rec.State, states, rec.History)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// browserless is a client with a cookie jar that behaves like a
// same-origin browser: its POSTs say Sec-Fetch-Site: same-origin.
type browserless struct {
	t    testing.TB
	e    *env
	c    *http.Client
	csrf string
}

func (e *env) client() *browserless {
	jar, _ := cookiejar.New(nil)
	return &browserless{t: e.t, e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browserless) do(method, path string, form url.Values, hdr map[string]string) (int, string, *http.Response) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(raw); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(raw), resp
}

// signIn signs in as name and reads a CSRF token from the queue page.
func (b *browserless) signIn(name string) {
	b.t.Helper()
	code, body, _ := b.do(http.MethodPost, "/admin/login", url.Values{"username": {name}, "password": {password}}, nil)
	if code != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: %d %s", name, code, body)
	}
	if code, body, _ := b.do(http.MethodGet, "/admin/", nil, nil); code != http.StatusOK {
		b.t.Fatalf("queue after sign-in as %s: %d %s", name, code, body)
	}
	if b.csrf == "" {
		b.t.Fatal("no CSRF token on the queue page")
	}
}
