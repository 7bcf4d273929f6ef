package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/scangate/scangate"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/internal/engine"
)

// engineFlags are the scan engine's flags, shared by run and scan so both
// scan the same way.
type engineFlags struct {
	clamavDB     string
	clamdAddr    string
	streamMax    int64
	maxFileSize  int64
	maxScanSize  int64
	maxRecursion int
	maxFiles     int
	maxDBAge     time.Duration
	dev          bool
}

func (f *engineFlags) register(fl *flag.FlagSet) {
	fl.StringVar(&f.clamavDB, "clamav-db", "", "signature database directory (default: the built-in test signatures, which detect only test files)")
	fl.StringVar(&f.clamdAddr, "clamd", "", "use a running clamd at unix:///path or tcp://host:port instead of starting one")
	fl.Int64Var(&f.streamMax, "stream-max", 100<<20, "largest object scanned, in bytes (clamd StreamMaxLength); larger objects are not scannable, never truncated")
	fl.Int64Var(&f.maxFileSize, "max-file-size", 400<<20, "clamd MaxFileSize; never below --max-scan-size (clamd 1.4 then passes oversized zip members unscanned)")
	fl.Int64Var(&f.maxScanSize, "max-scan-size", 400<<20, "clamd MaxScanSize")
	fl.IntVar(&f.maxRecursion, "max-recursion", 17, "clamd MaxRecursion")
	fl.IntVar(&f.maxFiles, "max-files", 10000, "clamd MaxFiles")
	fl.DurationVar(&f.maxDBAge, "max-db-age", 24*time.Hour, "refuse to scan with a signature database older than this")
	fl.BoolVar(&f.dev, "dev", false, "development mode: waive the database age check for custom signatures")
}

const devWarning = `
  ************************************************************************
  *  scangate is using its built-in TEST signatures.                     *
  *  They detect only the EICAR test string and ClamAV's test files.     *
  *  Nothing real is detected. Give real signatures with --clamav-db     *
  *  (see 'Signatures' in README.md) before protecting anything.         *
  ************************************************************************
`

// startEngine connects to, or starts and supervises, clamd and returns the
// engine plus a function that stops what was started. br, when not nil,
// guards the engine's calls to clamd.
func startEngine(ctx context.Context, f engineFlags, br *engine.Breaker, log *slog.Logger, warn func(string)) (*engine.Engine, func(), error) {
	dbDir, dev := f.clamavDB, f.dev
	var cleanups []func()
	stop := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	if dbDir == "" && f.clamdAddr == "" {
		dir, err := os.MkdirTemp("", "scangate-sigs-")
		if err != nil {
			return nil, stop, err
		}
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		if err := extractDevSignatures(dir); err != nil {
			stop()
			return nil, stop, err
		}
		dbDir, dev = dir, true
		warn(devWarning)
	}
	addr := f.clamdAddr
	if addr == "" {
		work, err := os.MkdirTemp("", "scangate-clamd-")
		if err != nil {
			stop()
			return nil, stop, err
		}
		d, err := daemon.Start(ctx, daemon.Config{
			DatabaseDir: dbDir, Dir: work,
			StreamMaxLength: f.streamMax, MaxFileSize: f.maxFileSize, MaxScanSize: f.maxScanSize,
			MaxRecursion: f.maxRecursion, MaxFiles: f.maxFiles, Logger: log,
		})
		if err != nil {
			os.RemoveAll(work)
			stop()
			return nil, stop, err
		}
		cleanups = append(cleanups, func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			if err := d.Stop(sctx); err != nil {
				log.Warn("stopping clamd", "err", err)
			}
			os.RemoveAll(work)
		})
		addr = d.Addr()
	}
	client, err := clamd.New(addr, clamd.Options{MaxStreamBytes: f.streamMax})
	if err != nil {
		stop()
		return nil, stop, err
	}
	if err := client.Ping(ctx); err != nil {
		stop()
		return nil, stop, fmt.Errorf("clamd at %s: %w", addr, err)
	}
	// Streams beyond clamd's thread pool would wait in its queue, where its
	// ReadTimeout can cut them off; the engine holds them back instead.
	th, err := client.Threads(ctx)
	if err != nil {
		stop()
		return nil, stop, fmt.Errorf("clamd at %s: %w", addr, err)
	}
	log.Info("clamd thread pool", "max", th.Max)
	eng, err := engine.New(client, engine.Options{DatabaseDir: dbDir, MaxAge: f.maxDBAge, DevMode: dev, Breaker: br, MaxStreams: th.Max})
	if err != nil {
		stop()
		return nil, stop, err
	}
	return eng, stop, nil
}

func extractDevSignatures(dir string) error {
	return fs.WalkDir(scangate.DevSignatures, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := scangate.DevSignatures.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	})
}
