package console_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/scangate/scangate/domain"
)

// chromiumPath is Debian's chromium, which `make test` installs.
const chromiumPath = "/usr/bin/chromium"

var screenshots = flag.String("console.screenshots", "", "write the browser tests' screenshots into this directory (docs/console to refresh the documentation's)")

// browser starts a headless chromium with a fresh profile and returns a
// tab's context. A missing chromium fails the test: skipping would let
// `make test` pass without the console ever having been in a browser.
func browser(t *testing.T) (context.Context, *responses) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium is needed for the browser tests (apt-get install -y chromium, or make deps): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	res := &responses{status: map[string]int64{}}
	if err := chromedp.Listen(ctx, func(ev any) {
		if r, ok := ev.(*network.EventResponseReceived); ok && r.Type == network.ResourceTypeDocument {
			res.set(r.Response.URL, r.Response.Status)
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, res
}

// responses records the status of every document the tab loaded.
type responses struct {
	mu     sync.Mutex
	status map[string]int64
}

func (r *responses) set(u string, s int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[u] = s
}

func (r *responses) get(u string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status[u]
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// axe runs axe-core (vendored from npm into testdata) in the page and
// fails on any violation of WCAG 2.x A and AA or best practice.
func axe(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	for _, v := range axeViolations(t, ctx, name) {
		t.Errorf("axe on %s: %v (%v): %v; nodes %v", name, v["id"], v["impact"], v["help"], v["nodes"])
	}
}

func axeViolations(t *testing.T, ctx context.Context, name string) []map[string]any {
	t.Helper()
	src, err := os.ReadFile("testdata/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "load axe-core into "+name, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](string(src))(ctx, tg)
		return err
	}))
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}})
			.then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html)}))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe on %s: %v", name, err)
	}
	var vs []map[string]any
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatalf("axe on %s: %v: %s", name, err, out)
	}
	return vs
}

func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if *screenshots == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(80))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(*screenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*screenshots, name+".jpg"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

func signIn(t *testing.T, ctx context.Context, base, name string) {
	t.Helper()
	run(t, ctx, "sign in as "+name,
		chromedp.Navigate(base+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#who")),
	)
}

func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	run(t, ctx, "sign out", chromedp.Click(chromedp.CSS(".signout button")), chromedp.WaitVisible(chromedp.CSS("#username")))
}

// TestBrowserConsole drives the console in chromium through a review
// from start to end, against the whole local pipeline with a real clamd.
func TestBrowserConsole(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx, res := browser(t)
	base := e.srv.URL

	// axe-core finds what it should: a page without a language, a title
	// or an image's text fails.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><html><body><img src="data:,"><input></body></html>`)
	}))
	defer bad.Close()
	run(t, ctx, "a bad page", chromedp.Navigate(bad.URL))
	if vs := axeViolations(t, ctx, "a bad page"); len(vs) < 3 {
		t.Errorf("axe-core found %d violations on a page with no lang, no title, an image without alt and an unlabelled input: %v", len(vs), vs)
	}

	// The sign-in form, then the empty queue.
	run(t, ctx, "open the console", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS("#username")))
	axe(t, ctx, "sign-in")
	shot(t, ctx, "login")
	signIn(t, ctx, base, "rita")
	if got := text(t, ctx, "#who"); !strings.Contains(got, "rita") || !strings.Contains(got, "reviewer") {
		t.Errorf("signed in as %q", got)
	}

	// EICAR arrives in the queue.
	const key = "reports/q3-invoice.com"
	id := e.upload(key, eicar)
	e.wait(id, domain.StatusReviewing)
	run(t, ctx, "queue", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS("#queue")))
	if got := text(t, ctx, "#count"); !strings.HasPrefix(got, "1 open review") {
		t.Errorf("queue count %q", got)
	}
	if got := text(t, ctx, "#queue tbody"); !strings.Contains(got, key) || !strings.Contains(got, "EICAR") {
		t.Errorf("queue row %q: want the key and the signature", got)
	}
	axe(t, ctx, "queue")
	shot(t, ctx, "queue")

	// Open it: the object, its signatures and its history.
	run(t, ctx, "open the item", chromedp.Click(chromedp.CSS(`#queue tbody a`)), chromedp.WaitVisible(chromedp.CSS("#history")))
	if got := text(t, ctx, "#state"); got != "reviewing" {
		t.Errorf("state %q, want reviewing", got)
	}
	hist := text(t, ctx, "#history")
	for _, want := range []string{"pending", "scanning", "infected", "reviewing"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if n := count(t, ctx, "table.exec"); n < 2 {
		t.Errorf("%d workflow executions shown, want the scan and the review", n)
	}
	axe(t, ctx, "record")
	shot(t, ctx, "record")

	// Release it with a comment: the page shows the outcome, and the
	// history names the reviewer.
	run(t, ctx, "release",
		chromedp.Click(chromedp.CSS("#d-release")),
		chromedp.SendKeys(chromedp.CSS("#comment"), "known test file, false positive"),
		chromedp.Submit(chromedp.CSS("#comment")),
		chromedp.WaitVisible(chromedp.CSS("#outcome")),
	)
	if got := text(t, ctx, "#state"); got != "released" {
		t.Errorf("after release: state %q (outcome %q)", got, text(t, ctx, "#outcome"))
	}
	if got := text(t, ctx, "#history"); !strings.Contains(got, "rita") || !strings.Contains(got, "known test file") {
		t.Errorf("history after release does not show who and why:\n%s", got)
	}
	if got := text(t, ctx, "#decision"); !strings.Contains(got, "release") || !strings.Contains(got, "rita") {
		t.Errorf("decision %q", got)
	}
	axe(t, ctx, "record after release")
	shot(t, ctx, "released")

	// The same bytes again: under review once more, since a release
	// vouches for one version only.
	id2 := e.upload("reports/q3-invoice-again.com", eicar)
	e.wait(id2, domain.StatusReviewing)

	// A viewer sees no action, and the server refuses the viewer's
	// forged decision.
	signOut(t, ctx)
	signIn(t, ctx, base, "vic")
	run(t, ctx, "viewer opens the item", chromedp.Navigate(base+"/admin/records/"+id2), chromedp.WaitVisible(chromedp.CSS("#history")))
	if n := count(t, ctx, "#decide, button[type=submit]:not(.signout button)"); n != 0 {
		t.Errorf("the viewer sees %d action forms or buttons", n)
	}
	axe(t, ctx, "record as viewer")
	shot(t, ctx, "viewer")
	decideURL := base + "/admin/records/" + id2 + "/decision"
	forge := fmt.Sprintf(`(() => {
		const f = document.createElement("form");
		f.method = "post"; f.action = %q;
		for (const [k, v] of [["csrf", document.querySelector("input[name=csrf]").value], ["decision", "release"], ["comment", "forged"]]) {
			const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i);
		}
		document.body.appendChild(f); f.submit(); return true;
	})()`, decideURL)
	run(t, ctx, "forged viewer POST", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](forge)(ctx, tg)
		return err
	}), chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := res.get(decideURL); got != http.StatusForbidden {
		t.Errorf("viewer's forged POST: %d, want 403", got)
	}
	if rec, _ := e.st.Get(context.Background(), id2); rec.State != domain.StatusReviewing {
		t.Errorf("the viewer's POST changed the record: %s", rec.State)
	}

	// A page on another origin posts a decision with the reviewer's
	// browser: refused.
	signOut(t, ctx)
	signIn(t, ctx, base, "rita")
	evil := evilSite(t, decideURL)
	run(t, ctx, "cross-origin POST", chromedp.Navigate(evil), chromedp.Click(chromedp.CSS("#go")), chromedp.WaitReady(chromedp.CSS("body")))
	deadline := time.Now().Add(10 * time.Second)
	for res.get(decideURL) == http.StatusForbidden && time.Now().Before(deadline) {
		// The viewer's 403 is still the last status; wait for the new one.
		if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc == decideURL {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	body := text(t, ctx, "body")
	if got := res.get(decideURL); got != http.StatusForbidden || !strings.Contains(body, "cross-origin") {
		t.Errorf("cross-origin POST: %d %q, want 403 cross-origin request refused", got, body)
	}
	if rec, _ := e.st.Get(context.Background(), id2); rec.State != domain.StatusReviewing {
		t.Errorf("the cross-origin POST changed the record: %s", rec.State)
	}

	// Allowlist its hash; a third upload of the same bytes then passes.
	run(t, ctx, "allowlist",
		chromedp.Navigate(base+"/admin/records/"+id2),
		chromedp.WaitVisible(chromedp.CSS("#decide")),
		chromedp.Click(chromedp.CSS("#d-allowlist")),
		chromedp.SendKeys(chromedp.CSS("#comment"), "our own test fixture"),
		chromedp.Submit(chromedp.CSS("#comment")),
		chromedp.WaitVisible(chromedp.CSS("#outcome")),
	)
	if got := text(t, ctx, "#state"); got != "allowlisted" {
		t.Errorf("after allowlisting: state %q", got)
	}
	sum := text(t, ctx, "#sha256")
	id3 := e.upload("reports/q3-invoice-third.com", eicar)
	rec3 := e.wait(id3, domain.StatusAllowlisted, domain.StatusReviewing, domain.StatusClean)
	if rec3.State != domain.StatusAllowlisted {
		t.Errorf("the allowlisted bytes uploaded again are %s, want allowlisted", rec3.State)
	}
	run(t, ctx, "search by hash", chromedp.Navigate(base+"/admin/search?q="+sum), chromedp.WaitVisible(chromedp.CSS("#found")))
	if got := text(t, ctx, "#results"); strings.Count(got, "allowlisted") < 2 || !strings.Contains(got, "released") {
		t.Errorf("search by hash:\n%s\nwant the released and the two allowlisted records", got)
	}
	axe(t, ctx, "search")
	shot(t, ctx, "search")
	run(t, ctx, "allowlist page", chromedp.Navigate(base+"/admin/allowlist"), chromedp.WaitVisible(chromedp.CSS("#allowlist")))
	if got := text(t, ctx, "#allowlist"); !strings.Contains(got, sum) || !strings.Contains(got, "rita") || !strings.Contains(got, "our own test fixture") {
		t.Errorf("allowlist page:\n%s", got)
	}
	axe(t, ctx, "allowlist")
	shot(t, ctx, "allowlist")
	run(t, ctx, "dashboard", chromedp.Navigate(base+"/admin/dashboard"), chromedp.WaitVisible(chromedp.CSS("#counts")))
	if got := text(t, ctx, "#clamd"); got != "answering" {
		t.Errorf("dashboard clamd %q", got)
	}
	axe(t, ctx, "dashboard")
	shot(t, ctx, "dashboard")
	run(t, ctx, "notifications", chromedp.Navigate(base+"/admin/deliveries"), chromedp.WaitVisible(chromedp.CSS("main")))
	axe(t, ctx, "notifications")

	// Without a mouse: the first Tab reaches the skip link.
	run(t, ctx, "keyboard", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS("#count")), chromedp.KeyEvent("\t"))
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if focused != "Skip to content" {
		t.Errorf("first Tab focuses %q, want the skip link", focused)
	}
}

// evilSite serves a page on another origin (localhost rather than
// 127.0.0.1, so another site, too) with a form that posts to target.
func evilSite(t *testing.T, target string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>win a prize</title><form method="post" action="%s">
<input type="hidden" name="decision" value="release"><input type="hidden" name="comment" value="cross-site">
<button id="go">go</button></form>`, target)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	return "http://localhost:" + port + "/"
}
