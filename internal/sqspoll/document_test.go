package sqspoll

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/internal/intake"
)

const testARN = "arn:aws:sqs:eu-west-1:111122223333:uploads"

func sampleMessages() []types.Message {
	return []types.Message{
		{
			MessageId:     aws.String("059f36b4-87a3-44ab-83d2-661975830a7d"),
			ReceiptHandle: aws.String("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a"),
			Body:          aws.String(`{"Service":"Amazon S3","Event":"s3:TestEvent"}`),
			MD5OfBody:     aws.String("e4e68fb7bd0e697a0ae8f1bb342846b3"),
			Attributes: map[string]string{
				"ApproximateReceiveCount":          "1",
				"SentTimestamp":                    "1545082649183",
				"SenderId":                         "AIDAIENQZJOLO23YVJ4VO",
				"ApproximateFirstReceiveTimestamp": "1545082649185",
			},
		},
		{
			MessageId:              aws.String("2e1424d4-f796-459a-8184-9c92662be6da"),
			ReceiptHandle:          aws.String("AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq"),
			Body:                   aws.String("not json <&>"),
			MD5OfBody:              aws.String("d41d8cd98f00b204e9800998ecf8427e"),
			MD5OfMessageAttributes: aws.String("582c92c5c5b6ac403040a4f3ab3115c9"),
			Attributes:             map[string]string{"ApproximateReceiveCount": "3"},
			MessageAttributes: map[string]types.MessageAttributeValue{
				"s": {DataType: aws.String("String"), StringValue: aws.String("v")},
				"b": {DataType: aws.String("Binary"), BinaryValue: []byte("1100")},
				"l": {DataType: aws.String("Number"), StringValue: aws.String("123"), BinaryListValues: [][]byte{[]byte("1")}},
			},
		},
	}
}

// TestDocumentShape checks the document against aws-lambda-go's
// events.SQSEvent, the shape Lambda delivers.
func TestDocumentShape(t *testing.T) {
	msgs := sampleMessages()
	recs := []record{newRecord(msgs[0], testARN, "eu-west-1"), newRecord(msgs[1], testARN, "eu-west-1")}
	doc, err := document(recs)
	if err != nil {
		t.Fatal(err)
	}
	var got events.SQSEvent
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("the document does not decode as events.SQSEvent: %v\n%s", err, doc)
	}
	want := events.SQSEvent{Records: []events.SQSMessage{
		{
			MessageId:         "059f36b4-87a3-44ab-83d2-661975830a7d",
			ReceiptHandle:     "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
			Body:              `{"Service":"Amazon S3","Event":"s3:TestEvent"}`,
			Md5OfBody:         "e4e68fb7bd0e697a0ae8f1bb342846b3",
			Attributes:        msgs[0].Attributes,
			MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSource:       "aws:sqs",
			EventSourceARN:    testARN,
			AWSRegion:         "eu-west-1",
		},
		{
			MessageId:              "2e1424d4-f796-459a-8184-9c92662be6da",
			ReceiptHandle:          "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq",
			Body:                   "not json <&>",
			Md5OfBody:              "d41d8cd98f00b204e9800998ecf8427e",
			Md5OfMessageAttributes: "582c92c5c5b6ac403040a4f3ab3115c9",
			Attributes:             map[string]string{"ApproximateReceiveCount": "3"},
			MessageAttributes: map[string]events.SQSMessageAttribute{
				"s": {DataType: "String", StringValue: aws.String("v"), StringListValues: []string{}, BinaryListValues: [][]byte{}},
				"b": {DataType: "Binary", BinaryValue: []byte("1100"), StringListValues: []string{}, BinaryListValues: [][]byte{}},
				"l": {DataType: "Number", StringValue: aws.String("123"), StringListValues: []string{}, BinaryListValues: [][]byte{[]byte("1")}},
			},
			EventSource:    "aws:sqs",
			EventSourceARN: testARN,
			AWSRegion:      "eu-west-1",
		},
	}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("decoded document (-got +want):\n%s", diff)
	}

	// Round trip: events.SQSEvent writes back what it read, apart from
	// md5OfMessageAttributes, which Lambda leaves out for a message
	// without attributes and aws-lambda-go always writes.
	again, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	if err := json.Unmarshal(doc, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &b); err != nil {
		t.Fatal(err)
	}
	first := b["Records"].([]any)[0].(map[string]any)
	if first["md5OfMessageAttributes"] != "" {
		t.Errorf("aws-lambda-go wrote md5OfMessageAttributes %v for a message without attributes", first["md5OfMessageAttributes"])
	}
	delete(first, "md5OfMessageAttributes")
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("document vs events.SQSEvent re-encoded (-ours +theirs):\n%s", diff)
	}

	// Exactly Lambda's members, binary values in base64.
	rec := a["Records"].([]any)[1].(map[string]any)
	wantKeys := []string{"attributes", "awsRegion", "body", "eventSource", "eventSourceARN", "md5OfBody", "md5OfMessageAttributes", "messageAttributes", "messageId", "receiptHandle"}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(rec)), wantKeys); diff != "" {
		t.Errorf("record members (-got +want):\n%s", diff)
	}
	if v := rec["messageAttributes"].(map[string]any)["b"].(map[string]any)["binaryValue"]; v != "MTEwMA==" {
		t.Errorf("binaryValue is %v; want MTEwMA==", v)
	}

	// And intake reads it as an SQS batch: the test event ignored, the
	// other body a failure of its own message.
	batch, err := intake.Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	if batch.Kind != intake.KindSQS || len(batch.Ignored) != 1 || len(batch.Failures) != 1 || batch.Failures[0].MessageID != "2e1424d4-f796-459a-8184-9c92662be6da" {
		t.Errorf("intake.Decode: %+v", batch)
	}
}

func TestFailedMessages(t *testing.T) {
	recs := []record{{MessageID: "a"}, {MessageID: "b"}}
	res := func(ids ...string) events.SQSEventResponse {
		var r events.SQSEventResponse
		for _, id := range ids {
			r.BatchItemFailures = append(r.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
		return r
	}
	for _, tc := range []struct {
		name string
		res  events.SQSEventResponse
		want map[string]bool
		err  bool
	}{
		{"none", res(), map[string]bool{}, false},
		{"one", res("b"), map[string]bool{"b": true}, false},
		{"twice", res("b", "b"), map[string]bool{"b": true}, false},
		{"empty identifier", res("a", ""), nil, true},
		{"unknown identifier", res("c"), nil, true},
	} {
		got, err := failedMessages(recs, tc.res)
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v; want error %v", tc.name, err, tc.err)
		}
		if diff := cmp.Diff(got, tc.want); diff != "" {
			t.Errorf("%s (-got +want):\n%s", tc.name, diff)
		}
	}
}

func TestSplit(t *testing.T) {
	rec := func(n int) record { return record{MessageID: "m", Body: strings.Repeat("x", n)} }
	size := func(r record) int { b, _ := json.Marshal(r); return len(b) }
	one := size(rec(100))
	recs := []record{rec(100), rec(100), rec(100), rec(5000), rec(100)}
	got := split(recs, len(`{"Records":[]}`)+2*(one+1))
	var lens []int
	for _, p := range got {
		lens = append(lens, len(p))
		doc, _ := document(p)
		if len(p) > 1 && len(doc) > len(`{"Records":[]}`)+2*(one+1) {
			t.Errorf("a part of %d records is %d bytes", len(p), len(doc))
		}
	}
	if diff := cmp.Diff(lens, []int{2, 1, 1, 1}); diff != "" {
		t.Errorf("part sizes (-got +want):\n%s", diff)
	}
	if got := split(recs, 1<<20); len(got) != 1 || len(got[0]) != len(recs) {
		t.Errorf("split within the limit: %d parts", len(got))
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{
		{MaxMessages: 11},
		{MaxMessages: -1},
		{WaitTime: 21 * time.Second},
		{WaitTime: 1500 * time.Millisecond},
		{VisibilityTimeout: 13 * time.Hour},
		{DrainTimeout: -time.Second},
	} {
		if err := o.validate(); err == nil {
			t.Errorf("%+v: valid; want an error", o)
		}
	}
	if err := (&Options{MaxMessages: 10, WaitTime: 20 * time.Second, VisibilityTimeout: time.Minute}).validate(); err != nil {
		t.Error(err)
	}
}

// TestDrainContext runs in a synctest bubble: the drain is a timer, and
// the bubble's clock shows it ends the work exactly at the timeout.
func TestDrainContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A batch goes on after its parent is done...
		ctx, cancel := context.WithCancel(context.Background())
		wctx, release := drainContext(ctx, time.Hour)
		cancel()
		synctest.Wait()
		if err := wctx.Err(); err != nil {
			t.Errorf("the work context ended with its parent: %v", err)
		}
		release()
		if !errors.Is(wctx.Err(), context.Canceled) {
			t.Errorf("after release: %v", wctx.Err())
		}

		// ...until the drain timeout.
		const drain = 20 * time.Second
		ctx, cancel = context.WithCancel(context.Background())
		wctx, release = drainContext(ctx, drain)
		defer release()
		cancel()
		time.Sleep(drain - time.Nanosecond)
		synctest.Wait()
		if err := wctx.Err(); err != nil {
			t.Errorf("the work context ended before its drain timeout: %v", err)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if !errors.Is(wctx.Err(), context.Canceled) {
			t.Errorf("at the drain timeout: %v; want canceled", wctx.Err())
		}
	})
}
