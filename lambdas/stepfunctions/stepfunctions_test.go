package stepfunctions_test

import (
	"context"
	"encoding/json"
	"github.com/scangate/scangate/asl"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/lambdas/stepfunctions"
)

// fakeSFN speaks just enough of the Step Functions JSON protocol to answer
// StartExecution (deduplicating names like a Standard workflow) and
// SendTaskSuccess. It tests this package's logic; it is no emulator.
type fakeSFN struct {
	mu     sync.Mutex
	names  map[string]string // name -> input
	tokens map[string]bool
	sent   []string
}

func (f *fakeSFN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in map[string]string
	json.Unmarshal(body, &in)
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	fail := func(typ string) {
		w.WriteHeader(400)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": typ})
	}
	switch r.Header.Get("X-Amz-Target") {
	case "AWSStepFunctions.StartExecution":
		if _, ok := f.names[in["name"]]; ok {
			fail("ExecutionAlreadyExists")
			return
		}
		f.names[in["name"]] = in["input"]
		json.NewEncoder(w).Encode(map[string]any{"executionArn": stepfunctions.ExecutionARN(in["stateMachineArn"], in["name"]), "startDate": 1.7e9})
	case "AWSStepFunctions.SendTaskSuccess":
		if !f.tokens[in["taskToken"]] {
			fail("TaskDoesNotExist")
			return
		}
		delete(f.tokens, in["taskToken"])
		f.sent = append(f.sent, in["output"])
		w.Write([]byte("{}"))
	case "AWSStepFunctions.DescribeExecution":
		fail("StateMachineDoesNotExist")
	default:
		w.WriteHeader(400)
	}
}

const (
	scanARN   = "arn:aws:states:us-east-1:123456789012:stateMachine:scangate-scan"
	reviewARN = "arn:aws:states:us-east-1:123456789012:stateMachine:scangate-review"
)

func newRunner(t *testing.T, f *fakeSFN) *stepfunctions.Runner {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := sfn.New(sfn.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.AnonymousCredentials{},
	})
	r, err := stepfunctions.New(c, scanARN, reviewARN, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestStartIsIdempotentPerGeneration(t *testing.T) {
	f := &fakeSFN{names: map[string]string{}, tokens: map[string]bool{}}
	r := newRunner(t, f)
	ctx := context.Background()
	rec := &domain.Record{ID: "0123456789abcdef0123456789abcdef", Object: domain.ObjectRef{Bucket: "b", Key: "dir/a file.pdf", VersionID: "v1"}}
	first, err := r.Start(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Start(ctx, rec)
	if err != nil {
		t.Fatalf("duplicate start: %v; ExecutionAlreadyExists must count as success", err)
	}
	if first != again || !strings.Contains(first, ":execution:scangate-scan:scan-a_file_pdf-") {
		t.Errorf("execution ARNs %q then %q", first, again)
	}
	rec.History = append(rec.History, domain.HistoryEntry{Event: "rescan"})
	third, err := r.Start(ctx, rec)
	if err != nil || third == first {
		t.Errorf("a rescan must start a new execution: %q, %v", third, err)
	}
	if len(f.names) != 2 {
		t.Errorf("%d executions; want 2", len(f.names))
	}
	var st asl.Document
	json.Unmarshal([]byte(f.names[strings.TrimPrefix(first[strings.LastIndex(first, ":")+1:], "")]), &st)
	if st.ID != rec.ID || st.Object.Key != rec.Object.Key {
		t.Errorf("execution input %+v", st)
	}
}

func TestResume(t *testing.T) {
	f := &fakeSFN{names: map[string]string{}, tokens: map[string]bool{"tok": true}}
	r := newRunner(t, f)
	ctx := context.Background()
	st := asl.Document{ID: "x", Decision: &asl.Decision{Decision: domain.DecisionRelease, Reviewer: "alice"}}
	item := &domain.ReviewItem{ID: "x", TaskToken: "tok"}
	if err := r.Resume(ctx, item, st); err != nil {
		t.Fatal(err)
	}
	// The token is used up: a second resume is not an error.
	if err := r.Resume(ctx, item, st); err != nil {
		t.Errorf("second resume: %v", err)
	}
	if len(f.sent) != 1 || !strings.Contains(f.sent[0], `"decision":"release"`) {
		t.Errorf("sent %v", f.sent)
	}
	if err := r.Resume(ctx, &domain.ReviewItem{ID: "x"}, st); errcode.Of(err) != errcode.Invalid {
		t.Errorf("resume without a token: %v", err)
	}
}

// ExecutionID names, before the start, the ARN Start then returns: ingest
// stores it with the new record instead of writing it afterwards.
func TestExecutionIDIsWhatStartReturns(t *testing.T) {
	f := &fakeSFN{names: map[string]string{}, tokens: map[string]bool{}}
	r := newRunner(t, f)
	ctx := context.Background()
	rec := &domain.Record{ID: "0123456789abcdef0123456789abcdef", Object: domain.ObjectRef{Bucket: "b", Key: "dir/x.bin", VersionID: "v1"}}
	for range 2 {
		want := r.ExecutionID(rec)
		got, err := r.Start(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("ExecutionID %q; Start returned %q", want, got)
		}
		rec.History = append(rec.History, domain.HistoryEntry{Event: "rescan"}) // next generation
	}
}
