package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/scangate/scangate/internal/notify"
	"github.com/scangate/scangate/lambdas"
)

type fakeBus struct {
	in  []*eventbridge.PutEventsInput
	err error
	out *eventbridge.PutEventsOutput
}

func (f *fakeBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.in = append(f.in, in)
	if f.out == nil {
		f.out = &eventbridge.PutEventsOutput{}
	}
	return f.out, f.err
}

// TestEventBridge: one entry per event, on the named bus, with the
// documented source, detail-type and detail; a failing bus is only
// logged.
func TestEventBridge(t *testing.T) {
	bus := &fakeBus{}
	e := &notify.EventBridge{Client: bus, Bus: "results"}
	ev := lambdas.ResultEvent{RecordID: "r1", Bucket: "uploads", Key: "a b/c.com", Outcome: "confirmed", SHA256: "ab", DBVersion: "27000", By: "rita"}
	e.Emit(context.Background(), ev)
	if len(bus.in) != 1 || len(bus.in[0].Entries) != 1 {
		t.Fatalf("PutEvents calls %+v", bus.in)
	}
	got := bus.in[0].Entries[0]
	if aws.ToString(got.EventBusName) != "results" || aws.ToString(got.Source) != notify.Source || aws.ToString(got.DetailType) != notify.DetailType ||
		len(got.Resources) != 1 || got.Resources[0] != "arn:aws:s3:::uploads/a b/c.com" {
		t.Errorf("entry %+v", got)
	}
	var d lambdas.ResultEvent
	if err := json.Unmarshal([]byte(aws.ToString(got.Detail)), &d); err != nil || d.RecordID != "r1" || d.Outcome != "confirmed" || d.By != "rita" {
		t.Errorf("detail %s (%v)", aws.ToString(got.Detail), err)
	}
	bus.err = errors.New("throttled")
	e.Emit(context.Background(), ev) // logged, no panic, no error to the step
	bus.err, bus.out = nil, &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []types.PutEventsResultEntry{{ErrorCode: aws.String("InternalFailure")}}}
	e.Emit(context.Background(), ev)
	if len(bus.in) != 3 {
		t.Errorf("%d calls, want 3", len(bus.in))
	}
}
