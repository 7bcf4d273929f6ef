package testsvc

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestGoaws(t *testing.T) {
	t.Parallel()
	s := Goaws(t, nil)
	ctx := context.Background()

	// goaws runs in a network namespace of its own.
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", s.pid))
	if err != nil {
		t.Fatal(err)
	}
	if self == theirs {
		t.Fatalf("goaws shares the test's network namespace %s", self)
	}

	c := s.Client(t)
	q, dlq := s.QueueURL(t, DefaultQueue), s.QueueURL(t, DefaultDeadLetterQueue)
	// goaws 0.5.4 answers SendMessageBatch under the query protocol's
	// member names (SendMessageBatchResultEntry), so the SDK reads no
	// Successful entries although the messages were sent.
	sent, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{
		QueueUrl: aws.String(q),
		Entries: []types.SendMessageBatchRequestEntry{
			{Id: aws.String("a"), MessageBody: aws.String("keep")},
			{Id: aws.String("b"), MessageBody: aws.String("drop")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent.Failed) != 0 {
		t.Fatalf("SendMessageBatch: %d failed", len(sent.Failed))
	}

	got, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q),
		MaxNumberOfMessages:         10,
		WaitTimeSeconds:             1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]types.Message{}
	for _, m := range got.Messages {
		bodies[aws.ToString(m.Body)] = m
	}
	if len(bodies) != 2 {
		t.Fatalf("received %d messages; want both", len(got.Messages))
	}
	del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{
		QueueUrl: aws.String(q),
		Entries: []types.DeleteMessageBatchRequestEntry{
			{Id: aws.String("0"), ReceiptHandle: bodies["drop"].ReceiptHandle},
			{Id: aws.String("1"), ReceiptHandle: aws.String("no-such-handle")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(del.Successful) != 1 || len(del.Failed) != 1 || aws.ToString(del.Failed[0].Id) != "1" {
		t.Fatalf("DeleteMessageBatch: %+v; want entry 0 deleted, 1 failed", del)
	}

	// "keep" comes back after its visibility timeout, and after
	// DefaultMaxReceiveCount receives it is in the dead-letter queue.
	receives := 1
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			if aws.ToString(m.Body) != "keep" {
				t.Fatalf("received %q again; it was deleted", aws.ToString(m.Body))
			}
			receives++
		}
		if n := approx(t, c, dlq); n == 1 {
			break
		}
	}
	if receives != DefaultMaxReceiveCount {
		t.Errorf("received the kept message %d times before it was dead-lettered; want %d", receives, DefaultMaxReceiveCount)
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	var dead []string
	for _, m := range out.Messages {
		dead = append(dead, aws.ToString(m.MessageId)+" "+aws.ToString(m.Body))
	}
	want := []string{aws.ToString(bodies["keep"].MessageId) + " keep"}
	if diff := cmp.Diff(dead, want); diff != "" {
		t.Errorf("dead-letter queue (-got +want):\n%s", diff)
	}
	if n := approx(t, c, q); n != 0 {
		t.Errorf("queue still holds %d messages; want 0", n)
	}
}

// approx returns a queue's ApproximateNumberOfMessages, which goaws counts
// exactly (in-flight messages included).
func approx(t *testing.T, c *sqs.Client, url string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)], &n)
	return n
}

func TestGoawsConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		queues []GoawsQueue
		err    string
	}{
		{"bad name", []GoawsQueue{{Name: "a b"}}, "queue name"},
		{"twice", []GoawsQueue{{Name: "a"}, {Name: "a"}}, "listed twice"},
		{"unknown dlq", []GoawsQueue{{Name: "a", DeadLetterQueue: "b", MaxReceiveCount: 1}}, "not another queue"},
		{"own dlq", []GoawsQueue{{Name: "a", DeadLetterQueue: "a", MaxReceiveCount: 1}}, "not another queue"},
		{"no count", []GoawsQueue{{Name: "a", DeadLetterQueue: "b"}, {Name: "b"}}, "max receive count"},
		{"count only", []GoawsQueue{{Name: "a", MaxReceiveCount: 2}}, "not another queue"},
		{"visibility", []GoawsQueue{{Name: "a", VisibilityTimeout: -1}}, "visibility"},
	} {
		if _, err := goawsConfig(tc.queues); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v; want an error about %s", tc.name, err, tc.err)
		}
	}
	got, err := goawsConfig([]GoawsQueue{{Name: "q", VisibilityTimeout: 1, DeadLetterQueue: "d", MaxReceiveCount: 3}, {Name: "d"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"RedrivePolicy": "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:d\",\"maxReceiveCount\":3}"`,
		`"Topics": []`,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("config lacks %s:\n%s", want, got)
		}
	}
}
