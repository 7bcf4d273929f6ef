package fargate_test

import (
	"context"
	"encoding/json"
	"github.com/scangate/scangate/asl"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/lambdas/fargate"
)

// ecsEndpoint answers RunTask as ECS's JSON protocol does, recording each
// request body the real SDK client sent. No ECS stand-in can run here, so
// this checks what scangate asks for, byte for byte, not what ECS does.
type ecsEndpoint struct {
	mu       sync.Mutex
	bodies   []map[string]any
	failures bool
}

func (e *ecsEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("X-Amz-Target"); got != "AmazonEC2ContainerServiceV20141113.RunTask" {
		http.Error(w, "unexpected target "+got, http.StatusBadRequest)
		return
	}
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.bodies = append(e.bodies, m)
	fail := e.failures
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if fail {
		io.WriteString(w, `{"tasks":[],"failures":[{"reason":"RESOURCE:MEMORY","detail":"no capacity"}]}`)
		return
	}
	io.WriteString(w, `{"tasks":[{"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/scangate/abc"}],"failures":[]}`)
}

func newOffloader(t *testing.T, e *ecsEndpoint) *fargate.Offloader {
	t.Helper()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	client := ecs.New(ecs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	o, err := fargate.New(client, fargate.Config{
		Cluster: "scangate", TaskDefinition: "scangate-large:3", Container: "scangate",
		Subnets: []string{"subnet-1", "subnet-2"}, SecurityGroups: []string{"sg-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOffloadRunsTheTask(t *testing.T) {
	e := &ecsEndpoint{}
	o := newOffloader(t, e)
	st := asl.Document{
		ID:        "0123456789abcdef0123456789abcdef",
		Object:    domain.ObjectRef{Bucket: "uploads", Key: "videos/big file.mp4", VersionID: "v1", ETag: `"e"`, Size: 3 << 30},
		Next:      "scan",
		Offloaded: true,
	}
	ctx := context.Background()
	for range 2 {
		if err := o.Offload(ctx, st, 7); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Offload(ctx, st, 9); err != nil {
		t.Fatal(err)
	}
	if len(e.bodies) != 3 {
		t.Fatalf("%d RunTask calls; want 3", len(e.bodies))
	}
	b := e.bodies[0]
	for k, want := range map[string]any{"cluster": "scangate", "taskDefinition": "scangate-large:3", "launchType": "FARGATE", "count": float64(1)} {
		if b[k] != want {
			t.Errorf("%s = %v; want %v", k, b[k], want)
		}
	}
	if e.bodies[0]["clientToken"] != e.bodies[1]["clientToken"] {
		t.Errorf("the same version gave client tokens %v and %v; a duplicate must not start a second task", e.bodies[0]["clientToken"], e.bodies[1]["clientToken"])
	}
	if e.bodies[0]["clientToken"] == e.bodies[2]["clientToken"] {
		t.Errorf("a new version reused client token %v", e.bodies[2]["clientToken"])
	}
	net := b["networkConfiguration"].(map[string]any)["awsvpcConfiguration"].(map[string]any)
	if net["assignPublicIp"] != "DISABLED" || len(net["subnets"].([]any)) != 2 {
		t.Errorf("network %v", net)
	}
	co := b["overrides"].(map[string]any)["containerOverrides"].([]any)[0].(map[string]any)
	if co["name"] != "scangate" || co["command"].([]any)[0] != "task" {
		t.Errorf("container override %v", co)
	}
	env := co["environment"].([]any)[0].(map[string]any)
	if env["name"] != fargate.StateEnv {
		t.Fatalf("environment %v", env)
	}
	var got asl.Document
	if err := json.Unmarshal([]byte(env["value"].(string)), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != st.ID || got.Object != st.Object || !got.Offloaded {
		t.Errorf("the task's state %+v; want %+v", got, st)
	}
}

func TestOffloadFailuresAreRetryable(t *testing.T) {
	e := &ecsEndpoint{failures: true}
	o := newOffloader(t, e)
	err := o.Offload(context.Background(), asl.Document{ID: "r1", Object: domain.ObjectRef{Bucket: "b", Key: "k"}}, 1)
	if err == nil || !errcode.Of(err).Retryable() {
		t.Fatalf("Offload with a capacity failure = %v; want a retryable error", err)
	}
}
