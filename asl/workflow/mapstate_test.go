package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/asl/workflow"
)

// fakeItems serves n items {"Key": "k<i>"} and records the Map's acks.
type fakeItems struct {
	mu   sync.Mutex
	n, i int
	acks []int64
	err  error // returned after the items, instead of io.EOF
}

func (f *fakeItems) Next(ctx context.Context) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.i >= f.n {
		if f.err != nil {
			return nil, f.err
		}
		return nil, io.EOF
	}
	f.i++
	return json.RawMessage(fmt.Sprintf(`{"Key":"k%d"}`, f.i-1)), nil
}

func (f *fakeItems) Done(n int64) {
	f.mu.Lock()
	f.acks = append(f.acks, n)
	f.mu.Unlock()
}

type batchDoc struct {
	BatchInput struct {
		Bucket string `json:"bucket"`
		DryRun bool   `json:"dryRun"`
	} `json:"BatchInput"`
	Items []struct{ Key string } `json:"Items"`
}

// The committed backfill definition, run by the interpreter with a fake
// reader: every item reaches the processor once, in batches of at most
// 100 with the BatchInput, never more than MaxConcurrencyPath at once;
// the reader is asked what the definition names; acks grow to the total.
func TestDistributedMap(t *testing.T) {
	for _, tc := range []struct {
		name, input, wantResource string
		wantParams                string
		n, conc                   int
		failBatch                 int // the batch whose first item always fails; -1: none
		readerErr                 error
		wantStatus                workflow.Status
		wantError                 string
	}{
		{name: "listing", input: `{"bucket":"b","prefix":"p/","dryRun":false,"allVersions":false,"maxConcurrency":3}`,
			wantResource: "arn:aws:states:::s3:listObjectsV2", wantParams: `{"Bucket":"b","Prefix":"p/"}`, n: 1050, conc: 3, failBatch: -1, wantStatus: workflow.StatusSucceeded},
		{name: "inventory", input: `{"bucket":"b","prefix":"","inventory":{"bucket":"inv","key":"m.json"},"dryRun":true,"allVersions":true,"maxConcurrency":0}`,
			wantResource: "arn:aws:states:::s3:getObject", wantParams: `{"Bucket":"inv","Key":"m.json"}`, n: 250, conc: 64, failBatch: -1, wantStatus: workflow.StatusSucceeded},
		{name: "empty", input: `{"bucket":"b","prefix":"","dryRun":false,"allVersions":false,"maxConcurrency":2}`,
			wantResource: "arn:aws:states:::s3:listObjectsV2", wantParams: `{"Bucket":"b","Prefix":""}`, n: 0, conc: 2, failBatch: -1, wantStatus: workflow.StatusSucceeded},
		{name: "a batch fails", input: `{"bucket":"b","prefix":"","dryRun":false,"allVersions":false,"maxConcurrency":2}`,
			wantResource: "arn:aws:states:::s3:listObjectsV2", wantParams: `{"Bucket":"b","Prefix":""}`, n: 900, conc: 2, failBatch: 3,
			wantStatus: workflow.StatusFailed, wantError: workflow.ErrorExceedToleratedFailureThreshold},
		{name: "the reader fails", input: `{"bucket":"b","prefix":"","dryRun":false,"allVersions":false,"maxConcurrency":2}`,
			wantResource: "arn:aws:states:::s3:listObjectsV2", wantParams: `{"Bucket":"b","Prefix":""}`, n: 150, conc: 2, failBatch: -1, readerErr: errors.New("listing broke"),
			wantStatus: workflow.StatusFailed, wantError: "States.ItemReaderFailed"},
		{name: "bad concurrency", input: `{"bucket":"b","prefix":"","dryRun":false,"allVersions":false,"maxConcurrency":"x"}`,
			wantResource: "", n: 0, failBatch: -1, wantStatus: workflow.StatusFailed, wantError: workflow.ErrorRuntime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := &fakeItems{n: tc.n, err: tc.readerErr}
			var gotResource, gotParams string
			reader := func(ctx context.Context, resource string, params, config map[string]any) (workflow.Items, error) {
				gotResource = resource
				b, _ := json.Marshal(params)
				gotParams = string(b)
				return items, nil
			}
			var (
				mu            sync.Mutex
				seen          = map[string]int{}
				running, peak atomic.Int32
				batches       atomic.Int32
			)
			handler := func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
				batches.Add(1)
				if r := running.Add(1); r > peak.Load() {
					peak.Store(r)
				}
				defer running.Add(-1)
				time.Sleep(time.Millisecond)
				var b batchDoc
				if err := json.Unmarshal(in, &b); err != nil {
					return nil, err
				}
				if len(b.Items) == 0 || len(b.Items) > 100 || b.BatchInput.Bucket != "b" {
					t.Errorf("batch %s", in)
				}
				mu.Lock()
				for _, it := range b.Items {
					seen[it.Key]++
				}
				mu.Unlock()
				for _, it := range b.Items {
					if it.Key == fmt.Sprintf("k%d", tc.failBatch*100) {
						return nil, errors.New("batch failed") // every time: retries do not help
					}
				}
				return json.RawMessage(fmt.Sprintf(`{"listed":%d,"known":0,"queued":%d,"failed":0}`, len(b.Items), len(b.Items))), nil
			}
			def, err := asl.Substitute(asl.Backfill(), map[string]string{"BackfillFunctionArn": "fn"})
			if err != nil {
				t.Fatal(err)
			}
			m, err := workflow.Load(def, func(string, string) (workflow.Handler, error) { return handler, nil },
				&workflow.Options{ItemReader: reader, TimeScale: 0.0001})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			e, err := m.Start(t.Context(), "run", json.RawMessage(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Wait(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.wantStatus || res.Error != tc.wantError {
				t.Fatalf("result %+v; want %s %s", res, tc.wantStatus, tc.wantError)
			}
			if gotResource != tc.wantResource || gotParams != tc.wantParams {
				t.Errorf("reader asked for %s %s; want %s %s", gotResource, gotParams, tc.wantResource, tc.wantParams)
			}
			if tc.wantStatus != workflow.StatusSucceeded {
				return
			}
			if p := int(peak.Load()); p > tc.conc {
				t.Errorf("%d batches ran at once; MaxConcurrency %d", p, tc.conc)
			}
			if len(seen) != tc.n {
				t.Errorf("%d distinct items processed, want %d", len(seen), tc.n)
			}
			for k, c := range seen {
				if c != 1 {
					t.Errorf("item %s processed %d times", k, c)
				}
			}
			if tc.n > 0 && (len(items.acks) == 0 || items.acks[len(items.acks)-1] != int64(tc.n)) {
				t.Errorf("acks %v; want them to end at %d", items.acks, tc.n)
			}
			for i := 1; i < len(items.acks); i++ {
				if items.acks[i] <= items.acks[i-1] {
					t.Errorf("acks not increasing: %v", items.acks)
				}
			}
			if got := strings.Join(e.States(), ","); !strings.HasPrefix(got, "Source,") {
				t.Errorf("states %s", got)
			}
		})
	}
}

func TestDistributedMapLoadRejects(t *testing.T) {
	base := func(mod string) string {
		return `{"StartAt":"M","States":{"M":{"Type":"Map",` + mod + `"End":true}}}`
	}
	reader := `"ItemReader":{"Resource":"arn:aws:states:::s3:listObjectsV2","Parameters":{"Bucket":"b"}},`
	proc := `"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true}}},`
	for _, tc := range []struct{ name, def, want string }{
		{"no reader", base(proc), "needs an ItemReader"},
		{"other reader", base(strings.Replace(reader, "listObjectsV2", "dynamodb:scan", 1) + proc), "is not supported"},
		{"inline mode", base(reader + strings.Replace(proc, "DISTRIBUTED", "INLINE", 1)), `only ProcessorConfig.Mode "DISTRIBUTED"`},
		{"tolerated failures", base(reader + proc + `"ToleratedFailurePercentage":5,`), "only 0 is supported"},
		{"item selector", base(reader + proc + `"ItemSelector":{},`), "unsupported field(s) ItemSelector"},
		{"result writer", base(reader + proc + `"ResultWriter":{},`), "unsupported field(s) ResultWriter"},
		{"both concurrencies", base(reader + proc + `"MaxConcurrency":1,"MaxConcurrencyPath":"$.c",`), "cannot both be set"},
		{"zero batch", base(reader + proc + `"ItemBatcher":{"MaxItemsPerBatch":0},`), "MaxItemsPerBatch"},
		{"processor parallel", base(reader + strings.Replace(proc, `"Type":"Task","Resource":"fn"`, `"Type":"Parallel","Branches":[]`, 1)), `"Parallel" is not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil }
			_, err := workflow.Load([]byte(tc.def), func(string, string) (workflow.Handler, error) { return h, nil }, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load: %v; want %q", err, tc.want)
			}
		})
	}
}
