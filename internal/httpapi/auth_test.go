package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/intake"
)

// Every endpoint against every kind of caller: anonymous, each role, a
// wrong token, and the break-glass admin token. An allowed caller gets
// anything but 401 and 403 (a dummy ID may well give 404); a refused one
// gets 401 without credentials (or with bad ones) and 403 with too small
// a role.
func TestEndpointRoles(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	rec := e.wait(e.upload("roles/eicar.com", clamdtest.EICARBytes()).ID)
	e.assertQuarantined(rec)
	clean := e.wait(e.upload("roles/clean.txt", []byte("fine")).ID)
	sha := strings.Repeat("ab", 32)
	event := string(intake.S3Notification(clean.Object))

	callers := map[string]string{
		"anonymous":  "",
		"wrong":      "sgt_000000000000_" + strings.Repeat("A", 43),
		"viewer":     e.tokenFor("vic", domain.RoleViewer),
		"reviewer":   e.tokenFor("rita", domain.RoleReviewer),
		"admin":      e.tokenFor("ada", domain.RoleAdmin),
		"ingest":     e.tokenFor("hook", domain.RoleIngest),
		"breakglass": testAdminToken,
	}
	// need is the role an endpoint needs; "" means open to all.
	endpoints := []struct {
		method, path, body string
		need               domain.Role
	}{
		{"GET", "/healthz", "", ""},
		{"PUT", "/v1/objects/roles/any.txt", "x", ""},
		{"POST", "/v1/uploads", `{"key":"roles/u.txt"}`, ""},
		{"GET", "/v1/objects/roles/clean.txt", "", domain.RoleViewer},
		{"GET", "/v1/uploads", "", domain.RoleViewer},
		{"GET", "/v1/uploads/x", "", domain.RoleViewer},
		{"POST", "/v1/events", event, domain.RoleIngest},
		{"GET", "/v1/records?state=clean", "", domain.RoleViewer},
		{"GET", "/v1/records/" + clean.ID, "", domain.RoleViewer},
		{"GET", "/v1/records/" + clean.ID + "/content", "", domain.RoleViewer},
		{"GET", "/v1/records/" + clean.ID + "/history", "", domain.RoleViewer},
		{"POST", "/v1/records/" + rec.ID + "/decision", `{"decision":"nonsense","comment":"x"}`, domain.RoleReviewer},
		{"POST", "/v1/records/" + clean.ID + "/rescan", `{"comment":"x"}`, domain.RoleReviewer},
		{"GET", "/v1/reviews", "", domain.RoleViewer},
		{"GET", "/v1/allowlist", "", domain.RoleViewer},
		{"POST", "/v1/allowlist", `{"sha256":"` + sha + `","reason":"test"}`, domain.RoleReviewer},
		{"DELETE", "/v1/allowlist/" + sha, "", domain.RoleReviewer},
		{"GET", "/v1/whoami", "", domain.RoleViewer},
		{"GET", "/v1/accounts", "", domain.RoleAdmin},
		{"POST", "/v1/accounts", `{"name":"new","role":"viewer","password":"short"}`, domain.RoleAdmin},
		{"POST", "/v1/accounts/vic/tokens", `{"label":"x"}`, domain.RoleAdmin},
		{"GET", "/v1/tokens", "", domain.RoleAdmin},
		{"DELETE", "/v1/tokens/000000000000", "", domain.RoleAdmin},
	}
	roleOf := map[string]domain.Role{
		"viewer": domain.RoleViewer, "reviewer": domain.RoleReviewer, "admin": domain.RoleAdmin,
		"ingest": domain.RoleIngest, "breakglass": domain.RoleAdmin,
	}
	for _, ep := range endpoints {
		for who, tok := range callers {
			t.Run(ep.method+" "+ep.path+" as "+who, func(t *testing.T) {
				req, _ := http.NewRequest(ep.method, e.srv.URL+ep.path, strings.NewReader(ep.body))
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				var want []int // acceptable codes; nil means "not 401 or 403"
				switch {
				case ep.need == "":
				case who == "anonymous" || who == "wrong":
					want = []int{http.StatusUnauthorized}
				case !roleOf[who].Allows(ep.need):
					want = []int{http.StatusForbidden}
				}
				got := resp.StatusCode
				if want == nil && (got == http.StatusUnauthorized || got == http.StatusForbidden) {
					t.Errorf("%s %s as %s: %d; want it allowed", ep.method, ep.path, who, got)
				}
				if want != nil && got != want[0] {
					t.Errorf("%s %s as %s: %d; want %d", ep.method, ep.path, who, got, want[0])
				}
				if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("no nosniff header")
				}
			})
		}
	}
}

// The holes found by trying the API as an attacker, each closed.
func TestAttacks(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	rec := e.wait(e.upload("attack/eicar.com", clamdtest.EICARBytes()).ID)
	e.assertQuarantined(rec)
	do := func(method, path, body string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	rita := "Bearer " + e.tokenFor("rita", domain.RoleReviewer)
	sha := strings.Repeat("cd", 32)

	t.Run("anonymous allowlist, release and delete", func(t *testing.T) {
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/v1/allowlist", `{"sha256":"` + sha + `","reason":"x"}`},
			{"POST", "/v1/records/" + rec.ID + "/decision", `{"decision":"release","comment":"x"}`},
			{"DELETE", "/v1/allowlist/" + sha, ""},
			{"POST", "/v1/events", string(intake.S3Notification(rec.Object))},
			{"GET", "/v1/records?state=released", ""},
		} {
			if code, _ := do(c.method, c.path, c.body, nil); code != http.StatusUnauthorized {
				t.Errorf("anonymous %s %s: %d; want 401", c.method, c.path, code)
			}
		}
	})
	t.Run("cross-site state changes", func(t *testing.T) {
		for _, hdr := range []map[string]string{
			{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
			{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"},
			{"Origin": "http://evil.example", "Content-Type": "text/plain"},
		} {
			hdr["Authorization"] = rita
			code, _ := do("POST", "/v1/records/"+rec.ID+"/decision", `{"decision":"release","comment":"csrf"}`, hdr)
			if code != http.StatusForbidden {
				t.Errorf("cross-site POST with %v: %d; want 403", hdr, code)
			}
		}
		if got, _ := e.st.Get(t.Context(), rec.ID); got.State != domain.StatusReviewing {
			t.Errorf("after cross-site POSTs the record is %s; want still reviewing", got.State)
		}
	})
	t.Run("DNS rebinding", func(t *testing.T) {
		for _, host := range []string{"evil.example", "evil.example:80", "127.0.0.1.evil.example"} {
			code, _ := do("GET", "/v1/records?state=reviewing", "", map[string]string{"Host": host, "Authorization": rita})
			if code != http.StatusMisdirectedRequest {
				t.Errorf("Host %q: %d; want 421", host, code)
			}
		}
		if code, _ := do("GET", "/healthz", "", map[string]string{"Host": "localhost:1"}); code != http.StatusOK {
			t.Errorf("Host localhost: %d; want 200", code)
		}
	})
	t.Run("the body cannot name the reviewer", func(t *testing.T) {
		code, body := do("POST", "/v1/records/"+rec.ID+"/decision",
			`{"decision":"confirm","reviewer":"bob-the-ciso","comment":"x"}`, map[string]string{"Authorization": rita})
		if code != http.StatusBadRequest {
			t.Errorf("decision naming bob-the-ciso: %d %s; want 400", code, body)
		}
		code, _ = do("POST", "/v1/allowlist", `{"sha256":"`+sha+`","reason":"x","addedBy":"bob-the-ciso"}`,
			map[string]string{"Authorization": rita})
		if code != http.StatusBadRequest {
			t.Errorf("allowlist entry naming bob-the-ciso: %d; want 400", code)
		}
		code, body = do("POST", "/v1/allowlist", `{"sha256":"`+sha+`","reason":"vendor fixture"}`,
			map[string]string{"Authorization": rita})
		var got domain.AllowlistEntry
		json.Unmarshal([]byte(body), &got)
		if code != http.StatusCreated || got.AddedBy != "rita" {
			t.Errorf("allowlist entry: %d, added by %q; want 201 by rita", code, got.AddedBy)
		}
	})
	t.Run("lowercase scheme", func(t *testing.T) {
		if code, _ := do("GET", "/v1/whoami", "", map[string]string{"Authorization": "bearer " + strings.TrimPrefix(rita, "Bearer ")}); code != http.StatusOK {
			t.Errorf("lowercase bearer: %d; want 200", code)
		}
	})
	t.Run("no token in the query string", func(t *testing.T) {
		tok := strings.TrimPrefix(rita, "Bearer ")
		for _, q := range []string{"?access_token=", "?token="} {
			if code, _ := do("GET", "/v1/whoami"+q+tok, "", nil); code != http.StatusUnauthorized {
				t.Errorf("token in %s: %d; want 401", q, code)
			}
		}
	})
	t.Run("revoked token", func(t *testing.T) {
		tok := e.tokenFor("temp", domain.RoleReviewer)
		id := strings.Split(tok, "_")[1]
		if code, _ := do("DELETE", "/v1/tokens/"+id, "", map[string]string{"Authorization": "Bearer " + e.tokenFor("ada", domain.RoleAdmin)}); code != http.StatusNoContent {
			t.Fatalf("revoke: %d", code)
		}
		if code, _ := do("GET", "/v1/whoami", "", map[string]string{"Authorization": "Bearer " + tok}); code != http.StatusUnauthorized {
			t.Errorf("revoked token: %d; want 401", code)
		}
	})
}
