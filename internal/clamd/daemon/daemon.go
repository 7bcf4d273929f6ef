// Package daemon runs and supervises a clamd child process.
//
// Start writes a clamd.conf (see Config.Render), starts clamd in the
// foreground, and returns once clamd answers PING. From then on a
// supervisor goroutine restarts clamd whenever it exits on its own, with
// exponential backoff from 100 ms to 5 s. Stop ends the supervisor and
// clamd.
//
// # Limits and a clamd gap they close
//
// With AlertExceedsMax, clamd reports an object it could not scan in full
// as Heuristics.Limits.Exceeded.<Limit> FOUND, with one exception observed
// in clamd 1.4.6: a zip member larger than MaxFileSize is scanned only up to
// MaxFileSize, with no alert, as long as it fits in what is left of
// MaxScanSize. With clamd's own defaults (MaxFileSize 100M, MaxScanSize
// 400M), a 150 KiB zip holding 150 MiB of zeros and then EICAR is
// "stream: OK". (tar.gz, gz and bz2 alert MaxFileSize correctly.) When
// MaxFileSize is at least MaxScanSize, such a member exceeds MaxScanSize
// first, and clamd alerts Heuristics.Limits.Exceeded.MaxScanSize. So
// Config defaults MaxFileSize to MaxScanSize and refuses a smaller one;
// only ExtraConfig can still set it.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/scangate/scangate/internal/clamd"
)

// ErrNotInstalled means no clamd binary was found.
var ErrNotInstalled = errors.New("clamd is not installed (apt-get install clamav-daemon)")

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// healthyUptime is how long a child must have run for its exit to be
	// taken as a fresh failure rather than part of a crash loop.
	healthyUptime = 30 * time.Second
	pingInterval  = 50 * time.Millisecond
	// How much of clamd's logs to quote: more when startup fails, as the
	// reason follows clamd's long banner; less on every restart.
	startTailBytes   = 4 << 10
	restartTailBytes = 512
)

// Daemon is a running, supervised clamd. Its methods are safe for
// concurrent use.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	addr    string
	binary  string
	conf    string
	ownsDir bool
	stderr  *os.File // clamd's stderr, shared by every child

	stopping chan struct{} // closed by Stop
	exited   chan struct{} // closed when the supervisor goroutine returns
	stopOnce sync.Once
	stopErr  error

	mu       sync.Mutex
	cur      *child // the current child, nil once Stop began
	stopped  bool
	restarts int
}

// child is one clamd process. done is closed when it has exited and been
// reaped; err is its exit status then.
type child struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	err     error
}

// Start starts clamd with cfg and waits until it answers PING, for at most
// cfg.StartTimeout or until ctx is done. ctx bounds startup only; clamd then
// runs until Stop. On failure nothing is left running, and the error carries
// the end of clamd's log.
func Start(ctx context.Context, cfg Config) (_ *Daemon, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	binary, err := findBinary(cfg.Binary)
	if err != nil {
		return nil, err
	}

	d := &Daemon{
		log:      cfg.Logger.With("component", "clamd"),
		binary:   binary,
		stopping: make(chan struct{}),
		exited:   make(chan struct{}),
	}
	// Undo whatever was set up if Start fails half-way.
	defer func() {
		if err != nil {
			d.cleanupFiles()
		}
	}()

	if cfg.Dir == "" {
		cfg.Dir, err = os.MkdirTemp("", "clamd-")
		if err != nil {
			return nil, fmt.Errorf("daemon: start: %w", err)
		}
		d.ownsDir = true
	} else if cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
		return nil, fmt.Errorf("daemon: start: %w", err)
	}
	d.cfg = cfg
	if err := cfg.validate(); err != nil { // the socket path is known only now
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("daemon: start: %w", err)
	}
	d.conf = filepath.Join(cfg.Dir, "clamd.conf")
	if err := os.WriteFile(d.conf, []byte(cfg.Render()), 0o600); err != nil {
		return nil, fmt.Errorf("daemon: start: %w", err)
	}
	d.stderr, err = os.OpenFile(filepath.Join(cfg.Dir, "clamd.stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("daemon: start: %w", err)
	}
	d.addr = "unix://" + SocketPath(cfg.Dir)
	// Short timeouts: Start's pings only ask "are you up yet".
	client, err := clamd.New(d.addr, clamd.Options{DialTimeout: time.Second, IOTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("daemon: start: %w", err)
	}

	c, err := d.spawn()
	if err != nil {
		return nil, err
	}
	if err := d.awaitReady(ctx, client, c); err != nil {
		c.kill()
		<-c.done
		return nil, err
	}
	d.log.Info("clamd started", "pid", c.cmd.Process.Pid, "addr", d.addr, "took", time.Since(c.started).Round(time.Millisecond))
	go d.supervise(c)
	return d, nil
}

func findBinary(name string) (string, error) {
	if name != "" {
		path, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("daemon: binary %q: %w: %w", name, ErrNotInstalled, err)
		}
		return path, nil
	}
	if path, err := exec.LookPath("clamd"); err == nil {
		return path, nil
	}
	const debian = "/usr/sbin/clamd"
	if _, err := os.Stat(debian); err != nil {
		return "", fmt.Errorf("daemon: clamd not in PATH nor at %s: %w", debian, ErrNotInstalled)
	}
	return debian, nil
}

// awaitReady polls PING until clamd answers, exits, or time runs out.
func (d *Daemon) awaitReady(ctx context.Context, client *clamd.Client, c *child) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StartTimeout)
	defer cancel()
	tick := time.NewTicker(pingInterval)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case <-c.done:
			return fmt.Errorf("daemon: clamd exited during startup (%v); log tail:\n%s", c.err, d.logTail(startTailBytes))
		case <-ctx.Done():
			return fmt.Errorf("daemon: clamd not ready after %v (last ping: %v): %w; log tail:\n%s",
				time.Since(c.started).Round(time.Millisecond), lastErr, ctx.Err(), d.logTail(startTailBytes))
		case <-tick.C:
			if lastErr = client.Ping(ctx); lastErr == nil {
				return nil
			}
		}
	}
}

// spawn starts a new clamd child and makes it current, unless Stop began.
func (d *Daemon) spawn() (*child, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil, errStopped
	}
	// Not exec.CommandContext: the child outlives Start's ctx; Stop ends it.
	cmd := exec.Command(d.binary, "--config-file="+d.conf)
	cmd.Dir = d.cfg.Dir
	// In the foreground clamd copies its log to stdout; LogFile has it all.
	// stderr gets what clamd says before its log is open (config errors).
	cmd.Stdout = nil
	cmd.Stderr = d.stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("daemon: start %s: %w", d.binary, err)
	}
	c := &child{cmd: cmd, started: time.Now(), done: make(chan struct{})}
	// The waiter lives exactly as long as the process: Stop always ends it.
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	d.cur = c
	return c, nil
}

var errStopped = errors.New("daemon: stopped")

func (c *child) kill() {
	// Errors only mean the process is already gone.
	_ = c.cmd.Process.Kill()
}

// supervise restarts clamd whenever it exits before Stop. It returns once
// Stop began and the last child exited.
func (d *Daemon) supervise(c *child) {
	defer close(d.exited)
	backoff := minBackoff
	for {
		select {
		case <-c.done:
		case <-d.stopping:
			<-c.done // Stop signals it.
			return
		}
		select {
		case <-d.stopping:
			return
		default:
		}
		uptime := time.Since(c.started)
		if uptime >= healthyUptime {
			backoff = minBackoff
		}
		d.log.Warn("clamd exited unexpectedly; restarting",
			"pid", c.cmd.Process.Pid, "err", c.err, "uptime", uptime.Round(time.Millisecond),
			"backoff", backoff, "log_tail", d.logTail(restartTailBytes))

		for {
			t := time.NewTimer(backoff)
			select {
			case <-d.stopping:
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, maxBackoff)
			nc, err := d.spawn()
			if errors.Is(err, errStopped) {
				return
			}
			if err != nil {
				d.log.Error("clamd restart failed", "err", err, "backoff", backoff)
				continue
			}
			d.mu.Lock()
			d.restarts++
			n := d.restarts
			d.mu.Unlock()
			d.log.Info("clamd restarted", "pid", nc.cmd.Process.Pid, "restarts", n)
			c = nc
			break
		}
	}
}

// Addr returns clamd's address for clamd.New, "unix:///.../clamd.sock".
func (d *Daemon) Addr() string { return d.addr }

// Dir returns the folder holding the socket, config and logs.
func (d *Daemon) Dir() string { return d.cfg.Dir }

// Restarts returns how many times the supervisor restarted clamd.
func (d *Daemon) Restarts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restarts
}

// Pid returns the current clamd's process id, or 0 after Stop.
func (d *Daemon) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil {
		return 0
	}
	return d.cur.cmd.Process.Pid
}

// Kill sends SIGKILL to the current clamd, as a crash would; the supervisor
// then restarts it. It is for tests and fault drills, and does nothing after
// Stop.
func (d *Daemon) Kill() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil {
		return nil
	}
	if err := d.cur.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("daemon: kill: %w", err)
	}
	return nil
}

// LogTail returns the end of clamd's stderr and log file, for diagnostics.
func (d *Daemon) LogTail() string { return d.logTail(startTailBytes) }

// Stop stops clamd: SIGTERM, then SIGKILL after cfg.StopTimeout or when ctx
// is done, whichever is first. It waits for the supervisor to return and
// removes Dir if Start created it. It is safe to call more than once, and
// on a nil *Daemon (as left by a failed Start); later calls return the
// first one's result.
func (d *Daemon) Stop(ctx context.Context) error {
	if d == nil {
		return nil
	}
	d.stopOnce.Do(func() { d.stopErr = d.stop(ctx) })
	return d.stopErr
}

func (d *Daemon) stop(ctx context.Context) error {
	d.mu.Lock()
	d.stopped = true
	c := d.cur
	d.cur = nil
	d.mu.Unlock()
	close(d.stopping)

	var err error
	if c != nil {
		// clamd shuts down cleanly on SIGTERM and removes its socket.
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(d.cfg.StopTimeout)
		select {
		case <-c.done:
		case <-t.C:
			d.log.Warn("clamd ignored SIGTERM; killing", "pid", c.cmd.Process.Pid, "after", d.cfg.StopTimeout)
			c.kill()
		case <-ctx.Done():
			c.kill()
			err = fmt.Errorf("daemon: stop: clamd killed: %w", ctx.Err())
		}
		t.Stop()
	}
	<-d.exited
	d.log.Info("clamd stopped")
	d.cleanupFiles()
	return err
}

// cleanupFiles closes the shared stderr and removes Dir if Start made it.
func (d *Daemon) cleanupFiles() {
	if d.stderr != nil {
		d.stderr.Close()
	}
	if d.ownsDir && d.cfg.Dir != "" {
		if err := os.RemoveAll(d.cfg.Dir); err != nil {
			d.log.Warn("removing clamd dir", "dir", d.cfg.Dir, "err", err)
		}
	}
}

// logTail returns about the last n bytes of clamd's stderr and of its log
// file.
func (d *Daemon) logTail(n int64) string {
	var b strings.Builder
	for _, name := range []string{"clamd.stderr", "clamd.log"} {
		tail, err := readTail(filepath.Join(d.cfg.Dir, name), n)
		if err != nil || strings.TrimSpace(tail) == "" {
			continue
		}
		fmt.Fprintf(&b, "--- %s ---\n%s", name, tail)
		if !strings.HasSuffix(tail, "\n") {
			b.WriteByte('\n')
		}
	}
	if b.Len() == 0 {
		return "(clamd wrote no log)"
	}
	return b.String()
}

func readTail(path string, n int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	s := string(buf)
	if off > 0 {
		// Start at a whole line.
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s, nil
}
