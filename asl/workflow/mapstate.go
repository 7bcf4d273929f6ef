package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The Map subset: a Distributed Map (ItemProcessor in DISTRIBUTED mode)
// whose items come from an ItemReader, grouped by an ItemBatcher, each
// batch run through the ItemProcessor's states as a child execution,
// MaxConcurrency (or MaxConcurrencyPath) at a time, with no tolerated
// failures. The interpreter cannot read S3 itself: the runtime supplies
// the reader (Options.ItemReader). aws-local-stepfunctions does not
// implement the Distributed Map at all, so this is checked by its own
// tests rather than differentially.

const typeMap = "Map"

// ErrorExceedToleratedFailureThreshold is the Map's error when more
// child executions failed than it tolerates.
const ErrorExceedToleratedFailureThreshold = "States.ExceedToleratedFailureThreshold"

// Items is what an ItemReader returns: the items in order.
type Items interface {
	// Next returns the next item (a JSON value), or io.EOF after the
	// last.
	Next(ctx context.Context) (json.RawMessage, error)
}

// Acker is implemented by Items that want to know how far the Map has
// got: Done(n) says the first n items have all been processed
// successfully, so a runtime can checkpoint there. It is called from the
// Map's goroutines, in increasing n.
type Acker interface {
	Done(n int64)
}

// ItemReader opens a Map's items. resource is the ItemReader's Resource
// (arn:aws:states:::s3:listObjectsV2, arn:aws:states:::s3:getObject),
// params its Parameters evaluated against the Map's input, config its
// ReaderConfig.
type ItemReader func(ctx context.Context, resource string, params, config map[string]any) (Items, error)

// maxLocalConcurrency bounds a Map whose MaxConcurrency is 0 (as many as
// possible): on AWS that is up to 10,000 child executions; here each is
// a goroutine.
const maxLocalConcurrency = 64

type mapState struct {
	readerResource string
	readerConfig   map[string]any
	readerParams   template
	batchMax       int
	batchInput     template
	maxConc        int
	maxConcPath    *refPath
	processor      *definition
}

var mapFields = []string{"Next", "End", "InputPath", "OutputPath", "ResultPath", "ItemReader", "ItemBatcher",
	"MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailurePercentage", "ItemProcessor"}

func (s *state) parseMap(m map[string]any, resolve Resolver) error {
	ms := &mapState{}
	s.mapState = ms
	r, ok := m["ItemReader"].(map[string]any)
	if !ok {
		return errors.New("a Map needs an ItemReader (only the Distributed Map is supported)")
	}
	if err := onlyFields(r, "Resource", "ReaderConfig", "Parameters"); err != nil {
		return fmt.Errorf("ItemReader: %w", err)
	}
	var err error
	if ms.readerResource, err = requiredString(r, "Resource"); err != nil {
		return fmt.Errorf("ItemReader: %w", err)
	}
	if !slices.Contains([]string{"arn:aws:states:::s3:listObjectsV2", "arn:aws:states:::s3:getObject"}, ms.readerResource) {
		return fmt.Errorf("ItemReader: Resource %q is not supported", ms.readerResource)
	}
	if c, has := r["ReaderConfig"]; has {
		if ms.readerConfig, ok = c.(map[string]any); !ok {
			return errors.New("ItemReader: ReaderConfig must be an object")
		}
	}
	if ms.readerParams, err = payloadTemplate(r, "Parameters"); err != nil {
		return fmt.Errorf("ItemReader: %w", err)
	}
	ms.batchMax = 1
	if b, has := m["ItemBatcher"]; has {
		bm, ok := b.(map[string]any)
		if !ok {
			return errors.New("ItemBatcher must be an object")
		}
		if err := onlyFields(bm, "MaxItemsPerBatch", "BatchInput"); err != nil {
			return fmt.Errorf("ItemBatcher: %w", err)
		}
		n, has, err := integer(bm, "MaxItemsPerBatch", 1, 100000000)
		if err != nil || !has {
			return errors.New("ItemBatcher: MaxItemsPerBatch must be an integer of at least 1")
		}
		ms.batchMax = int(n)
		if ms.batchInput, err = payloadTemplate(bm, "BatchInput"); err != nil {
			return fmt.Errorf("ItemBatcher: %w", err)
		}
	}
	_, hasConc := m["MaxConcurrency"]
	_, hasPath := m["MaxConcurrencyPath"]
	switch {
	case hasConc && hasPath:
		return errors.New("MaxConcurrency and MaxConcurrencyPath cannot both be set")
	case hasConc:
		n, _, err := integer(m, "MaxConcurrency", 0, 10000)
		if err != nil {
			return err
		}
		ms.maxConc = int(n)
	case hasPath:
		p, err := pathField(m, "MaxConcurrencyPath")
		if err != nil || p.null {
			return errors.New("MaxConcurrencyPath must be a path")
		}
		ms.maxConcPath = &p.p
	}
	if t, has := m["ToleratedFailurePercentage"]; has {
		if n, ok := t.(json.Number); !ok || n.String() != "0" {
			return errors.New("ToleratedFailurePercentage: only 0 is supported")
		}
	}
	p, ok := m["ItemProcessor"].(map[string]any)
	if !ok {
		return errors.New("a Map needs an ItemProcessor")
	}
	cfg, _ := p["ProcessorConfig"].(map[string]any)
	if cfg["Mode"] != "DISTRIBUTED" {
		return errors.New(`ItemProcessor: only ProcessorConfig.Mode "DISTRIBUTED" is supported`)
	}
	if err := onlyFields(cfg, "Mode", "ExecutionType"); err != nil {
		return fmt.Errorf("ItemProcessor.ProcessorConfig: %w", err)
	}
	sub := map[string]any{}
	for k, v := range p {
		if k != "ProcessorConfig" {
			sub[k] = v
		}
	}
	if ms.processor, _, err = parseDefinition(encode(sub), resolve); err != nil {
		return fmt.Errorf("ItemProcessor: %w", err)
	}
	return nil
}

// runMap runs a Map state on its raw input.
func (e *Execution) runMap(ctx context.Context, s *state, raw any, entered time.Time) (any, string, *failure) {
	ms := s.mapState
	ctxObj := e.contextObject(s, entered, 0, "")
	in, f := selectPath(s.inputPath, raw, "InputPath")
	if f != nil {
		return nil, "", f
	}
	params := map[string]any{}
	if ms.readerParams != nil {
		v, f := evalTemplate(ms.readerParams, in, ctxObj, "ItemReader.Parameters")
		if f != nil {
			return nil, "", f
		}
		params = v.(map[string]any)
	}
	var batchInput any
	if ms.batchInput != nil {
		if batchInput, f = evalTemplate(ms.batchInput, in, ctxObj, "ItemBatcher.BatchInput"); f != nil {
			return nil, "", f
		}
	}
	conc := ms.maxConc
	if ms.maxConcPath != nil {
		v, ok := ms.maxConcPath.get(in)
		n, isNum := v.(json.Number)
		c, err := n.Int64()
		if !ok || !isNum || err != nil || c < 0 || c > 10000 {
			return nil, "", runtimeFailure("MaxConcurrencyPath %s does not select an integer from 0 to 10000", ms.maxConcPath)
		}
		conc = int(c)
	}
	if conc == 0 || conc > maxLocalConcurrency {
		conc = maxLocalConcurrency
	}
	if e.m.itemReader == nil {
		return nil, "", &failure{name: "States.ItemReaderFailed", cause: "the runtime has no ItemReader"}
	}
	items, err := e.m.itemReader(ctx, ms.readerResource, params, ms.readerConfig)
	if err != nil {
		return nil, "", &failure{name: "States.ItemReaderFailed", cause: err.Error()}
	}
	e.emit(Event{Type: "MapRunStarted", State: s.name})
	results, f := e.runBatches(ctx, s, items, batchInput, conc)
	if f != nil {
		e.emit(Event{Type: "MapRunFailed", State: s.name, Error: f.name, Cause: f.cause})
		return nil, "", f
	}
	e.emit(Event{Type: "MapRunSucceeded", State: s.name, Output: encode(map[string]any{"batches": json.Number(strconv.Itoa(len(results)))})})
	out, f := applyResultPath(s.resultPath, raw, results)
	if f != nil {
		return nil, "", f
	}
	out, f = selectPath(s.outputPath, out, "OutputPath")
	return out, s.next, f
}

// runBatches reads items, batches them and runs each batch as a child
// execution of the processor, conc at a time. The first failure stops
// new batches (none is tolerated) and fails the Map once the running
// ones have ended.
func (e *Execution) runBatches(ctx context.Context, s *state, items Items, batchInput any, conc int) ([]any, *failure) {
	ms := s.mapState
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		results []any
		first   *failure
		wg      sync.WaitGroup
		done    []int64 // items in each batch; -1 while it runs
		acked   int     // batches acknowledged so far
		ackedN  int64
	)
	acker, _ := items.(Acker)
	sem := make(chan struct{}, conc)
	fail := func(f *failure) {
		mu.Lock()
		if first == nil {
			first = f
		}
		mu.Unlock()
		cancel()
	}
	for idx := 0; ; idx++ {
		batch := make([]any, 0, ms.batchMax)
		for len(batch) < ms.batchMax {
			raw, err := items.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if ctx.Err() == nil {
					fail(&failure{name: "States.ItemReaderFailed", cause: err.Error()})
				}
				break
			}
			v, err := decode(raw)
			if err != nil {
				fail(&failure{name: "States.ItemReaderFailed", cause: "an item is not JSON: " + err.Error()})
				break
			}
			batch = append(batch, v)
		}
		if len(batch) == 0 || ctx.Err() != nil {
			break
		}
		var input any = batch
		if ms.batchMax > 1 || ms.batchInput != nil {
			doc := map[string]any{"Items": batch}
			if batchInput != nil {
				doc["BatchInput"] = batchInput
			}
			input = doc
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		results = append(results, nil)
		done = append(done, -1)
		mu.Unlock()
		wg.Add(1)
		go func(idx int, n int64) {
			defer wg.Done()
			defer func() { <-sem }()
			child := &Execution{m: e.m, child: true, name: fmt.Sprintf("%s-%s-%d", e.name, s.name, idx), input: input, start: e.m.now(), cancel: func(error) {}}
			child.arn = e.arn + "/" + child.name
			res := child.executeDef(ctx, ms.processor)
			if res.Status != StatusSucceeded {
				fail(&failure{name: ErrorExceedToleratedFailureThreshold, cause: fmt.Sprintf("batch %d of state %s: %s: %s", idx, s.name, res.Error, res.Cause)})
				return
			}
			out, _ := decode(res.Output)
			mu.Lock()
			results[idx], done[idx] = out, n
			// Acknowledge the prefix of batches that have all ended.
			prev := ackedN
			for acked < len(done) && done[acked] >= 0 {
				ackedN += done[acked]
				acked++
			}
			if acker != nil && ackedN > prev {
				acker.Done(ackedN) // under mu, so in increasing order
			}
			mu.Unlock()
		}(idx, int64(len(batch)))
		if len(batch) < ms.batchMax {
			break
		}
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		// The execution's own context ended: the caller reports it.
		return nil, &failure{name: "States.Aborted"}
	}
	if first != nil {
		return nil, first
	}
	return results, nil
}
