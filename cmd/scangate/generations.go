package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/internal/engine"
)

// signatureCheck is how often `scangate run` looks at its signature folder
// for a changed database: `scangate update`, or a private signature added
// by hand, answers within this long plus clamd's load time.
const signatureCheck = 30 * time.Second

// startScanner starts the scan engine of `scangate run`. With a clamd of
// its own, every database the signature folder holds gets a clamd on a
// snapshot of it (engine.Generations): the folder may change at any time
// (freshclam, a private signature), and a verdict must name the database
// that answered, which only a folder nothing else writes can promise.
// With --clamd, someone else's clamd loads its own database, described
// from the folder or its VERSION reply, and is never swapped.
func startScanner(ctx context.Context, f engineFlags, br *engine.Breaker, log *slog.Logger, warn func(string)) (*engine.Generations, func(), error) {
	nop := func() {}
	if f.clamdAddr != "" {
		eng, stop, err := startEngine(ctx, f, br, log, warn)
		if err != nil {
			return nil, stop, err
		}
		g, err := engine.NewGenerations(ctx, fixedSource{&engine.Generation{
			Scanner: eng, Client: eng.Client(), ID: func() string { return "" }, Stop: stop,
		}}, engine.GenerationsOptions{Logger: log})
		if err != nil {
			stop()
			return nil, nop, err
		}
		return g, g.Close, nil
	}
	src := &dirSource{dir: f.clamavDB, dev: f.dev, f: f, br: br, log: log}
	var cleanups []func()
	stop := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	if src.dir == "" {
		dir, err := os.MkdirTemp("", "scangate-sigs-")
		if err != nil {
			return nil, nop, err
		}
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		if err := extractDevSignatures(dir); err != nil {
			stop()
			return nil, nop, err
		}
		src.dir, src.dev = dir, true
		warn(devWarning)
	}
	work, err := os.MkdirTemp("", "scangate-clamd-")
	if err != nil {
		stop()
		return nil, nop, err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(work) })
	src.work = work
	g, err := engine.NewGenerations(ctx, src, engine.GenerationsOptions{Every: signatureCheck, Logger: log})
	if err != nil {
		stop()
		return nil, nop, err
	}
	return g, func() { g.Close(); stop() }, nil
}

// snapshotRefresh is how long an engine on a snapshot keeps its
// description of the database (and of clamd's version).
const snapshotRefresh = 10 * time.Minute

// fixedSource is one generation that is never replaced.
type fixedSource struct{ g *engine.Generation }

func (s fixedSource) Latest(context.Context) (string, error) { return "", nil }

func (s fixedSource) Start(context.Context, int) (*engine.Generation, error) { return s.g, nil }

// dirSource is a signature folder as a source of databases: each
// generation runs a clamd of its own on a snapshot of the folder.
type dirSource struct {
	dir  string // the folder freshclam or the user writes
	work string // snapshots and clamd folders, one per generation
	dev  bool
	f    engineFlags
	br   *engine.Breaker
	log  *slog.Logger
}

// Latest names the database the folder holds now.
func (s *dirSource) Latest(context.Context) (string, error) {
	db, err := engine.ReadDatabase(s.dir)
	if err != nil {
		return "", err
	}
	return db.Version, nil
}

// Start snapshots the folder and starts clamd on the snapshot.
func (s *dirSource) Start(ctx context.Context, n int) (*engine.Generation, error) {
	snap := filepath.Join(s.work, "db."+strconv.Itoa(n))
	cdir := filepath.Join(s.work, "c."+strconv.Itoa(n))
	cleanup := func() { os.RemoveAll(snap); os.RemoveAll(cdir) }
	if err := snapshotSignatures(s.dir, snap); err != nil {
		cleanup()
		return nil, err
	}
	// The snapshot's own description: the folder may have moved on while
	// it was taken, and the next check will see that.
	db, err := engine.ReadDatabase(snap)
	if err != nil {
		cleanup()
		return nil, err
	}
	d, err := daemon.Start(ctx, daemon.Config{
		DatabaseDir: snap, Dir: cdir,
		StreamMaxLength: s.f.streamMax, MaxFileSize: s.f.maxFileSize, MaxScanSize: s.f.maxScanSize,
		MaxRecursion: s.f.maxRecursion, MaxFiles: s.f.maxFiles, Logger: s.log,
	})
	if err != nil {
		cleanup()
		return nil, err
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := d.Stop(sctx); err != nil {
			s.log.Warn("stopping clamd", "err", err)
		}
		cleanup()
	}
	client, err := clamd.New(d.Addr(), clamd.Options{MaxStreamBytes: s.f.streamMax})
	if err != nil {
		stop()
		return nil, err
	}
	// Streams beyond clamd's thread pool would wait in its queue, where
	// its ReadTimeout can cut them off; the engine holds them back.
	th, err := client.Threads(ctx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("clamd at %s: %w", d.Addr(), err)
	}
	// The snapshot never changes: describing it again every 30 s (the
	// engine's default, for folders written in place) would only hash the
	// same files. Staleness is judged at every scan all the same.
	eng, err := engine.New(client, engine.Options{DatabaseDir: snap, MaxAge: s.f.maxDBAge, DevMode: s.dev, Breaker: s.br, MaxStreams: th.Max, Refresh: snapshotRefresh})
	if err != nil {
		stop()
		return nil, err
	}
	s.log.Info("clamd ready on a snapshot of the signature folder", "generation", n, "db", db.Version, "threads", th.Max)
	return &engine.Generation{Scanner: eng, Client: client, ID: func() string { return db.Version }, Stop: stop}, nil
}

// snapshotSignatures copies the signature files of dir into snap, keeping their
// modification times (custom signatures are dated by them). Official
// databases are linked when they can be: freshclam replaces them by
// renaming a new file over the old, which leaves a link's content as it
// was. Custom files are copied: an editor or `>>` changes them in place.
func snapshotSignatures(dir, snap string) error {
	if err := os.MkdirAll(snap, 0o700); err != nil {
		return fmt.Errorf("snapshot %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() || !engine.IsSignatureFile(e.Name()) {
			continue
		}
		src, dst := filepath.Join(dir, e.Name()), filepath.Join(snap, e.Name())
		switch filepath.Ext(e.Name()) {
		case ".cvd", ".cld", ".cud":
			if err := os.Link(src, dst); err == nil {
				continue
			}
		}
		if err := copyKeepingTime(src, dst); err != nil {
			return fmt.Errorf("snapshot %s: %w", dir, err)
		}
	}
	return nil
}

func copyKeepingTime(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}
