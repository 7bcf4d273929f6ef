package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/backfill"
	"github.com/scangate/scangate/objects"
)

// The backfill endpoints tried as an attacker: anonymous, a wrong token,
// a viewer and an ingest (webhook) token are refused; a cross-site POST
// is refused before its credentials are looked at; a reviewer cannot
// point it at another bucket (the quarantine), smuggle unknown fields or
// unbounded concurrency. A reviewer's backfill then records the objects
// that were put without events, and its progress can be watched.
func TestBackfillAPI(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ctx := t.Context()
	for i := range 30 {
		if _, err := e.objs.Put(ctx, bucket, fmt.Sprintf("old/f%02d.txt", i), strings.NewReader(fmt.Sprint("old file ", i)), objects.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	do := func(method, path, body, token string, hdr map[string]string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	rita := e.tokenFor("rita", domain.RoleReviewer)
	spec := `{"prefix":"old/"}`

	for _, tc := range []struct {
		name, method, path, body, token string
		hdr                             map[string]string
		want                            int
	}{
		{"anonymous start", "POST", "/v1/backfills", spec, "", nil, http.StatusUnauthorized},
		{"wrong token", "POST", "/v1/backfills", spec, "sgt_000000000000_" + strings.Repeat("A", 43), nil, http.StatusUnauthorized},
		{"viewer start", "POST", "/v1/backfills", spec, e.tokenFor("vic", domain.RoleViewer), nil, http.StatusForbidden},
		{"ingest token start", "POST", "/v1/backfills", spec, e.tokenFor("hook", domain.RoleIngest), nil, http.StatusForbidden},
		{"viewer progress", "GET", "/v1/backfills/backfill-00", "", e.tokenFor("vic", domain.RoleViewer), nil, http.StatusForbidden},
		{"anonymous progress", "GET", "/v1/backfills/backfill-00", "", "", nil, http.StatusUnauthorized},
		{"cross-site", "POST", "/v1/backfills", spec, rita, map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"the quarantine bucket", "POST", "/v1/backfills", `{"bucket":"` + qBucket + `"}`, rita, nil, http.StatusBadRequest},
		{"unknown field", "POST", "/v1/backfills", `{"prefix":"old/","owner":"admin"}`, rita, nil, http.StatusBadRequest},
		{"concurrency", "POST", "/v1/backfills", `{"concurrency":100000}`, rita, nil, http.StatusBadRequest},
		{"negative rate", "POST", "/v1/backfills", `{"rate":-1}`, rita, nil, http.StatusBadRequest},
		{"traversal prefix", "POST", "/v1/backfills", `{"prefix":"../x"}`, rita, nil, http.StatusBadRequest},
		{"body too large", "POST", "/v1/backfills", `{"prefix":"` + strings.Repeat("a", 70<<10) + `"}`, rita, nil, http.StatusBadRequest},
		{"unknown job", "GET", "/v1/backfills/backfill-00", "", rita, nil, http.StatusNotFound},
	} {
		if code, body := do(tc.method, tc.path, tc.body, tc.token, tc.hdr); code != tc.want {
			t.Errorf("%s: %d %s; want %d", tc.name, code, body, tc.want)
		}
	}
	if _, err := e.st.Checkpoint(ctx, backfill.Spec{Bucket: qBucket}.JobID()); err == nil {
		t.Error("a refused request started a backfill of the quarantine")
	}

	code, body := do("POST", "/v1/backfills", spec, rita, nil)
	if code != http.StatusAccepted {
		t.Fatalf("reviewer start: %d %s", code, body)
	}
	var p backfill.Progress
	json.Unmarshal(body, &p)
	deadline := time.Now().Add(20 * time.Second)
	for p.State != backfill.StateDone && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		_, body = do("GET", "/v1/backfills/"+p.ID, "", rita, nil)
		p = backfill.Progress{}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("progress: %v: %s", err, body)
		}
	}
	if p.State != backfill.StateDone || p.Listed != 30 || p.Queued != 30 || p.Spec.Bucket != bucket {
		t.Fatalf("progress: %+v", p)
	}
	for i := range 30 {
		info, err := e.objs.Head(ctx, domain.ObjectRef{Bucket: bucket, Key: fmt.Sprintf("old/f%02d.txt", i)})
		if err != nil {
			t.Fatal(err)
		}
		if rec := e.wait(info.Ref.ID()); rec.State != domain.StatusClean {
			t.Errorf("%s: %s", info.Ref.Key, rec.State)
		}
	}
	// Started again, the job finds everything known.
	code, body = do("POST", "/v1/backfills", spec, rita, nil)
	if code != http.StatusAccepted || !bytes.Contains(body, []byte(`"state"`)) {
		t.Fatalf("second start: %d %s", code, body)
	}
}
