package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/scangate/scangate/internal/notify"
	"github.com/scangate/scangate/lambdas"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("webhook secret for the tests")

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"x"}`)
	h := notify.Sign(secret, now, body)
	if err := notify.Verify(secret, h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("a fresh signature: %v", err)
	}
	for name, c := range map[string]struct {
		secret []byte
		header string
		body   string
		at     time.Time
	}{
		"other body":        {secret, h, `{"id":"y"}`, now},
		"other secret":      {[]byte("another"), h, string(body), now},
		"replayed":          {secret, h, string(body), now.Add(6 * time.Minute)},
		"from the future":   {secret, notify.Sign(secret, now.Add(10*time.Minute), body), string(body), now},
		"timestamp swapped": {secret, strings.Replace(h, "t=1800000000", "t=1800000300", 1), string(body), now.Add(5 * time.Minute)},
		"malformed":         {secret, "v1=00", string(body), now},
	} {
		if err := notify.Verify(c.secret, c.header, []byte(c.body), c.at, 5*time.Minute); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

type receiver struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	answer  atomic.Int32 // status to answer
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
	w.WriteHeader(int(r.answer.Load()))
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebhook: a delivery is signed, carries the event and, for a new
// review item, a signed console link; a failing receiver is retried with
// backoff, and each delivery's fate is recorded.
func TestWebhook(t *testing.T) {
	rcv := &receiver{}
	rcv.answer.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	w, err := notify.NewWebhook(notify.WebhookOptions{
		URL: srv.URL, Secret: secret, ConsoleURL: "https://console.example", LinkKey: []byte("links"),
		Attempts: 3, Backoff: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ev := lambdas.ResultEvent{RecordID: "r1", Bucket: "uploads", Key: "a/eicar.com", VersionID: "v1",
		SHA256: strings.Repeat("ab", 32), Outcome: "infected", Signatures: []string{"Eicar"}, DBVersion: "27000", Review: true}
	w.Emit(context.Background(), ev)
	waitFor(t, "three attempts", func() bool { return rcv.count() == 3 })
	waitFor(t, "the delivery to fail", func() bool { return w.Deliveries(10)[0].Status == "failed" })
	if d := w.Deliveries(10)[0]; d.Attempts != 3 || d.RecordID != "r1" || d.Outcome != "infected" || !strings.Contains(d.LastError, "503") {
		t.Errorf("failed delivery recorded as %+v", d)
	}
	rcv.mu.Lock()
	body, hdr := rcv.bodies[0], rcv.headers[0]
	same := string(rcv.bodies[1]) == string(body) && rcv.headers[1].Get(notify.HeaderEventID) == hdr.Get(notify.HeaderEventID)
	rcv.mu.Unlock()
	if !same {
		t.Errorf("a retry is not the same event")
	}
	if err := notify.Verify(secret, hdr.Get(notify.HeaderSignature), body, time.Now(), time.Minute); err != nil {
		t.Errorf("delivery signature: %v", err)
	}
	var m notify.Message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Detail.RecordID != "r1" || m.Detail.Key != "a/eicar.com" || m.Detail.SHA256 != ev.SHA256 || m.Detail.DBVersion != "27000" ||
		m.Source != notify.Source || m.DetailType != notify.DetailType || m.ID == "" {
		t.Errorf("message %+v", m)
	}
	if !strings.HasPrefix(m.Link, "https://console.example/admin/link/r1.") {
		t.Errorf("link %q", m.Link)
	}

	// The receiver recovers: the next event is delivered at once.
	rcv.answer.Store(http.StatusNoContent)
	ev.Outcome, ev.Review = "released", false
	w.Emit(context.Background(), ev)
	waitFor(t, "delivery", func() bool { return w.Deliveries(10)[0].Status == "delivered" })
	rcv.mu.Lock()
	var last notify.Message
	_ = json.Unmarshal(rcv.bodies[len(rcv.bodies)-1], &last)
	rcv.mu.Unlock()
	if last.Link != "" {
		t.Errorf("an outcome without a review carries a link: %q", last.Link)
	}

	// A receiver that refuses the event (400) is not asked again.
	rcv.answer.Store(http.StatusBadRequest)
	n := rcv.count()
	w.Emit(context.Background(), ev)
	waitFor(t, "refusal", func() bool { return w.Deliveries(10)[0].Status == "failed" })
	if got := rcv.count() - n; got != 1 {
		t.Errorf("a refused event was tried %d times", got)
	}
}
