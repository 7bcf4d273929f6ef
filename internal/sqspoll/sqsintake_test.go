package sqspoll_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/internal/sqspoll"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// countingStarter stands in for Step Functions: it counts the workflows
// started per record.
type countingStarter struct {
	mu     sync.Mutex
	starts map[string]int
}

func (s *countingStarter) Start(ctx context.Context, rec *domain.Record) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts[rec.ID]++
	return "local:" + rec.ID, nil
}

func (s *countingStarter) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts[id]
}

// call is one batch the poller handed to ingest.
type call struct {
	at   time.Time
	ids  []string
	doc  events.SQSEvent
	res  events.SQSEventResponse
	err  error
	recv map[string]string // messageId → ApproximateReceiveCount
}

// setup is one test's queue, store, bucket and ingest handler.
type setup struct {
	sqs     *testsvc.SQS
	client  *sqs.Client
	queue   string
	dlq     string
	st      *store.Store
	objs    *localdir.Driver
	h       *lambdas.Handlers
	starter *countingStarter
	log     *slog.Logger

	mu    sync.Mutex
	calls []call
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	svc := testsvc.Goaws(t, nil)
	env := localtest.Open(t, nil)
	st, objs := env.Store, env.Bucket
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	starter := &countingStarter{starts: map[string]int{}}
	h, err := lambdas.New(lambdas.Config{Store: st, Objects: objs, Starter: starter, QuarantineBucket: "quarantine", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return &setup{
		sqs: svc, client: svc.Client(t),
		queue: svc.QueueURL(t, testsvc.DefaultQueue), dlq: svc.QueueURL(t, testsvc.DefaultDeadLetterQueue),
		st: st, objs: objs, h: h, starter: starter, log: log,
	}
}

// put stores an object in the local bucket and returns its reference.
func (s *setup) put(t *testing.T, key, body string) domain.ObjectRef {
	t.Helper()
	ref, err := s.objs.Put(context.Background(), "uploads", key, strings.NewReader(body), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// send sends body to the intake queue and returns its message ID.
func (s *setup) send(t *testing.T, body string) string {
	t.Helper()
	out, err := s.client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(s.queue), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.MessageId)
}

// ingest wraps next, recording every batch. before, when set, runs first
// and may fail the call.
func (s *setup) ingest(t *testing.T, next sqspoll.IngestFunc, before func(ctx context.Context, n int) error) sqspoll.IngestFunc {
	return func(ctx context.Context, raw json.RawMessage) (events.SQSEventResponse, error) {
		c := call{at: time.Now(), recv: map[string]string{}}
		if err := json.Unmarshal(raw, &c.doc); err != nil {
			t.Errorf("the batch is not an events.SQSEvent: %v", err)
		}
		for _, r := range c.doc.Records {
			c.ids = append(c.ids, r.MessageId)
			c.recv[r.MessageId] = r.Attributes["ApproximateReceiveCount"]
		}
		s.mu.Lock()
		n := len(s.calls)
		s.mu.Unlock()
		if before != nil {
			c.err = before(ctx, n)
		}
		if c.err == nil {
			c.res, c.err = next(ctx, raw)
		}
		s.mu.Lock()
		s.calls = append(s.calls, c)
		s.mu.Unlock()
		return c.res, c.err
	}
}

func (s *setup) recorded() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// run starts a poller and returns the function that stops it and checks
// that Run returned nil.
func (s *setup) run(t *testing.T, ingest sqspoll.IngestFunc) (stop func()) {
	t.Helper()
	p, err := sqspoll.New(s.client, s.queue, ingest, &sqspoll.Options{WaitTime: time.Second, Logger: s.log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// messages returns how many messages a queue holds; goaws counts exactly,
// in-flight ones included.
func (s *setup) messages(t *testing.T, queue string) int {
	t.Helper()
	out, err := s.client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queue),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deliveries(calls []call, id string) []time.Time {
	var at []time.Time
	for _, c := range calls {
		if slices.Contains(c.ids, id) {
			at = append(at, c.at)
		}
	}
	return at
}

func failures(ids ...string) []events.SQSBatchItemFailure {
	out := []events.SQSBatchItemFailure{}
	for _, id := range ids {
		out = append(out, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return out
}

// TestPollerGoaws is the case: a batch of two S3 notifications and
// one malformed message, through goaws, into the real ingest handler.
func TestPollerGoaws(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	refs := []domain.ObjectRef{
		s.put(t, "reports/q3.txt", "quarterly numbers"),
		s.put(t, "dir/a file+name é.pdf", "%PDF-1.7"),
	}
	good := []string{s.send(t, string(intake.S3Notification(refs[0]))), s.send(t, string(intake.S3Notification(refs[1])))}
	const badBody = `{"Records":[{"eventSource":"aws:s3","s3":`
	bad := s.send(t, badBody)

	stop := s.run(t, s.ingest(t, s.h.IngestSQS, nil))
	waitFor(t, "the malformed message in the dead-letter queue", 30*time.Second, func() bool {
		return s.messages(t, s.dlq) == 1 && s.messages(t, s.queue) == 0
	})
	stop()

	calls := s.recorded()
	if len(calls) == 0 {
		t.Fatal("ingest was never called")
	}
	// The first batch holds all three; every batch reports exactly the
	// malformed message.
	if diff := cmp.Diff(slices.Sorted(slices.Values(calls[0].ids)), slices.Sorted(slices.Values(append([]string{bad}, good...)))); diff != "" {
		t.Errorf("first batch (-got +want):\n%s", diff)
	}
	for i, c := range calls {
		if c.err != nil {
			t.Errorf("batch %d: %v", i, c.err)
			continue
		}
		if diff := cmp.Diff(c.res.BatchItemFailures, failures(bad)); diff != "" {
			t.Errorf("batch %d batchItemFailures (-got +want):\n%s", i, diff)
		}
		for _, r := range c.doc.Records {
			if r.EventSource != "aws:sqs" || r.EventSourceARN != s.sqs.QueueARN(testsvc.DefaultQueue) || r.AWSRegion != s.sqs.Region || r.ReceiptHandle == "" || r.Md5OfBody == "" {
				t.Errorf("batch %d record %s: eventSource %q, eventSourceARN %q, awsRegion %q, receiptHandle %q, md5OfBody %q",
					i, r.MessageId, r.EventSource, r.EventSourceARN, r.AWSRegion, r.ReceiptHandle, r.Md5OfBody)
			}
		}
	}
	s.starter.mu.Lock()
	started := len(s.starter.starts)
	s.starter.mu.Unlock()
	if started != 2 {
		t.Errorf("workflows started for %d records; want 2, one per valid message", started)
	}

	// The valid messages were delivered once and deleted; the malformed
	// one came back after its visibility timeout, maxReceiveCount times in
	// all, and then moved to the dead-letter queue.
	for _, id := range good {
		if n := len(deliveries(calls, id)); n != 1 {
			t.Errorf("valid message %s was delivered %d times; want 1", id, n)
		}
	}
	at := deliveries(calls, bad)
	if len(at) != testsvc.DefaultMaxReceiveCount {
		t.Errorf("the malformed message was delivered %d times; want maxReceiveCount, %d", len(at), testsvc.DefaultMaxReceiveCount)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < testsvc.DefaultVisibilitySeconds*time.Second-100*time.Millisecond {
			t.Errorf("delivery %d of the malformed message came %s after the one before; want at least the visibility timeout", i+1, gap)
		}
	}
	// goaws 0.5.4 reports ApproximateReceiveCount 1 on every receive;
	// the deliveries counted above are the receive count.
	for i, c := range calls {
		t.Logf("batch %d: %d messages, ApproximateReceiveCount of the malformed one %q", i, len(c.ids), c.recv[bad])
	}

	out, err := s.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.dlq), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	var dead []string
	for _, m := range out.Messages {
		dead = append(dead, aws.ToString(m.MessageId)+" "+aws.ToString(m.Body))
	}
	if diff := cmp.Diff(dead, []string{bad + " " + badBody}); diff != "" {
		t.Errorf("dead-letter queue (-got +want):\n%s", diff)
	}

	// Both objects are recorded pending, their workflows started once.
	for _, ref := range refs {
		rec, err := s.st.Get(ctx, ref.ID())
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		if rec.State != domain.StatusPending || rec.Object.Key != ref.Key || rec.Object.VersionID != ref.VersionID {
			t.Errorf("%s: recorded %s %q version %q; want pending %q version %q", ref, rec.State, rec.Object.Key, rec.Object.VersionID, ref.Key, ref.VersionID)
		}
		if n := s.starter.count(ref.ID()); n != 1 {
			t.Errorf("%s: workflow started %d times; want 1", ref, n)
		}
	}
}

// TestPollerIngestErrorDeletesNothing: when the handler fails, the whole
// batch stays and is delivered again after its visibility timeout.
func TestPollerIngestErrorDeletesNothing(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	refs := []domain.ObjectRef{s.put(t, "a.txt", "a"), s.put(t, "b.txt", "b")}
	ids := []string{s.send(t, string(intake.S3Notification(refs[0]))), s.send(t, string(intake.S3Notification(refs[1])))}
	errDown := errors.New("store unavailable")
	stop := s.run(t, s.ingest(t, s.h.IngestSQS, func(ctx context.Context, n int) error {
		if n == 0 {
			return errDown
		}
		return nil
	}))
	waitFor(t, "the batch to be handled again", 30*time.Second, func() bool {
		return len(s.recorded()) >= 2 && s.messages(t, s.queue) == 0
	})
	stop()

	calls := s.recorded()
	if len(calls) != 2 {
		t.Fatalf("ingest was called %d times; want 2", len(calls))
	}
	for i, c := range calls {
		if diff := cmp.Diff(slices.Sorted(slices.Values(c.ids)), slices.Sorted(slices.Values(ids))); diff != "" {
			t.Errorf("batch %d (-got +want):\n%s", i, diff)
		}
	}
	if !errors.Is(calls[0].err, errDown) || calls[1].err != nil {
		t.Errorf("batch errors: %v, %v; want %v, nil", calls[0].err, calls[1].err, errDown)
	}
	if gap := calls[1].at.Sub(calls[0].at); gap < testsvc.DefaultVisibilitySeconds*time.Second-100*time.Millisecond {
		t.Errorf("the batch came back %s after it failed; want at least the visibility timeout", gap)
	}
	if n := s.messages(t, s.dlq); n != 0 {
		t.Errorf("dead-letter queue holds %d messages; want 0", n)
	}
	for _, ref := range refs {
		if rec, err := s.st.Get(context.Background(), ref.ID()); err != nil || rec.State != domain.StatusPending {
			t.Errorf("%s: %v %v; want pending", ref, rec, err)
		}
	}
}

// TestPollerDrainsOnStop: a batch in hand when Run's context ends is
// finished and its messages deleted.
func TestPollerDrainsOnStop(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ref := s.put(t, "c.txt", "c")
	s.send(t, string(intake.S3Notification(ref)))
	started, release := make(chan struct{}), make(chan struct{})
	stop := s.run(t, s.ingest(t, s.h.IngestSQS, func(ctx context.Context, n int) error {
		close(started)
		<-release
		return ctx.Err()
	}))
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the message was never handed to ingest")
	}
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("Run returned while its batch was still running")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	<-stopped
	if n := s.messages(t, s.queue); n != 0 {
		t.Errorf("queue holds %d messages after the drained batch; want 0", n)
	}
	if rec, err := s.st.Get(context.Background(), ref.ID()); err != nil || rec.State != domain.StatusPending {
		t.Errorf("%s: %v %v; want pending", ref, rec, err)
	}
}

func TestNewRejects(t *testing.T) {
	ingest := func(context.Context, json.RawMessage) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil
	}
	c := sqs.New(sqs.Options{Region: "us-east-1"})
	for _, tc := range []struct {
		name   string
		client *sqs.Client
		url    string
		ingest sqspoll.IngestFunc
		opts   *sqspoll.Options
	}{
		{"no client", nil, "q", ingest, nil},
		{"no url", c, "", ingest, nil},
		{"no ingest", c, "q", nil, nil},
		{"batch too large", c, "q", ingest, &sqspoll.Options{MaxMessages: 11}},
	} {
		if _, err := sqspoll.New(tc.client, tc.url, tc.ingest, tc.opts); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}
