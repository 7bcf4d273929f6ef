package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/console"
	"github.com/scangate/scangate/internal/notify"
	"github.com/scangate/scangate/lambdas"
)

// TestResultEvents runs objects through the pipeline with a webhook
// whose receiver fails at first: every final outcome is emitted once,
// signed, the new review's carries a working console link, the
// receiver's failures change no verdict, and the console lists the
// deliveries.
func TestResultEvents(t *testing.T) {
	var mu sync.Mutex
	var msgs []notify.Message
	fail := true
	secret := []byte("notify secret")
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := notify.Verify(secret, r.Header.Get(notify.HeaderSignature), b, time.Now(), time.Minute); err != nil {
			t.Errorf("delivery: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		var m notify.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Error(err)
		}
		msgs = append(msgs, m)
	}))
	defer rcv.Close()
	linkKey := notify.DeriveKey(secret, "console-links")
	var hook *notify.Webhook
	e := newEnv(t, envOpts{
		cfg: func(c *lambdas.Config) {
			var err error
			hook, err = notify.NewWebhook(notify.WebhookOptions{URL: rcv.URL, Secret: secret, ConsoleURL: "http://console.test",
				LinkKey: linkKey, Backoff: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { hook.Close() })
			c.Results = hook
		},
		consoleOpts: func(o *console.Options) { o.Deliveries, o.LinkKey = hook, linkKey },
	})
	clean := e.upload("events/report.txt", []byte("quarterly numbers"))
	if rec := e.wait(clean, domain.StatusClean); rec.State != domain.StatusClean {
		t.Fatalf("the receiver's failure changed the verdict: %s", rec.State)
	}
	bad := e.upload("events/eicar.com", eicar)
	rec := e.wait(bad, domain.StatusReviewing)
	r := e.client()
	r.signIn("rita")
	if code, body, _ := r.do(http.MethodPost, "/admin/records/"+bad+"/decision",
		url.Values{"csrf": {r.csrf}, "decision": {"release"}, "comment": {"test file"}}, nil); code != http.StatusSeeOther {
		t.Fatalf("release: %d %s", code, body)
	}
	e.wait(bad, domain.StatusReleased)
	deadline := time.Now().Add(20 * time.Second)
	want := map[string]string{clean: "clean", bad: "infected released"}
	for {
		mu.Lock()
		got := map[string]string{}
		for _, m := range msgs {
			got[m.Detail.RecordID] = strings.TrimSpace(got[m.Detail.RecordID] + " " + m.Detail.Outcome)
		}
		n := len(msgs)
		mu.Unlock()
		if got[clean] == want[clean] && got[bad] == want[bad] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events by record: %v (%d messages), want %v", got, n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range msgs {
		d := m.Detail
		if d.RecordID != bad {
			continue
		}
		if d.Bucket != bucket || d.Key != "events/eicar.com" || d.VersionID != rec.Object.VersionID || d.SHA256 != rec.Verdict.SHA256 || d.DBVersion == "" {
			t.Errorf("event %+v lacks the object's facts", d)
		}
		switch d.Outcome {
		case "infected":
			if !d.Review || len(d.Signatures) == 0 || !strings.HasPrefix(m.Link, "http://console.test/admin/link/") {
				t.Errorf("the new review's event: %+v link %q", d, m.Link)
			}
			// The link works in the console, and still asks for sign-in.
			anon := e.client()
			code, _, resp := anon.do(http.MethodGet, strings.TrimPrefix(m.Link, "http://console.test"), nil, nil)
			if code != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/records/"+bad {
				t.Errorf("link: %d to %q", code, resp.Header.Get("Location"))
			}
			if code, _, resp := anon.do(http.MethodGet, "/admin/records/"+bad, nil, nil); code != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/login") {
				t.Errorf("the linked record without a session: %d", code)
			}
		case "released":
			if d.By != "rita" || d.Review {
				t.Errorf("released event %+v: want by rita", d)
			}
		}
	}
	_, body, _ := r.do(http.MethodGet, "/admin/deliveries", nil, nil)
	if strings.Count(body, "delivered") < 3 || !strings.Contains(body, "502") {
		t.Errorf("the deliveries page does not show the deliveries and the first one's failure:\n%s", body)
	}
}
