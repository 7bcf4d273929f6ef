package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sync"

	"golang.org/x/time/rate"

	"github.com/scangate/scangate/asl/workflow"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/lambdas"
)

// Workflow runs the committed backfill definition; *local.Workflows is
// one. With it, a Runner walks through the very state machine that Step
// Functions runs on AWS: the source becomes the Map's ItemReader, and
// the Map's acknowledgements move the checkpoint.
type Workflow interface {
	RunBackfill(ctx context.Context, name string, input json.RawMessage, reader workflow.ItemReader, tally func(lambdas.BackfillResult)) (workflow.Result, error)
}

// runDefinition is run's counterpart through the definition.
func (r *Runner) runDefinition(ctx context.Context, j *Job, cp *domain.Checkpoint, src source) error {
	in := map[string]any{"bucket": j.spec.Bucket, "prefix": j.spec.Prefix, "dryRun": j.spec.DryRun,
		"allVersions": j.spec.AllVersions, "maxConcurrency": j.spec.Concurrency}
	if j.spec.Inventory != "" {
		ref := j.spec.InventoryRef()
		in["inventory"] = map[string]string{"bucket": ref.Bucket, "key": ref.Key}
	}
	input, _ := json.Marshal(in)
	items := &pagedItems{r: r, j: j, cp: cp, src: src, lim: limiter(j.spec.Rate)}
	reader := func(ctx context.Context, resource string, params, config map[string]any) (workflow.Items, error) {
		// The inventory path's batches say their keys are URL-encoded,
		// as S3 Inventory's are; the source has decoded them already.
		items.encodeKeys = resource == "arn:aws:states:::s3:getObject"
		return items, nil
	}
	tally := func(res lambdas.BackfillResult) {
		j.known.Add(int64(res.Known))
		j.queued.Add(int64(res.Queued))
		j.fails.Add(int64(res.Failed))
	}
	name := fmt.Sprintf("%s-v%d", cp.ID, cp.Version)
	res, err := r.Workflow.RunBackfill(ctx, name, input, reader, tally)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil && items.err != nil {
		err = items.err
	}
	if err == nil && res.Status != workflow.StatusSucceeded {
		err = fmt.Errorf("backfill: workflow %s: %s: %s", res.Status, res.Error, res.Cause)
	}
	if err != nil {
		return r.fail(ctx, j, cp, err)
	}
	items.mu.Lock()
	defer items.mu.Unlock()
	for _, p := range items.pages[items.acked:] {
		j.listed.Add(int64(p.listed))
	}
	cp.Cursor, cp.State, cp.Counters = "", StateDone, j.counters()
	if err := r.Store.SaveCheckpoint(ctx, cp); err != nil {
		return fmt.Errorf("backfill: save checkpoint %s: %w", cp.ID, err)
	}
	j.mu.Lock()
	j.prog.State, j.prog.UpdatedAt = cp.State, cp.UpdatedAt
	j.mu.Unlock()
	return nil
}

func limiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond/10)))
}

// pagedItems serves the source's pages as the Map's items and moves the
// checkpoint past each page once the Map has acknowledged all of its
// items.
type pagedItems struct {
	r          *Runner
	j          *Job
	cp         *domain.Checkpoint
	src        source
	lim        *rate.Limiter
	encodeKeys bool

	buf     []domain.ObjectRef
	cursor  string
	started bool
	served  int64

	mu    sync.Mutex
	pages []pageEnd
	acked int
	err   error
}

type pageEnd struct {
	end    int64 // items served up to and including this page
	listed int
	next   string
}

func (p *pagedItems) Next(ctx context.Context) (json.RawMessage, error) {
	if !p.started {
		p.started, p.cursor = true, p.cp.Cursor
	}
	for len(p.buf) == 0 {
		if p.started && p.cursor == "" && len(p.pages) > 0 {
			return nil, io.EOF
		}
		refs, listed, next, err := p.src.page(ctx, p.cursor)
		if err != nil {
			return nil, err
		}
		p.buf = refs
		p.mu.Lock()
		p.pages = append(p.pages, pageEnd{end: p.served + int64(len(refs)), listed: listed, next: next})
		p.mu.Unlock()
		p.cursor = next
		if next == "" && len(refs) == 0 {
			return nil, io.EOF
		}
	}
	if err := p.lim.Wait(ctx); err != nil {
		return nil, err
	}
	ref := p.buf[0]
	p.buf = p.buf[1:]
	p.served++
	key := ref.Key
	if p.encodeKeys {
		key = url.QueryEscape(key)
	}
	return json.Marshal(map[string]any{"Bucket": ref.Bucket, "Key": key, "VersionId": ref.VersionID, "Etag": ref.ETag, "Size": ref.Size})
}

// Done implements workflow.Acker: every page that ends at or before n is
// done, and the checkpoint moves past it.
func (p *pagedItems) Done(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	moved := false
	for p.acked < len(p.pages) && p.pages[p.acked].end <= n && p.pages[p.acked].next != "" {
		pg := p.pages[p.acked]
		p.j.listed.Add(int64(pg.listed))
		p.cp.Cursor = pg.next
		p.acked++
		moved = true
	}
	if !moved || p.err != nil {
		return
	}
	p.cp.Counters = p.j.counters()
	if err := p.r.Store.SaveCheckpoint(context.Background(), p.cp); err != nil {
		p.err = fmt.Errorf("backfill: save checkpoint %s: %w", p.cp.ID, err)
	}
}
