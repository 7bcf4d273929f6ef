// Package backfill brings versions that are already in a bucket under the
// gate: it walks a bucket listing (objects.Lister) or an S3 Inventory and
// gives each version the record and scan its upload event would have
// given it, through the ingest handler's own path, so that a version that
// already has a record is counted and left alone. It is rate-limited and
// bounded in concurrency so that live uploads keep their latency, and
// resumable: its position is checkpointed in the store after every page,
// and a run of the same job goes on from there.
package backfill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/store"
)

// Spec is what one backfill walks and how.
type Spec struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix,omitempty"`
	// AllVersions takes every version, not only each key's current one.
	AllVersions bool `json:"allVersions,omitempty"`
	// Inventory names an S3 Inventory manifest.json, or a CSV with a
	// header row, as "bucket/key" in the object backend; empty lists the
	// bucket instead.
	Inventory string `json:"inventory,omitempty"`
	DryRun    bool   `json:"dryRun,omitempty"`
	// Rate bounds versions per second; 0 means no bound.
	Rate float64 `json:"rate,omitempty"`
	// Concurrency bounds versions ingested at once; 0 means 4.
	Concurrency int `json:"concurrency,omitempty"`
}

// MaxConcurrency bounds Spec.Concurrency: each one is a store write and a
// workflow start in flight.
const MaxConcurrency = 64

// Check validates a spec from outside.
func (s Spec) Check() error {
	switch {
	case s.Bucket == "":
		return errors.New("backfill: no bucket")
	case s.Rate < 0 || s.Rate > 1e6:
		return fmt.Errorf("backfill: rate %g is not in [0, 1e6]", s.Rate)
	case s.Concurrency < 0 || s.Concurrency > MaxConcurrency:
		return fmt.Errorf("backfill: concurrency %d is not in [0, %d]", s.Concurrency, MaxConcurrency)
	}
	if s.Prefix != "" {
		if err := objects.ValidateKey(s.Prefix); err != nil && s.Prefix != "" {
			return fmt.Errorf("backfill: prefix: %w", err)
		}
	}
	if s.Inventory != "" {
		if ref := s.InventoryRef(); ref.Bucket == "" || objects.ValidateKey(ref.Key) != nil {
			return fmt.Errorf("backfill: inventory %q is not bucket/key", s.Inventory)
		}
	}
	return nil
}

// InventoryRef is the inventory's object (its current version).
func (s Spec) InventoryRef() domain.ObjectRef {
	loc := strings.TrimPrefix(s.Inventory, "s3://")
	b, k, _ := strings.Cut(loc, "/")
	return domain.ObjectRef{Bucket: b, Key: k}
}

// JobID names the job a spec describes: the same walk (bucket, prefix,
// versions, inventory, dry run) is the same job, so running it again
// resumes an interrupted run. Rate and concurrency may change between
// runs.
func (s Spec) JobID() string {
	b, _ := json.Marshal(Spec{Bucket: s.Bucket, Prefix: s.Prefix, AllVersions: s.AllVersions, Inventory: s.Inventory, DryRun: s.DryRun})
	sum := sha256.Sum256(b)
	return "backfill-" + hex.EncodeToString(sum[:10])
}

// Job states, as the checkpoint and the progress name them.
const (
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
)

// Progress is a job's counts so far. Listed counts every version listed;
// Known those that had a record, Queued those that got one (in a dry
// run: would have), Failed those whose ingest failed. Versions the spec
// leaves out (older versions, delete markers) are listed but in none of
// the others.
type Progress struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	Spec      Spec      `json:"spec"`
	Listed    int64     `json:"listed"`
	Known     int64     `json:"known"`
	Queued    int64     `json:"queued"`
	Failed    int64     `json:"failed"`
	Resumed   bool      `json:"resumed,omitempty"`
	Error     string    `json:"error,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Ingester records one version as its upload event would;
// *lambdas.Handlers is one.
type Ingester interface {
	BackfillOne(ctx context.Context, ref domain.ObjectRef, dryRun bool) (lambdas.BackfillOutcome, error)
}

// Runner runs backfill jobs.
type Runner struct {
	Store   *store.Store
	Objects objects.Driver
	Ingest  Ingester
	Logger  *slog.Logger
	// Workflow, when set, runs each job through the committed backfill
	// definition (its Distributed Map) instead of the Runner's own loop.
	Workflow Workflow
}

// Job is one run of a backfill: its counters are live while it runs.
type Job struct {
	spec                         Spec
	listed, known, queued, fails atomic.Int64

	mu    sync.Mutex
	prog  Progress
	done  chan struct{}
	final error
}

// Progress returns the job's counts now.
func (j *Job) Progress() Progress {
	j.mu.Lock()
	p := j.prog
	j.mu.Unlock()
	p.Listed, p.Known, p.Queued, p.Failed = j.listed.Load(), j.known.Load(), j.queued.Load(), j.fails.Load()
	return p
}

// Done is closed when the job has ended.
func (j *Job) Done() <-chan struct{} { return j.done }

// Err is why the job ended early, after Done.
func (j *Job) Err() error {
	<-j.done
	return j.final
}

// Start starts the job spec describes in a goroutine, which ends when the
// walk does, ctx ends (the checkpoint stays; the next run resumes), or
// another runner of the same job takes over.
func (r *Runner) Start(ctx context.Context, spec Spec) (*Job, error) {
	if err := spec.Check(); err != nil {
		return nil, err
	}
	if spec.Concurrency == 0 {
		spec.Concurrency = 4
	}
	j := &Job{spec: spec, done: make(chan struct{})}
	cp, err := r.claim(ctx, j)
	if err != nil {
		return nil, err
	}
	src, err := r.source(spec)
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(j.done)
		defer src.close()
		if r.Workflow != nil {
			j.final = r.runDefinition(ctx, j, cp, src)
		} else {
			j.final = r.run(ctx, j, cp, src)
		}
		j.mu.Lock()
		j.prog.UpdatedAt = time.Now().UTC()
		if j.final != nil && j.prog.State == StateRunning {
			j.prog.Error = j.final.Error()
			if ctx.Err() == nil {
				j.prog.State = StateFailed
			}
		}
		j.mu.Unlock()
	}()
	return j, nil
}

// Run runs the job spec describes to its end.
func (r *Runner) Run(ctx context.Context, spec Spec) (Progress, error) {
	j, err := r.Start(ctx, spec)
	if err != nil {
		return Progress{}, err
	}
	err = j.Err()
	return j.Progress(), err
}

func (r *Runner) source(spec Spec) (source, error) {
	if spec.Inventory != "" {
		return &inventory{d: r.Objects, spec: spec}, nil
	}
	l, ok := r.Objects.(objects.Lister)
	if !ok {
		return nil, errors.New("backfill: this object backend cannot list a bucket; give an inventory")
	}
	return &listing{l: l, spec: spec}, nil
}

// claim reads the job's checkpoint and writes the next version of it,
// which makes this runner its owner: a running job resumes from its
// cursor with its counts, an ended one starts over.
func (r *Runner) claim(ctx context.Context, j *Job) (*domain.Checkpoint, error) {
	id := j.spec.JobID()
	detail, _ := json.Marshal(j.spec)
	cp, err := r.Store.Checkpoint(ctx, id)
	switch {
	case errcode.Of(err) == errcode.NotFound:
		cp = &domain.Checkpoint{ID: id}
	case err != nil:
		return nil, fmt.Errorf("backfill: read checkpoint %s: %w", id, err)
	}
	resumed := cp.State == StateRunning
	if !resumed {
		cp.Cursor, cp.Counters, cp.Error = "", nil, ""
	}
	cp.State, cp.Detail = StateRunning, string(detail)
	if err := r.Store.SaveCheckpoint(ctx, cp); err != nil {
		return nil, fmt.Errorf("backfill: claim checkpoint %s: %w", id, err)
	}
	j.listed.Store(cp.Counters["listed"])
	j.known.Store(cp.Counters["known"])
	j.queued.Store(cp.Counters["queued"])
	j.fails.Store(cp.Counters["failed"])
	j.prog = Progress{ID: id, State: StateRunning, Spec: j.spec, Resumed: resumed, StartedAt: cp.UpdatedAt, UpdatedAt: cp.UpdatedAt}
	return cp, nil
}

func (r *Runner) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) run(ctx context.Context, j *Job, cp *domain.Checkpoint, src source) error {
	lim := limiter(j.spec.Rate)
	log := r.log().With("job", cp.ID, "bucket", j.spec.Bucket, "prefix", domain.DisplayKey(j.spec.Prefix))
	for {
		refs, listed, next, err := src.page(ctx, cp.Cursor)
		if ctx.Err() != nil {
			return ctx.Err() // interrupted: the checkpoint stays running
		}
		if err != nil {
			return r.fail(ctx, j, cp, err)
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(j.spec.Concurrency)
		for _, ref := range refs {
			if err := lim.Wait(ctx); err != nil {
				break // ctx ended: the page is redone on resume
			}
			g.Go(func() error {
				out, err := backfillOne(gctx, r.Ingest, ref, j.spec.DryRun)
				switch {
				case err != nil && gctx.Err() != nil:
					return err
				case err != nil:
					log.Warn("backfill: ingest failed", "key", domain.DisplayKey(ref.Key), "versionId", ref.VersionID, "err", err)
					j.fails.Add(1)
				case out == lambdas.BackfillQueued:
					j.queued.Add(1)
				default:
					j.known.Add(1)
				}
				return nil
			})
		}
		werr := g.Wait()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if werr != nil {
			return r.fail(ctx, j, cp, werr)
		}
		j.listed.Add(int64(listed))
		cp.Cursor = next
		if next == "" {
			cp.State = StateDone
		}
		cp.Counters = j.counters()
		if err := r.Store.SaveCheckpoint(ctx, cp); err != nil {
			if errcode.Of(err) == errcode.ConditionFailed {
				return fmt.Errorf("backfill: job %s was taken over by another runner: %w", cp.ID, err)
			}
			return fmt.Errorf("backfill: save checkpoint %s: %w", cp.ID, err)
		}
		j.mu.Lock()
		j.prog.State, j.prog.UpdatedAt = cp.State, cp.UpdatedAt
		j.mu.Unlock()
		if next == "" {
			p := j.Progress()
			log.Info("backfill done", "listed", p.Listed, "known", p.Known, "queued", p.Queued, "failed", p.Failed, "dryRun", j.spec.DryRun)
			return nil
		}
	}
}

func (j *Job) counters() map[string]int64 {
	return map[string]int64{"listed": j.listed.Load(), "known": j.known.Load(), "queued": j.queued.Load(), "failed": j.fails.Load()}
}

// fail records the job as failed, so the next run starts over rather than
// resuming into the same error.
func (r *Runner) fail(ctx context.Context, j *Job, cp *domain.Checkpoint, cause error) error {
	cp.State, cp.Error, cp.Counters = StateFailed, cause.Error(), j.counters()
	if err := r.Store.SaveCheckpoint(context.WithoutCancel(ctx), cp); err != nil {
		r.log().Warn("backfill: could not record the failure", "job", cp.ID, "err", err)
	}
	j.mu.Lock()
	j.prog.State, j.prog.Error = StateFailed, cause.Error()
	j.mu.Unlock()
	return cause
}

// backfillAttempts is how often one version's ingest is tried before it
// counts as failed: a throttled store or a starter that did not answer
// now is usually there a moment later. A version that still fails has
// no record (or one the sweep re-drives), so running the job again finds
// it.
const backfillAttempts = 3

// backfillOne ingests ref, trying again after a short rest when it fails.
func backfillOne(ctx context.Context, in Ingester, ref domain.ObjectRef, dryRun bool) (lambdas.BackfillOutcome, error) {
	rest := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := in.BackfillOne(ctx, ref, dryRun)
		if err == nil || attempt == backfillAttempts || ctx.Err() != nil {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(rest):
		}
		rest *= 2
	}
}
