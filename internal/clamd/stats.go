package clamd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Threads is clamd's thread pool as its STATS reply describes it.
type Threads struct {
	Live, Idle, Max int
}

// ParseThreads reads the THREADS line of a STATS reply:
//
//	THREADS: live 1  idle 0 max 10 idle-timeout 30
//
// It fails unless the line is there with a positive max: a pool size
// scangate cannot read must not become a concurrency bound of zero.
func ParseThreads(stats string) (Threads, error) {
	for line := range strings.SplitSeq(stats, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "THREADS:")
		if !ok {
			continue
		}
		var t Threads
		seen := map[string]bool{}
		f := strings.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			var dst *int
			switch f[i] {
			case "live":
				dst = &t.Live
			case "idle":
				dst = &t.Idle
			case "max":
				dst = &t.Max
			default:
				continue
			}
			n, err := strconv.Atoi(f[i+1])
			if err != nil || n < 0 || n > maxThreadsSane {
				return Threads{}, fmt.Errorf("clamd: stats: THREADS %s %q: %w", f[i], f[i+1], ErrProtocol)
			}
			*dst, seen[f[i]] = n, true
		}
		if !seen["max"] || t.Max == 0 {
			return Threads{}, fmt.Errorf("clamd: stats: THREADS line without a max: %q: %w", line, ErrProtocol)
		}
		return t, nil
	}
	return Threads{}, fmt.Errorf("clamd: stats: no THREADS line: %w", ErrProtocol)
}

// maxThreadsSane bounds what ParseThreads believes; clamd's own limit on
// MaxThreads is far below it.
const maxThreadsSane = 1 << 16

// Threads asks clamd for its thread pool (STATS).
func (c *Client) Threads(ctx context.Context) (Threads, error) {
	s, err := c.Stats(ctx)
	if err != nil {
		return Threads{}, err
	}
	return ParseThreads(s)
}
