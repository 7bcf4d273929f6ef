// Package sqspoll feeds an SQS queue to scangate's ingest handler the way
// Lambda's SQS event source mapping does, for running outside Lambda: it
// long-polls the queue, hands each batch to the handler as the
// events.SQSEvent document Lambda would deliver, and reads the handler's
// partial-batch response (batchItemFailures).
//
// # Deletion
//
// After a batch, every message not named in batchItemFailures is deleted
// (DeleteMessageBatch). A named message stays in the queue: it becomes
// visible again after its visibility timeout, is redelivered, and the
// queue's redrive policy moves it to the dead-letter queue after
// maxReceiveCount receives. As with Lambda, the whole batch stays (nothing
// is deleted) when the handler returns an error, or when its response names
// a message that is not in the batch or has an empty itemIdentifier.
//
// Deletion is at-least-once: a message whose deletion fails is delivered
// again, which the ingest handler turns into a no-op.
//
// # Limits
//
// One batch is at most 10 messages (ReceiveMessage's limit). A batch whose
// document would exceed intake.MaxBatchBytes is handed over in parts, as
// Lambda keeps a batch within its payload limit. One Poller handles one
// batch at a time; run several for concurrency.
package sqspoll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/aws/aws-lambda-go/events"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/scangate/scangate/internal/intake"
)

// IngestFunc handles one SQS batch document, answering as Lambda's SQS
// event source mapping expects; an adapter of lambdas.Handlers.Ingest is
// one.
type IngestFunc func(ctx context.Context, raw json.RawMessage) (events.SQSEventResponse, error)

// Defaults for the zero Options.
const (
	DefaultMaxMessages  = 10
	DefaultWaitTime     = 5 * time.Second
	DefaultDrainTimeout = 30 * time.Second
)

// Backoff after a failed ReceiveMessage: doubling from minBackoff up to
// maxBackoff, reset by a successful call.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// Options configure a Poller. The zero value means the defaults.
type Options struct {
	// MaxMessages is the most messages one batch holds, 1 to 10. 0 means
	// DefaultMaxMessages.
	MaxMessages int
	// WaitTime is each ReceiveMessage's long-poll wait, in whole seconds
	// from 1 s to 20 s. 0 means DefaultWaitTime.
	WaitTime time.Duration
	// VisibilityTimeout, when set, overrides the queue's visibility timeout
	// for the messages received, in whole seconds up to 12 hours. It should
	// exceed the time a batch takes, or messages are delivered twice.
	VisibilityTimeout time.Duration
	// DrainTimeout bounds how long a batch already received keeps running
	// after Run's context is done; then its context is cancelled too, and
	// what it did not finish is redelivered. 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// QueueARN is the records' eventSourceARN. Empty means the queue's
	// QueueArn attribute, read when Run starts.
	QueueARN string
	// Region is the records' awsRegion. Empty means the client's region.
	Region string
	// Logger receives one line per batch and per problem. nil discards.
	Logger *slog.Logger
}

func (o *Options) validate() error {
	switch {
	case o.MaxMessages < 0 || o.MaxMessages > 10:
		return fmt.Errorf("sqsintake: MaxMessages %d is outside 1 to 10", o.MaxMessages)
	case o.WaitTime < 0 || o.WaitTime > 20*time.Second || o.WaitTime%time.Second != 0:
		return fmt.Errorf("sqsintake: WaitTime %s is not whole seconds from 1 to 20", o.WaitTime)
	case o.VisibilityTimeout < 0 || o.VisibilityTimeout > 12*time.Hour || o.VisibilityTimeout%time.Second != 0:
		return fmt.Errorf("sqsintake: VisibilityTimeout %s is not whole seconds up to 12h", o.VisibilityTimeout)
	case o.DrainTimeout < 0:
		return fmt.Errorf("sqsintake: DrainTimeout %s is negative", o.DrainTimeout)
	}
	return nil
}

// Poller moves messages from one SQS queue into an IngestFunc.
type Poller struct {
	client   *sqs.Client
	queueURL string
	ingest   IngestFunc
	opts     Options
	log      *slog.Logger
}

// New returns a Poller for the queue at queueURL. opts may be nil.
func New(client *sqs.Client, queueURL string, ingest IngestFunc, opts *Options) (*Poller, error) {
	if client == nil || queueURL == "" || ingest == nil {
		return nil, errors.New("sqsintake: client, queue URL and ingest are required")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.MaxMessages == 0 {
		o.MaxMessages = DefaultMaxMessages
	}
	if o.WaitTime == 0 {
		o.WaitTime = DefaultWaitTime
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Region == "" {
		o.Region = client.Options().Region
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Poller{client: client, queueURL: queueURL, ingest: ingest, opts: o, log: o.Logger.With("queue", queueURL)}, nil
}

// Run polls until ctx is done, then lets the batch in hand finish (within
// Options.DrainTimeout) and returns nil. It fails at once only when the
// queue's ARN is needed and cannot be read; failed receives are logged and
// retried with backoff. Several Runs may poll the same queue at once.
func (p *Poller) Run(ctx context.Context) error {
	arn := p.opts.QueueARN
	if arn == "" {
		out, err := p.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(p.queueURL),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sqsintake: read the queue's ARN: %w", err)
		}
		arn = out.Attributes[string(types.QueueAttributeNameQueueArn)]
		if arn == "" {
			return fmt.Errorf("sqsintake: queue %s has no QueueArn attribute", p.queueURL)
		}
	}
	p.log.Info("polling", "eventSourceARN", arn, "maxMessages", p.opts.MaxMessages)
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		in := &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(p.queueURL),
			MaxNumberOfMessages:         int32(p.opts.MaxMessages),
			WaitTimeSeconds:             int32(p.opts.WaitTime / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		}
		if p.opts.VisibilityTimeout > 0 {
			in.VisibilityTimeout = int32(p.opts.VisibilityTimeout / time.Second)
		}
		out, err := p.client.ReceiveMessage(ctx, in)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			p.log.Warn("receive failed", "err", err, "retryIn", backoff)
			sleep(ctx, backoff)
			continue
		}
		backoff = 0
		if len(out.Messages) > 0 {
			p.handle(ctx, arn, out.Messages)
		}
	}
	p.log.Info("stopped")
	return nil
}

// handle runs one received batch to its end. Its work is not cancelled
// when ctx is done, only DrainTimeout later.
func (p *Poller) handle(ctx context.Context, arn string, msgs []types.Message) {
	wctx, release := drainContext(ctx, p.opts.DrainTimeout)
	defer release()
	recs := make([]record, len(msgs))
	for i, m := range msgs {
		recs[i] = newRecord(m, arn, p.opts.Region)
	}
	for _, part := range split(recs, intake.MaxBatchBytes) {
		p.handlePart(wctx, part)
	}
}

func (p *Poller) handlePart(ctx context.Context, recs []record) {
	doc, err := document(recs)
	if err != nil {
		// Strings and maps of strings always encode.
		p.log.Error("cannot encode batch", "err", err)
		return
	}
	res, err := p.ingest(ctx, doc)
	if err != nil {
		p.log.Error("batch failed; nothing deleted", "messages", len(recs), "err", err, "errorType", errorType(err))
		return
	}
	keep, err := failedMessages(recs, res)
	if err != nil {
		p.log.Error("batch failed; nothing deleted", "messages", len(recs), "err", err)
		return
	}
	var del []record
	for _, r := range recs {
		if keep[r.MessageID] {
			p.log.Warn("message left for redelivery", "messageId", r.MessageID, "receiveCount", r.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
			continue
		}
		del = append(del, r)
	}
	deleted := p.delete(ctx, del)
	p.log.Info("batch", "messages", len(recs), "deleted", deleted, "failed", len(recs)-len(del))
}

// failedMessages returns the message IDs named in res.BatchItemFailures.
// As Lambda does, it fails the whole batch for an empty identifier or one
// that names no message of the batch.
func failedMessages(recs []record, res events.SQSEventResponse) (map[string]bool, error) {
	in := make(map[string]bool, len(recs))
	for _, r := range recs {
		in[r.MessageID] = true
	}
	failed := map[string]bool{}
	for _, f := range res.BatchItemFailures {
		if f.ItemIdentifier == "" {
			return nil, errors.New("batchItemFailures has an empty itemIdentifier")
		}
		if !in[f.ItemIdentifier] {
			return nil, fmt.Errorf("batchItemFailures names %q, which is not in the batch", f.ItemIdentifier)
		}
		failed[f.ItemIdentifier] = true
	}
	return failed, nil
}

// delete deletes recs, ten at a time, and returns how many were deleted.
func (p *Poller) delete(ctx context.Context, recs []record) int {
	n := 0
	for len(recs) > 0 {
		chunk := recs[:min(len(recs), 10)]
		recs = recs[len(chunk):]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, r := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.ReceiptHandle)}
		}
		out, err := p.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.queueURL), Entries: entries})
		if err != nil {
			p.log.Warn("delete failed; the messages will be redelivered", "messages", len(chunk), "err", err)
			continue
		}
		n += len(out.Successful)
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			id := ""
			if i >= 0 && i < len(chunk) {
				id = chunk[i].MessageID
			}
			p.log.Warn("delete failed; the message will be redelivered", "messageId", id, "code", aws.ToString(f.Code), "err", aws.ToString(f.Message))
		}
	}
	return n
}

// drainContext returns a context that outlives ctx by drain: it is
// cancelled drain after ctx is done, or by release.
func drainContext(ctx context.Context, drain time.Duration) (context.Context, func()) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-ctx.Done():
			t := time.NewTimer(drain)
			defer t.Stop()
			select {
			case <-done:
			case <-t.C:
				cancel()
			}
		}
	}()
	return wctx, func() {
		close(done)
		cancel()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// errorType names a handler error the way Lambda reports it: its
// ErrorType when it has one (the step handlers' errors do).
func errorType(err error) string {
	var typed interface{ ErrorType() string }
	if errors.As(err, &typed) {
		return typed.ErrorType()
	}
	return ""
}
