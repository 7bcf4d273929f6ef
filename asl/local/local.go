package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/asl/workflow"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/stepfunctions"
	"github.com/scangate/scangate/store"
)

// WorkflowOptions configure Workflows. The zero value is the default.
type WorkflowOptions struct {
	// Workers bounds concurrent Scan tasks (the clamd streams); 0 means 4.
	Workers int
	// TimeScale compresses the definitions' retry delays, for tests and
	// demos; 0 means 1, real time. Timeouts are never compressed: a slow
	// scan must not turn into a spurious timeout.
	TimeScale float64
	// SweepEvery is how often stranded records are looked for; 0 means 30s.
	SweepEvery time.Duration
	// Sweep tunes each sweep; the zero value is the handlers' defaults.
	Sweep lambdas.SweepRequest
	// Drain is how long Run lets running executions finish on shutdown
	// before aborting them; 0 means 20s.
	Drain time.Duration
	// HistoryDir keeps each execution's history as JSON lines; "" keeps
	// none on disk (histories are then only in memory). The files are
	// diagnostics, written without fsync: an execution's events are
	// written when it ends or starts to wait (for a retry's delay or a
	// task token), so a crash loses what it did since. The record's own
	// History, written with every transition, is the durable trail, and
	// the sweep re-drives from the store whatever a crash interrupted.
	HistoryDir string
	// Histories keeps the histories in a store instead of files; it takes
	// the place of HistoryDir. The embedded store's driver implements it,
	// writing an execution's lines in the commits the records' writes make
	// anyway, so a history costs no file creation and no fsync of its own.
	Histories HistoryStore
	// HistoryRetention is how long an execution's history is kept after
	// its last line, in the store (when it implements HistoryPruner) or
	// in HistoryDir; 0 keeps every history. Run prunes when it starts and
	// then every HistoryRetention/24, between a minute and a day, so a
	// history goes at most a twenty-fourth of the retention late. On
	// AWS, CloudWatch Logs' retention does this for the workflow logs.
	HistoryRetention time.Duration
	// RetagWindow is how far back from the newest decision Run, when it
	// starts, looks for clean and allowlisted records whose objects lack
	// their verdict's tags (a stop between the verdict's commit and the
	// tag write: see lambdas.Handlers.Retag), when the store can list
	// records by time; 0 means 10 minutes, a negative value turns it off.
	RetagWindow time.Duration
	Logger      *slog.Logger
}

// defaultRetagWindow is RetagWindow's default. The tags it looks for are
// those of the last decisions before a stop, a verdict committed but not
// yet tagged: a few at most, one per workflow worker.
const defaultRetagWindow = 10 * time.Minute

// retagLimit bounds the records of each state one start looks at.
const retagLimit = 10000

// HistoryPruner is a HistoryStore that deletes old histories.
// *embedded.Driver implements it.
type HistoryPruner interface {
	// PruneHistories deletes the histories of executions whose last line
	// was written before before and returns how many it deleted.
	PruneHistories(ctx context.Context, before time.Time) (int, error)
}

// historyPruneEvery is how often Run prunes histories with retention r:
// a prune reads every history, so not more often than the retention
// needs.
func historyPruneEvery(r time.Duration) time.Duration {
	return min(max(r/24, time.Minute), 24*time.Hour)
}

// HistoryStore keeps execution histories, filed by the record key in
// their names (asl.RecordKeyOf). *embedded.Driver implements it.
type HistoryStore interface {
	// AppendHistory adds JSON lines to exec's history without waiting for
	// them to be stored; lines may be reused once it returns.
	AppendHistory(recordKey, exec string, lines []byte)
	// Histories calls fn with each execution filed under recordKey and
	// its lines so far.
	Histories(ctx context.Context, recordKey string, fn func(exec string, lines []byte) error) error
}

// Workflows runs scangate's committed ASL definitions, asl.Scan and
// asl.Review, in-process with the workflow interpreter: the local
// counterpart of Step Functions. It implements lambdas.Starter,
// lambdas.ReviewStarter and lambdas.Resumer.
type Workflows struct {
	st   *store.Store
	opts WorkflowOptions
	log  *slog.Logger

	h            *lambdas.Handlers
	scan, review *workflow.Machine
	slots        chan struct{}

	base      context.Context // executions outlive the requests that start them
	cancel    context.CancelFunc
	mu        sync.Mutex
	execs     []*workflow.Execution // scan executions started, pruned as they end
	hist      sync.Mutex
	histLines map[string]*pendingHistory // history of running executions not written yet
	// histPool recycles the pendingHistory of executions whose lines are
	// written: their buffers were a fifth of the bytes an object's
	// pipeline allocated.
	histPool sync.Pool
	histDir  atomic.Bool // HistoryDir exists
}

var (
	_ lambdas.Starter       = (*Workflows)(nil)
	_ lambdas.ReviewStarter = (*Workflows)(nil)
	_ lambdas.Resumer       = (*Workflows)(nil)
)

// New builds the local runtime and the handlers it runs from cfg, wired
// to each other in one step: the handlers start, resume and offload
// workflows through the runtime (New sets cfg's Starter, Resumer and
// Reviews, and its Offloader when cfg.LargeScanner is set), and the
// runtime runs the handlers' steps.
func New(st *store.Store, cfg lambdas.Config, opts WorkflowOptions) (*Workflows, *lambdas.Handlers, error) {
	w := newWorkflows(st, opts)
	cfg.Starter, cfg.Resumer, cfg.Reviews = w, w, w
	if cfg.LargeScanner != nil && cfg.Offloader == nil {
		cfg.Offloader = w
	}
	h, err := lambdas.New(cfg)
	if err == nil {
		err = w.load(h)
	}
	if err != nil {
		w.cancel()
		return nil, nil, err
	}
	return w, h, nil
}

// NewRunner runs the definitions with handlers built elsewhere, which
// start and resume workflows their own way: the large-object task, whose
// handlers start reviews in Step Functions, and tests that compare this
// interpreter with another runner of the same handlers.
func NewRunner(st *store.Store, h *lambdas.Handlers, opts WorkflowOptions) (*Workflows, error) {
	w := newWorkflows(st, opts)
	if err := w.load(h); err != nil {
		w.cancel()
		return nil, err
	}
	return w, nil
}

func newWorkflows(st *store.Store, opts WorkflowOptions) *Workflows {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = 30 * time.Second
	}
	if opts.Drain <= 0 {
		opts.Drain = 20 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	return &Workflows{st: st, opts: opts, log: opts.Logger, slots: make(chan struct{}, opts.Workers), base: base, cancel: cancel}
}

// functionARN is the ARN the local runtime substitutes for a function's
// placeholder; the resolver maps it back to the handler.
func functionARN(f asl.Function) string {
	return "arn:aws:lambda:local:000000000000:function:scangate-" + string(f)
}

// load takes the steps from h's table and loads both definitions.
func (w *Workflows) load(h *lambdas.Handlers) error {
	w.h = h
	steps := map[asl.Function]workflow.Handler{}
	values := map[string]string{}
	for f, fn := range h.Steps() {
		handler := workflow.Handler(fn)
		if f == asl.FuncScan || f == asl.FuncScanLarge {
			handler = w.bounded(handler)
		}
		steps[f] = handler
		values[f.Placeholder()] = functionARN(f)
	}
	resolve := func(resource, state string) (workflow.Handler, error) {
		for f, fn := range steps {
			if resource == functionARN(f) {
				return fn, nil
			}
		}
		return nil, fmt.Errorf("local: no handler for resource %q of state %s", resource, state)
	}
	load := func(name string, def []byte) (*workflow.Machine, error) {
		def, err := asl.Substitute(def, values)
		if err != nil {
			return nil, err
		}
		return workflow.Load(def, resolve, &workflow.Options{
			Name: name, Sleep: w.sleep, Cause: cause, OnEvent: w.record, Logger: w.log,
		})
	}
	var err error
	if w.scan, err = load("scangate-scan", asl.Scan()); err != nil {
		return err
	}
	w.review, err = load("scangate-review", asl.Review())
	return err
}

// sleep waits out a retry delay, compressed by TimeScale.
func (w *Workflows) sleep(ctx context.Context, d time.Duration) error {
	if w.opts.TimeScale > 0 {
		d = time.Duration(float64(d) * w.opts.TimeScale)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// bounded lets at most Workers scans stream at once.
func (w *Workflows) bounded(fn workflow.Handler) workflow.Handler {
	return func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-w.slots }()
		return fn(ctx, raw)
	}
}

// cause renders an error as Lambda renders it into a task failure's Cause.
func cause(err error) string {
	b, _ := json.Marshal(lambdas.InvokeError(err))
	return string(b)
}

// Start starts the scan workflow for rec. A duplicate start of an
// execution that is still running is a no-op; a record whose execution of
// this generation ended (and that still needs one, as the sweep decides)
// gets a restart with a suffixed name.
func (w *Workflows) Start(ctx context.Context, rec *domain.Record) (string, error) {
	return w.start(rec, asl.Document{ID: rec.ID, Object: rec.Object, Next: "scan"})
}

// StartClaimed starts the scan workflow for rec, which ingest created
// claimed for it, with the lease's token in the input
// (lambdas.ClaimStarter).
func (w *Workflows) StartClaimed(ctx context.Context, rec *domain.Record) (string, error) {
	if rec.Lease == nil || rec.Lease.Token == "" {
		return "", fmt.Errorf("local: start %s: the record holds no lease", rec.ID)
	}
	return w.start(rec, asl.Document{ID: rec.ID, Object: rec.Object, Next: "scan", LeaseToken: rec.Lease.Token})
}

func (w *Workflows) start(rec *domain.Record, doc asl.Document) (string, error) {
	name := asl.ExecutionName("scan", rec.Object.Key, rec.ID, stepfunctions.Generation(rec))
	input, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for attempt := 0; ; attempt++ {
		n := name
		if attempt > 0 {
			n = fmt.Sprintf("%s-r%d", name, attempt)
		}
		e, err := w.scan.Start(w.base, n, input)
		if err == nil {
			w.execs = append(w.execs, e)
			return e.ARN(), nil
		}
		if !errors.Is(err, workflow.ErrExecutionAlreadyExists) {
			return "", err
		}
		if prev, ok := w.scan.Execution(n); ok && prev.Status() == workflow.StatusRunning {
			return prev.ARN(), nil
		}
	}
}

// ExecutionID is the ARN Start gives rec's execution when none of its
// generation ran before (lambdas.ExecutionNamer); a restart gets a
// suffixed name, which Start returns.
func (w *Workflows) ExecutionID(rec *domain.Record) string {
	return stepfunctions.ExecutionARN(w.scan.ARN(), asl.ExecutionName("scan", rec.Object.Key, rec.ID, stepfunctions.Generation(rec)))
}

// Offload is the local large-object path: a second execution of the same
// scan definition, whose input carries Offloaded, so its Claim routes the
// object to ScanLarge (the handlers' LargeScanner, a clamd that allows
// longer streams). In AWS the same execution runs in a Fargate task
// (package fargate, `scangate task`). The same version twice starts it
// once.
func (w *Workflows) Offload(ctx context.Context, st asl.Document, version int64) error {
	_, err := w.startOffloaded(st, version)
	if errors.Is(err, workflow.ErrExecutionAlreadyExists) {
		return nil
	}
	return err
}

func (w *Workflows) startOffloaded(st asl.Document, version int64) (*workflow.Execution, error) {
	st.Offloaded = true
	input, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	name := asl.ExecutionName("large", st.Object.Key, st.ID, int(version))
	w.mu.Lock()
	defer w.mu.Unlock()
	e, err := w.scan.Start(w.base, name, input)
	if err != nil {
		return nil, fmt.Errorf("local: offload %s: %w", st.ID, err)
	}
	w.execs = append(w.execs, e)
	return e, nil
}

// RunOffloaded runs one offloaded execution to its end: the body of the
// large-object task (`scangate task`), which gets st from the Offload step.
func (w *Workflows) RunOffloaded(ctx context.Context, st asl.Document) (workflow.Result, error) {
	e, err := w.startOffloaded(st, 0)
	if err != nil {
		return workflow.Result{}, err
	}
	return e.Wait(ctx)
}

// StartEvent starts the scan workflow with an event document as its input,
// as an EventBridge rule that targets the state machine does.
func (w *Workflows) StartEvent(ctx context.Context, name string, event json.RawMessage) (*workflow.Execution, error) {
	return w.scan.Start(w.base, name, event)
}

// StartReview starts the review workflow, once per review.
func (w *Workflows) StartReview(ctx context.Context, rec *domain.Record) error {
	name := asl.ExecutionName("review", rec.Object.Key, rec.ID, stepfunctions.Generation(rec))
	loc := rec.Location()
	input, err := json.Marshal(asl.Document{ID: rec.ID, Object: rec.Object, Status: rec.State, Location: &loc, Next: "decide"})
	if err != nil {
		return err
	}
	if _, err := w.review.Start(w.base, name, input); err != nil && !errors.Is(err, workflow.ErrExecutionAlreadyExists) {
		return err
	}
	return nil
}

// Resume sends the decision through the review's task token. A token no
// execution waits on any more (the process restarted since) is answered by
// carrying the decision out directly: it is recorded, and Decide is
// idempotent.
func (w *Workflows) Resume(ctx context.Context, item *domain.ReviewItem, st asl.Document) error {
	out, err := json.Marshal(st.Decision)
	if err != nil {
		return err
	}
	err = w.review.SendTaskSuccess(ctx, item.TaskToken, out)
	if errors.Is(err, workflow.ErrTaskDoesNotExist) || errors.Is(err, workflow.ErrTaskTimedOut) {
		w.log.Info("no review execution waits on this token; deciding directly", "id", item.ID)
		_, err = w.h.Decide(ctx, st)
	}
	return err
}

// Run sweeps for stranded records until ctx ends, then lets running
// executions finish for the drain period before aborting them. An aborted
// execution leaves its record pending or under an expiring lease, which
// the next sweep picks up: every step's write is one conditional write, so
// nothing is half-recorded.
func (w *Workflows) Run(ctx context.Context) error {
	if w.h == nil {
		return errors.New("local: workflows have no handlers")
	}
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		w.pruneLoop(ctx)
	}()
	defer func() { <-pruned }()
	w.retag(ctx)
	w.sweep(ctx)
	tick := time.NewTicker(w.opts.SweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.drain()
			return nil
		case <-tick.C:
			w.sweep(ctx)
		}
	}
}

// pruneLoop prunes histories now and then on Run's schedule until ctx
// ends; it returns at once without a retention.
func (w *Workflows) pruneLoop(ctx context.Context) {
	r := w.opts.HistoryRetention
	if r <= 0 {
		return
	}
	t := time.NewTicker(historyPruneEvery(r))
	defer t.Stop()
	for {
		n, err := w.PruneHistories(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("pruning execution histories failed", "err", err)
		}
		if n > 0 {
			w.log.Info("pruned execution histories", "executions", n, "retention", r)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PruneHistories deletes the histories whose last line is older than
// HistoryRetention (none when it is 0) and returns how many executions'
// histories it deleted. Run calls it on its own schedule.
func (w *Workflows) PruneHistories(ctx context.Context) (int, error) {
	r := w.opts.HistoryRetention
	if r <= 0 {
		return 0, nil
	}
	before := time.Now().Add(-r)
	if w.opts.Histories != nil {
		p, ok := w.opts.Histories.(HistoryPruner)
		if !ok {
			return 0, nil
		}
		return p.PruneHistories(ctx, before)
	}
	if w.opts.HistoryDir == "" {
		return 0, nil
	}
	entries, err := os.ReadDir(w.opts.HistoryDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		// A file is appended to whenever its execution writes, so its
		// modification time is its last line's.
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(before) {
			continue
		}
		if err := os.Remove(filepath.Join(w.opts.HistoryDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}

// retag puts back the verdict tags a stop may have kept from the objects
// of records decided within RetagWindow of the newest decision.
func (w *Workflows) retag(ctx context.Context) {
	l, ok := w.st.Driver().(lambdas.RecentRecords)
	window := w.opts.RetagWindow
	if !ok || window < 0 {
		return
	}
	if window == 0 {
		window = defaultRetagWindow
	}
	n, err := w.h.Retag(ctx, l, window, retagLimit)
	if err != nil && ctx.Err() == nil {
		w.log.Warn("retag at start failed", "err", err)
	}
	if n > 0 {
		w.log.Warn("tagged objects whose verdict was recorded but not tagged", "objects", n)
	}
}

func (w *Workflows) sweep(ctx context.Context) {
	if _, err := w.h.Sweep(ctx, w.opts.Sweep); err != nil && ctx.Err() == nil {
		w.log.Warn("sweep failed", "err", err)
	}
}

// drain waits for running scan executions (not for reviews, which wait
// for people), then closes both machines.
func (w *Workflows) drain() {
	deadline := time.Now().Add(w.opts.Drain)
	for time.Now().Before(deadline) && w.running() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if n := w.running(); n > 0 {
		w.log.Warn("drain period over; aborting running executions", "running", n)
	}
	w.cancel()
	w.scan.Close()
	w.review.Close()
}

// Busy reports whether at least half the scan slots are streaming: work
// of a lower priority (the retro-hunt) then waits for new uploads.
func (w *Workflows) Busy() bool {
	return len(w.slots) >= max(1, cap(w.slots)/2)
}

func (w *Workflows) running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	live := w.execs[:0]
	for _, e := range w.execs {
		if e.Status() == workflow.StatusRunning {
			live = append(live, e)
		}
	}
	w.execs = live
	return len(live)
}

// record keeps an execution's event for its history file. The lines are
// written at once when the execution ends or starts to wait: one
// write per wait instead of a write per event (the per-event writes were
// a tenth of the local pipeline's CPU). An execution's events come in
// order from its own goroutine, so its writes are in order too.
func (w *Workflows) record(exec string, ev workflow.Event) {
	if w.opts.HistoryDir == "" && w.opts.Histories == nil {
		return
	}
	end := strings.HasPrefix(ev.Type, "Execution") && ev.Type != "ExecutionStarted"
	wait := ev.Type == "TaskSubmitted" || ev.Type == "TaskRetry"
	w.hist.Lock()
	p := w.histLines[exec]
	if p == nil {
		if w.histLines == nil {
			w.histLines = map[string]*pendingHistory{}
		}
		p, _ = w.histPool.Get().(*pendingHistory)
		if p == nil {
			p = &pendingHistory{}
		}
		w.histLines[exec] = p
	}
	w.hist.Unlock()
	// Only the execution's goroutine touches p's memo, so the line is
	// built outside the lock; History reads p.lines under it.
	line, err := p.appendEvent(p.scratch[:0], ev)
	p.scratch = line[:0]
	if err != nil {
		w.log.Warn("history", "execution", exec, "err", err)
		return
	}
	w.hist.Lock()
	p.lines = append(p.lines, line...)
	lines := p.lines
	w.hist.Unlock()
	if end || wait {
		// Written before the lines leave histLines, so History finds
		// them in one place or the other (or both: it drops repeats),
		// never in neither.
		if err := w.appendHistory(exec, lines); err != nil {
			w.log.Warn("history", "execution", exec, "err", err)
		}
		w.hist.Lock()
		delete(w.histLines, exec)
		w.hist.Unlock()
		// No one else holds p now: it left histLines under the lock,
		// and History copies the lines it takes.
		p.reset()
		w.histPool.Put(p)
	}
}

// pendingHistory is what record keeps of a running execution: the lines
// not written yet, and what it needs to build the next one.
type pendingHistory struct {
	lines   []byte // under Workflows.hist
	scratch []byte
	// raws memoizes the last JSON texts of events' Input and Output as
	// they go into a line: the interpreter shares one text between the
	// events a document passes through unchanged, so it is checked and
	// escaped once instead of once per event.
	raws [4]struct{ in, out []byte }
	next int
	// last is the document of the line before, as rendered: a document
	// equal to it is written as a reference (storedEvent).
	last []byte
}

// reset empties p for another execution, or for the next piece of the
// same one, keeping its buffers. A piece never refers to a document of
// the piece before it, so each piece reads alone.
func (p *pendingHistory) reset() {
	p.lines = p.lines[:0]
	p.raws = [len(p.raws)]struct{ in, out []byte }{}
	p.next = 0
	p.last = nil
}

// storedEvent is a HistoryEvent as a line of a stored history: a state
// document that equals the document just before it (the previous line's
// output, else its input, or this line's input for its output) is left
// out and flagged. An execution's events carry the same document from
// state to state: a clean object's history takes 3.7 KB stored this way
// against 11.9 KB in full (BenchmarkPipeline's objects), and its share of
// the store's commits shrinks with it.
type storedEvent struct {
	HistoryEvent
	InputPrev  bool `json:"inputPrev,omitempty"`
	OutputPrev bool `json:"outputPrev,omitempty"`
}

// sameDoc reports whether the rendered documents a and b are equal; the
// memo usually hands out the very same bytes.
func sameDoc(a, b []byte) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	return &a[0] == &b[0] || bytes.Equal(a, b)
}

// appendEvent appends ev's line to dst: the JSON encoding of its
// storedEvent, exactly as json.Marshal renders it, and a newline.
// Building it by hand saves the reflection and, through the memo, the
// repeated checks of the same document.
func (p *pendingHistory) appendEvent(dst []byte, ev workflow.Event) ([]byte, error) {
	t, err := ev.Time.MarshalJSON()
	if err != nil {
		return dst, fmt.Errorf("json: error calling MarshalJSON for type time.Time: %w", err)
	}
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, int64(ev.ID), 10)
	dst = append(dst, `,"timestamp":`...)
	dst = append(dst, t...)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, ev.Type)
	if ev.State != "" {
		dst = append(dst, `,"state":`...)
		dst = appendString(dst, ev.State)
	}
	var prev [2]bool
	for i, f := range []struct {
		name string
		raw  json.RawMessage
	}{{`,"input":`, ev.Input}, {`,"output":`, ev.Output}} {
		if len(f.raw) == 0 {
			continue
		}
		b, err := p.compact(f.raw)
		if err != nil {
			return dst, fmt.Errorf("json: error calling MarshalJSON for type json.RawMessage: %w", err)
		}
		if sameDoc(b, p.last) {
			prev[i] = true
		} else {
			dst = append(append(dst, f.name...), b...)
		}
		p.last = b
	}
	if ev.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendString(dst, ev.Error)
	}
	if ev.Cause != "" {
		dst = append(dst, `,"cause":`...)
		dst = appendString(dst, ev.Cause)
	}
	if ev.Attempt != 0 {
		dst = append(dst, `,"attempt":`...)
		dst = strconv.AppendInt(dst, int64(ev.Attempt), 10)
	}
	if ev.Delay > 0 {
		dst = append(dst, `,"delay":`...)
		dst = appendString(dst, ev.Delay.String())
	}
	if prev[0] {
		dst = append(dst, `,"inputPrev":true`...)
	}
	if prev[1] {
		dst = append(dst, `,"outputPrev":true`...)
	}
	return append(dst, "}\n"...), nil
}

// compact renders a non-empty JSON text as json.Marshal renders a
// json.RawMessage: checked, compacted and HTML-escaped. The same text (the
// same bytes, not merely equal ones) gives the result of its last
// rendering.
func (p *pendingHistory) compact(raw []byte) ([]byte, error) {
	for _, r := range p.raws {
		if len(r.in) == len(raw) && &r.in[0] == &raw[0] {
			return r.out, nil
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	if bytes.ContainsAny(out, "<>&\u2028\u2029") {
		var esc bytes.Buffer
		json.HTMLEscape(&esc, out)
		out = esc.Bytes()
	}
	p.raws[p.next].in, p.raws[p.next].out = raw, out
	p.next = (p.next + 1) % len(p.raws)
	return out, nil
}

// appendString appends s as a JSON string, as json.Marshal renders it.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	return append(append(append(dst, '"'), s...), '"')
}

func (w *Workflows) appendHistory(exec string, lines []byte) error {
	if w.opts.Histories != nil {
		key, ok := asl.RecordKeyOf(exec)
		if !ok {
			key = exec
		}
		w.opts.Histories.AppendHistory(key, exec, lines)
		return nil
	}
	if !w.histDir.Load() {
		if err := os.MkdirAll(w.opts.HistoryDir, 0o750); err != nil {
			return err
		}
		w.histDir.Store(true)
	}
	f, err := os.OpenFile(filepath.Join(w.opts.HistoryDir, exec+".jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(lines)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// HistoryEvent is one event of an execution's history as stored and
// served.
type HistoryEvent struct {
	ID      int             `json:"id"`
	Time    time.Time       `json:"timestamp"`
	Type    string          `json:"type"`
	State   string          `json:"state,omitempty"`
	Input   json.RawMessage `json:"input,omitempty"`
	Output  json.RawMessage `json:"output,omitempty"`
	Error   string          `json:"error,omitempty"`
	Cause   string          `json:"cause,omitempty"`
	Attempt int             `json:"attempt,omitempty"`
	Delay   string          `json:"delay,omitempty"`
}

func historyEvent(ev workflow.Event) HistoryEvent {
	h := HistoryEvent{ID: ev.ID, Time: ev.Time, Type: ev.Type, State: ev.State, Input: ev.Input,
		Output: ev.Output, Error: ev.Error, Cause: ev.Cause, Attempt: ev.Attempt}
	if ev.Delay > 0 {
		h.Delay = ev.Delay.String()
	}
	return h
}

// ExecutionHistory is one execution and its events.
type ExecutionHistory struct {
	Execution string         `json:"execution"`
	Events    []HistoryEvent `json:"events"`
}

// History returns every execution of the record's workflows, oldest
// first, from the history store or files.
func (w *Workflows) History(id string) ([]ExecutionHistory, error) {
	if w.opts.HistoryDir == "" && w.opts.Histories == nil {
		return nil, errors.New("local: no history directory")
	}
	key := asl.ExecutionRecordKey(id)
	// Events not written yet, of executions still running. Taken before
	// the stored ones are read: an event written meanwhile is then read
	// twice at worst, and dropped below, never missed.
	pending := map[string][]byte{}
	w.hist.Lock()
	for exec, p := range w.histLines {
		if k, ok := asl.RecordKeyOf(exec); ok && k == key {
			pending[exec] = slices.Clone(p.lines)
		}
	}
	w.hist.Unlock()
	var out []ExecutionHistory
	add := func(exec string, r io.Reader) {
		eh := ExecutionHistory{Execution: exec}
		eh.Events = readHistory(r, eh.Events)
		if lines, ok := pending[exec]; ok {
			eh.Events = readHistory(bytes.NewReader(lines), eh.Events)
			delete(pending, exec)
		}
		out = append(out, eh)
	}
	if w.opts.Histories != nil {
		err := w.opts.Histories.Histories(w.base, key, func(exec string, lines []byte) error {
			add(exec, bytes.NewReader(lines))
			return nil
		})
		if err != nil {
			return nil, err
		}
	} else {
		matches, err := filepath.Glob(filepath.Join(w.opts.HistoryDir, "*-"+key+"-g*.jsonl"))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			f, err := os.Open(m)
			if err != nil {
				return nil, err
			}
			add(strings.TrimSuffix(filepath.Base(m), ".jsonl"), f)
			f.Close()
		}
	}
	for exec, lines := range pending {
		out = append(out, ExecutionHistory{Execution: exec, Events: readHistory(bytes.NewReader(lines), nil)})
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i].Events) == 0 || len(out[j].Events) == 0 {
			return out[i].Execution < out[j].Execution
		}
		return out[i].Events[0].Time.Before(out[j].Events[0].Time)
	})
	return out, nil
}

// readHistory appends the events of r's JSON lines (pieces of one
// execution, in order) to evs, with the documents storedEvent left out
// put back, skipping any event whose ID evs already holds.
func readHistory(r io.Reader, evs []HistoryEvent) []HistoryEvent {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var last json.RawMessage
	for sc.Scan() {
		var ev storedEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		// A piece starts with its documents in full, so last is always
		// the document before, whichever piece it came from.
		if ev.InputPrev {
			ev.Input = last
		}
		if len(ev.Input) > 0 {
			last = ev.Input
		}
		if ev.OutputPrev {
			ev.Output = last
		}
		if len(ev.Output) > 0 {
			last = ev.Output
		}
		if n := len(evs); n > 0 && ev.ID <= evs[n-1].ID {
			continue
		}
		evs = append(evs, ev.HistoryEvent)
	}
	return evs
}
