package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/s3obj"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/dynamo"
)

// AWSCounts are the billable requests of one clean object through the
// pipeline wired as in AWS: the DynamoDB driver (against dynalite) and
// the S3 driver (against versitygw), the committed scan workflow run by
// the local runtime over the same handlers the Lambdas run. Each object
// goes through alone, so every request is its own.
type AWSCounts struct {
	// Variant names how the objects were uploaded.
	Variant string
	Objects int
	// RRU and WRU are the capacity units DynamoDB reported per object
	// (ReturnConsumedCapacity TOTAL; dynalite reports the table's only).
	RRU, WRU float64
	// IndexWRU estimates the index writes dynalite does not report: the
	// by-state entry (keys only, 1 WRU) put when a record enters an
	// indexed state, deleted when it leaves for clean (which is not
	// indexed), and deleted and put again when its state or update time
	// changes between indexed states.
	IndexWRU float64
	// Refused counts refused conditional writes, which DynamoDB bills
	// (at least 1 WRU each) and dynalite reports nothing for; they are
	// added to WRU at 1 each.
	Refused float64
	// FallbackRRU is the driver's reads after refused writes, which only
	// dynalite makes (DynamoDB returns the item with the refusal); not in
	// RRU.
	FallbackRRU float64
	// DynamoOps and S3Ops count requests per object by operation (every
	// attempt, retries included).
	DynamoOps, S3Ops map[string]float64
	// Invocations are Lambda invocations per object: the ingest (a batch
	// of one) and every Task the scan workflow scheduled.
	Invocations float64
}

// TotalWRU is the write units of an object: the table's as reported, the
// refused writes and the index estimate.
func (c *AWSCounts) TotalWRU() float64 { return c.WRU + c.Refused + c.IndexWRU }

// S3 returns the requests of one operation per object.
func (c *AWSCounts) S3(op string) float64 { return c.S3Ops[op] }

// awsMeter adds up what the DynamoDB driver reports and what the S3
// client sends.
type awsMeter struct {
	mu       sync.Mutex
	rru, wru float64
	fallback float64
	dynamo   map[string]int
	s3       map[string]int
}

func newAWSMeter() *awsMeter { return &awsMeter{dynamo: map[string]int{}, s3: map[string]int{}} }

func (m *awsMeter) consumed(op string, rcu, wcu float64) {
	if strings.HasPrefix(op, "list") {
		return // the sweep's listings, not an object's
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dynamo[op]++
	if op == refusedRead {
		// DynamoDB returns the item with the refusal
		// (ReturnValuesOnConditionCheckFailure, free); dynalite does
		// not, and the driver reads it.
		m.fallback += rcu
		return
	}
	m.rru += rcu
	m.wru += wcu
}

// refusedRead is the driver's read after a refused write, which only
// dynalite needs.
const refusedRead = "read after a refused write"

// s3Counter counts every attempt of every S3 request by operation: it sits
// in the finalize step after the retry middleware.
func (m *awsMeter) s3Counter(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("benchCountRequests",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			op := awsmiddleware.GetOperationName(ctx)
			m.mu.Lock()
			m.s3[op]++
			m.mu.Unlock()
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// awsIndex estimates the by-state index writes from the store calls: an
// entry is put when a record enters an indexed state, deleted when it
// leaves for one that is not (clean), and both when its keys change.
type awsIndex struct {
	store.Driver
	mu      sync.Mutex
	last    map[string]string // id -> state and update time last written
	writes  float64
	refused float64
	done    func(key string)
}

// byStateEntry is a record's by-state entry (its keys: the state and the
// update time), or "" when a record in that state has none.
func byStateEntry(state domain.Status, updated time.Time) string {
	if !dynamo.InByState(state) {
		return ""
	}
	return string(state) + updated.String()
}

func (x *awsIndex) Create(ctx context.Context, rec *domain.Record) error {
	err := x.Driver.Create(ctx, rec)
	x.mu.Lock()
	defer x.mu.Unlock()
	if err != nil {
		x.refused++
		return err
	}
	key := byStateEntry(rec.State, rec.UpdatedAt)
	if key != "" {
		x.writes++
	}
	x.last[rec.ID] = key
	return nil
}

func (x *awsIndex) Update(ctx context.Context, id string, cond store.Condition, m store.Mutation) (*domain.Record, error) {
	rec, err := x.Driver.Update(ctx, id, cond, m)
	x.mu.Lock()
	if err != nil {
		x.refused++
	} else {
		key := byStateEntry(rec.State, rec.UpdatedAt)
		if prev := x.last[id]; prev != key {
			if prev != "" {
				x.writes++ // the old entry deleted
			}
			if key != "" {
				x.writes++ // the new one put
			}
		}
		x.last[id] = key
	}
	x.mu.Unlock()
	if err == nil && x.done != nil {
		switch m.State {
		case domain.StatusReviewing, domain.StatusFailed, domain.StatusGone, domain.StatusAllowlisted:
			x.done(id)
		}
	}
	return rec, err
}

func (x *awsIndex) PutCachedVerdict(ctx context.Context, sum, dbVersion string, v *domain.Verdict) error {
	err := x.Driver.PutCachedVerdict(ctx, sum, dbVersion, v)
	if err != nil {
		x.mu.Lock()
		x.refused++
		x.mu.Unlock()
	} else if x.done != nil {
		x.done(shaKey(sum))
	}
	return err
}

// measureAWS runs the clean files of c one at a time through the pipeline
// over dynalite and versitygw, once uploaded without a checksum (what
// docs/cost.md prices) and once with x-amz-checksum-sha256, and counts
// their requests.
func (h *harness) measureAWS(ctx context.Context, env *engineEnv, c *Corpus, limit int) ([]*AWSCounts, error) {
	var files []File
	for _, f := range c.Files {
		if !f.Infected && len(files) < limit {
			files = append(files, f)
		}
	}
	endpoint := testsvc.Dynalite(h.t)
	ddb := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	var out []*AWSCounts
	for i, variant := range []string{"upload without a checksum", "upload with x-amz-checksum-sha256"} {
		r, err := h.measureAWSVariant(ctx, env, ddb, fmt.Sprintf("bench-aws-%d", i), files, i == 1)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", variant, err)
		}
		r.Variant = variant
		out = append(out, r)
	}
	return out, nil
}

func (h *harness) measureAWSVariant(ctx context.Context, env *engineEnv, ddb *dynamodb.Client, table string, files []File, sha bool) (*AWSCounts, error) {
	if err := dynamo.CreateTable(ctx, ddb, table); err != nil {
		return nil, err
	}
	meter := newAWSMeter()
	drv, err := dynamo.New(ddb, table, &dynamo.Options{OnConsumed: meter.consumed})
	if err != nil {
		return nil, err
	}
	idx := &awsIndex{Driver: drv, last: map[string]string{}}
	st := store.New(idx, nil)
	bucket := fmt.Sprintf("aws-%s", strings.TrimPrefix(table, "bench-aws-"))
	raw := h.gw.Client(h.t)
	h.gw.CreateBucket(h.t, raw, bucket, true)
	counted := s3.New(raw.Options(), func(o *s3.Options) { o.APIOptions = append(o.APIOptions, meter.s3Counter) })
	objs, err := s3obj.New(counted, nil)
	if err != nil {
		return nil, err
	}

	// Staged untimed and uncounted: the uploader's PutObject is not
	// scangate's.
	refs := make([]domain.ObjectRef, len(files))
	for i, f := range files {
		if sha {
			s3d, err := s3obj.New(raw, nil)
			if err != nil {
				return nil, err
			}
			fh, err := os.Open(f.Path)
			if err != nil {
				return nil, err
			}
			refs[i], err = s3d.Put(ctx, bucket, f.Key, fh, objects.PutOptions{})
			fh.Close()
			if err != nil {
				return nil, err
			}
			continue
		}
		fh, err := os.Open(f.Path)
		if err != nil {
			return nil, err
		}
		po, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(f.Key), Body: fh, ContentLength: aws.Int64(f.Size)})
		fh.Close()
		if err != nil {
			return nil, err
		}
		refs[i] = domain.ObjectRef{Bucket: bucket, Key: f.Key, VersionID: aws.ToString(po.VersionId), ETag: aws.ToString(po.ETag), Size: f.Size}
	}

	var (
		mu    sync.Mutex
		waits = map[string]chan struct{}{}
	)
	idx.done = func(key string) {
		mu.Lock()
		defer mu.Unlock()
		if ch := waits[key]; ch != nil {
			close(ch)
			delete(waits, key)
		}
	}
	prom, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	histDir, err := os.MkdirTemp(h.tmp, "aws-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(histDir)
	flows, hs, err := local.New(st, lambdas.Config{
		Store: st, Objects: objs, Scanner: env.eng, Logger: h.log,
		QuarantineBucket: quarantineBucket, LeaseTTL: 5 * time.Minute, MaxScanBytes: streamMax,
		Owner: "bench", Metrics: prom,
	}, local.WorkflowOptions{Workers: pipelineWorkers, HistoryDir: histDir, Logger: h.log, SweepEvery: time.Hour})
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ran := make(chan error, 1)
	go func() { ran <- flows.Run(runCtx) }()
	stopped := false
	defer func() {
		if !stopped {
			stop()
			<-ran
		}
	}()

	res := &AWSCounts{Objects: len(files), DynamoOps: map[string]float64{}, S3Ops: map[string]float64{}}
	snapshot := func() (float64, float64, float64, float64, float64, map[string]int, map[string]int) {
		meter.mu.Lock()
		defer meter.mu.Unlock()
		idx.mu.Lock()
		defer idx.mu.Unlock()
		return meter.rru, meter.wru, idx.writes, idx.refused, meter.fallback, cloneCounts(meter.dynamo), cloneCounts(meter.s3)
	}
	r0, w0, x0, f0, b0, d0, s0 := snapshot()
	for i, f := range files {
		ch := make(chan struct{})
		mu.Lock()
		waits[shaKey(f.SHA256)] = ch
		mu.Unlock()
		ir, err := hs.Ingest(ctx, intake.S3Notification(refs[i]))
		if err != nil {
			return nil, err
		}
		if ir.Created != 1 || ir.Started != 1 {
			return nil, fmt.Errorf("ingest created %d and started %d records; want 1 and 1", ir.Created, ir.Started)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Minute):
			rec, _ := st.Get(ctx, refs[i].ID())
			return nil, fmt.Errorf("%s: no clean verdict cached after 2 minutes (record %+v)", f.Key, rec)
		}
		// The rest of the workflow (Record's return, Route, Done) makes
		// no requests; let it end before the next object.
		if err := waitExecutions(flows, refs[i].ID(), 30*time.Second); err != nil {
			return nil, err
		}
	}
	r1, w1, x1, f1, b1, d1, s1 := snapshot()
	stop()
	stopped = true
	if err := <-ran; err != nil {
		h.log.Warn("workflows", "err", err)
	}
	n := float64(len(files))
	res.RRU, res.WRU, res.IndexWRU, res.Refused, res.FallbackRRU = (r1-r0)/n, (w1-w0)/n, (x1-x0)/n, (f1-f0)/n, (b1-b0)/n
	for k, v := range d1 {
		if d := float64(v-d0[k]) / n; d > 0 {
			res.DynamoOps[k] = d
		}
	}
	for k, v := range s1 {
		if d := float64(v-s0[k]) / n; d > 0 {
			res.S3Ops[k] = d
		}
	}
	var tasks int
	for i, f := range files {
		rec, err := st.Get(ctx, refs[i].ID())
		if err != nil {
			return nil, err
		}
		if rec.State != domain.StatusClean {
			return nil, fmt.Errorf("%w: %s: record is %s (%s); want clean", errVerdict, f.Key, rec.State, rec.Reason)
		}
		if err := checkScangateVerdict(f, rec.Verdict); err != nil {
			return nil, err
		}
		k, err := scheduledTasks(histDir, refs[i].ID())
		if err != nil {
			return nil, err
		}
		tasks += k
	}
	res.Invocations = 1 + float64(tasks)/n
	return res, nil
}

func cloneCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// waitExecutions waits until every execution of record id has ended.
func waitExecutions(flows *local.Workflows, id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		hist, err := flows.History(id)
		if err == nil && len(hist) > 0 {
			ended := true
			for _, eh := range hist {
				if len(eh.Events) == 0 || !strings.HasPrefix(eh.Events[len(eh.Events)-1].Type, "Execution") ||
					eh.Events[len(eh.Events)-1].Type == "ExecutionStarted" {
					ended = false
				}
			}
			if ended {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("record %s: its executions did not end within %s", id, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scheduledTasks counts the TaskScheduled events of record id's executions
// in their history files: one Lambda invocation each.
func scheduledTasks(dir, id string) (int, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*-"+id+"-g*.jsonl"))
	if err != nil || len(matches) == 0 {
		return 0, fmt.Errorf("record %s: no execution history (%v)", id, err)
	}
	n := 0
	for _, path := range matches {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var ev struct{ Type string }
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == "TaskScheduled" {
				n++
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// opList renders per-object counts by operation, largest first.
func opList(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %s", k, trimFloat(m[k])))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(slices.Clip(parts), ", ")
}

func trimFloat(x float64) string {
	s := fmt.Sprintf("%.2f", x)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
