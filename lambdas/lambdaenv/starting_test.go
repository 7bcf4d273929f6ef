package lambdaenv

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/internal/engine"
)

func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sg-env-") // clamd's socket path must be short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// The environment's init returns before clamd answers; the first scan
// waits for it and gets a real verdict.
func TestClamdStartsInTheBackground(t *testing.T) {
	t.Parallel()
	sigs := clamdtest.SignaturesDir(t)
	s, stop, err := startClamd(t.Context(),
		daemon.Config{DatabaseDir: sigs, Dir: shortDir(t)},
		clamd.Options{}, engine.Options{DatabaseDir: sigs, DevMode: true}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	select {
	case <-s.ready:
		t.Log("clamd was up before startClamd returned; the wait is not exercised this time")
	default:
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := s.Describe(ctx); err != nil {
		t.Fatalf("Describe: %v", err)
	}
	res, err := s.Instream(ctx, strings.NewReader(clamdtest.EICAR))
	if err != nil || res.Status != clamd.StatusFound {
		t.Fatalf("Instream = %+v, %v; want EICAR found", res, err)
	}
}

// A clamd that cannot start, and a scan that gives up waiting, are both
// "clamd unavailable": retried by the workflow, never clean.
func TestClamdStartFailureIsUnavailable(t *testing.T) {
	t.Parallel()
	empty := t.TempDir() // no signatures: clamd refuses to start
	s, stop, err := startClamd(t.Context(),
		daemon.Config{DatabaseDir: empty, Dir: shortDir(t)},
		clamd.Options{}, engine.Options{DatabaseDir: empty}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Instream(cancelled, strings.NewReader("x")); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("Instream with the caller gone = %v; want ErrUnavailable", err)
	}
	ctx, cancel2 := context.WithTimeout(t.Context(), time.Minute)
	defer cancel2()
	if _, err := s.Describe(ctx); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("Describe after a failed start = %v; want ErrUnavailable", err)
	}
}
