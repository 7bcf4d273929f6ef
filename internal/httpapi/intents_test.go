package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/store"
)

// fakeClock starts at the real time, so that versions the bucket dates
// with the real clock come after intents issued before them, and moves
// only when told: a URL's expiry and the sweep's grace pass at once.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// issued is the answer of POST /v1/uploads.
type issued struct {
	URL      string `json:"url"`
	IntentID string `json:"intentId"`
}

// issue asks for an upload URL, as the bearer of token when one is given.
func (e *env) issue(key, token string) issued {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"key": key, "maxBytes": 1 << 20, "expiresInSeconds": 60})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/uploads", bytes.NewReader(body))
	client := http.DefaultClient // anonymous
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		client = e.client
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var u issued
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &u) != nil || u.URL == "" {
		e.t.Fatalf("POST /v1/uploads for %q: %d %s", key, resp.StatusCode, raw)
	}
	return u
}

// putURL uploads body through an issued URL and returns the record.
func (e *env) putURL(u issued, body []byte) *domain.Record {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+u.URL, bytes.NewReader(body))
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var rec domain.Record
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &rec) != nil {
		e.t.Fatalf("PUT %s: %d %s", u.URL, resp.StatusCode, raw)
	}
	return &rec
}

func (e *env) intent(id string) *domain.UploadIntent {
	e.t.Helper()
	in, err := e.st.Intent(context.Background(), id)
	if err != nil {
		e.t.Fatalf("intent %s: %v", id, err)
	}
	return in
}

// listIntents serves GET /v1/uploads?state=state with token and returns
// the status and the IDs listed.
func (e *env) listIntents(state, token string) (int, []string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/uploads?limit=2&state="+state, nil)
	client := http.DefaultClient // anonymous
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		client = e.client
	}
	var ids []string
	for {
		resp, err := client.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		var page struct {
			Intents []domain.UploadIntent `json:"intents"`
			Cursor  string                `json:"cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, nil
		}
		if err != nil {
			e.t.Fatal(err)
		}
		for _, in := range page.Intents {
			if in.State != domain.IntentState(state) {
				e.t.Errorf("GET /v1/uploads?state=%s listed a %s intent", state, in.State)
			}
			ids = append(ids, in.ID)
		}
		if page.Cursor == "" {
			slices.Sort(ids)
			return http.StatusOK, ids
		}
		q := req.URL.Query()
		q.Set("cursor", page.Cursor)
		req.URL.RawQuery = q.Encode()
	}
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// TestUploadIntents follows upload intents through the pipeline with the
// option on: (a) an upload through its URL links its intent at ingest;
// (b) bytes written straight into the bucket, whose event never comes,
// are found by the sweep after the URL expired, ingested and scanned to
// their verdict; (c) a URL never used expires. Two URLs for one key and
// one upload link the older and expire the newer.
func TestUploadIntents(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	const admin = "s3cret"
	e := setup(t, setupOpts{intents: true, now: clk.Now, adminToken: admin})
	ctx := context.Background()
	eicar := []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`)

	a := e.issue("intents/a.txt", admin)
	b := e.issue("intents/lost.com", "")
	c := e.issue("intents/never.txt", "")
	d1 := e.issue("intents/twice.txt", "")
	clk.Advance(time.Second) // d2 is issued after d1
	d2 := e.issue("intents/twice.txt", "")
	all := sorted(a.IntentID, b.IntentID, c.IntentID, d1.IntentID, d2.IntentID)
	for _, id := range all {
		if id == "" {
			t.Fatal("POST /v1/uploads answered without an intentId while intents are recorded")
		}
	}
	if got := e.intent(a.IntentID); got.State != domain.IntentExpected || got.Requester != domain.AdminTokenPrincipal ||
		got.Bucket != bucket || got.Key != "intents/a.txt" || got.MaxBytes != 1<<20 || got.Method != http.MethodPut ||
		!got.ExpiresAt.After(got.IssuedAt.Add(60*time.Second)) {
		t.Errorf("intent of the admin's URL: %+v", got)
	}
	if got := e.intent(b.IntentID); got.Requester != domain.Anonymous {
		t.Errorf("intent of an unauthenticated caller names requester %q, want %q", got.Requester, domain.Anonymous)
	}
	// The listing is an operator's view: it names who asked for what.
	if code, _ := e.listIntents("expected", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/uploads without the admin token: %d, want 401", code)
	}
	if code, ids := e.listIntents("expected", admin); code != http.StatusOK || !slices.Equal(ids, all) {
		t.Errorf("GET /v1/uploads?state=expected: %d %v, want every intent %v", code, ids, all)
	}

	// (a) Issue, PUT, event: the record and the intent, linked.
	recA := e.putURL(a, []byte("quarterly numbers"))
	if got := e.intent(a.IntentID); got.State != domain.IntentArrived || got.RecordID != recA.ID || got.ResolvedBy != "ingest" {
		t.Errorf("(a) intent after its upload: %+v; want arrived, linked to %s by ingest", got, recA.ID)
	}
	e.assertClean(e.wait(recA.ID))

	// (b) The bytes land in the bucket, but no event reaches scangate:
	// written through the objects driver, not the API.
	lost, err := e.objs.Put(ctx, bucket, "intents/lost.com", bytes.NewReader(eicar), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Get(ctx, lost.ID()); errcode.Of(err) != errcode.NotFound {
		t.Fatalf("a record exists for the version whose event was suppressed: %v", err)
	}

	// Two URLs for one key, one upload (through the newer URL): the oldest
	// expected intent issued before the event is the one linked.
	recD := e.putURL(d2, []byte("one of two"))
	if got := e.intent(d1.IntentID); got.State != domain.IntentArrived || got.RecordID != recD.ID {
		t.Errorf("older intent of a key with two: %+v; want arrived, linked to %s", got, recD.ID)
	}
	if got := e.intent(d2.IntentID); got.State != domain.IntentExpected {
		t.Errorf("newer intent of a key with two: %s, want still expected", got.State)
	}
	e.wait(recD.ID)

	// A sweep before the URLs expired (and the grace passed) settles nothing.
	res, err := e.h.Sweep(ctx, lambdas.SweepRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.IntentsArrived+res.IntentsExpired != 0 || len(res.Recovered) != 0 {
		t.Errorf("sweep before expiry settled intents: %+v", res)
	}

	clk.Advance(60*time.Second + lambdas.DefaultIntentGrace + time.Second)
	res, err = e.h.Sweep(ctx, lambdas.SweepRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.IntentsArrived != 1 || res.IntentsExpired != 2 || !slices.Equal(res.Recovered, []string{lost.ID()}) || res.IntentErrors != 0 {
		t.Errorf("sweep after expiry: %+v; want 1 arrived (recovering %s), 2 expired", res, lost.ID())
	}
	// (b) continued: found, linked, and scanned to its verdict.
	if got := e.intent(b.IntentID); got.State != domain.IntentArrived || got.RecordID != lost.ID() || got.ResolvedBy != "sweep" {
		t.Errorf("(b) intent of the upload without an event: %+v; want arrived, linked to %s by the sweep", got, lost.ID())
	}
	recB := e.wait(lost.ID())
	e.assertQuarantined(recB)
	if h := recB.History[0]; h.Event != "ingest" || h.Detail == "" {
		t.Errorf("(b) recovered record's first history entry %+v; want an ingest naming the sweep", h)
	}
	// (c) Never uploaded: expired. And the newer URL of the pair.
	for _, id := range []string{c.IntentID, d2.IntentID} {
		if got := e.intent(id); got.State != domain.IntentExpired || got.RecordID != "" || got.ResolvedBy != "sweep" {
			t.Errorf("(c) intent %s after expiry: %+v; want expired by the sweep", id, got)
		}
	}

	// Settled is settled: another sweep changes nothing.
	res, err = e.h.Sweep(ctx, lambdas.SweepRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.IntentsArrived+res.IntentsExpired+res.IntentErrors != 0 || len(res.Recovered) != 0 {
		t.Errorf("second sweep: %+v; want nothing", res)
	}
	for state, want := range map[string][]string{
		"expected": nil,
		"arrived":  sorted(a.IntentID, b.IntentID, d1.IntentID),
		"expired":  sorted(c.IntentID, d2.IntentID),
	} {
		if code, ids := e.listIntents(state, admin); code != http.StatusOK || !slices.Equal(ids, want) {
			t.Errorf("GET /v1/uploads?state=%s: %d %v, want %v", state, code, ids, want)
		}
	}
	if code, _ := e.listIntents("limbo", admin); code != http.StatusBadRequest {
		t.Errorf("GET /v1/uploads?state=limbo: %d, want 400", code)
	}
}

// TestUploadIntentLinkedBySweep: when ingest does not link a version to
// its intent (the link is best effort; a DynamoDB index read may lag the
// intent's write), the sweep does, and ingests nothing twice.
func TestUploadIntentLinkedBySweep(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	e := setup(t, setupOpts{intentsUnlinked: true, now: clk.Now})
	ctx := context.Background()
	u := e.issue("intents/unlinked.txt", "")
	rec := e.putURL(u, []byte("arrived, event and all"))
	if got := e.intent(u.IntentID); got.State != domain.IntentExpected {
		t.Fatalf("intent with linking at ingest off: %s, want expected", got.State)
	}
	e.wait(rec.ID)
	clk.Advance(60*time.Second + lambdas.DefaultIntentGrace + time.Second)
	res, err := e.h.Sweep(ctx, lambdas.SweepRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.IntentsArrived != 1 || len(res.Recovered) != 0 {
		t.Errorf("sweep: %+v; want 1 arrived, nothing recovered", res)
	}
	if got := e.intent(u.IntentID); got.State != domain.IntentArrived || got.RecordID != rec.ID || got.ResolvedBy != "sweep" {
		t.Errorf("intent after the sweep: %+v; want arrived, linked to %s", got, rec.ID)
	}
	if got, err := e.st.Get(ctx, rec.ID); err != nil || countEvents(got)["ingest"] != 1 {
		t.Errorf("record after the sweep: %v, %v; want one ingest", got, err)
	}
}

// TestUploadIntentsOffByDefault: without the option no intent is written.
func TestUploadIntentsOffByDefault(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	u := e.issue("intents/off.txt", "")
	if u.IntentID != "" {
		t.Errorf("POST /v1/uploads with intents off answered intentId %q", u.IntentID)
	}
	e.putURL(u, []byte("x"))
	for _, state := range domain.IntentStates() {
		ins, _, err := e.st.ListIntents(context.Background(), state, store.Page{})
		if err != nil || len(ins) != 0 {
			t.Errorf("intents %s with the option off: %v, %v; want none", state, ins, err)
		}
	}
}
