package backfill_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/backfill"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/objects/s3obj"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

const bucket = "uploads"

// countingScanner answers clean and counts the streams it was given, by
// their bytes: every object in these tests has bytes of its own, so a
// count above one is a version scanned twice.
type countingScanner struct {
	mu     sync.Mutex
	counts map[[32]byte]int
}

func (c *countingScanner) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return clamd.Result{}, err
	}
	c.mu.Lock()
	c.counts[[32]byte(h.Sum(nil))]++
	c.mu.Unlock()
	return clamd.Result{Status: clamd.StatusClean, Bytes: n}, nil
}

func (c *countingScanner) Describe(ctx context.Context) (engine.Info, error) {
	return engine.Info{Engine: "test", DBVersion: "test:1", DBTime: time.Now()}, nil
}

func (c *countingScanner) scans(data []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[sha256.Sum256(data)]
}

type env struct {
	st     *store.Store
	objs   objects.Driver
	h      *lambdas.Handlers
	scan   *countingScanner
	runner *backfill.Runner
	flows  *local.Workflows
}

// newEnv builds the local runtime (the committed scan workflow, the real
// handlers) on an embedded store and objs, with the counting scanner.
func newEnv(t *testing.T, objs objects.Driver) *env {
	t.Helper()
	drv, err := embedded.Open(filepath.Join(t.TempDir(), "db"), &embedded.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(drv, nil)
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	sc := &countingScanner{counts: map[[32]byte]int{}}
	flows, h, err := local.New(st, lambdas.Config{
		Store: st, Objects: objs, Scanner: sc, Logger: log, QuarantineBucket: "quarantine",
		LeaseTTL: time.Minute, Owner: "test", DisableVerdictCache: true,
	}, local.WorkflowOptions{Workers: 8, TimeScale: 0.01, SweepEvery: time.Hour, Drain: 10 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { flows.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &env{st: st, objs: objs, h: h, scan: sc, runner: &backfill.Runner{Store: st, Objects: objs, Ingest: h, Logger: log}, flows: flows}
}

func content(i int) []byte {
	return fmt.Appendf(nil, "object %d %s", i, bytes.Repeat([]byte{'x'}, i%50))
}

// putAll uploads n objects under prefix without events, as a bucket that
// predates scangate holds them.
func putAll(t *testing.T, d objects.Driver, prefix string, from, n int) []domain.ObjectRef {
	t.Helper()
	refs := make([]domain.ObjectRef, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ref, err := d.Put(t.Context(), bucket, fmt.Sprintf("%sobj-%05d", prefix, from+i), bytes.NewReader(content(from+i)), objects.PutOptions{})
			if err != nil {
				t.Error(err)
			}
			refs[i] = ref
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return refs
}

// settle waits until no record is pending or scanning.
func (e *env) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		busy := 0
		for _, s := range []domain.Status{domain.StatusPending, domain.StatusScanning} {
			recs, _, err := e.st.ListByState(t.Context(), s, store.Page{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			busy += len(recs)
		}
		if busy == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("records still pending or scanning after 60s")
}

// checkOnce checks that every version has exactly one record, clean, and
// was scanned exactly once.
func (e *env) checkOnce(t *testing.T, refs []domain.ObjectRef, contentOf func(domain.ObjectRef) []byte) {
	t.Helper()
	for _, ref := range refs {
		rec, err := e.st.Get(t.Context(), ref.ID())
		if err != nil {
			t.Errorf("%s: no record: %v", ref.Key, err)
			continue
		}
		if rec.State != domain.StatusClean {
			t.Errorf("%s: state %s, want clean", ref.Key, rec.State)
		}
		if n := e.scan.scans(contentOf(ref)); n != 1 {
			t.Errorf("%s: scanned %d times, want once", ref.Key, n)
		}
	}
	total := 0
	cursor := ""
	for {
		recs, next, err := e.st.ListByState(t.Context(), domain.StatusClean, store.Page{Cursor: cursor, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		total += len(recs)
		if next == "" {
			break
		}
		cursor = next
	}
	if total != len(refs) {
		t.Errorf("%d clean records, want exactly one for each of %d versions", total, len(refs))
	}
}

type backend struct {
	name string
	open func(t *testing.T) objects.Driver
}

func backends() []backend {
	return []backend{
		{"localdir", func(t *testing.T) objects.Driver {
			d, err := localdir.Open(t.TempDir(), &localdir.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d // Put creates the bucket
		}},
		{"versitygw", func(t *testing.T) objects.Driver {
			svc := testsvc.VersityGW(t, nil)
			c := svc.Client(t)
			svc.CreateBucket(t, c, bucket, true)
			svc.CreateBucket(t, c, "quarantine", true)
			d, err := s3obj.New(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
	}
}

// The whole story on each backend: a bucket of 2000 versions, 100 of
// them already recorded by their events; a dry run changes nothing; a
// run is interrupted and resumed while uploads continue; a second run
// finds everything known. Every version ends with exactly one record and
// one scan.
func TestBackfill(t *testing.T) {
	n, pre, live := 2000, 100, 200
	if raceOn {
		n = 800
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // one waits on versitygw while the other computes
			objs := b.open(t)
			e := newEnv(t, objs)
			ctx := t.Context()
			refs := putAll(t, objs, "data/", 0, n)
			putAll(t, objs, "other/", n, 10) // outside the prefix
			byKey := map[string][]byte{}
			for i, r := range refs {
				byKey[r.Key] = content(i)
			}
			if _, err := e.h.Ingest(ctx, intake.S3Notification(refs[:pre]...)); err != nil {
				t.Fatal(err)
			}
			spec := backfill.Spec{Bucket: bucket, Prefix: "data/", Concurrency: 8}

			dry := spec
			dry.DryRun = true
			p, err := e.runner.Run(ctx, dry)
			if err != nil {
				t.Fatal(err)
			}
			if p.Listed != int64(n) || p.Known != int64(pre) || p.Queued != int64(n-pre) || p.Failed != 0 || p.State != backfill.StateDone {
				t.Errorf("dry run: %+v; want listed %d, known %d, queued %d", p, n, pre, n-pre)
			}
			if _, err := e.st.Get(ctx, refs[n-1].ID()); errcode.Of(err) != errcode.NotFound {
				t.Errorf("dry run recorded a version: %v", err)
			}

			// Interrupted: stopped once some pages are checkpointed.
			runCtx, stop := context.WithCancel(ctx)
			j, err := e.runner.Start(runCtx, spec)
			if err != nil {
				t.Fatal(err)
			}
			for j.Progress().Listed < 600 {
				select {
				case <-j.Done():
					t.Fatalf("job ended before it was interrupted: %+v", j.Progress())
				case <-time.After(5 * time.Millisecond):
				}
			}
			stop()
			<-j.Done()
			if got := j.Progress(); got.State != backfill.StateRunning || got.Listed >= int64(n) {
				t.Fatalf("interrupted job: %+v", got)
			}

			// Resumed, while uploads with events continue.
			var wg sync.WaitGroup
			var liveRefs []domain.ObjectRef
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range live {
					ref, err := objs.Put(ctx, bucket, fmt.Sprintf("data/live-%05d", i), bytes.NewReader(content(n+100+i)), objects.PutOptions{})
					if err != nil {
						t.Error(err)
						return
					}
					byKey[ref.Key] = content(n + 100 + i)
					liveRefs = append(liveRefs, ref)
					if _, err := e.h.Ingest(ctx, intake.S3Notification(ref)); err != nil {
						t.Error(err)
					}
				}
			}()
			j, err = e.runner.Start(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Err(); err != nil {
				t.Fatal(err)
			}
			p = j.Progress()
			wg.Wait()
			if !p.Resumed || p.State != backfill.StateDone || p.Failed != 0 || p.Listed < int64(n) || p.Listed > int64(n+live) {
				t.Errorf("resumed run: %+v", p)
			}
			e.settle(t)

			// Run twice: everything is known.
			p, err = e.runner.Run(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if p.Resumed || p.Listed != int64(n+live) || p.Known != int64(n+live) || p.Queued != 0 || p.Failed != 0 {
				t.Errorf("second run: %+v; want all %d known", p, n+live)
			}
			e.settle(t)
			all := append(refs, liveRefs...)
			e.checkOnce(t, all, func(r domain.ObjectRef) []byte { return byKey[r.Key] })
		})
	}
}

// The local runtime runs the committed backfill definition (the one Step
// Functions runs): its Distributed Map reads the listing, its batches go
// to the Backfill step, its acknowledgements move the checkpoint. An
// interrupted run resumes, and a second finds everything known.
func TestBackfillThroughDefinition(t *testing.T) {
	const n = 700
	objs := backends()[0].open(t)
	e := newEnv(t, objs)
	e.runner.Workflow = e.flows
	ctx := t.Context()
	refs := putAll(t, objs, "def/", 0, n)
	spec := backfill.Spec{Bucket: bucket, Prefix: "def/", Concurrency: 3}

	runCtx, stop := context.WithCancel(ctx)
	j, err := e.runner.Start(runCtx, spec)
	if err != nil {
		t.Fatal(err)
	}
	for j.Progress().Listed < 200 {
		select {
		case <-j.Done():
			t.Fatalf("job ended before it was interrupted: %+v", j.Progress())
		case <-time.After(2 * time.Millisecond):
		}
	}
	stop()
	<-j.Done()
	cp, err := e.st.Checkpoint(ctx, spec.JobID())
	if err != nil || cp.State != backfill.StateRunning || cp.Cursor == "" {
		t.Fatalf("checkpoint after the interruption: %+v, %v", cp, err)
	}
	p, err := e.runner.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Resumed || p.State != backfill.StateDone || p.Listed != n || p.Failed != 0 {
		t.Errorf("resumed: %+v", p)
	}
	e.settle(t)
	p, err = e.runner.Run(ctx, spec)
	if err != nil || p.Known != n || p.Queued != 0 || p.Listed != n {
		t.Errorf("second run: %+v, %v", p, err)
	}
	e.settle(t)
	e.checkOnce(t, refs, func(r domain.ObjectRef) []byte { var i int; fmt.Sscanf(r.Key, "def/obj-%d", &i); return content(i) })
}
