package localsfn_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/asl/workflow"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
)

// normalize drops what differs between any two runs, whoever interprets:
// record IDs and version IDs (two uploads), lease tokens, times, and the
// text of a caught error's Cause (each runner renders a Lambda error its
// own way; the error's name is compared).
func normalize(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("output %s: %v", raw, err)
	}
	delete(m, "id")
	delete(m, "leaseToken")
	for _, k := range []string{"object", "location"} {
		if o, ok := m[k].(map[string]any); ok {
			delete(o, "versionId")
			delete(o, "etag")
			if k == "location" && o["bucket"] == qBucket {
				delete(o, "key") // derived from the record ID
			}
		}
	}
	if r, ok := m["read"].(map[string]any); ok {
		if o, ok := r["object"].(map[string]any); ok {
			delete(o, "versionId")
			delete(o, "etag")
		}
	}
	if v, ok := m["verdict"].(map[string]any); ok {
		for _, k := range []string{"scannedAt", "duration", "dbTime"} {
			delete(v, k)
		}
	}
	if e, ok := m["error"].(map[string]any); ok {
		delete(e, "Cause")
	}
	return m
}

// TestDifferentialAgainstTheLocalRuntime runs the same inputs through
// aws-local-stepfunctions and through the local runtime's interpreter
// (package workflow, as `scangate run` uses it), over the same handlers,
// and compares the states entered and the final outputs.
func TestDifferentialAgainstTheLocalRuntime(t *testing.T) {
	t.Parallel()
	down := filepath.Join(t.TempDir(), "nothing-listens.sock")
	cases := []struct {
		name, clamd string
		body        []byte
		twice       bool
	}{
		{"clean", "", []byte("differential, clean"), false},
		{"infected", "", clamdtest.EICARBytes(), false},
		{"empty", "", nil, false},
		{"decided already", "", []byte("run twice"), true},
		{"clamd down", "unix://" + down, []byte("never scanned"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Each interpreter gets an environment of its own, so that
			// neither sees the other's records or verdict cache.
			e, o := setup(t, tc.clamd), setup(t, tc.clamd)
			flows, err := local.NewRunner(o.st, o.h, local.WorkflowOptions{TimeScale: 0.001})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()

			emuIn := e.upload("diff/object", tc.body)
			emu := e.lambda.Run(t, asl.Scan(), emuIn)
			if tc.twice {
				emu = e.lambda.Run(t, asl.Scan(), emuIn)
			}

			ourIn := o.upload("diff/object", tc.body)
			raw, _ := json.Marshal(ourIn)
			ex, err := flows.StartEvent(ctx, "diff-1", raw)
			if err != nil {
				t.Fatal(err)
			}
			if tc.twice {
				if _, err := ex.Wait(ctx); err != nil {
					t.Fatal(err)
				}
				if ex, err = flows.StartEvent(ctx, "diff-2", raw); err != nil {
					t.Fatal(err)
				}
			}
			ours, err := ex.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}

			if diff := cmp.Diff(ex.States(), emu.States()); diff != "" {
				t.Errorf("states (-local runtime +aws-local-stepfunctions):\n%s", diff)
			}
			if string(ours.Status) != emu.Status || ours.Error != emu.Error {
				t.Errorf("ended %s %s here, %s %s in aws-local-stepfunctions", ours.Status, ours.Error, emu.Status, emu.Error)
			}
			if ours.Status == workflow.StatusSucceeded {
				if diff := cmp.Diff(normalize(t, ours.Output), normalize(t, emu.Output)); diff != "" {
					t.Errorf("output (-local runtime +aws-local-stepfunctions):\n%s", diff)
				}
			}
			// Both records end in the same state with the same reason.
			a, b := e.record(emuIn.ID), o.record(ourIn.ID)
			if a.State != b.State || a.Reason != b.Reason {
				t.Errorf("records: %s (%s) via aws-local-stepfunctions, %s (%s) via the local runtime", a.State, a.Reason, b.State, b.Reason)
			}
		})
	}
}
