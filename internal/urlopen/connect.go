// Package urlopen opens scangate's ports from URLs, so that the command, the
// Lambdas and the tests choose drivers the same way.
//
// # URLs
//
// Stores:
//
//	bolt:///path/to/scangate.db   the embedded bbolt store
//	dynamodb://TABLE              the DynamoDB store (package store/dynamo)
//
// A dynamodb URL takes these query parameters, and no others:
//
//	region=R        the AWS region; default: the SDK's configuration
//	                (AWS_REGION, the profile), or us-east-1 for a loopback
//	                endpoint
//	endpoint=URL    another endpoint, such as a local dynalite
//	                (http://127.0.0.1:8000); when it is a loopback address
//	                and no credentials are configured, dummy credentials are
//	                used, since a local stand-in accepts any
//	create=true     create the table with dynamo.TableSchema when it is
//	                missing, and wait until it is ACTIVE (local development);
//	                an existing table with another schema is an error
//
// Credentials come from the SDK's default chain (environment, shared
// files, SSO, container or instance roles). Without create=true nothing is
// sent until the first call: a missing table then gives code Unavailable
// naming the table.
//
// Object backends:
//
//	file:///path/to/dir           the local-directory bucket root
//
// Unknown schemes and unknown query parameters are errors, so a typo never
// silently falls back to a default.
package urlopen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/dynamo"
	"github.com/scangate/scangate/store/embedded"
)

// Store opens the store driver that rawURL names.
func Store(ctx context.Context, rawURL string) (store.Driver, error) {
	u, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "bolt":
		if err := onlyParams(u); err != nil {
			return nil, err
		}
		return embedded.Open(pathOf(u), nil)
	case "dynamodb":
		return openDynamo(ctx, u)
	}
	return nil, fmt.Errorf("connect: unknown store scheme %q in %q (want bolt:// or dynamodb://)", u.Scheme, rawURL)
}

// openDynamo opens dynamodb://TABLE?region=R&endpoint=URL&create=true.
func openDynamo(ctx context.Context, u *url.URL) (store.Driver, error) {
	if err := onlyParams(u, "region", "endpoint", "create"); err != nil {
		return nil, err
	}
	table := u.Host
	if table == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.Port() != "" {
		return nil, fmt.Errorf("connect: dynamodb URL %q must be dynamodb://TABLE", u.Redacted())
	}
	q := u.Query()
	create := false
	if v := q.Get("create"); v != "" || q.Has("create") {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("connect: create=%q in dynamodb URL is not a boolean", v)
		}
		create = b
	}
	endpoint := q.Get("endpoint")
	loopback := false
	if q.Has("endpoint") {
		e, err := url.Parse(endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Hostname() == "" {
			return nil, fmt.Errorf("connect: endpoint=%q in dynamodb URL must be an http or https URL", endpoint)
		}
		loopback = isLoopback(e.Hostname())
	}

	// The SDK's buildable client (it keeps the SDK's timeouts and honours
	// AWS_CA_BUNDLE), dialing through a tracker so that Close can release
	// the connections.
	conns := &connTracker{dialer: &net.Dialer{Timeout: awshttp.DefaultDialConnectTimeout, KeepAlive: awshttp.DefaultDialKeepAliveTimeout}}
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.DialContext = conns.dial
		})),
	}
	if r := q.Get("region"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	if loopback {
		// A local stand-in: never ask an instance metadata service.
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	fail := func(err error) (store.Driver, error) {
		conns.closeAll()
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fail(fmt.Errorf("connect: load AWS configuration: %w", err))
	}
	if cfg.Region == "" {
		if !loopback {
			return fail(fmt.Errorf("connect: no AWS region for %s: set region= in the URL or AWS_REGION", u.Redacted()))
		}
		cfg.Region = "us-east-1"
	}
	if loopback {
		// A local stand-in accepts any credentials; use the configured
		// ones if there are any.
		err := errors.New("no credentials provider")
		if cfg.Credentials != nil {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = cfg.Credentials.Retrieve(rctx)
			cancel()
		}
		if err != nil {
			cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	if create {
		if err := dynamo.CreateTable(ctx, client, table); err != nil {
			return fail(err)
		}
	}
	d, err := dynamo.New(client, table, nil)
	if err != nil {
		return fail(err)
	}
	return &dynamoDriver{Driver: d, conns: conns}, nil
}

// dynamoDriver is a dynamo.Driver whose client this package made: closing
// it also closes the client's connections.
type dynamoDriver struct {
	*dynamo.Driver
	conns *connTracker
}

func (d *dynamoDriver) Close() error {
	err := d.Driver.Close()
	d.conns.closeAll()
	return err
}

// connTracker dials connections and remembers them until they close, so
// that closeAll can end them (and the HTTP transport's goroutines that
// serve them).
type connTracker struct {
	dialer *net.Dialer
	mu     sync.Mutex
	open   map[*trackedConn]struct{}
}

func (c *connTracker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: conn, tracker: c}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		c.open = map[*trackedConn]struct{}{}
	}
	c.open[tc] = struct{}{}
	return tc, nil
}

func (c *connTracker) closeAll() {
	c.mu.Lock()
	open := c.open
	c.open = nil
	c.mu.Unlock()
	for tc := range open {
		tc.Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	tracker *connTracker
}

func (tc *trackedConn) Close() error {
	tc.tracker.mu.Lock()
	delete(tc.tracker.open, tc)
	tc.tracker.mu.Unlock()
	return tc.Conn.Close()
}

// isLoopback reports whether host names this machine: localhost or a
// loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Objects opens the object driver that rawURL names.
func Objects(ctx context.Context, rawURL string) (objects.Driver, error) {
	u, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "file":
		if err := onlyParams(u); err != nil {
			return nil, err
		}
		return localdir.Open(pathOf(u), nil)
	}
	return nil, fmt.Errorf("connect: unknown object scheme %q in %q (want file://)", u.Scheme, rawURL)
}

func parse(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("connect: %q has no scheme", rawURL)
	}
	return u, nil
}

func pathOf(u *url.URL) string {
	if u.Host != "" {
		// bolt://relative/path keeps its first segment in Host.
		return u.Host + u.Path
	}
	return u.Path
}

// onlyParams rejects query parameters not in allowed.
func onlyParams(u *url.URL, allowed ...string) error {
	for k := range u.Query() {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("connect: unknown parameter %q in %s URL", k, u.Scheme)
		}
	}
	return nil
}
