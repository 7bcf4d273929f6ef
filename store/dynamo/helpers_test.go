package dynamo_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/dynamo"
)

// service is one dynalite and a client for it. Each top-level test starts
// its own; every driver gets its own table in it.
type service struct {
	endpoint string
	client   *dynamodb.Client
}

// tables numbers the tables of the whole test binary.
var tables atomic.Int64

// startDynalite starts dynalite for t and returns a client for it. The
// client's idle connections are closed when t ends, before dynalite stops,
// so goleak sees no connection goroutines left.
func startDynalite(t *testing.T) *service {
	t.Helper()
	endpoint := testsvc.Dynalite(t)
	return &service{endpoint: endpoint, client: newClient(t, endpoint)}
}

// newClient returns a client for endpoint with its own transport, closed
// when t ends.
func newClient(t *testing.T, endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	t.Helper()
	transport := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(transport.CloseIdleConnections)
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:   &http.Client{Transport: transport},
	}, optFns...)
}

// newTable creates a table with a name unique in the test binary.
func (s *service) newTable(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("scangate-test-%d", tables.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dynamo.CreateTable(ctx, s.client, name); err != nil {
		t.Fatalf("CreateTable %s: %v", name, err)
	}
	return name
}

// driver returns a driver over a fresh table.
func (s *service) driver(t *testing.T, opts *dynamo.Options) *dynamo.Driver {
	t.Helper()
	d, err := dynamo.New(s.client, s.newTable(t), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// newDriver is the storetest factory: a fresh table per driver.
func (s *service) newDriver(t *testing.T) store.Driver {
	t.Helper()
	return s.driver(t, nil)
}
