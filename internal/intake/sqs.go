package intake

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
)

// sqsRecord is the part of an SQS message (events.SQSMessage) that intake
// reads. Decoding only these members keeps one message's odd attributes
// from failing the whole batch.
type sqsRecord struct {
	MessageID *string `json:"messageId"`
	Body      *string `json:"body"`
}

func decodeSQS(records []json.RawMessage) (Batch, error) {
	b := Batch{Kind: KindSQS}
	for i, raw := range records {
		var r sqsRecord
		uerr := json.Unmarshal(raw, &r)
		// Without a message ID the failure cannot be reported for this
		// message alone, so the whole batch fails and is redelivered.
		if r.MessageID == nil || *r.MessageID == "" {
			return Batch{}, fmt.Errorf("record %d: %w", i, malformed("sqs message has no messageId"))
		}
		id := *r.MessageID
		if err := checkToken("messageId", id); err != nil {
			return Batch{}, fmt.Errorf("record %d: %w", i, err)
		}
		msg, err := decodeMessage(r, uerr)
		if err != nil {
			b.Failures = append(b.Failures, MessageFailure{MessageID: id, Err: fmt.Errorf("intake: sqs message body: %w", err)})
			continue
		}
		for _, ref := range msg.Refs {
			ref.MessageID = id
			b.Refs = append(b.Refs, ref)
		}
		for _, ign := range msg.Ignored {
			ign.MessageID = id
			b.Ignored = append(b.Ignored, ign)
		}
	}
	return b, nil
}

func decodeMessage(r sqsRecord, uerr error) (Batch, error) {
	if uerr != nil {
		return Batch{}, malformed("%s", jsonErrText(uerr))
	}
	if r.Body == nil || *r.Body == "" {
		return Batch{}, malformed("sqs message has no body")
	}
	return decode([]byte(*r.Body), false, true)
}

// snsEnvelope is an SNS notification as SNS delivers it to SQS (without
// raw message delivery) or HTTP subscribers.
type snsEnvelope struct {
	Type    string  `json:"Type"`
	Message *string `json:"Message"`
}

func decodeSNS(data []byte, inSQS bool) (Batch, error) {
	var e snsEnvelope
	if err := json.Unmarshal(data, &e); err != nil {
		return Batch{}, malformed("%s", jsonErrText(err))
	}
	switch e.Type {
	case "Notification":
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		// A cross-account SNS subscription delivers its confirmation to
		// the queue. Failing it would only dead-letter it.
		if inSQS {
			return Batch{Ignored: []Ignored{{Reason: ReasonSNSControl}}}, nil
		}
		return Batch{}, unsupported("sns %s message", e.Type)
	case "":
		return Batch{}, malformed("sns envelope has no Type")
	default:
		return Batch{}, unsupported("sns message type %q", truncate(e.Type, 64))
	}
	if e.Message == nil || *e.Message == "" {
		return Batch{}, malformed("sns notification has no Message")
	}
	b, err := decode([]byte(*e.Message), false, false)
	if err != nil {
		return Batch{}, fmt.Errorf("sns message: %w", err)
	}
	return b, nil
}

// SQSResponse is the partial-batch response for b: every message in
// b.Failures, and every message ID in failed (messages the caller could not
// process), is reported once, in order. Lambda then deletes all the other
// messages of the batch. The function's event source mapping must have
// ReportBatchItemFailures enabled, or the response is ignored.
func SQSResponse(b Batch, failed ...string) events.SQSEventResponse {
	ids := make([]string, 0, len(b.Failures)+len(failed))
	for _, f := range b.Failures {
		ids = append(ids, f.MessageID)
	}
	return BatchResponse(append(ids, failed...))
}

// BatchResponse reports the given message IDs as failed, each once, in
// order, skipping empty ones (Lambda reads an empty itemIdentifier as a
// failure of the whole batch). With no IDs it reports success: an empty,
// non-null batchItemFailures list.
func BatchResponse(failed []string) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	seen := make(map[string]bool, len(failed))
	for _, id := range failed {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return resp
}
