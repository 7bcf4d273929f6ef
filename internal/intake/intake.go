package intake

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scangate/scangate/domain"
)

// Limits. See the package documentation for where each comes from.
const (
	// MaxDocumentBytes bounds one S3 notification, EventBridge event, SNS
	// envelope or SQS message body.
	MaxDocumentBytes = 1 << 20
	// MaxBatchBytes bounds an SQS batch as Lambda delivers it.
	MaxBatchBytes = 6 << 20
	// MaxRecords bounds the records of one document and the messages of one
	// SQS batch.
	MaxRecords = 10_000
	// MaxKeyBytes is S3's limit on a key, after URL decoding.
	MaxKeyBytes = 1024
)

// Sentinel errors. Every error from Decode, and every MessageFailure.Err,
// wraps exactly one of them.
var (
	// ErrTooLarge: the input exceeds one of the limits.
	ErrTooLarge = errors.New("too large")
	// ErrMalformed: the input is not JSON, or a field is missing or invalid.
	ErrMalformed = errors.New("malformed event")
	// ErrUnsupported: valid JSON, but not a document this package knows
	// (another event source, an unknown shape, an event version it does not
	// read).
	ErrUnsupported = errors.New("unsupported event")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

func tooLarge(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrTooLarge, fmt.Sprintf(format, args...))
}

// Kind names the format of a decoded document.
type Kind string

const (
	KindS3          Kind = "s3"
	KindEventBridge Kind = "eventbridge"
	KindSQS         Kind = "sqs"
	KindS3Test      Kind = "s3-test"
)

// Ref is one new object version announced by an event, with what the event
// said about who wrote it and how.
type Ref struct {
	domain.ObjectRef
	// EventName is the S3 eventName ("ObjectCreated:Put") or the EventBridge
	// detail-type ("Object Created").
	EventName string `json:"eventName,omitempty"`
	// EventTime is when S3 finished the request; zero if the event has none.
	EventTime time.Time `json:"eventTime,omitzero"`
	// Requester is the S3 userIdentity.principalId or the EventBridge
	// detail.requester (an account ID or service principal).
	Requester string `json:"requester,omitempty"`
	// Reason is the S3 API that created the version, in EventBridge's
	// vocabulary: "PutObject", "POST Object", "CopyObject" or
	// "CompleteMultipartUpload". For an S3 notification it is derived from
	// the eventName; an unknown ObjectCreated:* name is kept as it is.
	Reason string `json:"reason,omitempty"`
	// MessageID is the SQS message that carried the event; empty otherwise.
	MessageID string `json:"messageId,omitempty"`
}

// Ignored is an event, or a ref removed by Filter.Apply, that starts no
// scan.
type Ignored struct {
	// MessageID is the SQS message that carried it; empty otherwise.
	MessageID string
	// Reason says why, in lowercase words.
	Reason string
	// Object is what the event named, as far as it could be read; zero for
	// events that name no object (the S3 test event).
	Object domain.ObjectRef
}

// MessageFailure is one SQS message that could not be decoded. Lambda
// should report it in batchItemFailures so that SQS redelivers it and,
// after the queue's maxReceiveCount, moves it to the dead-letter queue.
type MessageFailure struct {
	MessageID string
	Err       error
}

// Batch is what one document means.
type Batch struct {
	Kind     Kind
	Refs     []Ref
	Ignored  []Ignored
	Failures []MessageFailure
}

// Decode parses one event document of any supported format; see the
// package documentation. For an SQS batch, messages that fail to decode are
// in Failures and the error is nil unless the batch envelope itself is bad.
//
// Refs come in document order, neither filtered nor deduplicated: callers
// apply their Filter and then Dedup.
func Decode(data []byte) (Batch, error) {
	b, err := decode(data, true, true)
	if err != nil {
		return Batch{}, fmt.Errorf("intake: %w", err)
	}
	return b, nil
}

// probe holds the members that tell the formats apart.
type probe struct {
	Records    json.RawMessage `json:"Records"`
	Service    *string         `json:"Service"`
	Event      *string         `json:"Event"`
	DetailType *string         `json:"detail-type"`
	Source     *string         `json:"source"`
	Type       *string         `json:"Type"`
	Message    *string         `json:"Message"`
}

// decode parses one document. allowSQS and allowSNS say whether an SQS
// batch or an SNS envelope may appear at this level.
func decode(data []byte, allowSQS, allowSNS bool) (Batch, error) {
	limit := MaxDocumentBytes
	if allowSQS {
		limit = MaxBatchBytes
	}
	if len(data) > limit {
		return Batch{}, tooLarge("document of %d bytes exceeds %d", len(data), limit)
	}
	if err := checkJSON(data); err != nil {
		return Batch{}, err
	}
	var p probe
	if err := json.Unmarshal(data, &p); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field == "" {
			return Batch{}, unsupported("document is a json %s, not an object", typ.Value)
		}
		return Batch{}, malformed("%s", jsonErrText(err))
	}
	shapes := 0
	for _, present := range []bool{
		p.Records != nil,
		p.Service != nil || p.Event != nil,
		p.DetailType != nil || p.Source != nil,
		p.Type != nil || p.Message != nil,
	} {
		if present {
			shapes++
		}
	}
	if shapes > 1 {
		return Batch{}, unsupported("document mixes the members of several event formats")
	}
	if p.Records != nil {
		return decodeRecords(data, allowSQS)
	}
	// Everything but an SQS batch is one message.
	if err := checkDocumentSize(data); err != nil {
		return Batch{}, err
	}
	switch {
	case p.Event != nil || p.Service != nil:
		if p.Event == nil || *p.Event != "s3:TestEvent" || p.Service == nil || *p.Service != "Amazon S3" {
			return Batch{}, unsupported("document has Service and Event members but is not the s3 test event")
		}
		return Batch{Kind: KindS3Test, Ignored: []Ignored{{Reason: ReasonTestEvent}}}, nil
	case p.DetailType != nil || p.Source != nil:
		return decodeEventBridge(data)
	case p.Type != nil || p.Message != nil:
		if !allowSNS {
			return Batch{}, unsupported("sns envelope inside an sns envelope")
		}
		return decodeSNS(data, !allowSQS)
	}
	return Batch{}, unsupported("document is not an s3 notification, eventbridge event, sns envelope or sqs batch")
}

func checkDocumentSize(data []byte) error {
	if len(data) > MaxDocumentBytes {
		return tooLarge("document of %d bytes exceeds %d", len(data), MaxDocumentBytes)
	}
	return nil
}

// decodeRecords handles {"Records":[...]}: an S3 notification or an SQS
// batch, told apart by the records' eventSource.
func decodeRecords(data []byte, allowSQS bool) (Batch, error) {
	var doc struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return Batch{}, malformed("%s", jsonErrText(err))
	}
	switch n := len(doc.Records); {
	case n == 0:
		return Batch{}, malformed("Records is empty")
	case n > MaxRecords:
		return Batch{}, tooLarge("%d records exceed %d", n, MaxRecords)
	}
	source := ""
	for i, raw := range doc.Records {
		var r struct {
			EventSource string `json:"eventSource"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return Batch{}, fmt.Errorf("record %d: %w", i, malformed("%s", jsonErrText(err)))
		}
		if i == 0 {
			source = r.EventSource
		} else if r.EventSource != source {
			return Batch{}, fmt.Errorf("record %d: %w", i, malformed("eventSource differs from the first record's"))
		}
	}
	switch source {
	case "aws:s3":
		if err := checkDocumentSize(data); err != nil {
			return Batch{}, err
		}
		return decodeS3(doc.Records)
	case "aws:sqs":
		if !allowSQS {
			return Batch{}, unsupported("sqs batch inside an sqs message")
		}
		return decodeSQS(doc.Records)
	case "":
		return Batch{}, malformed("records have no eventSource")
	}
	return Batch{}, unsupported("eventSource %q", truncate(source, 64))
}
