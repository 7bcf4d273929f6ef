package sqspoll

import (
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// record is one message as Lambda's SQS event source mapping delivers it
// (events.SQSMessage), with the members in Lambda's order. Unlike
// events.SQSMessage it leaves md5OfMessageAttributes out when the message
// has no attributes.
type record struct {
	MessageID              string               `json:"messageId"`
	ReceiptHandle          string               `json:"receiptHandle"`
	Body                   string               `json:"body"`
	Attributes             map[string]string    `json:"attributes"`
	MessageAttributes      map[string]attribute `json:"messageAttributes"`
	MD5OfBody              string               `json:"md5OfBody"`
	MD5OfMessageAttributes string               `json:"md5OfMessageAttributes,omitempty"`
	EventSource            string               `json:"eventSource"`
	EventSourceARN         string               `json:"eventSourceARN"`
	AWSRegion              string               `json:"awsRegion"`
}

// attribute is a message attribute as Lambda delivers it
// (events.SQSMessageAttribute): both lists always present, binary values
// in base64.
type attribute struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      []byte   `json:"binaryValue,omitempty"`
	StringListValues []string `json:"stringListValues"`
	BinaryListValues [][]byte `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

type event struct {
	Records []record `json:"Records"`
}

func newRecord(m types.Message, arn, region string) record {
	r := record{
		MessageID:              aws.ToString(m.MessageId),
		ReceiptHandle:          aws.ToString(m.ReceiptHandle),
		Body:                   aws.ToString(m.Body),
		Attributes:             make(map[string]string, len(m.Attributes)),
		MessageAttributes:      make(map[string]attribute, len(m.MessageAttributes)),
		MD5OfBody:              aws.ToString(m.MD5OfBody),
		MD5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		EventSource:            "aws:sqs",
		EventSourceARN:         arn,
		AWSRegion:              region,
	}
	for k, v := range m.Attributes {
		r.Attributes[k] = v
	}
	for k, v := range m.MessageAttributes {
		a := attribute{
			StringValue:      v.StringValue,
			BinaryValue:      v.BinaryValue,
			StringListValues: v.StringListValues,
			BinaryListValues: v.BinaryListValues,
			DataType:         aws.ToString(v.DataType),
		}
		if a.StringListValues == nil {
			a.StringListValues = []string{}
		}
		if a.BinaryListValues == nil {
			a.BinaryListValues = [][]byte{}
		}
		r.MessageAttributes[k] = a
	}
	return r
}

// document encodes recs as one SQS event.
func document(recs []record) ([]byte, error) {
	return json.Marshal(event{Records: recs})
}

// split cuts recs into runs whose documents stay within limit bytes. A
// record too large on its own forms a run by itself; the handler then
// rejects it, and it is dead-lettered in the end.
func split(recs []record, limit int) [][]record {
	const envelope = len(`{"Records":[]}`)
	var parts [][]record
	start, size := 0, envelope
	for i, r := range recs {
		b, err := json.Marshal(r)
		n := len(b) + 1 // the comma
		if err != nil {
			n = 0
		}
		if i > start && size+n > limit {
			parts = append(parts, recs[start:i])
			start, size = i, envelope
		}
		size += n
	}
	if start < len(recs) {
		parts = append(parts, recs[start:])
	}
	return parts
}
