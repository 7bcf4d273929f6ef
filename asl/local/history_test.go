package local

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scangate/scangate/asl/workflow"
)

// TestHistoryWrites checks when an execution's events reach its file (at
// a wait and at the end, not at every event) and that History shows every
// event recorded so far either way.
func TestHistoryWrites(t *testing.T) {
	dir := t.TempDir()
	w := &Workflows{opts: WorkflowOptions{HistoryDir: dir}, log: slog.New(slog.DiscardHandler)}
	const id = "0123abcd"
	exec := "scan-key-" + id + "-g0"
	file := filepath.Join(dir, exec+".jsonl")
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		typ string
		// written is how many events the file holds after this one.
		written int
	}{
		{"ExecutionStarted", 0},
		{"TaskScheduled", 0},
		{"TaskFailed", 0},
		{"TaskRetry", 4}, // waits out a delay
		{"TaskScheduled", 4},
		{"TaskSubmitted", 6}, // waits for a task token
		{"TaskSucceeded", 6},
		{"ExecutionSucceeded", 8},
	}
	for i, s := range steps {
		w.record(exec, workflow.Event{ID: i + 1, Time: at.Add(time.Duration(i) * time.Second), Type: s.typ, State: "Scan"})
		if got := countLines(t, file); got != s.written {
			t.Errorf("after %s: the file holds %d events, want %d", s.typ, got, s.written)
		}
		hist, err := w.History(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Execution != exec || len(hist[0].Events) != i+1 {
			t.Fatalf("after %s: History gives %+v; want %s with %d events", s.typ, hist, exec, i+1)
		}
		for j, ev := range hist[0].Events {
			if ev.ID != j+1 || ev.Type != steps[j].typ {
				t.Errorf("after %s: event %d is %d %s, want %d %s", s.typ, j, ev.ID, ev.Type, j+1, steps[j].typ)
			}
		}
	}
	if len(w.histLines) != 0 {
		t.Errorf("%d executions' lines kept after they ended", len(w.histLines))
	}
}

func countLines(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(name)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
