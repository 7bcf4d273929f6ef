package local

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scangate/scangate/asl/workflow"
	"github.com/scangate/scangate/store/embedded"
)

// TestHistoryWrites checks when an execution's events are written (at a
// wait and at the end, not at every event), to files and to the embedded
// store, and that History shows every event recorded so far either way.
func TestHistoryWrites(t *testing.T) {
	const id = "0123abcd"
	exec := "scan-key-" + id + "-g0"
	for _, tc := range []struct {
		name string
		// open gives the options and a count of the events written.
		open func(t *testing.T) (WorkflowOptions, func() int)
	}{
		{"files", func(t *testing.T) (WorkflowOptions, func() int) {
			dir := t.TempDir()
			return WorkflowOptions{HistoryDir: dir}, func() int { return countLines(t, filepath.Join(dir, exec+".jsonl")) }
		}},
		{"embedded store", func(t *testing.T) (WorkflowOptions, func() int) {
			drv, err := embedded.Open(filepath.Join(t.TempDir(), "scangate.db"), &embedded.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { drv.Close() })
			return WorkflowOptions{Histories: drv}, func() int {
				drv.SyncHistories()
				n := 0
				err := drv.Histories(context.Background(), id, func(e string, lines []byte) error {
					if e != exec {
						t.Errorf("stored under %s, want %s", e, exec)
					}
					n += bytes.Count(lines, []byte("\n"))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, written := tc.open(t)
			w := &Workflows{opts: opts, log: slog.New(slog.DiscardHandler), base: context.Background()}
			at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			steps := []struct {
				typ string
				// written is how many events are written after this one.
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
				// Before written, which waits for the store's commit:
				// History must not miss lines on their way there.
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
				if got := written(); got != s.written {
					t.Errorf("after %s: %d events are written, want %d", s.typ, got, s.written)
				}
			}
			if len(w.histLines) != 0 {
				t.Errorf("%d executions' lines kept after they ended", len(w.histLines))
			}
			// Another record's execution is not in this one's history.
			w.record("scan-other-0123abce-g0", workflow.Event{ID: 1, Time: at, Type: "ExecutionSucceeded"})
			written()
			if hist, err := w.History(id); err != nil || len(hist) != 1 {
				t.Errorf("History(%s) = %d executions, %v; want 1", id, len(hist), err)
			}
		})
	}
}

// TestHistoryRetention checks that PruneHistories deletes the histories
// whose last line is older than HistoryRetention, in files and in the
// embedded store, and keeps the others, and that Run's loop prunes on its own.
func TestHistoryRetention(t *testing.T) {
	const retention = time.Second
	oldExec, newExec := "scan-key-0000aaaa-g0", "scan-key-0000bbbb-g0"
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) WorkflowOptions
		// age makes exec's history older than the retention.
		age func(t *testing.T, opts WorkflowOptions, exec string)
	}{
		{"files", func(t *testing.T) WorkflowOptions {
			return WorkflowOptions{HistoryDir: t.TempDir()}
		}, func(t *testing.T, opts WorkflowOptions, exec string) {
			long := time.Now().Add(-100 * 24 * time.Hour)
			if err := os.Chtimes(filepath.Join(opts.HistoryDir, exec+".jsonl"), long, long); err != nil {
				t.Fatal(err)
			}
		}},
		{"embedded store", func(t *testing.T) WorkflowOptions {
			drv, err := embedded.Open(filepath.Join(t.TempDir(), "scangate.db"), &embedded.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { drv.Close() })
			return WorkflowOptions{Histories: drv}
		}, func(t *testing.T, opts WorkflowOptions, exec string) {
			// The store files a line under the time it was written.
			time.Sleep(retention + 300*time.Millisecond)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts(t)
			opts.HistoryRetention = retention
			w := &Workflows{opts: opts, log: slog.New(slog.DiscardHandler), base: context.Background()}
			end := func(exec string) {
				w.record(exec, workflow.Event{ID: 1, Time: time.Now(), Type: "ExecutionSucceeded"})
			}
			executions := func(id string) int {
				hist, err := w.History(id)
				if err != nil {
					t.Fatal(err)
				}
				return len(hist)
			}
			end(oldExec)
			tc.age(t, opts, oldExec)
			end(newExec)
			if h, ok := opts.Histories.(*embedded.Driver); ok {
				h.SyncHistories()
			}
			n, err := w.PruneHistories(context.Background())
			if err != nil || n != 1 {
				t.Errorf("PruneHistories = %d, %v; want 1, nil", n, err)
			}
			if got := executions("0000aaaa"); got != 0 {
				t.Errorf("the old record keeps %d executions' histories, want 0", got)
			}
			if got := executions("0000bbbb"); got != 1 {
				t.Errorf("the new record keeps %d executions' histories, want 1", got)
			}

			// Without a retention nothing goes; Run's
			// pruneLoop prunes when it starts.
			w.opts.HistoryRetention = 0
			tc.age(t, opts, newExec)
			if n, err := w.PruneHistories(context.Background()); n != 0 || err != nil {
				t.Errorf("PruneHistories without a retention = %d, %v; want 0, nil", n, err)
			}
			if got := executions("0000bbbb"); got != 1 {
				t.Errorf("without a retention, the new record keeps %d executions' histories, want 1", got)
			}
			w.opts.HistoryRetention = retention
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan struct{})
			go func() {
				defer close(ran)
				w.pruneLoop(ctx)
			}()
			deadline := time.Now().Add(10 * time.Second)
			for executions("0000bbbb") != 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			<-ran
			if got := executions("0000bbbb"); got != 0 {
				t.Errorf("pruneLoop left %d executions' histories older than the retention, want 0", got)
			}
		})
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

// TestHistoryLine checks that record's hand-built lines are exactly what
// json.Marshal makes of the HistoryEvent, which the history files held
// before and History reads.
func TestHistoryLine(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	doc := json.RawMessage(`{"id":"abc","next":"scan","skip":false}`)
	for _, tc := range []struct {
		name string
		ev   workflow.Event
	}{
		{"bare", workflow.Event{ID: 1, Time: at, Type: "ExecutionStarted"}},
		{"zero time", workflow.Event{Type: "PassStateEntered"}},
		{"input", workflow.Event{ID: 2, Time: at, Type: "TaskStateEntered", State: "Scan", Input: doc}},
		{"output and attempt", workflow.Event{ID: 3, Time: at, Type: "TaskSucceeded", State: "Scan", Output: doc, Attempt: 2}},
		{"uncompacted output", workflow.Event{ID: 4, Time: at, Type: "TaskSubmitted", Output: json.RawMessage(" { \"a\" : [1, 2] }\n")}},
		{"html in JSON", workflow.Event{ID: 5, Time: at, Type: "TaskScheduled", Input: json.RawMessage(`{"k":"<a> & b \u2028","s":"` + "\u2029" + `"}`)}},
		{"escapes in strings", workflow.Event{ID: 6, Time: at, Type: "TaskFailed", State: "Scan \"1\"\\", Error: "E<r>&", Cause: "line\nbreak\ttab \x01 é \u2028 \xff"}},
		{"retry", workflow.Event{ID: 7, Time: at, Type: "TaskRetry", State: "Claim", Error: "Leased", Cause: `{"errorType":"Leased"}`, Attempt: 1, Delay: 1500 * time.Millisecond}},
		{"negative delay", workflow.Event{ID: 8, Time: at, Type: "TaskRetry", Delay: -time.Second}},
		{"scalar output", workflow.Event{ID: 9, Time: at, Type: "ExecutionSucceeded", Output: json.RawMessage(`"x"`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full := historyEvent(tc.ev)
			want, err := json.Marshal(storedEvent{HistoryEvent: full})
			if err != nil {
				t.Fatal(err)
			}
			// The second line's document comes from the memo, and is the
			// document of the line before it.
			again := storedEvent{HistoryEvent: full, InputPrev: len(full.Input) > 0, OutputPrev: len(full.Output) > 0}
			again.Input, again.Output = nil, nil
			wantAgain, err := json.Marshal(again)
			if err != nil {
				t.Fatal(err)
			}
			var p pendingHistory
			for i, want := range [][]byte{want, wantAgain} {
				got, err := p.appendEvent(nil, tc.ev)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want)+"\n" {
					t.Errorf("line %d\n%s\nwant\n%s", i+1, got, want)
				}
			}
		})
	}
	t.Run("invalid JSON", func(t *testing.T) {
		ev := workflow.Event{ID: 1, Time: at, Type: "TaskSubmitted", Output: json.RawMessage(`{"a":`)}
		if _, err := json.Marshal(historyEvent(ev)); err == nil {
			t.Fatal("json.Marshal accepts the event")
		}
		var p pendingHistory
		if _, err := p.appendEvent(nil, ev); err == nil {
			t.Error("appendEvent accepts the event")
		}
	})
}

// TestHistoryDocumentsLeftOut checks that the lines of an execution leave
// out a document equal to the one before it, that every piece starts in
// full, and that readHistory gives back every event whole, also when it
// reads a piece twice (stored and still pending).
func TestHistoryDocumentsLeftOut(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	d0 := json.RawMessage(`{"id":"abc","next":"scan"}`)
	d1 := json.RawMessage(`{"id":"abc","verdict":{"outcome":"clean"}}`)
	d1copy := json.RawMessage(`{"id":"abc","verdict":{"outcome":"clean"}}`) // equal, not the same bytes
	events := []workflow.Event{
		{ID: 1, Time: at, Type: "ExecutionStarted", Input: d0},
		{ID: 2, Time: at, Type: "TaskStateEntered", State: "Scan", Input: d0},
		{ID: 3, Time: at, Type: "TaskScheduled", State: "Scan", Input: d0},
		{ID: 4, Time: at, Type: "TaskSucceeded", State: "Scan", Output: d1},
		{ID: 5, Time: at, Type: "TaskRetry", State: "Record", Input: d1copy, Error: "E"}, // ends the piece
		{ID: 6, Time: at, Type: "TaskScheduled", State: "Record", Input: d1},
		{ID: 7, Time: at, Type: "PassStateExited", State: "Same", Input: d1, Output: d1},
		{ID: 8, Time: at, Type: "ExecutionSucceeded", Output: d0},
	}
	var p pendingHistory
	var pieces [][]byte
	var lines []byte
	for _, ev := range events {
		line, err := p.appendEvent(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line...)
		if ev.Type == "TaskRetry" {
			pieces = append(pieces, lines)
			lines = nil
			p.reset()
		}
	}
	pieces = append(pieces, lines)
	all := bytes.Join(pieces, nil)
	// d0, then d1, d1 again to start the second piece, d0 at the end.
	if n := bytes.Count(all, []byte(`"id":"abc"`)); n != 4 {
		t.Errorf("the lines hold %d documents, want 4:\n%s", n, all)
	}
	for i, piece := range pieces {
		if first, _, _ := bytes.Cut(piece, []byte("\n")); bytes.Contains(first, []byte("Prev")) {
			t.Errorf("piece %d starts with a reference: %s", i, first)
		}
	}
	check := func(name string, got []HistoryEvent) {
		t.Helper()
		if len(got) != len(events) {
			t.Fatalf("%s: %d events, want %d", name, len(got), len(events))
		}
		for i, ev := range events {
			want, _ := json.Marshal(historyEvent(ev))
			have, _ := json.Marshal(got[i])
			if string(have) != string(want) {
				t.Errorf("%s: event %d\n%s\nwant\n%s", name, i+1, have, want)
			}
		}
	}
	check("read once", readHistory(bytes.NewReader(all), nil))
	// History reads the stored pieces, then the pending one again.
	check("pending read again", readHistory(bytes.NewReader(pieces[1]), readHistory(bytes.NewReader(all), nil)))
}

func TestHistoryPruneEvery(t *testing.T) {
	for _, tc := range []struct{ retention, want time.Duration }{
		{time.Second, time.Minute},
		{48 * time.Hour, 2 * time.Hour},
		{90 * 24 * time.Hour, 24 * time.Hour},
	} {
		if got := historyPruneEvery(tc.retention); got != tc.want {
			t.Errorf("historyPruneEvery(%s) = %s, want %s", tc.retention, got, tc.want)
		}
	}
}
