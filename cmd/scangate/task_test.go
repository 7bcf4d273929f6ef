package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/scangate/scangate/asl"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/lambdas/fargate"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

// `scangate task` is the large-object path's task: given an offloaded
// state, it starts its own clamd with the large stream limit, runs the
// committed scan definition and records the verdict, with a real clamd,
// the embedded store and a local bucket configured as the Lambdas are.
func TestTaskScansALargeObject(t *testing.T) {
	t.Parallel()
	const lambdaLimit = 64 << 10
	dir := t.TempDir()
	dbPath, bucketDir := filepath.Join(dir, "scangate.db"), filepath.Join(dir, "buckets")
	clamdDir, err := os.MkdirTemp("", "sg-task-") // short: clamd's socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(clamdDir) })

	ctx := context.Background()
	tests := []struct {
		key   string
		body  []byte
		state domain.Status
	}{
		{"big/clean.bin", bytes.Repeat([]byte("harmless "), 2*lambdaLimit/9), domain.StatusClean},
		{"big/eicar-late.bin", append(bytes.Repeat([]byte("A"), 2*lambdaLimit), clamdtest.EICARBytes()...), domain.StatusReviewing},
	}
	// Upload and record, as the bucket and Ingest would have; then close
	// both, as bbolt allows one process per file.
	objs, err := localdir.Open(bucketDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	drv, err := embedded.Open(dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(drv, nil)
	var states []asl.Document
	for _, tt := range tests {
		ref, err := objs.Put(ctx, "uploads", tt.key, bytes.NewReader(tt.body), objects.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rec, _, err := st.Ingest(ctx, ref, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, asl.Document{ID: rec.ID, Object: rec.Object, Next: "scan", Offloaded: true})
	}
	objs.Close()
	st.Close()

	for i, tt := range tests {
		raw, err := json.Marshal(states[i])
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{
			fargate.StateEnv:             string(raw),
			"SCANGATE_STORE":             "bolt://" + dbPath,
			"SCANGATE_OBJECTS":           "file://" + bucketDir,
			"SCANGATE_QUARANTINE_BUCKET": "quarantine",
			"SCANGATE_CLAMAV_DB":         clamdtest.SignaturesDir(t),
			"SCANGATE_CLAMD_DIR":         clamdDir,
			"SCANGATE_STREAM_MAX":        "65536",
			"SCANGATE_LARGE_STREAM_MAX":  "8388608",
			"SCANGATE_MAX_DB_AGE":        "876000h", // the test signatures are as old as the checkout
		}
		var stdout, stderr bytes.Buffer
		code := cmdTask(ctx, nil, func(k string) string { return env[k] }, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("%s: scangate task exited %d\nstdout: %s\nstderr: %s", tt.key, code, stdout.String(), stderr.String())
		}
		var out struct {
			State domain.Status `json:"state"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out.State != tt.state {
			t.Errorf("%s: task printed %s (%v); want state %s\nstderr: %s", tt.key, stdout.String(), err, tt.state, stderr.String())
		}
	}

	drv, err = embedded.Open(dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	st = store.New(drv, nil)
	defer st.Close()
	for i, tt := range tests {
		rec, err := st.Get(ctx, states[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != tt.state || rec.Verdict == nil || rec.Verdict.BytesScanned != int64(len(tt.body)) {
			t.Errorf("%s: state %s verdict %+v; want %s after a full scan of %d bytes", tt.key, rec.State, rec.Verdict, tt.state, len(tt.body))
		}
		if tt.state == domain.StatusReviewing && !slices.Contains(rec.Verdict.Signatures, clamdtest.EICARSignature) {
			t.Errorf("%s: signatures %v; want EICAR past the Lambda's stream limit", tt.key, rec.Verdict.Signatures)
		}
	}
}

// A task without an object, or without the large stream limit, refuses to
// start rather than scanning nothing or scanning like the Lambda.
func TestTaskRefusesBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"no state", map[string]string{"SCANGATE_LARGE_STREAM_MAX": "8388608"}},
		{"malformed state", map[string]string{fargate.StateEnv: "{not json", "SCANGATE_LARGE_STREAM_MAX": "8388608"}},
		{"state without a record", map[string]string{fargate.StateEnv: `{"object":{"bucket":"b","key":"k"}}`, "SCANGATE_LARGE_STREAM_MAX": "8388608"}},
		{"no large stream limit", map[string]string{fargate.StateEnv: `{"id":"r1","object":{"bucket":"b","key":"k"}}`}},
		{"no store", map[string]string{fargate.StateEnv: `{"id":"r1","object":{"bucket":"b","key":"k"}}`, "SCANGATE_LARGE_STREAM_MAX": "8388608"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cmdTask(context.Background(), nil, func(k string) string { return tt.env[k] }, &stdout, &stderr)
			if code != 2 || stdout.Len() != 0 {
				t.Errorf("exit %d, stdout %q; want 2 and nothing printed (stderr %s)", code, stdout.String(), stderr.String())
			}
		})
	}
}

// A large-object path no larger than the usual one is a configuration
// error, not a silent no-op.
func TestRunRefusesASmallLargeObjectPath(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := cmdRun(context.Background(), []string{
		"--data", t.TempDir(), "--listen", "127.0.0.1:0",
		"--stream-max", "1048576", "--large-stream-max", "1000",
	}, &stdout, &stderr)
	if code != 1 || !bytes.Contains(stderr.Bytes(), []byte("--large-stream-max must exceed --stream-max")) {
		t.Errorf("exit %d, stderr %q; want 1 naming --large-stream-max", code, stderr.String())
	}
}
