package lambdaenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/sigset"
	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
)

// DefaultSignaturesCheck is how often a warm scan function looks at the
// signatures bucket's pointer (one small GET): a set published by the
// updater answers in every environment within this long, plus the time
// clamd takes to load it.
const DefaultSignaturesCheck = 5 * time.Minute

// sigSource is the signatures bucket as a source of databases for
// engine.Generations, and as the sweep's lambdas.Signatures. An execution
// environment lives for hours, and the set it loaded at its start would
// otherwise answer all that time: new signatures would reach a warm
// environment only when Lambda recycles it, and a retro-hunt's rescan
// there would record the old database. So every check interval a scan
// leases the engine, the pointer is read (one small GET), and a newer set
// gets a clamd of its own while the loaded one keeps scanning
// (engine.Generations says why a swap, not clamd's RELOAD). The function's
// memory and ephemeral storage hold two official databases for that
// (cdk/gate/props.go).
type sigSource struct {
	d      objects.Driver
	bucket string
	// start starts generation n (setScanner builds it); nil in the sweep.
	start func(ctx context.Context, n int) (*engine.Generation, error)
}

// Latest is the ID of the current set.
func (s sigSource) Latest(ctx context.Context) (string, error) {
	p, err := sigset.ReadPointer(ctx, s.d, s.bucket)
	if errors.Is(err, sigset.ErrNoSet) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return p.Set, nil
}

// Start starts generation n on the current set.
func (s sigSource) Start(ctx context.Context, n int) (*engine.Generation, error) {
	return s.start(ctx, n)
}

// Current is the database the current set holds (lambdas.Signatures): the
// sweep function's retro-hunt hunts with it.
func (s sigSource) Current(ctx context.Context) (string, error) {
	p, err := sigset.ReadPointer(ctx, s.d, s.bucket)
	if errors.Is(err, sigset.ErrNoSet) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return p.Version, nil
}

// setScanner builds the scan engine for e when its signatures come from
// the signatures bucket: generation 0 loads into e.ClamAVDB with its
// clamd in clamdDir, generation n into ClamAVDB.n and clamdDir.n.
func (e Env) setScanner(ctx context.Context, clamdDir string, limit int64, log *slog.Logger) (lambdas.Scanner, func(), error) {
	src, err := openSignatures(ctx, e.SignaturesBucket)
	if err != nil {
		return nil, func() {}, err
	}
	d, bucket := src.d, src.bucket
	suffix := func(dir string, n int) string {
		if n == 0 {
			return dir
		}
		return dir + "." + strconv.Itoa(n)
	}
	// Generation 0 loads into ClamAVDB with its clamd in clamdDir,
	// generation n into ClamAVDB.n and clamdDir.n.
	src.start = func(ctx context.Context, n int) (*engine.Generation, error) {
		// sigset.Load replaces a folder an earlier load filled (a crashed
		// swap's) and refuses one holding anything else. Nothing writes
		// the folder after that, so the engine describes it every 10
		// minutes rather than every 30 s; staleness is judged at every
		// scan all the same.
		dir := suffix(e.ClamAVDB, n)
		var set string // written before the scanner is ready
		prepare := func(ctx context.Context) error {
			begin := time.Now()
			m, err := sigset.Load(ctx, d, bucket, dir)
			if err != nil {
				return err
			}
			set = m.ID
			log.Info("signature set loaded", "set", m.ID, "version", m.Version, "builtAt", m.BuiltAt,
				"files", len(m.Files), "generation", n, "took", time.Since(begin).Round(time.Millisecond))
			return nil
		}
		s, stop, err := startClamd(ctx,
			daemon.Config{DatabaseDir: dir, Dir: suffix(clamdDir, n), StreamMaxLength: limit, Logger: log},
			clamd.Options{MaxStreamBytes: limit}, engine.Options{DatabaseDir: dir, MaxAge: e.MaxDBAge, Refresh: 10 * time.Minute}, prepare, log)
		if err != nil {
			return nil, err
		}
		return &engine.Generation{
			Scanner: s, Client: s.eng.Client(), Ready: s.wait,
			ID:   func() string { return set },
			Stop: func() { stop(); removeLoaded(dir) },
		}, nil
	}
	every := e.SignaturesCheck
	if every <= 0 {
		every = DefaultSignaturesCheck
	}
	g, err := engine.NewGenerations(ctx, src, engine.GenerationsOptions{Every: every, OneAtATime: !e.SideBySide, Logger: log})
	if err != nil {
		return nil, func() {}, err
	}
	return g, g.Close, nil
}

// openSignatures opens the signatures bucket at url.
func openSignatures(ctx context.Context, url string) (sigSource, error) {
	d, bucket, err := urlopen.OpenBucket(ctx, url)
	if err != nil {
		return sigSource{}, fmt.Errorf("lambdaenv: %s: %w", VarSignaturesBucket, err)
	}
	return sigSource{d: d, bucket: bucket}, nil
}

// removeLoaded frees the space of a retired generation's set: a swap
// holds two sets in /tmp, and a third would not fit. Only a folder that
// sigset.Load filled is removed.
func removeLoaded(dir string) {
	if _, err := os.Stat(filepath.Join(dir, sigset.LoadedManifest)); err == nil {
		os.RemoveAll(dir)
	}
}
