package dynamo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/dynamo"
)

// fastRetries makes the SDK retry quickly and without a retry quota.
func fastRetries(o *dynamodb.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxBackoff = 5 * time.Millisecond
		so.RateLimiter = ratelimit.None
	})
}

// TestErrorCodes serves canned DynamoDB error answers and checks the code
// each one maps to.
func TestErrorCodes(t *testing.T) {
	tests := []struct {
		status  int
		errType string
		want    errcode.Code
	}{
		{400, "ProvisionedThroughputExceededException", errcode.Throttled},
		{400, "ThrottlingException", errcode.Throttled},
		{400, "RequestLimitExceeded", errcode.Throttled},
		{400, "ValidationException", errcode.Invalid},
		{400, "ResourceNotFoundException", errcode.Unavailable},
		{400, "AccessDeniedException", errcode.Unknown},
		{400, "UnrecognizedClientException", errcode.Unknown},
		{500, "InternalServerError", errcode.Unavailable},
		{503, "", errcode.Unavailable},
		{502, "", errcode.Unavailable},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d%s", tc.status, tc.errType), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				if tc.errType != "" {
					w.Header().Set("X-Amzn-ErrorType", tc.errType)
				}
				w.WriteHeader(tc.status)
				if tc.errType != "" {
					io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#`+tc.errType+`","message":"canned"}`)
				}
			}))
			defer srv.Close()
			client := newClient(t, srv.URL, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
			d, err := dynamo.New(client, "canned-table", nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Get(context.Background(), "id-1")
			if got := errcode.Of(err); got != tc.want {
				t.Errorf("Get: %v (code %s), want code %s", err, got, tc.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "dynamo: get id-1: ") {
				t.Errorf("error %q does not start with the op and the id", msg)
			}
			if tc.errType == "ResourceNotFoundException" && !strings.Contains(err.Error(), `"canned-table"`) {
				t.Errorf("missing table error %q does not name the table", err)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL
	srv.Close() // nothing listens there now
	client := newClient(t, endpoint, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	d, err := dynamo.New(client, "table", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(context.Background(), "x"); errcode.Of(err) != errcode.Unavailable {
		t.Errorf("Get from an endpoint nobody listens on: %v (code %s), want Unavailable", err, errcode.Of(err))
	}

	// A deadline that runs out during the call is Unavailable wrapping it.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	client = newClient(t, slow.URL, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	d, err = dynamo.New(client, "table", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = d.Get(ctx, "x")
	if errcode.Of(err) != errcode.Unavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get past its deadline: %v (code %s), want Unavailable wrapping context.DeadlineExceeded", err, errcode.Of(err))
	}
}

// loseAnswers is a proxy in front of dynalite that, when armed for an
// operation, forwards the next such request (so it is applied) but answers
// the client with a 500, as when a response is lost on the way back. The
// SDK retries, and the retry meets its own applied write.
type loseAnswers struct {
	mu     sync.Mutex
	target string // X-Amz-Target to lose the answer of, once
	seen   map[string]int
}

func (l *loseAnswers) arm(op string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.target = "DynamoDB_20120810." + op
}

func (l *loseAnswers) count(op string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen["DynamoDB_20120810."+op]
}

func startLoseAnswers(t *testing.T, endpoint string) (*loseAnswers, string) {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	l := &loseAnswers{seen: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		target := resp.Request.Header.Get("X-Amz-Target")
		l.mu.Lock()
		defer l.mu.Unlock()
		l.seen[target]++
		if target != l.target {
			return nil
		}
		l.target = ""
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		body := `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"answer lost"}`
		resp.StatusCode, resp.Status = 500, "500 Internal Server Error"
		resp.Header.Set("X-Amzn-ErrorType", "InternalServerError")
		resp.Header.Del("X-Amz-Crc32")
		resp.Header.Del("Content-Length")
		resp.ContentLength = int64(len(body))
		resp.Body = io.NopCloser(bytes.NewBufferString(body))
		return nil
	}
	transport := &http.Transport{}
	proxy.Transport = transport
	srv := httptest.NewServer(proxy)
	t.Cleanup(func() {
		srv.Close()
		transport.CloseIdleConnections()
	})
	return l, srv.URL
}

// TestLostAnswer: a conditional write whose answer is lost is applied by
// its first attempt and refused to its retry; the driver recognises its
// own write and reports success instead of AlreadyExists or
// ConditionFailed.
func TestLostAnswer(t *testing.T) {
	ctx := context.Background()
	svc := startDynalite(t)
	table := svc.newTable(t)
	lose, endpoint := startLoseAnswers(t, svc.endpoint)
	d, err := dynamo.New(newClient(t, endpoint, fastRetries), table, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(d, nil)
	obj := domain.ObjectRef{Bucket: "b", Key: "lost", VersionID: "v1"}

	lose.arm("PutItem")
	rec, created, err := s.Ingest(ctx, obj, "ingest", "")
	if err != nil || !created {
		t.Fatalf("Ingest with a lost answer = created %t, %v; want created", created, err)
	}
	if n := lose.count("PutItem"); n != 2 {
		t.Errorf("the proxy saw %d PutItem requests, want 2 (the lost one and its retry)", n)
	}

	lose.arm("UpdateItem")
	claimed, err := s.Claim(ctx, rec.ID, "worker", time.Minute)
	if err != nil {
		t.Fatalf("Claim with a lost answer: %v", err)
	}
	if claimed.Version != 2 || len(claimed.History) != 2 || claimed.Lease == nil {
		t.Errorf("after Claim: version %d, %d history entries, lease %+v; want 2, 2, a lease", claimed.Version, len(claimed.History), claimed.Lease)
	}
	if n := lose.count("UpdateItem"); n != 2 {
		t.Errorf("the proxy saw %d UpdateItem requests, want 2", n)
	}
	// A different writer that loses the race is still refused.
	if _, err := s.Claim(ctx, rec.ID, "other", time.Minute); errcode.Of(err) != errcode.ConditionFailed {
		t.Errorf("second Claim: %v, want ConditionFailed", err)
	}

	if _, err := s.OpenReview(ctx, claimed); err != nil {
		t.Fatal(err)
	}
	lose.arm("UpdateItem")
	item, err := s.DecideReview(ctx, rec.ID, store.ReviewDecision{Decision: domain.DecisionConfirm, Reviewer: "carol"})
	if err != nil || item.Decision != domain.DecisionConfirm {
		t.Fatalf("DecideReview with a lost answer = %+v, %v; want the decision", item, err)
	}
	if _, err := s.DecideReview(ctx, rec.ID, store.ReviewDecision{Decision: domain.DecisionRelease, Reviewer: "dave"}); errcode.Of(err) != errcode.ConditionFailed {
		t.Errorf("second DecideReview: %v, want ConditionFailed", err)
	}

	lose.arm("PutItem")
	again := &domain.ReviewItem{ID: rec.ID, Object: obj, OpenedAt: time.Now()}
	if err := d.CreateReview(ctx, again); err != nil {
		t.Errorf("CreateReview with a lost answer: %v", err)
	}
}

// TestLostAnswerIntent: the driver itself, not only the portable layer's
// read-back, recognises its own applied intent writes after a lost answer.
func TestLostAnswerIntent(t *testing.T) {
	ctx := context.Background()
	svc := startDynalite(t)
	table := svc.newTable(t)
	lose, endpoint := startLoseAnswers(t, svc.endpoint)
	d, err := dynamo.New(newClient(t, endpoint, fastRetries), table, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	in := &domain.UploadIntent{
		ID: "00112233445566778899aabbccddeeff", Bucket: "b", Key: "lost", Requester: domain.Anonymous,
		Method: "PUT", IssuedAt: now, ExpiresAt: now.Add(time.Hour), State: domain.IntentExpected,
	}
	lose.arm("PutItem")
	if err := d.CreateIntent(ctx, in); err != nil {
		t.Fatalf("CreateIntent with a lost answer: %v", err)
	}
	if n := lose.count("PutItem"); n != 2 {
		t.Errorf("the proxy saw %d PutItem requests, want 2", n)
	}
	if err := d.CreateIntent(ctx, in); errcode.Of(err) != errcode.AlreadyExists {
		t.Errorf("second CreateIntent: %v, want AlreadyExists", err)
	}

	lose.arm("UpdateItem")
	res := store.IntentResolution{State: domain.IntentArrived, RecordID: "rec-1", At: now.Add(time.Minute), By: "ingest"}
	got, err := d.ResolveIntent(ctx, in.ID, res)
	if err != nil || got.State != domain.IntentArrived || got.RecordID != "rec-1" {
		t.Fatalf("ResolveIntent with a lost answer = %+v, %v; want arrived with rec-1", got, err)
	}
	if n := lose.count("UpdateItem"); n != 2 {
		t.Errorf("the proxy saw %d UpdateItem requests, want 2", n)
	}
	res.RecordID = "rec-2"
	if _, err := d.ResolveIntent(ctx, in.ID, res); errcode.Of(err) != errcode.ConditionFailed {
		t.Errorf("ResolveIntent linking another record: %v, want ConditionFailed", err)
	}
}
