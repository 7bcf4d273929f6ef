package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/testsvc"
)

// syncBuffer is a bytes.Buffer safe for the child's writer goroutine and
// the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildBinary builds scangate once for the test binary's lifetime.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scangate")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSmokeRun starts the real `scangate run` binary on a free port, with
// its own clamd on the built-in signatures, uploads over HTTP and polls until
// the verdicts arrive; then it stops the binary with SIGTERM and checks that
// it shut down cleanly.
func TestSmokeRun(t *testing.T) {
	bin := buildBinary(t)
	t.Run("embedded", func(t *testing.T) { smokeRun(t, bin) })
	t.Run("dynamodb", func(t *testing.T) {
		smokeRun(t, bin, "--store", "dynamodb://smoke?create=true&endpoint="+testsvc.Dynalite(t), "--record-intents")
	})
}

func smokeRun(t *testing.T, bin string, extra ...string) {
	addr := freeAddr(t)
	data := t.TempDir()
	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, append([]string{"run", "--listen", addr, "--data", data, "--time-scale", "0.05"}, extra...)...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("scangate did not come up: %v\n%s", err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "TEST signatures") {
		t.Errorf("the built-in test signatures were not announced:\n%s", stderr.String())
	}
	// The first start on loopback creates the admin account and prints its
	// password and an API token, once.
	token := firstToken(t, stdout.String())
	authed := &http.Client{Transport: bearerTransport{token: token}}
	if resp, err := http.Get(base + "/v1/records?state=clean"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous GET /v1/records: %v %v; want 401", resp.StatusCode, err)
	}
	upload := func(key string, body []byte) string {
		req, _ := http.NewRequest(http.MethodPut, base+"/v1/objects/"+key, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rec domain.Record
		json.NewDecoder(resp.Body).Decode(&rec)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload %s: %d", key, resp.StatusCode)
		}
		return rec.ID
	}
	eicarID := upload("smoke/eicar.com", clamdtest.EICARBytes())
	want := map[string]domain.Status{
		upload("smoke/hello.txt", []byte("hello")): domain.StatusClean,
		eicarID: domain.StatusReviewing,
	}
	for id, state := range want {
		for {
			resp, err := authed.Get(base + "/v1/records/" + id)
			if err != nil {
				t.Fatal(err)
			}
			var rec domain.Record
			json.NewDecoder(resp.Body).Decode(&rec)
			resp.Body.Close()
			if rec.State == state {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("record %s is %s; want %s\n%s", id, rec.State, state, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The local counterpart of the console trace, through the CLI. The
	// review workflow starts just after the record reaches reviewing.
	wantTrace := []string{"execution scan-eicar_com-", "ChoiceStateEntered     Claimed", "TaskStateEntered       Scan", "ChoiceStateEntered     Route", "TaskStateEntered       Quarantine", "execution review-eicar_com-", "TaskStateEntered       AwaitDecision"}
	var hout, herr bytes.Buffer
	for {
		hout.Reset()
		if code := run(context.Background(), []string{"history", "--api", base, "--token", token, eicarID}, nil, &hout, &herr); code != 0 {
			t.Fatalf("history: exit %d: %s", code, herr.String())
		}
		missing := ""
		for _, want := range wantTrace {
			if !strings.Contains(hout.String(), want) {
				missing = want
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history lacks %q:\n%s", missing, hout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// An upload URL, and with --record-intents its intent, listed as
	// expected until something arrives.
	resp, err := http.Post(base+"/v1/uploads", "application/json", strings.NewReader(`{"key":"smoke/later.txt"}`))
	if err != nil {
		t.Fatal(err)
	}
	var issued struct{ URL, IntentID string }
	json.NewDecoder(resp.Body).Decode(&issued)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || issued.URL == "" || (issued.IntentID != "") != slices.Contains(extra, "--record-intents") {
		t.Errorf("POST /v1/uploads with %v: %d %+v", extra, resp.StatusCode, issued)
	}
	if issued.IntentID != "" {
		resp, err := authed.Get(base + "/v1/uploads?state=expected")
		if err != nil {
			t.Fatal(err)
		}
		var page struct{ Intents []domain.UploadIntent }
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if len(page.Intents) != 1 || page.Intents[0].ID != issued.IntentID || page.Intents[0].Key != "smoke/later.txt" {
			t.Errorf("GET /v1/uploads?state=expected: %d %+v; want the intent %s", resp.StatusCode, page.Intents, issued.IntentID)
		}
	}
	var kout bytes.Buffer
	if code := run(context.Background(), []string{"history", "--api", base, "--token", token, "smoke/hello.txt"}, nil, &kout, &herr); code != 0 ||
		!strings.Contains(kout.String(), "TaskStateEntered       Record") {
		t.Errorf("history by key: exit %d: %s\n%s", code, herr.String(), kout.String())
	}
	for _, want := range []string{"execution scan-eicar_com-", "ChoiceStateEntered     Claimed", "TaskStateEntered       Scan", "ChoiceStateEntered     Route", "TaskStateEntered       Quarantine", "execution review-eicar_com-", "TaskStateEntered       AwaitDecision"} {
		if !strings.Contains(hout.String(), want) {
			t.Errorf("history lacks %q:\n%s", want, hout.String())
		}
	}
	// With the embedded store the histories live in its file; with
	// DynamoDB they are files in the data folder.
	_, err = os.Stat(filepath.Join(data, "executions"))
	if embedded := !slices.Contains(extra, "--store"); embedded != os.IsNotExist(err) {
		t.Errorf("embedded store %v: %s/executions: %v", embedded, data, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("scangate exited with %v after SIGTERM\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("scangate did not stop within 30s of SIGTERM")
	}
}

func TestScanCommand(t *testing.T) {
	d := clamdtest.Start(t, nil)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	clean := write("clean.txt", []byte("fine"))
	empty := write("empty", nil)
	eicar := write("eicar.com", clamdtest.EICARBytes())
	big := write("late-eicar.bin", append(bytes.Repeat([]byte{'A'}, 2<<20), clamdtest.EICARBytes()...))
	sigs := []string{"--clamd", d.Addr(), "--clamav-db", clamdtest.SignaturesDir(t), "--dev"}
	tests := []struct {
		name  string
		args  []string
		code  int
		lines []string
	}{
		{"clean", []string{clean, empty}, 0, []string{clean + ": clean", empty + ": clean"}},
		{"found", []string{clean, eicar}, 1, []string{clean + ": clean", eicar + ": infected " + clamdtest.EICARSignature}},
		{"never truncates", []string{"--stream-max", "1048576", big}, 2, []string{big + ": unscannable " + domain.ReasonTooLarge}},
		{"missing file", []string{filepath.Join(dir, "nope")}, 2, []string{filepath.Join(dir, "nope") + ": error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append(append([]string{"scan"}, sigs...), tt.args...)
			code := run(context.Background(), args, nil, &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
			got := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(got) != len(tt.lines) {
				t.Fatalf("output %q; want %d lines", got, len(tt.lines))
			}
			for i, l := range tt.lines {
				if !strings.HasPrefix(got[i], l) {
					t.Errorf("line %d = %q; want prefix %q", i, got[i], l)
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Errorf("no args: %d %q", code, errb.String())
	}
	if code := run(context.Background(), []string{"frobnicate"}, nil, &out, &errb); code != 2 {
		t.Errorf("unknown command: %d", code)
	}
	out.Reset()
	if code := run(context.Background(), []string{"version"}, nil, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "scangate ") {
		t.Errorf("version: %d %q", code, out.String())
	}
}

func TestEventsDecode(t *testing.T) {
	root := filepath.Join("..", "..", "testdata", "events")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name  string
		in    []byte
		args  []string
		code  int
		lines int
		want  string
	}{
		{"encoded key", read("s3-encoded-key.json"), nil, 0, 1, `"key":`},
		{"test event prints nothing", read("s3-test-event.json"), nil, 0, 0, ""},
		{"tagging prints nothing", read("s3-object-tagging.json"), nil, 0, 0, ""},
		{"eventbridge", read("eventbridge-put.json"), nil, 0, 1, `"bucket":`},
		{"malformed", []byte(`{"Records": [`), nil, 2, 0, ""},
		{"not an event", []byte(`{"hello": "world"}`), nil, 2, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"events", "decode"}, tt.args...), bytes.NewReader(tt.in), &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d; want %d (stderr %q)", code, tt.code, errb.String())
			}
			got := strings.Count(out.String(), "\n")
			if got != tt.lines || !strings.Contains(out.String(), tt.want) {
				t.Errorf("stdout %q: %d lines; want %d containing %q", out.String(), got, tt.lines, tt.want)
			}
			if tt.code == 2 && errb.Len() == 0 {
				t.Error("malformed input must say why on stderr")
			}
		})
	}
}

// firstToken reads the API token `scangate run` prints when it creates the
// first admin account.
func firstToken(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if tok, ok := strings.CutPrefix(strings.TrimSpace(line), "API token: "); ok {
			return tok
		}
	}
	t.Fatalf("no API token in the first start's output:\n%s", out)
	return ""
}

type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// On any address but loopback, run refuses to start while nobody could
// sign in; with an account it starts, and answers only its allowed hosts.
func TestRunRefusesAnOpenPublicBind(t *testing.T) {
	data := t.TempDir()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"run", "--listen", "0.0.0.0:0", "--data", data}, nil, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "refusing to listen on 0.0.0.0:0") {
		t.Fatalf("run on 0.0.0.0 with no accounts: exit %d, %s", code, errb.String())
	}
	if strings.Contains(out.String(), "password") {
		t.Errorf("a refused start printed credentials:\n%s", out.String())
	}
}

func TestRunRefusesANegativeHistoryRetention(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"run", "--data", t.TempDir(), "--history-retention", "-1h"}, nil, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "--history-retention must not be negative") {
		t.Fatalf("run --history-retention -1h: exit %d, %s", code, errb.String())
	}
}
