package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

func init() { passwordCost = bcrypt.MinCost } // the cost changes nothing the tests check

// users runs "scangate users args..." with stdin and returns the exit code
// and the output.
func users(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"users"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func openTestStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := openStore(context.Background(), dir, "", &store.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var tokenLine = regexp.MustCompile(`^sgt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$`)

func TestUsers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := []string{"--data", dir}
	const pw = "correct horse battery\n"
	var secret, tokenID string
	steps := []struct {
		name    string
		args    []string
		stdin   string
		code    int
		stdout  []string // substrings
		stderr  []string
		capture func(t *testing.T, stdout, stderr string)
	}{
		{name: "add admin", args: []string{"add", "alice", "--role", "admin"}, stdin: pw, stdout: []string{"added alice (admin)"}},
		{name: "add twice", args: []string{"add", "alice", "--role", "viewer"}, stdin: pw, code: 2, stderr: []string{"AlreadyExists"}},
		{name: "unknown role", args: []string{"add", "bob", "--role", "root"}, stdin: pw, code: 2, stderr: []string{"unknown role"}},
		{name: "no role", args: []string{"add", "bob"}, stdin: pw, code: 2, stderr: []string{"--role is required"}},
		{name: "no password", args: []string{"add", "bob", "--role", "viewer"}, stdin: "", code: 2, stderr: []string{"no password"}},
		{name: "empty first line", args: []string{"add", "bob", "--role", "viewer"}, stdin: "\ncorrect horse battery\n", code: 2, stderr: []string{"no password"}},
		{name: "short password", args: []string{"add", "bob", "--role", "viewer"}, stdin: "short\n", code: 2, stderr: []string{"at least 12"}},
		{name: "long password", args: []string{"add", "bob", "--role", "viewer"}, stdin: strings.Repeat("x", 73) + "\n", code: 2, stderr: []string{"at most 72"}},
		{name: "bad name", args: []string{"add", "Bob", "--role", "viewer"}, stdin: pw, code: 2, stderr: []string{"account name"}},
		{name: "reserved name", args: []string{"add", "admin-token", "--role", "admin"}, stdin: pw, code: 2, stderr: []string{"reserved"}},
		{name: "two names", args: []string{"add", "bob", "carol", "--role", "viewer"}, stdin: pw, code: 2, stderr: []string{"want NAME"}},
		{name: "flags first, CRLF", args: []string{"add", "--role=viewer", "bob"}, stdin: "correct horse battery\r\n", stdout: []string{"added bob (viewer)"}},
		{name: "ingest account", args: []string{"add", "minio", "--role", "ingest"}, stdin: "ingest webhook pw", stdout: []string{"added minio (ingest)"}},
		{name: "list", args: []string{"list"}, stdout: []string{"NAME", "alice  ", "admin", "bob", "viewer", "enabled", "minio", "ingest"}},
		{name: "list takes no arguments", args: []string{"list", "x"}, code: 2, stderr: []string{"want no arguments"}},
		{name: "role", args: []string{"role", "bob", "reviewer"}, stdout: []string{"bob is reviewer"}},
		{name: "unknown role change", args: []string{"role", "bob", "root"}, code: 2, stderr: []string{"unknown role"}},
		{name: "role of nobody", args: []string{"role", "nobody", "viewer"}, code: 2, stderr: []string{"NotFound"}},
		{name: "passwd", args: []string{"passwd", "bob"}, stdin: "a new password for bob\n", stdout: []string{"password of bob changed"}},
		{name: "passwd short", args: []string{"passwd", "bob"}, stdin: "short\n", code: 2, stderr: []string{"at least 12"}},
		{name: "passwd of nobody", args: []string{"passwd", "nobody"}, stdin: pw, code: 2, stderr: []string{"NotFound"}},
		{name: "disable", args: []string{"disable", "bob"}, stdout: []string{"bob is disabled"}},
		{name: "list disabled", args: []string{"list"}, stdout: []string{"reviewer", "disabled"}},
		{name: "token of a disabled account", args: []string{"token", "bob"}, code: 2, stderr: []string{"disabled"}},
		{name: "enable", args: []string{"enable", "bob"}, stdout: []string{"bob is enabled"}},
		{name: "token", args: []string{"token", "alice", "--label", "laptop"}, capture: func(t *testing.T, stdout, stderr string) {
			lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
			secret = lines[len(lines)-1]
			if !tokenLine.MatchString(secret) {
				t.Fatalf("last line of stdout %q is not a token", secret)
			}
			tokenID = secret[4:16]
			if !strings.Contains(stderr, tokenID) || strings.Contains(stderr, secret) {
				t.Errorf("stderr %q should name the token id, not the secret", stderr)
			}
		}},
		{name: "token of nobody", args: []string{"token", "nobody"}, code: 2, stderr: []string{"NotFound"}},
		{name: "token with a control label", args: []string{"token", "alice", "--label", "a\x1bb"}, code: 2, stderr: []string{"label"}},
		{name: "second token", args: []string{"token", "bob"}},
		{name: "tokens", args: []string{"tokens"}, stdout: []string{"ID", "ACCOUNT", "alice", "laptop", "bob"}},
		{name: "tokens of alice", args: []string{"tokens", "alice"}, capture: func(t *testing.T, stdout, _ string) {
			if !strings.Contains(stdout, tokenID) || strings.Contains(stdout, "bob") || strings.Contains(stdout, secret[17:]) {
				t.Errorf("tokens alice:\n%s", stdout)
			}
		}},
		{name: "tokens of nobody", args: []string{"tokens", "nobody"}, code: 2, stderr: []string{"NotFound"}},
		{name: "revoke missing", args: []string{"revoke", "000000000000"}, code: 2, stderr: []string{"NotFound"}},
		{name: "revoke malformed", args: []string{"revoke", "sgt_oops"}, code: 2, stderr: []string{"Invalid"}},
		{name: "revoke", args: []string{"revoke", "TOKEN"}, stdout: []string{"is revoked"}},
		{name: "revoke twice", args: []string{"revoke", "TOKEN"}, stdout: []string{"is revoked"}},
		{name: "tokens shows the revocation", args: []string{"tokens", "alice"}, capture: func(t *testing.T, stdout, _ string) {
			if !regexp.MustCompile(tokenID + `\s+alice\s+\S+Z\s+\d{4}-\S+Z\s+laptop`).MatchString(stdout) {
				t.Errorf("tokens alice after revoke:\n%s", stdout)
			}
		}},
	}
	for _, s := range steps {
		args := make([]string, len(s.args))
		for i, a := range s.args {
			args[i] = strings.ReplaceAll(a, "TOKEN", tokenID)
		}
		code, stdout, stderr := users(t, s.stdin, append(args, data...)...)
		if code != s.code {
			t.Fatalf("%s: users %q exited %d, want %d\nstdout:\n%s\nstderr:\n%s", s.name, args, code, s.code, stdout, stderr)
		}
		for _, want := range s.stdout {
			if !strings.Contains(stdout, want) {
				t.Errorf("%s: stdout lacks %q:\n%s", s.name, want, stdout)
			}
		}
		for _, want := range s.stderr {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", s.name, want, stderr)
			}
		}
		if s.capture != nil {
			s.capture(t, stdout, stderr)
		}
	}

	// What the commands wrote is what the server will read.
	st := openTestStore(t, dir)
	defer st.Close()
	ctx := context.Background()
	if _, err := st.CheckPassword(ctx, "bob", []byte("a new password for bob")); err != nil {
		t.Errorf("bob's new password: %v", err)
	}
	if _, err := st.CheckPassword(ctx, "alice", []byte("correct horse battery")); err != nil {
		t.Errorf("alice's password: %v", err)
	}
	if _, _, err := st.Authenticate(ctx, secret); !errors.Is(err, store.ErrBadCredentials) {
		t.Errorf("Authenticate with the revoked token: %v, want ErrBadCredentials", err)
	}
	bob, err := st.Account(ctx, "bob")
	if err != nil || bob.Role != domain.RoleReviewer || bob.Disabled {
		t.Errorf("bob = %+v, %v", bob, err)
	}
}

func TestUsersTokenAuthenticates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := "bolt://" + filepath.Join(dir, "elsewhere.db")
	if code, _, stderr := users(t, "ingest webhook pw\n", "add", "minio", "--role", "ingest", "--store", db); code != 0 {
		t.Fatalf("add: %d %s", code, stderr)
	}
	code, stdout, stderr := users(t, "", "token", "minio", "--store", db)
	if code != 0 {
		t.Fatalf("token: %d %s", code, stderr)
	}
	// stdout is the token alone: TOKEN=$(scangate users token NAME) works.
	secret := strings.TrimSuffix(stdout, "\n")
	if !tokenLine.MatchString(secret) {
		t.Fatalf("stdout %q is not exactly one token line", stdout)
	}
	drv, err := embedded.Open(filepath.Join(dir, "elsewhere.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(drv, nil)
	defer st.Close()
	a, tok, err := st.Authenticate(context.Background(), secret)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if a.Name != "minio" || a.Role != domain.RoleIngest || tok.Account != "minio" {
		t.Errorf("Authenticate = %+v, %+v", a, tok)
	}
}

func TestUsersHelpAndUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: nil, code: 2, stderr: "usage: scangate users"},
		{args: []string{"-h"}, code: 0, stdout: "usage: scangate users"},
		{args: []string{"help"}, code: 0, stdout: "token NAME"},
		{args: []string{"add", "-h"}, code: 0, stdout: "-role"},
		{args: []string{"token", "--help"}, code: 0, stdout: "-label"},
		{args: []string{"list", "-h"}, code: 0, stdout: "-data"},
		{args: []string{"bogus"}, code: 2, stderr: `unknown command "bogus"`},
		{args: []string{"list", "--nope"}, code: 2, stderr: "flag provided but not defined"},
		{args: []string{"list", "--store", "ftp://x"}, code: 2, stderr: "unknown store scheme"},
	}
	for _, tt := range tests {
		code, stdout, stderr := users(t, "", append(tt.args, "--data", dir)...)
		if tt.args == nil {
			code, stdout, stderr = users(t, "")
		}
		if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("users %q = %d\nstdout:\n%s\nstderr:\n%s\nwant %d, stdout with %q, stderr with %q",
				tt.args, code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
		}
	}
	if code, stdout, _ := users(t, "", "-h"); code != 0 || !strings.Contains(stdout, "users") {
		t.Errorf("users -h = %d", code)
	}
	// The top-level usage names the command.
	var out bytes.Buffer
	if run(context.Background(), []string{"-h"}, nil, &out, &out) != 0 || !strings.Contains(out.String(), "users") {
		t.Errorf("scangate -h does not list users:\n%s", out.String())
	}
}

// TestUsersStoreHeld: a running server holds the embedded store; the error
// says so and what to do.
func TestUsersStoreHeld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	held := openTestStore(t, dir)
	defer held.Close()
	code, _, stderr := users(t, "", "list", "--data", dir)
	if code != 2 || !strings.Contains(stderr, "scangate run") || !strings.Contains(stderr, "stop it") {
		t.Errorf("users list on a held store = %d, stderr:\n%s", code, stderr)
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		role string
	}{
		{[]string{"alice", "--role", "admin"}, []string{"alice"}, "admin"},
		{[]string{"--role", "admin", "alice"}, []string{"alice"}, "admin"},
		{[]string{"a", "--role=x", "b"}, []string{"a", "b"}, "x"},
		{[]string{"--role", "x", "--", "--role", "y"}, []string{"--role", "y"}, "x"},
		{[]string{"a", "--", "-b"}, []string{"a", "-b"}, ""},
		{nil, nil, ""},
	}
	for _, tt := range tests {
		fl := flag.NewFlagSet("t", flag.ContinueOnError)
		role := fl.String("role", "", "")
		pos, err := parseInterspersed(fl, tt.args)
		if err != nil {
			t.Fatalf("parseInterspersed(%q): %v", tt.args, err)
		}
		if diff := cmp.Diff(pos, tt.pos); diff != "" || *role != tt.role {
			t.Errorf("parseInterspersed(%q) = %q, role %q; want %q, role %q", tt.args, pos, *role, tt.pos, tt.role)
		}
	}
}
