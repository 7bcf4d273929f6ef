// Package clamdtest starts a real, supervised clamd for tests, loaded with
// the project's test signatures (testdata/signatures at the module root).
//
// Those signatures detect only test files: EICAR and ClamAV's clam.exe test
// corpus (/usr/share/clamav-testfiles). A clean verdict from this clamd says
// nothing about real malware.
//
// clamd must be installed; `make test` installs it. Tests that need clamd
// fail rather than skip without it, so a missing install cannot pass
// silently as green.
package clamdtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/internal/engine"
)

// EICAR is the standard antivirus test string. The test signatures detect it
// anywhere in a stream, also inside archives.
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// EICARBytes returns a new copy of EICAR, free to modify.
func EICARBytes() []byte { return []byte(EICAR) }

// Signature names as clamd reports them: names from unsigned databases get
// the ".UNOFFICIAL" suffix.
const (
	EICARSignature   = "Scangate.Test.EICAR.UNOFFICIAL"
	ClamExeSignature = "Scangate.Test.ClamExe.UNOFFICIAL"
)

// TestFilesDir holds the clamav-testfiles corpus: 44 files, each clam.exe
// plain, packed or inside a container; all are detected as ClamExeSignature.
const TestFilesDir = "/usr/share/clamav-testfiles"

// Options overrides clamd's limits for one test. Zero fields keep the
// daemon.Config defaults.
type Options struct {
	StreamMaxLength int64
	MaxFileSize     int64
	MaxScanSize     int64
	MaxRecursion    int
	MaxFiles        int
	MaxThreads      int
	ExtraConfig     []string
	// DatabaseDir replaces the test signatures' directory, for a test
	// that changes the database (a copy of SignaturesDir, say).
	DatabaseDir string
}

// Start starts clamd for the test and stops it in t.Cleanup. opts may be nil.
func Start(t testing.TB, opts *Options) *daemon.Daemon {
	t.Helper()
	return StartAt(t, socketDir(t), opts)
}

// StartAt is Start with clamd's folder, and so its socket, at dir: a test
// can start clamd where a client already expects it ("clamd is back").
func StartAt(t testing.TB, dir string, opts *Options) *daemon.Daemon {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	db := opts.DatabaseDir
	if db == "" {
		db = SignaturesDir(t)
	}
	cfg := daemon.Config{
		DatabaseDir:     db,
		Dir:             dir,
		StreamMaxLength: opts.StreamMaxLength,
		MaxFileSize:     opts.MaxFileSize,
		MaxScanSize:     opts.MaxScanSize,
		MaxRecursion:    opts.MaxRecursion,
		MaxFiles:        opts.MaxFiles,
		MaxThreads:      opts.MaxThreads,
		ExtraConfig:     opts.ExtraConfig,
		Logger:          slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := daemon.Start(ctx, cfg)
	if errors.Is(err, daemon.ErrNotInstalled) {
		t.Fatalf("clamdtest: %v\n`make test` installs it (apt-get install -y clamav-daemon clamdscan clamav-testfiles).", err)
	}
	if err != nil {
		t.Fatalf("clamdtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Stop(ctx); err != nil {
			t.Errorf("clamdtest: stopping clamd: %v", err)
		}
	})
	return d
}

// Client returns a client for d with default options, failing the test on
// error.
func Client(t testing.TB, d *daemon.Daemon, opts clamd.Options) *clamd.Client {
	t.Helper()
	c, err := clamd.New(d.Addr(), opts)
	if err != nil {
		t.Fatalf("clamdtest: %v", err)
	}
	return c
}

// SignaturesDir returns the absolute path of testdata/signatures at the
// module root, found by walking up from the working directory to go.mod.
func SignaturesDir(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("clamdtest: %v", err)
	}
	dir := filepath.Join(root, "testdata", "signatures")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("clamdtest: test signatures: %v", err)
	}
	return dir
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// socketDir returns t.TempDir(), or a shorter temporary folder when a long
// test name would push the socket path past the 107 bytes unix sockets
// allow.
func socketDir(t testing.TB) string {
	dir := t.TempDir()
	if len(daemon.SocketPath(dir)) < 100 {
		return dir
	}
	dir, err := os.MkdirTemp("", "clamd-")
	if err != nil {
		t.Fatalf("clamdtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// DescribeAndScan asks sc which database answers and scans body with it,
// failing the test on an error: what one scan does, for tests that follow
// a database through a swap.
func DescribeAndScan(ctx context.Context, t testing.TB, sc engine.Scanner, body string) (engine.Info, clamd.Result) {
	t.Helper()
	info, err := sc.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sc.Instream(ctx, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return info, res
}
