// Package local is the local runtime behind `scangate run`: it drives each
// record through the workflow's steps in-process, with the workflow's retry
// rules, and serves the HTTP API. It calls the same handlers as the
// Lambdas; only the orchestration differs.
package local

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/store"
)

// Retry is a retry rule: the workflow's Retry block for retryable errors.
type Retry struct {
	// MaxAttempts counts retries after the first try.
	MaxAttempts int
	Interval    time.Duration
	BackoffRate float64
	MaxDelay    time.Duration
}

// DefaultRetry matches the deployed workflow's rule for retryable errors.
var DefaultRetry = Retry{MaxAttempts: 5, Interval: 2 * time.Second, BackoffRate: 2, MaxDelay: 60 * time.Second}

func (r Retry) delay(attempt int) time.Duration {
	d := float64(r.Interval)
	for range attempt {
		d *= r.BackoffRate
	}
	if r.MaxDelay > 0 && d > float64(r.MaxDelay) {
		d = float64(r.MaxDelay)
	}
	// Full jitter, as the deployed workflow's JitterStrategy FULL.
	return time.Duration(rand.Float64() * d)
}

// RunnerOptions configure a Runner. The zero value is the default.
type RunnerOptions struct {
	// Workers bounds concurrent executions; 0 means 4.
	Workers int
	Retry   Retry
	// SweepEvery is how often stranded records are looked for; 0 means 30s.
	SweepEvery time.Duration
	// Drain is how long Run lets in-flight executions finish on shutdown
	// before cancelling them; 0 means 20s.
	Drain  time.Duration
	Logger *slog.Logger
}

// Runner executes workflows in-process. It implements lambdas.Starter and
// lambdas.Resumer.
type Runner struct {
	h    *lambdas.Handlers
	st   *store.Store
	opts RunnerOptions
	log  *slog.Logger

	mu       sync.Mutex
	queue    []string
	inflight map[string]bool
	wake     chan struct{}
	wg       sync.WaitGroup
}

// NewRunner returns a Runner; call SetHandlers before Run.
func NewRunner(st *store.Store, opts RunnerOptions) *Runner {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Retry.MaxAttempts == 0 && opts.Retry.Interval == 0 {
		opts.Retry = DefaultRetry
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
	return &Runner{st: st, opts: opts, log: opts.Logger, inflight: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// SetHandlers wires the steps. The handlers hold the Runner as their
// Starter, so the two are built in two steps.
func (r *Runner) SetHandlers(h *lambdas.Handlers) { r.h = h }

// Start queues the record's execution. Starting a record that is queued or
// running is a no-op, like StartExecution with the same name.
func (r *Runner) Start(ctx context.Context, rec *domain.Record) (string, error) {
	r.enqueue(rec.ID)
	return "local:" + rec.ID, nil
}

func (r *Runner) enqueue(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight[id] {
		return false
	}
	r.inflight[id] = true
	r.queue = append(r.queue, id)
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return true
}

func (r *Runner) next() (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		return "", false
	}
	id := r.queue[0]
	r.queue = r.queue[1:]
	return id, true
}

func (r *Runner) done(id string) {
	r.mu.Lock()
	delete(r.inflight, id)
	r.mu.Unlock()
}

// StartReview stands in for the review workflow's wait: it stores a token
// on the review item, as the workflow's AwaitDecision task does.
func (r *Runner) StartReview(ctx context.Context, rec *domain.Record) error {
	return r.st.SetReviewToken(ctx, rec.ID, "local-review:"+rec.ID)
}

// Resume carries out a review decision: the local counterpart of sending
// the task token back to the waiting workflow.
func (r *Runner) Resume(ctx context.Context, item *domain.ReviewItem, st lambdas.State) error {
	_, err := r.step(ctx, "Decide", r.h.Decide, st)
	return err
}

// Run works the queue until ctx is done, then lets in-flight executions
// finish for the drain period. An execution cut off mid-step leaves its
// record pending or leased, and the next Run's sweep picks it up: nothing
// is half-recorded because every step's write is one conditional write.
func (r *Runner) Run(ctx context.Context) error {
	if r.h == nil {
		return errors.New("local: runner has no handlers")
	}
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	r.sweep(ctx)
	for range r.opts.Workers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.worker(ctx, work)
		}()
	}
	tick := time.NewTicker(r.opts.SweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			drained := make(chan struct{})
			go func() { r.wg.Wait(); close(drained) }()
			select {
			case <-drained:
			case <-time.After(r.opts.Drain):
				r.log.Warn("drain period over; cancelling in-flight executions")
				cancelWork()
				<-drained
			}
			return nil
		case <-tick.C:
			r.sweep(ctx)
		}
	}
}

func (r *Runner) worker(stop, work context.Context) {
	for {
		id, ok := r.next()
		if !ok {
			select {
			case <-stop.Done():
				return
			case <-r.wake:
				continue
			case <-time.After(200 * time.Millisecond):
				continue
			}
		}
		if stop.Err() != nil {
			// Not started: leave it pending for the next run's sweep.
			r.done(id)
			continue
		}
		r.execute(work, id)
		r.done(id)
		// Pass the wake-up on, in case several items arrived at once.
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// sweep restarts records no execution is driving; Start deduplicates
// against what is queued or running.
func (r *Runner) sweep(ctx context.Context) {
	if _, err := r.h.Sweep(ctx, lambdas.SweepRequest{}); err != nil {
		r.log.Warn("sweep failed", "err", err)
	}
}

type stepFunc func(context.Context, lambdas.State) (lambdas.State, error)

// execute runs one execution of the workflow for a record, shaped like the
// deployed definition: Claim, Scan, Record, then Quarantine or Block; any
// step that fails for good goes to Fail.
func (r *Runner) execute(ctx context.Context, id string) {
	rec, err := r.st.Get(ctx, id)
	if err != nil {
		r.log.Warn("execution could not read record", "id", id, "err", err)
		return
	}
	st := lambdas.State{ID: rec.ID, Object: rec.Object}
	if st, err = r.step(ctx, "Claim", r.h.Claim, st); err != nil {
		r.fail(ctx, st, err)
		return
	}
	switch {
	case st.Skip:
		return
	case st.Next == "quarantine" || st.Next == "block":
		r.finish(ctx, st, st.Next)
		return
	}
	if st, err = r.step(ctx, "Scan", r.h.Scan, st); err != nil {
		r.fail(ctx, st, err)
		return
	}
	if st, err = r.step(ctx, "Record", r.h.Record, st); err != nil {
		r.fail(ctx, st, err)
		return
	}
	r.finish(ctx, st, st.Next)
}

func (r *Runner) finish(ctx context.Context, st lambdas.State, next string) {
	var err error
	switch next {
	case "quarantine":
		st, err = r.step(ctx, "Quarantine", r.h.Quarantine, st)
	case "block":
		st, err = r.step(ctx, "Block", r.h.Block, st)
	}
	if err != nil {
		r.fail(ctx, st, err)
	}
}

func (r *Runner) fail(ctx context.Context, st lambdas.State, err error) {
	if ctx.Err() != nil {
		// Shutting down: the record stays where it is and is swept later.
		return
	}
	st.Error = &lambdas.CaughtError{Error: lambdas.TypeOf(err), Cause: err.Error()}
	var se *lambdas.StepError
	if errors.As(err, &se) {
		st.Error.Cause = causeJSON(se)
	}
	if _, ferr := r.step(ctx, "RecordFailure", r.h.Fail, st); ferr != nil {
		r.log.Error("could not record failure; the sweep will retry", "id", st.ID, "err", ferr)
	}
}

// step runs fn with the workflow's retry rule for retryable error types.
func (r *Runner) step(ctx context.Context, name string, fn stepFunc, in lambdas.State) (lambdas.State, error) {
	for attempt := 0; ; attempt++ {
		out, err := fn(ctx, in)
		if err == nil {
			return out, nil
		}
		typ := lambdas.TypeOf(err)
		if !lambdas.Retryable(typ) || attempt >= r.opts.Retry.MaxAttempts || ctx.Err() != nil {
			r.log.Warn("step failed", "step", name, "id", in.ID, "error", typ, "attempts", attempt+1, "err", err)
			return in, err
		}
		d := r.opts.Retry.delay(attempt)
		r.log.Info("step retrying", "step", name, "id", in.ID, "error", typ, "attempt", attempt+1, "in", d)
		select {
		case <-ctx.Done():
			return in, err
		case <-time.After(d):
		}
	}
}
