package clamd_test

import (
	"errors"
	"testing"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
)

// A STATS reply of clamd 1.4.6 (Debian), configured with MaxThreads 3.
const statsReply = "POOLS: 1\n\nSTATE: VALID PRIMARY\nTHREADS: live 1  idle 0 max 3 idle-timeout 30\nQUEUE: 0 items\n\tSTATS 0.000003 \n\nMEMSTATS: heap N/A mmap N/A used N/A free N/A releasable N/A pools 1 pools_used 5.884M pools_total 5.964M\nEND"

func TestParseThreads(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want clamd.Threads
		ok   bool
	}{
		{"real reply", statsReply, clamd.Threads{Live: 1, Idle: 0, Max: 3}, true},
		{"extra spaces", "THREADS:   live 3 idle 2   max 12 idle-timeout 30\nEND", clamd.Threads{Live: 3, Idle: 2, Max: 12}, true},
		{"no threads line", "POOLS: 1\nEND", clamd.Threads{}, false},
		{"no max", "THREADS: live 1 idle 0\nEND", clamd.Threads{}, false},
		{"zero max", "THREADS: live 0 idle 0 max 0\nEND", clamd.Threads{}, false},
		{"negative", "THREADS: live -1 idle 0 max 4\nEND", clamd.Threads{}, false},
		{"not a number", "THREADS: live 1 idle 0 max many\nEND", clamd.Threads{}, false},
		{"absurd", "THREADS: live 1 idle 0 max 99999999\nEND", clamd.Threads{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clamd.ParseThreads(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseThreads(%q) error %v; want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, clamd.ErrProtocol) {
				t.Errorf("error %v does not wrap ErrProtocol", err)
			}
			if got != tt.want {
				t.Errorf("ParseThreads(%q) = %+v; want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseThreads(f *testing.F) {
	f.Add(statsReply)
	f.Add("THREADS: live 1 idle 0 max 10\nEND")
	f.Add("THREADS: max")
	f.Fuzz(func(t *testing.T, s string) {
		th, err := clamd.ParseThreads(s)
		if err != nil {
			if th != (clamd.Threads{}) {
				t.Fatalf("error %v with a non-zero result %+v", err, th)
			}
			return
		}
		if th.Max <= 0 || th.Live < 0 || th.Idle < 0 {
			t.Fatalf("ParseThreads(%q) = %+v: an accepted pool needs max > 0 and no negatives", s, th)
		}
	})
}

// A real clamd reports the pool size its configuration gave it.
func TestThreadsFromRealClamd(t *testing.T) {
	t.Parallel()
	c := setup(t, &clamdtest.Options{MaxThreads: 3})
	ctx := testContext(t)
	s, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("STATS reply: %q", s)
	th, err := c.Threads(ctx)
	if err != nil {
		t.Fatalf("Threads: %v", err)
	}
	if th.Max != 3 {
		t.Errorf("Threads() = %+v; want max 3, as configured", th)
	}
}
