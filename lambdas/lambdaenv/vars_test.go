package lambdaenv

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The table lists exactly the functions under lambdas/cmd, so a new
// function cannot be deployed without saying what it needs.
func TestFunctionsAreTheCommands(t *testing.T) {
	ents, err := os.ReadDir("../cmd")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if got := Functions(); !slices.Equal(got, dirs) {
		t.Errorf("Functions() = %v, lambdas/cmd has %v", got, dirs)
	}
}

// baseEnv is a working environment: an embedded store, a local bucket.
func baseEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		VarStore:            "bolt://" + filepath.Join(dir, "db"),
		VarObjects:          "file://" + filepath.Join(dir, "objects"),
		VarQuarantineBucket: "quarantine",
	}
}

// Config (and the signature updater) read only variables in Vars, and
// every one of them is read by some path through them: the table cannot drift from the code.
func TestVarsAreWhatConfigReads(t *testing.T) {
	env := baseEnv(t)
	for _, k := range Vars() {
		if _, ok := env[k]; !ok {
			env[k] = ""
		}
	}
	// Every optional path on: a clamd by address (so SCANGATE_CLAMD_DIR
	// is read only on the other path, below), both workflows, offload.
	env[VarClamd] = "unix:///nonexistent/clamd.sock"
	env[VarScanStateMachine] = "arn:aws:states:us-east-1:111111111111:stateMachine:scan"
	env[VarReviewStateMachine] = "arn:aws:states:us-east-1:111111111111:stateMachine:review"
	env[VarOffloadCluster] = "c"
	env[VarOffloadTaskDefinition] = "td"
	env[VarOffloadContainer] = "scangate"
	env[VarOffloadSubnets] = "subnet-1"
	t.Setenv("AWS_REGION", "us-east-1")
	var mu sync.Mutex
	read := map[string]bool{}
	getenv := func(k string) string {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(k, "SCANGATE_") {
			read[k] = true
		}
		return env[k]
	}
	_, stop, err := Config(t.Context(), getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	stop()
	// The other scanner path: clamd started here on a signature
	// directory (which does not exist, so it fails in the background).
	env[VarClamd], env[VarClamAVDB], env[VarClamdDir] = "", filepath.Join(t.TempDir(), "none"), shortDir(t)
	_, stop, err = Config(t.Context(), getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	stop()
	// The signature updater, standalone, reads its own.
	env[VarSignaturesBucket] = "file://" + t.TempDir() + "?bucket=sigs"
	if _, err := SignatureUpdater(t.Context(), getenv, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	for k := range read {
		if !slices.Contains(Vars(), k) {
			t.Errorf("Config reads %s, which Vars does not list", k)
		}
	}
	for _, k := range Vars() {
		if !read[k] {
			t.Errorf("Vars lists %s, which Config never read", k)
		}
	}
}

// Without any one of Common, Config fails: they are required everywhere.
func TestCommonVarsAreRequired(t *testing.T) {
	for _, k := range Common {
		t.Run(k, func(t *testing.T) {
			env := baseEnv(t)
			delete(env, k)
			_, stop, err := Config(t.Context(), func(n string) string { return env[n] }, slog.New(slog.DiscardHandler))
			stop()
			if err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("Config without %s: err = %v, want one naming it", k, err)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	tests := []struct {
		function string
		env      map[string]string
		want     []string
	}{
		{"block", map[string]string{VarStore: "s", VarObjects: "o", VarQuarantineBucket: "q"}, nil},
		{"block", map[string]string{VarStore: "s", VarQuarantineBucket: "q"}, []string{VarObjects}},
		{"ingest", map[string]string{VarStore: "s", VarObjects: "o", VarQuarantineBucket: "q", VarScanStateMachine: "a", VarStreamMax: "1"}, []string{VarReviewStateMachine}},
		{"scan", map[string]string{VarStore: "s", VarObjects: "o", VarQuarantineBucket: "q"}, []string{VarClamAVDB, VarStreamMax, VarMaxDBAge, VarSignaturesBucket}},
		// The updater is standalone: Common is not required of it.
		{"sigupdate", map[string]string{}, []string{VarSignaturesBucket}},
		{"sigupdate", map[string]string{VarSignaturesBucket: "s3://sigs"}, nil},
	}
	for _, tt := range tests {
		if got := Missing(tt.function, func(k string) string { return tt.env[k] }); !slices.Equal(got, tt.want) {
			t.Errorf("Missing(%q) = %v, want %v", tt.function, got, tt.want)
		}
	}
	if Required("nosuch") != nil {
		t.Error("Required of an unknown function is not nil")
	}
}

// A misconfigured function names every bad variable at init, not the
// first one only.
func TestParseEnvNamesEveryProblem(t *testing.T) {
	env := map[string]string{"SCANGATE_STREAM_MAX": "lots", "SCANGATE_LEASE": "-"}
	_, err := ParseEnv(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("ParseEnv accepted an environment without a store, objects or quarantine bucket")
	}
	for _, want := range []string{"SCANGATE_STORE", "SCANGATE_OBJECTS", "SCANGATE_QUARANTINE_BUCKET", "SCANGATE_STREAM_MAX", "SCANGATE_LEASE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	env = map[string]string{"SCANGATE_STORE": "bolt:///tmp/x.db", "SCANGATE_OBJECTS": "s3://b", "SCANGATE_QUARANTINE_BUCKET": "q",
		"SCANGATE_OFFLOAD_CLUSTER": "c", "SCANGATE_OFFLOAD_SUBNETS": "a, b"}
	e, err := ParseEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if e.StreamMax != 100<<20 || e.Lease != 5*time.Minute || e.Offload.Cluster != "c" || len(e.Offload.Subnets) != 2 {
		t.Errorf("ParseEnv = %+v; want the defaults and the offload task", e)
	}
}
