package lambdaenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
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

// setScanner is the scan engine of a function whose signatures come from
// the signatures bucket. An execution environment lives for hours, and
// the set it loaded at its start would otherwise answer all that time:
// new signatures would reach a warm environment only when Lambda recycles
// it, and a retro-hunt's rescan there would record the old database.
//
// So every check interval it reads the pointer, and when a newer set is
// published it loads that set into a folder of its own and starts a
// second clamd on it while the first keeps scanning. Once the new one
// answers, new scans lease it; the old one stops when its last scan ends.
// Each clamd only ever sees its own folder, so the database a verdict
// names (read from that folder) is the one that answered: clamd's RELOAD
// would leave a window where the folder holds the new files and clamd the
// old ones. The price is two databases in memory and in /tmp during a
// swap, which the function's memory and ephemeral storage are sized for
// (cdk/gate/props.go).
type setScanner struct {
	src   sigSource
	every time.Duration
	start func(n int) (*generation, error)
	log   *slog.Logger

	mu      sync.Mutex
	cur     *generation
	n       int
	checked time.Time
	swap    chan struct{} // non-nil while a check or swap runs; closed at its end
	closed  bool
}

var (
	_ lambdas.Leaser    = (*setScanner)(nil)
	_ lambdas.Refresher = (*setScanner)(nil)
)

// sigSource reads the signatures bucket's pointer.
type sigSource struct {
	d      objects.Driver
	bucket string
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

// generation is one clamd on one signature set.
type generation struct {
	s    *startingScanner
	stop func()
	dir  string
	// set is the ID of the set loaded, written before s is ready.
	set  string
	refs sync.WaitGroup
}

// newSetScanner starts the first generation; start builds generation n.
func newSetScanner(src sigSource, every time.Duration, start func(n int) (*generation, error), log *slog.Logger) (*setScanner, error) {
	g, err := start(0)
	if err != nil {
		return nil, err
	}
	return &setScanner{src: src, every: every, start: start, log: log, cur: g, checked: time.Now()}, nil
}

// Lease returns the current generation's engine for one scan. When a
// check is due it starts one in the background: this scan does not wait
// for it.
func (s *setScanner) Lease(context.Context) (lambdas.Scanner, func(), error) {
	s.mu.Lock()
	g := s.cur
	g.refs.Add(1)
	due := s.swap == nil && !s.closed && time.Since(s.checked) >= s.every
	s.mu.Unlock()
	if due {
		s.check()
	}
	var once sync.Once
	return g.s, func() { once.Do(g.refs.Done) }, nil
}

// Describe and Instream serve callers that do not lease (a health check):
// they use the current generation.
func (s *setScanner) Describe(ctx context.Context) (engine.Info, error) {
	sc, release, _ := s.Lease(ctx)
	defer release()
	return sc.Describe(ctx)
}

func (s *setScanner) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	sc, release, _ := s.Lease(ctx)
	defer release()
	return sc.Instream(ctx, r)
}

// Refresh checks the pointer now and waits until the newest set answers,
// or ctx ends.
func (s *setScanner) Refresh(ctx context.Context) error {
	done := s.check()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("lambdaenv: waiting for a newer signature set: %w", context.Cause(ctx))
	}
}

// check starts a check of the pointer unless one runs, and returns the
// channel closed when that check (and the swap it makes) ends.
func (s *setScanner) check() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.swap != nil {
		return s.swap
	}
	done := make(chan struct{})
	if s.closed {
		close(done)
		return done
	}
	s.swap, s.checked = done, time.Now()
	cur := s.cur
	go func() {
		defer func() {
			s.mu.Lock()
			s.swap = nil
			s.mu.Unlock()
			close(done)
		}()
		if err := s.renew(cur); err != nil {
			s.log.Warn("signature set check failed; the loaded set keeps answering", "err", err)
		}
	}()
	return done
}

// renew swaps in a generation on the current set when cur holds another.
func (s *setScanner) renew(cur *generation) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, err := sigset.ReadPointer(ctx, s.src.d, s.src.bucket)
	if err != nil {
		return err
	}
	select {
	case <-cur.s.ready:
	default:
		// The first set is still loading; it read the pointer moments ago.
		return nil
	}
	if cur.s.err == nil && cur.set == p.Set {
		return nil
	}
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	g, err := s.start(n)
	if err != nil {
		return err
	}
	if err := g.s.wait(ctx); err != nil {
		g.stop()
		os.RemoveAll(g.dir)
		return fmt.Errorf("lambdaenv: signature set %s: %w", p.Set, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		g.stop()
		os.RemoveAll(g.dir)
		return nil
	}
	old := s.cur
	s.cur = g
	s.mu.Unlock()
	s.log.Info("signature set swapped in", "set", g.set, "previous", old.set)
	go retire(old)
	return nil
}

// retire stops old once the scans that leased it have ended, and frees
// its folder.
func retire(old *generation) {
	old.refs.Wait()
	old.stop()
	os.RemoveAll(old.dir)
}

// close stops the current generation, after a swap in progress.
func (s *setScanner) close() {
	s.mu.Lock()
	s.closed = true
	done := s.swap
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	s.mu.Lock()
	g := s.cur
	s.mu.Unlock()
	g.stop()
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
	start := func(n int) (*generation, error) {
		g := &generation{dir: suffix(e.ClamAVDB, n)}
		if n > 0 {
			// A folder left by an earlier generation of this number (a
			// crashed swap) must not mix with the new set.
			if err := os.RemoveAll(g.dir); err != nil {
				return nil, fmt.Errorf("lambdaenv: %w", err)
			}
			if err := os.MkdirAll(g.dir, 0o700); err != nil {
				return nil, fmt.Errorf("lambdaenv: %w", err)
			}
		}
		prepare := func(ctx context.Context) error {
			begin := time.Now()
			m, err := sigset.Load(ctx, d, bucket, g.dir)
			if err != nil {
				return err
			}
			g.set = m.ID
			log.Info("signature set loaded", "set", m.ID, "version", m.Version, "builtAt", m.BuiltAt,
				"files", len(m.Files), "generation", n, "took", time.Since(begin).Round(time.Millisecond))
			return nil
		}
		s, stop, err := startClamd(ctx,
			daemon.Config{DatabaseDir: g.dir, Dir: suffix(clamdDir, n), StreamMaxLength: limit, Logger: log},
			clamd.Options{MaxStreamBytes: limit}, engine.Options{DatabaseDir: g.dir, MaxAge: e.MaxDBAge}, prepare, log)
		if err != nil {
			return nil, err
		}
		g.s, g.stop = s, stop
		return g, nil
	}
	every := e.SignaturesCheck
	if every <= 0 {
		every = DefaultSignaturesCheck
	}
	s, err := newSetScanner(src, every, start, log)
	if err != nil {
		return nil, func() {}, err
	}
	return s, s.close, nil
}

// openSignatures opens the signatures bucket at url.
func openSignatures(ctx context.Context, url string) (sigSource, error) {
	d, bucket, err := urlopen.OpenBucket(ctx, url)
	if err != nil {
		return sigSource{}, fmt.Errorf("lambdaenv: %s: %w", VarSignaturesBucket, err)
	}
	return sigSource{d: d, bucket: bucket}, nil
}
