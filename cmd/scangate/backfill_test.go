package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scangate/scangate/internal/backfill"
)

// The command posts the spec its flags and TARGET describe, with the
// token, then polls until the job has ended, printing JSON lines when
// stdout is not a terminal; the exit code says whether anything failed.
func TestBackfillCommand(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		final    backfill.Progress
		wantSpec backfill.Spec
		wantCode int
	}{
		{"local bucket", []string{"--rate", "50", "--concurrency", "2", "--dry-run", "uploads/old/"},
			backfill.Progress{State: backfill.StateDone, Listed: 5, Queued: 5},
			backfill.Spec{Bucket: "uploads", Prefix: "old/", Rate: 50, Concurrency: 2, DryRun: true}, 0},
		{"s3 target, a failure", []string{"--all-versions", "--inventory", "inv/m.json", "s3://b/p"},
			backfill.Progress{State: backfill.StateDone, Listed: 5, Queued: 4, Failed: 1},
			backfill.Spec{Bucket: "b", Prefix: "p", AllVersions: true, Inventory: "inv/m.json", Concurrency: 4}, 1},
		{"job failed", []string{"uploads"},
			backfill.Progress{State: backfill.StateFailed, Error: "boom"},
			backfill.Spec{Bucket: "uploads", Concurrency: 4}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var polls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer tok" {
					http.Error(w, "no", http.StatusUnauthorized)
					return
				}
				p := tc.final
				p.ID = "backfill-1"
				switch {
				case r.Method == "POST" && r.URL.Path == "/v1/backfills":
					var got backfill.Spec
					if err := json.NewDecoder(r.Body).Decode(&got); err != nil || got != tc.wantSpec {
						t.Errorf("posted spec %+v, %v; want %+v", got, err, tc.wantSpec)
					}
					p = backfill.Progress{ID: p.ID, State: backfill.StateRunning, Spec: got}
				case r.Method == "GET" && r.URL.Path == "/v1/backfills/backfill-1":
					if polls.Add(1) == 1 {
						p.State, p.Listed = backfill.StateRunning, 2
					}
				default:
					http.NotFound(w, r)
					return
				}
				json.NewEncoder(w).Encode(p)
			}))
			defer srv.Close()
			var out, errb bytes.Buffer
			args := append([]string{"backfill", "--api", srv.URL, "--token", "tok", "--every", "1ms"}, tc.args...)
			code := run(t.Context(), args, nil, &out, &errb)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr %s", code, tc.wantCode, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) < 3 || !strings.Contains(lines[0], `"event":"progress"`) || !strings.Contains(lines[len(lines)-1], `"event":"summary"`) {
				t.Errorf("output:\n%s", out.String())
			}
		})
	}
	var errb bytes.Buffer
	if code := run(t.Context(), []string{"backfill", "--concurrency", "1000", "b"}, nil, &bytes.Buffer{}, &errb); code != 2 {
		t.Errorf("concurrency 1000: exit %d", code)
	}
}
