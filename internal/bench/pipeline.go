package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

// pipelineWorkers is `scangate run`'s default --workers.
const pipelineWorkers = 4

// pipelineMode runs the whole local pipeline as `scangate run` wires it:
// embedded store, local bucket, local.Workflows running the committed
// definitions over the lambdas handlers, one engine. Each round gets a
// fresh store and bucket with the corpus uploaded into it (untimed), so no
// verdict is reused from an earlier round. The timed part of an object is
// its ingest (the S3 notification the upload handler builds) up to the
// last write of its scan workflow.
func pipelineMode(id string, env *engineEnv, h *harness, noSync bool) *mode {
	return &mode{id: id, open: func(ctx context.Context, files []File) (*round, error) {
		return openPipeline(ctx, env, h, files, noSync)
	}}
}

// waiter is closed once, when its object's workflow made its last write.
type waiter struct {
	once sync.Once
	ch   chan struct{}
}

func (w *waiter) done() { w.once.Do(func() { close(w.ch) }) }

func openPipeline(ctx context.Context, env *engineEnv, h *harness, files []File, noSync bool) (_ *round, err error) {
	dir, err := os.MkdirTemp(h.tmp, "pipeline-")
	if err != nil {
		return nil, err
	}
	var closers []func()
	release := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		os.RemoveAll(dir)
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	drv, err := embedded.Open(filepath.Join(dir, "scangate.db"), &embedded.Options{NoSync: noSync})
	if err != nil {
		return nil, err
	}
	counter := newCountingDriver(drv)
	st := store.New(counter, nil)
	closers = append(closers, func() { st.Close() })
	objs, err := localdir.Open(filepath.Join(dir, "buckets"), &localdir.Options{NoSync: noSync})
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { objs.Close() })

	refs := make([]domain.ObjectRef, len(files))
	waits := map[string]*waiter{}
	for i, f := range files {
		if refs[i], err = putFile(ctx, objs, f); err != nil {
			return nil, err
		}
		w := &waiter{ch: make(chan struct{})}
		// A clean object's last write is keyed by its bytes (the verdict
		// cache) or by its record (its tags, where the verdict's write
		// caches it), an infected one's by its record.
		waits[refs[i].ID()] = w
		waits[shaKey(f.SHA256)] = w
	}
	// Set before any workflow runs, and read-only from then on.
	counter.onLast = func(key string) {
		if w := waits[key]; w != nil {
			w.done()
		}
	}
	var bucket objects.Driver = objs
	if st.CachesWithTransition() {
		// The verdict's write caches it; tagging comes after it and is
		// the workflow's last write.
		bucket = &tagWatch{Driver: objs, onClean: counter.onLast}
	}

	prom, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	flows, hs, err := local.New(st, lambdas.Config{
		Store: st, Objects: bucket, Scanner: env.eng, Logger: h.log,
		QuarantineBucket: quarantineBucket, LeaseTTL: 5 * time.Minute, MaxScanBytes: streamMax,
		Owner: "bench", Metrics: prom,
	}, local.WorkflowOptions{
		// As `scangate run` wires the embedded store: histories in its commits.
		Workers: pipelineWorkers, Histories: drv, Logger: h.log,
	})
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ran := make(chan error, 1)
	go func() { ran <- flows.Run(runCtx) }()
	closers = append(closers, func() {
		stop()
		if err := <-ran; err != nil {
			h.log.Warn("workflows", "err", err)
		}
	})

	scan := func(ctx context.Context, i int) error {
		res, err := hs.Ingest(ctx, intake.S3Notification(refs[i]))
		if err != nil {
			return err
		}
		if res.Created != 1 || res.Started != 1 {
			return fmt.Errorf("ingest created %d and started %d records; want 1 and 1", res.Created, res.Started)
		}
		select {
		case <-waits[refs[i].ID()].ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Minute):
			return fmt.Errorf("no verdict after 5 minutes")
		}
	}
	finish := func(ctx context.Context) (*StoreCounts, error) {
		defer release()
		return checkPipeline(ctx, h, flows, st, counter, files, refs)
	}
	return &round{scan: scan, close: finish}, nil
}

func putFile(ctx context.Context, objs objects.Driver, f File) (domain.ObjectRef, error) {
	r, err := os.Open(f.Path)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	defer r.Close()
	return objs.Put(ctx, uploadBucket, f.Key, r, objects.PutOptions{})
}

// checkPipeline waits until every infected object's review workflow has
// stored its task token (the last write an object causes before a person
// decides), checks every record against the truth and counts the store's
// calls per object.
func checkPipeline(ctx context.Context, h *harness, flows *local.Workflows, st *store.Store, counter *countingDriver, files []File, refs []domain.ObjectRef) (*StoreCounts, error) {
	var waiting []string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		waiting = waiting[:0]
		for i, f := range files {
			if id := refs[i].ID(); f.Infected && !counter.hasToken(id) {
				waiting = append(waiting, id)
			}
		}
		if len(waiting) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d review workflows did not store their task token within 3 minutes: %s",
				len(waiting), explain(ctx, h, flows, st, waiting[:min(3, len(waiting))]))
		}
		time.Sleep(10 * time.Millisecond)
	}
	var c StoreCounts
	var errs []error
	for i, f := range files {
		id := refs[i].ID()
		// The calls are counted before this check reads the record.
		w, refused, r := counter.counts(id, shaKey(f.SHA256))
		rec, err := st.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		want := domain.StatusClean
		if f.Infected {
			want = domain.StatusReviewing
		}
		if rec.State != want {
			errs = append(errs, fmt.Errorf("%w: %s: record %s is %s (%s); want %s", errVerdict, f.Key, id, rec.State, rec.Reason, want))
			continue
		}
		if err := checkScangateVerdict(f, rec.Verdict); err != nil {
			errs = append(errs, err)
			continue
		}
		if f.Infected {
			c.Infected++
			c.InfectedWrites += float64(w)
			c.InfectedRefused += float64(refused)
			c.InfectedReads += float64(r)
		} else {
			c.Clean++
			c.CleanWrites += float64(w)
			c.CleanRefused += float64(refused)
			c.CleanReads += float64(r)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d wrong records: %v", len(errs), errs[:min(len(errs), 5)])
	}
	if c.Clean > 0 {
		c.CleanWrites /= float64(c.Clean)
		c.CleanRefused /= float64(c.Clean)
		c.CleanReads /= float64(c.Clean)
	}
	if c.Infected > 0 {
		c.InfectedWrites /= float64(c.Infected)
		c.InfectedRefused /= float64(c.Infected)
		c.InfectedReads /= float64(c.Infected)
	}
	return &c, nil
}

// explain describes records that got stuck: their state, their review
// item, their workflow executions' failures and what scangate logged about
// them.
func explain(ctx context.Context, h *harness, flows *local.Workflows, st *store.Store, ids []string) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "\nrecord %s:", id)
		if rec, err := st.Get(ctx, id); err != nil {
			fmt.Fprintf(&b, " get: %v;", err)
		} else {
			fmt.Fprintf(&b, " state %s (%s);", rec.State, rec.Reason)
		}
		if item, err := st.Review(ctx, id); err != nil {
			fmt.Fprintf(&b, " review: %v;", err)
		} else {
			fmt.Fprintf(&b, " review open %v, token %v;", item.Open(), item.TaskToken != "")
		}
		hist, err := flows.History(id)
		if err != nil {
			fmt.Fprintf(&b, " history: %v", err)
		}
		for _, eh := range hist {
			var events []string
			for _, ev := range eh.Events {
				e := ev.Type
				if ev.State != "" {
					e += " " + ev.State
				}
				if ev.Error != "" {
					e += fmt.Sprintf(" %s: %s", ev.Error, ev.Cause)
				}
				events = append(events, e)
			}
			fmt.Fprintf(&b, "\n  %s: %s", eh.Execution, strings.Join(events, ", "))
		}
		for _, line := range h.logLines(id) {
			fmt.Fprintf(&b, "\n  log: %s", line)
		}
	}
	return b.String()
}
