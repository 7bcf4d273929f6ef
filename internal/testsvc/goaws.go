package testsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// GoawsEnv names the environment variable that points at a goaws binary.
// Without it the binary is <module root>/.cache/bin/cmd, which `make goaws`
// builds (go install github.com/Admiral-Piett/goaws/app/cmd@v0.5.4, a few
// seconds, once; the module's main package is named cmd).
const GoawsEnv = "SCANGATE_GOAWS"

// The queues Goaws creates when GoawsOptions.Queues is empty: an intake
// queue whose messages move to its dead-letter queue after
// DefaultMaxReceiveCount receives, made visible again one second after each
// receive so that tests see redeliveries quickly.
const (
	DefaultQueue             = "scangate-intake"
	DefaultDeadLetterQueue   = "scangate-intake-dlq"
	DefaultMaxReceiveCount   = 2
	DefaultVisibilitySeconds = 1
)

const (
	goawsRegion  = "us-east-1"
	goawsAccount = "000000000000"
	// goawsPort is where goaws listens inside its own network namespace,
	// which nothing else uses.
	goawsPort = "4100"
)

// GoawsQueue is a queue Goaws creates at start-up.
type GoawsQueue struct {
	// Name is the queue's name: letters, digits, "-" and "_", at most 80
	// characters; a ".fifo" suffix makes it a FIFO queue.
	Name string
	// VisibilityTimeout is how long a received message stays invisible,
	// in whole seconds. 0 means goaws's default, 30. goaws makes messages
	// visible again in a once-a-second sweep, so a message reappears up to
	// a second after its timeout.
	VisibilityTimeout int
	// DeadLetterQueue names another queue of the same Goaws. When set,
	// a message that became visible again MaxReceiveCount times moves
	// there (the redrive policy).
	DeadLetterQueue string
	MaxReceiveCount int
}

// GoawsOptions configure Goaws. The zero value means the defaults.
type GoawsOptions struct {
	// Queues are created at start-up. Empty means DefaultQueue with
	// DefaultDeadLetterQueue (DefaultMaxReceiveCount,
	// DefaultVisibilitySeconds).
	Queues []GoawsQueue
}

// SQS is an SQS endpoint started for a test. It is reachable only through
// a UNIX socket: use Client or HTTPClient, which dial it.
type SQS struct {
	// Endpoint is the base URL to give an SQS client together with
	// HTTPClient. Its host is a placeholder: HTTPClient sends every
	// request to Socket, whatever the URL says.
	Endpoint string
	// Socket is the UNIX socket that reaches goaws.
	Socket    string
	Region    string
	AccountID string

	queues map[string]string // name → URL
	pid    int               // netnsfwd, inside goaws's namespace
}

// Goaws starts goaws v0.5.4 (an open-source SQS and SNS stand-in, in
// memory) with the queues in opts and no SNS topics or subscriptions. opts
// may be nil.
//
// goaws listens on 0.0.0.0 and cannot be told otherwise, so it runs in a
// network namespace of its own (`unshare --net`, with `--map-root-user`
// when the test is not root), where nothing but its own loopback exists.
// Beside it in that namespace runs netnsfwd (internal/testsvc/cmd/netnsfwd, built
// once per test binary), which forwards a UNIX socket in a temporary folder
// to goaws's port. Both stop when the test ends.
//
// The binary comes from $SCANGATE_GOAWS or <module root>/.cache/bin/cmd;
// when it is missing the test fails with the command that builds it. Tests
// never build it.
//
// goaws 0.5.4 with aws-sdk-go-v2 (JSON protocol), as the tests here use
// it: GetQueueUrl, GetQueueAttributes (QueueArn, RedrivePolicy,
// ApproximateNumberOfMessages), SendMessage, SendMessageBatch,
// ReceiveMessage with long polling and MaxNumberOfMessages,
// DeleteMessageBatch with per-entry failures, visibility timeouts, and the
// redrive policy: a message whose visibility timeout ran out
// MaxReceiveCount times moves to the dead-letter queue, keeping its
// message ID. Where it differs from SQS: ApproximateReceiveCount is always
// "1" and SentTimestamp is the time of the receive; SendMessageBatch
// answers under the query protocol's member names, so the SDK reads no
// Successful entries although the messages were sent (use SendMessage when
// the IDs matter); ApproximateNumberOfMessages counts in-flight messages
// too; messages reappear up to a second late; retention is not enforced.
func Goaws(t testing.TB, opts *GoawsOptions) *SQS {
	t.Helper()
	if opts == nil {
		opts = &GoawsOptions{}
	}
	queues := opts.Queues
	if len(queues) == 0 {
		queues = []GoawsQueue{
			{Name: DefaultQueue, VisibilityTimeout: DefaultVisibilitySeconds, DeadLetterQueue: DefaultDeadLetterQueue, MaxReceiveCount: DefaultMaxReceiveCount},
			{Name: DefaultDeadLetterQueue, VisibilityTimeout: DefaultVisibilitySeconds},
		}
	}
	cfg, err := goawsConfig(queues)
	if err != nil {
		t.Fatalf("testsvc: goaws: %v", err)
	}
	bin := GoawsBinary(t)
	unshare, ip := lookTool(t, "unshare", "util-linux"), lookTool(t, "ip", "iproute2")
	fwd := netnsfwdBinary(t)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "goaws.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	// A UNIX socket path has at most 107 bytes; t.TempDir's grow with the
	// test's name.
	sockDir, err := os.MkdirTemp("", "goaws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	s := &SQS{
		Endpoint:  "http://goaws.invalid",
		Socket:    filepath.Join(sockDir, "sqs.sock"),
		Region:    goawsRegion,
		AccountID: goawsAccount,
		queues:    map[string]string{},
	}

	args := []string{"--net"}
	if os.Geteuid() != 0 {
		args = append(args, "--map-root-user")
	}
	args = append(args, "--", fwd,
		"-ip", ip, "-listen", s.Socket, "-connect", "127.0.0.1:"+goawsPort,
		"--", bin, "-config", cfgPath, "Local")
	p := Start(t, dir, unshare, args, nil)
	s.pid = p.cmd.Process.Pid
	p.waitGoaws(t, s, 30*time.Second)

	c := s.Client(t)
	for _, q := range queues {
		s.queues[q.Name] = s.checkQueue(t, p, c, q)
	}
	return s
}

// QueueURL returns the URL of a queue Goaws created, failing the test for
// an unknown name.
func (s *SQS) QueueURL(t testing.TB, name string) string {
	t.Helper()
	u, ok := s.queues[name]
	if !ok {
		t.Fatalf("testsvc: goaws has no queue %q", name)
	}
	return u
}

// QueueARN returns the ARN goaws gives the queue name.
func (s *SQS) QueueARN(name string) string {
	return "arn:aws:sqs:" + s.Region + ":" + s.AccountID + ":" + name
}

// HTTPClient returns an HTTP client that sends every request to s.Socket.
// Its idle connections are closed when the test ends, so that goroutine
// leak checks pass.
func (s *SQS) HTTPClient(t testing.TB) *http.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	sock := s.Socket
	tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// Client returns an SQS client for s (static dummy credentials, s.Region).
func (s *SQS) Client(t testing.TB) *sqs.Client {
	t.Helper()
	return sqs.New(sqs.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("scangate-test", "scangate-test", ""),
		HTTPClient:   s.HTTPClient(t),
	})
}

// GoawsBinary returns the path of the goaws binary, failing the test with
// the command that builds it when there is none.
func GoawsBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(GoawsEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("testsvc: $%s=%s: %v", GoawsEnv, p, err)
		}
		return p
	}
	p := filepath.Join(ModuleRoot(t), ".cache", "bin", "cmd")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testsvc: %s is missing; run `make goaws` (GOBIN=$PWD/.cache/bin go install github.com/Admiral-Piett/goaws/app/cmd@v0.5.4) or set $%s", p, GoawsEnv)
	}
	return p
}

var queueName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// goawsConfig writes goaws's configuration: the "Local" environment with
// queues and nothing else. JSON is YAML, and goaws reads YAML by converting
// it to JSON, so this is exactly what goaws decodes.
func goawsConfig(queues []GoawsQueue) ([]byte, error) {
	type envQueue struct {
		Name              string
		VisibilityTimeout int    `json:",omitempty"`
		RedrivePolicy     string `json:",omitempty"`
	}
	names := map[string]bool{}
	for _, q := range queues {
		if !queueName.MatchString(strings.TrimSuffix(q.Name, ".fifo")) {
			return nil, fmt.Errorf("queue name %q: want 1 to 80 letters, digits, - or _", q.Name)
		}
		if names[q.Name] {
			return nil, fmt.Errorf("queue %q is listed twice", q.Name)
		}
		names[q.Name] = true
	}
	list := make([]envQueue, 0, len(queues))
	for _, q := range queues {
		if q.VisibilityTimeout < 0 || q.VisibilityTimeout > 43200 {
			return nil, fmt.Errorf("queue %q: visibility timeout %d s is outside 0 to 43200", q.Name, q.VisibilityTimeout)
		}
		e := envQueue{Name: q.Name, VisibilityTimeout: q.VisibilityTimeout}
		switch {
		case q.DeadLetterQueue == "" && q.MaxReceiveCount == 0:
		case !names[q.DeadLetterQueue] || q.DeadLetterQueue == q.Name:
			return nil, fmt.Errorf("queue %q: dead-letter queue %q is not another queue in the list", q.Name, q.DeadLetterQueue)
		case q.MaxReceiveCount < 1 || q.MaxReceiveCount > 1000:
			return nil, fmt.Errorf("queue %q: max receive count %d is outside 1 to 1000", q.Name, q.MaxReceiveCount)
		default:
			policy, _ := json.Marshal(map[string]any{
				"maxReceiveCount":     q.MaxReceiveCount,
				"deadLetterTargetArn": "arn:aws:sqs:" + goawsRegion + ":" + goawsAccount + ":" + q.DeadLetterQueue,
			})
			e.RedrivePolicy = string(policy)
		}
		list = append(list, e)
	}
	env := map[string]any{
		// Queue URLs are http://<Region>.<Host>:<Port>/<AccountId>/<name>;
		// only the name matters to goaws, and the client's transport
		// ignores the host.
		"Host":      "goaws.invalid",
		"Port":      goawsPort,
		"Region":    goawsRegion,
		"AccountId": goawsAccount,
		"LogToFile": false,
		"Queues":    list,
		"Topics":    []any{},
	}
	return json.MarshalIndent(map[string]any{"Local": env}, "", "  ")
}

// waitGoaws waits until goaws answers /health through the socket, or the
// process exits.
func (p *Process) waitGoaws(t testing.TB, s *SQS, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.Socket)
		},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/health", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.exited:
			t.Fatalf("testsvc: goaws exited before it answered:\n%s", p.Output())
		case <-ctx.Done():
			t.Fatalf("testsvc: goaws did not answer within %s (last: %s):\n%s", timeout, last, p.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkQueue verifies that goaws created q as configured and returns its
// URL. goaws only logs a configuration it cannot apply (and, for a bad
// redrive policy, keeps its queue lock and answers nothing more), so the
// calls are bounded.
func (s *SQS) checkQueue(t testing.TB, p *Process, c *sqs.Client, q GoawsQueue) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.Name)})
	if err != nil {
		t.Fatalf("testsvc: goaws did not create queue %s: %v\n%s", q.Name, err, p.Output())
	}
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       u.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("testsvc: goaws queue %s: %v\n%s", q.Name, err, p.Output())
	}
	if q.DeadLetterQueue != "" {
		var policy struct {
			MaxReceiveCount     json.Number `json:"maxReceiveCount"`
			DeadLetterTargetArn string      `json:"deadLetterTargetArn"`
		}
		err := json.Unmarshal([]byte(out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]), &policy)
		if err != nil || policy.DeadLetterTargetArn != s.QueueARN(q.DeadLetterQueue) || policy.MaxReceiveCount.String() != fmt.Sprint(q.MaxReceiveCount) {
			t.Fatalf("testsvc: goaws queue %s has redrive policy %q (%v), want %d receives to %s\n%s",
				q.Name, out.Attributes[string(types.QueueAttributeNameRedrivePolicy)], err, q.MaxReceiveCount, s.QueueARN(q.DeadLetterQueue), p.Output())
		}
	}
	return aws.ToString(u.QueueUrl)
}

// lookTool finds a command, failing the test with the Debian package that
// installs it.
func lookTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	t.Fatalf("testsvc: %s is missing; apt-get install -y %s", name, pkg)
	return ""
}

var netnsfwd struct {
	once sync.Once
	path string
	err  error
}

// netnsfwdBinary builds internal/testsvc/cmd/netnsfwd once per test binary into
// <module root>/.cache/bin/netnsfwd. Test binaries running at once each
// build it and rename their build into place, so none sees a partial file;
// the Go build cache makes every build after the first quick.
func netnsfwdBinary(t testing.TB) string {
	t.Helper()
	root := ModuleRoot(t)
	netnsfwd.once.Do(func() {
		netnsfwd.path, netnsfwd.err = buildNetnsfwd(root)
	})
	if netnsfwd.err != nil {
		t.Fatalf("testsvc: %v", netnsfwd.err)
	}
	return netnsfwd.path
}

func buildNetnsfwd(root string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build netnsfwd: %w", err)
	}
	dir := filepath.Join(root, ".cache", "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".netnsfwd-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", tmp.Name(), "./internal/testsvc/cmd/netnsfwd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./internal/testsvc/cmd/netnsfwd: %w\n%s", err, out)
	}
	final := filepath.Join(dir, "netnsfwd")
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", errors.Join(errors.New("install netnsfwd"), err)
	}
	return final, nil
}
