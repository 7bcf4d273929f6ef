package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/scangate/scangate/lambdas"
)

// PutEventsAPI is the part of the EventBridge client EventBridge uses.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge puts every result event on a bus: source "scangate",
// detail-type "Scangate Result", the detail a lambdas.ResultEvent (JSON
// as documented there), the resource the object's S3 ARN. It sends
// before returning: a Lambda's environment may be frozen as soon as the
// step returns, which would strand a background send.
type EventBridge struct {
	Client PutEventsAPI
	// Bus is the event bus name or ARN; empty means the default bus.
	Bus    string
	Logger *slog.Logger
	// Timeout bounds one PutEvents (default 5 s); the SDK's retryer
	// retries within it.
	Timeout time.Duration
}

// Emit implements lambdas.ResultEmitter. A failure is logged, with the
// event, and the verdict stands.
func (e *EventBridge) Emit(ctx context.Context, ev lambdas.ResultEvent) {
	log := e.Logger
	if log == nil {
		log = slog.Default()
	}
	detail, err := json.Marshal(ev)
	if err != nil {
		log.Error("notify: encode", "err", err)
		return
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	entry := types.PutEventsRequestEntry{
		Source: aws.String(Source), DetailType: aws.String(DetailType), Detail: aws.String(string(detail)),
		Resources: []string{"arn:aws:s3:::" + ev.Bucket + "/" + ev.Key}, Time: aws.Time(ev.At),
	}
	if e.Bus != "" {
		entry.EventBusName = aws.String(e.Bus)
	}
	out, err := e.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry}})
	switch {
	case err != nil:
		log.Error("notify: EventBridge PutEvents failed; the verdict stands", "record", ev.RecordID, "outcome", ev.Outcome, "err", err)
	case out.FailedEntryCount > 0:
		code, msg := "", ""
		if len(out.Entries) > 0 {
			code, msg = aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage)
		}
		log.Error("notify: EventBridge refused the event; the verdict stands", "record", ev.RecordID, "outcome", ev.Outcome, "code", code, "msg", msg)
	}
}
