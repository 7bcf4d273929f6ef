package statemachine_test

import (
	"errors"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/statemachine"
)

var update = flag.Bool("update", false, "rewrite the diagram in ARCHITECTURE.md")

func TestNext(t *testing.T) {
	tests := []struct {
		from  domain.Status
		event statemachine.Event
		want  domain.Status
		ok    bool
	}{
		{domain.StatusPending, statemachine.Claim, domain.StatusScanning, true},
		{domain.StatusScanning, statemachine.Reclaim, domain.StatusScanning, true},
		{domain.StatusScanning, statemachine.Pass, domain.StatusClean, true},
		{domain.StatusScanning, statemachine.Detect, domain.StatusInfected, true},
		{domain.StatusInfected, statemachine.Quarantine, domain.StatusReviewing, true},
		{domain.StatusReviewing, statemachine.Release, domain.StatusReleased, true},
		{domain.StatusReviewing, statemachine.Confirm, domain.StatusConfirmed, true},
		{domain.StatusFailed, statemachine.Rescan, domain.StatusPending, true},
		// The rules that keep a verdict honest.
		{domain.StatusPending, statemachine.Pass, "", false},
		{domain.StatusInfected, statemachine.Pass, "", false},
		{domain.StatusReviewing, statemachine.Pass, "", false},
		{domain.StatusClean, statemachine.Detect, "", false},
		{domain.StatusInfected, statemachine.Release, "", false},
		{domain.StatusGone, statemachine.Rescan, "", false},
		{domain.StatusClean, statemachine.Claim, "", false},
		{domain.StatusPending, "no-such-event", "", false},
	}
	for _, tt := range tests {
		got, err := statemachine.Next(tt.from, tt.event)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("Next(%s, %s) = %q, %v; want %q, ok=%v", tt.from, tt.event, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, statemachine.ErrIllegal) {
			t.Errorf("Next(%s, %s) error %v does not wrap ErrIllegal", tt.from, tt.event, err)
		}
	}
}

// Only a scan may make an object clean, and only from scanning.
func TestCleanOnlyFromScanning(t *testing.T) {
	for _, ev := range statemachine.Events() {
		if statemachine.Target(ev) != domain.StatusClean {
			continue
		}
		if ev != statemachine.Pass {
			t.Errorf("event %s leads to clean; only pass may", ev)
		}
		if got := statemachine.Sources(ev); !slices.Equal(got, []domain.Status{domain.StatusScanning}) {
			t.Errorf("pass starts from %v; want only scanning", got)
		}
	}
}

// Every status is reachable from pending and every non-terminal status can
// leave, so nothing can be stranded by the table itself.
func TestReachability(t *testing.T) {
	seen := map[domain.Status]bool{domain.StatusPending: true}
	frontier := []domain.Status{domain.StatusPending}
	for len(frontier) > 0 {
		s := frontier[0]
		frontier = frontier[1:]
		for _, ev := range statemachine.Available(s) {
			to := statemachine.Target(ev)
			if !seen[to] {
				seen[to] = true
				frontier = append(frontier, to)
			}
		}
	}
	for _, s := range domain.Statuses() {
		if !seen[s] {
			t.Errorf("status %s is unreachable from pending", s)
		}
	}
	for _, s := range []domain.Status{domain.StatusPending, domain.StatusScanning, domain.StatusInfected, domain.StatusReviewing} {
		if statemachine.Terminal(s) {
			t.Errorf("status %s is terminal; an object could be stranded there", s)
		}
	}
}

func TestTableAgreesWithCan(t *testing.T) {
	for _, from := range domain.Statuses() {
		for _, ev := range statemachine.Events() {
			want := slices.Contains(statemachine.Sources(ev), from)
			if got := statemachine.Can(from, ev); got != want {
				t.Errorf("Can(%s, %s) = %v; the table says %v", from, ev, got, want)
			}
		}
	}
}

const (
	beginMarker = "<!-- statemachine:begin -->\n"
	endMarker   = "<!-- statemachine:end -->"
)

// TestDiagramCurrent keeps the diagram in ARCHITECTURE.md equal to the
// table. Run with -update to rewrite it.
func TestDiagramCurrent(t *testing.T) {
	const path = "../ARCHITECTURE.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q block", path, beginMarker, endMarker)
	}
	want := "```mermaid\n" + statemachine.Mermaid() + "```\n"
	got := doc[i+len(beginMarker) : j]
	if got == want {
		return
	}
	if *update {
		doc = doc[:i+len(beginMarker)] + want + doc[j:]
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("ARCHITECTURE.md diagram is stale (go test ./statemachine -update); diff (-got +want):\n%s", cmp.Diff(got, want))
}
