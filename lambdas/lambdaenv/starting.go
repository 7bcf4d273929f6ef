package lambdaenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/internal/engine"
)

// startingScanner is the engine of a clamd that may still be loading its
// signatures. Lambda gives an execution environment's init 10 seconds, and
// clamd with the official database takes longer: init starts it without
// waiting, and the first scan waits for it within its own timeout. Warm
// invocations find it ready.
type startingScanner struct {
	eng   *engine.Engine
	ready chan struct{}
	err   error // written before ready closes
	d     *daemon.Daemon
}

// startClamd starts clamd in the background and returns the scanner over
// it at once, and a function that stops clamd once it is up. prepare,
// when not nil, runs first in the background (loading the signature set
// into the database directory): when it fails, clamd is never started and
// every scan fails as unavailable, never clean.
func startClamd(ctx context.Context, dcfg daemon.Config, copts clamd.Options, eopts engine.Options, prepare func(context.Context) error, log *slog.Logger) (*startingScanner, func(), error) {
	c, err := clamd.New("unix://"+daemon.SocketPath(dcfg.Dir), copts)
	if err != nil {
		return nil, func() {}, err
	}
	eng, err := engine.New(c, eopts)
	if err != nil {
		return nil, func() {}, err
	}
	s := &startingScanner{eng: eng, ready: make(chan struct{})}
	go func() {
		defer close(s.ready)
		begin := time.Now()
		if prepare != nil {
			if err := prepare(context.WithoutCancel(ctx)); err != nil {
				// Final for this environment, like a clamd that cannot
				// start: scans fail (retried, then recorded failed).
				s.err = fmt.Errorf("lambdaenv: signatures: %w: %w", engine.ErrUnavailable, err)
				log.Error("no signature database: clamd not started", "err", err)
				return
			}
		}
		d, err := daemon.Start(context.WithoutCancel(ctx), dcfg)
		if err != nil {
			// Final for this environment: starting again would load the
			// same database with the same result. Scans fail as clamd
			// unavailable, retried by the workflow and then recorded.
			s.err = fmt.Errorf("lambdaenv: start clamd: %w: %w", engine.ErrUnavailable, err)
			log.Error("clamd did not start", "err", err)
			return
		}
		s.d = d
		// Its resident memory, against which the function's memory was
		// sized from a proxy (docs/clamd-memory.md): the real database's
		// figure, logged at every load.
		attrs := []any{"took", time.Since(begin).Round(time.Millisecond)}
		if m, err := d.Memory(); err == nil {
			attrs = append(attrs, "rssMiB", m.RSS>>20, "peakMiB", m.Peak>>20)
		}
		log.Info("clamd ready", attrs...)
	}()
	stop := func() {
		<-s.ready
		if s.d != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			s.d.Stop(sctx)
		}
	}
	return s, stop, nil
}

func (s *startingScanner) wait(ctx context.Context) error {
	select {
	case <-s.ready:
		return s.err
	case <-ctx.Done():
		return fmt.Errorf("lambdaenv: clamd is still starting: %w: %w", engine.ErrUnavailable, context.Cause(ctx))
	}
}

// Describe waits for clamd, then describes the engine.
func (s *startingScanner) Describe(ctx context.Context) (engine.Info, error) {
	if err := s.wait(ctx); err != nil {
		return engine.Info{}, err
	}
	return s.eng.Describe(ctx)
}

// Instream waits for clamd, then scans r.
func (s *startingScanner) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	if err := s.wait(ctx); err != nil {
		return clamd.Result{}, err
	}
	return s.eng.Instream(ctx, r)
}
