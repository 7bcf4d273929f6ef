package daemon_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/clamd/daemon"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// config returns a working config on the test signatures in t's temp dir.
func config(t *testing.T) daemon.Config {
	t.Helper()
	return daemon.Config{
		DatabaseDir: clamdtest.SignaturesDir(t),
		Dir:         t.TempDir(),
		Logger:      slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
}

func start(t *testing.T, cfg daemon.Config) *daemon.Daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return d
}

func client(t *testing.T, d *daemon.Daemon) *clamd.Client {
	t.Helper()
	c, err := clamd.New(d.Addr(), clamd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitPing pings until clamd answers or the deadline passes.
func waitPing(t *testing.T, c *clamd.Client, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := c.Ping(t.Context())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("clamd did not answer within %v: %v", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartKillRestart(t *testing.T) {
	t.Parallel()
	d := start(t, config(t))
	c := client(t, d)
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after Start: %v", err)
	}
	if got := d.Addr(); got != "unix://"+daemon.SocketPath(d.Dir()) {
		t.Errorf("Addr() = %q", got)
	}
	// Its memory, as the scan function logs it after a load: clamd with
	// the test signatures holds a few MiB at least.
	if m, err := d.Memory(); err != nil || m.RSS < 1<<20 || m.Peak < m.RSS {
		t.Errorf("Memory() = %+v, %v; want a resident set of a MiB or more, the peak no less", m, err)
	}

	for i := 1; i <= 2; i++ {
		pid := d.Pid()
		if err := d.Kill(); err != nil {
			t.Fatalf("Kill: %v", err)
		}
		waitPing(t, c, 30*time.Second)
		if got := d.Restarts(); got != i {
			t.Errorf("Restarts() = %d after %d kills, want %d", got, i, i)
		}
		if d.Pid() == pid {
			t.Errorf("Pid() = %d, still the killed process", pid)
		}
		res, err := c.Instream(t.Context(), strings.NewReader(clamdtest.EICAR))
		if err != nil || res.Status != clamd.StatusFound {
			t.Fatalf("Instream after restart = %+v, %v; want found", res, err)
		}
	}
}

func TestStopTwiceAndAfter(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.Dir = "" // let Start make, and Stop remove, its own dir
	d := start(t, cfg)
	c := client(t, d)
	dir := d.Dir()

	if err := d.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := d.Stop(t.Context()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := c.Ping(t.Context()); !errors.Is(err, clamd.ErrUnavailable) {
		t.Errorf("Ping after Stop = %v, want ErrUnavailable", err)
	}
	if err := d.Kill(); err != nil {
		t.Errorf("Kill after Stop: %v", err)
	}
	if d.Pid() != 0 || d.Restarts() != 0 {
		t.Errorf("after Stop: Pid() = %d, Restarts() = %d; want 0, 0", d.Pid(), d.Restarts())
	}
	if _, err := d.Memory(); err == nil {
		t.Error("Memory() after Stop: no error")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stop left its temporary dir %s: %v", dir, err)
	}
}

func TestStopNil(t *testing.T) {
	t.Parallel()
	var d *daemon.Daemon // as a failed Start leaves it
	if err := d.Stop(t.Context()); err != nil {
		t.Fatalf("Stop on nil Daemon: %v", err)
	}
}

// TestStopDuringRestart stops the daemon while the supervisor waits to
// restart a killed clamd.
func TestStopDuringRestart(t *testing.T) {
	t.Parallel()
	d := start(t, config(t))
	if err := d.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d.Pid() != 0 {
		t.Errorf("Pid() = %d after Stop", d.Pid())
	}
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	emptyDB := t.TempDir()
	tests := []struct {
		name string
		edit func(*daemon.Config)
		want []string // in the error, from clamd's log
	}{
		{
			name: "empty database dir",
			edit: func(c *daemon.Config) { c.DatabaseDir = emptyDB },
			want: []string{"log tail", "No supported database files found"},
		},
		{
			name: "missing database dir",
			edit: func(c *daemon.Config) { c.DatabaseDir = filepath.Join(emptyDB, "nope") },
			want: []string{"log tail", "nope"},
		},
		{
			name: "unknown directive",
			edit: func(c *daemon.Config) { c.ExtraConfig = []string{"BogusDirective yes"} },
			want: []string{"log tail", "Unknown option BogusDirective"},
		},
		{
			name: "missing binary",
			edit: func(c *daemon.Config) { c.Binary = "/nonexistent/clamd" },
			want: []string{"not installed"},
		},
		{
			name: "negative limit",
			edit: func(c *daemon.Config) { c.MaxFiles = -1 },
			want: []string{"MaxFiles"},
		},
		{
			name: "MaxFileSize below MaxScanSize",
			edit: func(c *daemon.Config) { c.MaxFileSize, c.MaxScanSize = 1<<20, 4<<20 },
			want: []string{"MaxFileSize", "MaxScanSize"},
		},
		{
			name: "MaxFileSize of 2 GiB",
			edit: func(c *daemon.Config) { c.MaxFileSize = 2 << 30 },
			want: []string{"MaxFileSize", "2 GiB"},
		},
		{
			name: "socket path too long",
			edit: func(c *daemon.Config) { c.Dir = filepath.Join(c.Dir, strings.Repeat("d", 120)) },
			want: []string{"Dir", "socket path"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config(t)
			tt.edit(&cfg)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			d, err := daemon.Start(ctx, cfg)
			if err == nil {
				d.Stop(ctx)
				t.Fatal("Start succeeded, want error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Start error lacks %q:\n%v", want, err)
				}
			}
			if err := d.Stop(ctx); err != nil {
				t.Errorf("Stop after failed Start: %v", err)
			}
		})
	}
}

func TestStartMissingBinaryIsNotInstalled(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.Binary = "no-such-clamd"
	_, err := daemon.Start(t.Context(), cfg)
	if !errors.Is(err, daemon.ErrNotInstalled) {
		t.Fatalf("Start = %v, want ErrNotInstalled", err)
	}
}

func TestStartContextCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d, err := daemon.Start(ctx, config(t))
	if !errors.Is(err, context.Canceled) {
		d.Stop(t.Context())
		t.Fatalf("Start = %v, want context.Canceled", err)
	}
}

func TestLimitsReachClamd(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.StreamMaxLength = 1000
	d := start(t, cfg)
	res, err := client(t, d).Instream(t.Context(), strings.NewReader(strings.Repeat("a", 5000)))
	if err != nil || res.Status != clamd.StatusSizeLimit {
		t.Fatalf("Instream of 5000 bytes with StreamMaxLength 1000 = %+v, %v; want StatusSizeLimit", res, err)
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	got := daemon.Config{Dir: "/run/scan", DatabaseDir: "/db", MaxThreads: 3}.Render()
	for _, line := range []string{
		"Foreground yes",
		"LocalSocket /run/scan/clamd.sock",
		"DatabaseDirectory /db",
		"TemporaryDirectory /run/scan/tmp",
		"LogFile /run/scan/clamd.log",
		"LogSyslog no",
		"StreamMaxLength 104857600",
		"MaxFileSize 419430400",
		"MaxScanSize 419430400",
		"MaxRecursion 17",
		"MaxFiles 10000",
		"MaxThreads 3",
		"AlertExceedsMax yes",
		"AlertEncrypted yes",
		"AlertEncryptedArchive yes",
		"AlertEncryptedDoc yes",
		"HeuristicAlerts yes",
		"ReadTimeout 60",
		"CommandReadTimeout 10",
		"SelfCheck 0",
		"ConcurrentDatabaseReload yes",
	} {
		if !containsLine(got, line) {
			t.Errorf("Render() lacks %q:\n%s", line, got)
		}
	}
	for _, absent := range []string{"User ", "TCPSocket", "TCPAddr"} {
		if strings.Contains(got, absent) {
			t.Errorf("Render() has %q:\n%s", absent, got)
		}
	}
}

func TestRenderSizeDefaults(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg                daemon.Config
		fileSize, scanSize string
	}{
		{daemon.Config{}, "419430400", "419430400"},
		{daemon.Config{MaxFileSize: 1 << 20}, "1048576", "1048576"},
		{daemon.Config{MaxScanSize: 1 << 20}, "1048576", "1048576"},
		{daemon.Config{MaxFileSize: 1 << 30}, "1073741824", "419430400"},
	} {
		got := tt.cfg.Render()
		if !containsLine(got, "MaxFileSize "+tt.fileSize) || !containsLine(got, "MaxScanSize "+tt.scanSize) {
			t.Errorf("%+v.Render() lacks MaxFileSize %s, MaxScanSize %s:\n%s", tt.cfg, tt.fileSize, tt.scanSize, got)
		}
	}
}

func TestRenderExtraConfigOverrides(t *testing.T) {
	t.Parallel()
	got := daemon.Config{Dir: "/d", ExtraConfig: []string{"SelfCheck 600", "  MaxScanTime 30000 "}}.Render()
	if containsLine(got, "SelfCheck 0") || !containsLine(got, "SelfCheck 600") || !containsLine(got, "MaxScanTime 30000") {
		t.Errorf("Render() did not apply ExtraConfig:\n%s", got)
	}
	if n := strings.Count(got, "SelfCheck"); n != 1 {
		t.Errorf("Render() has SelfCheck %d times:\n%s", n, got)
	}
}

func containsLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimSuffix(l, "\n") == line {
			return true
		}
	}
	return false
}
