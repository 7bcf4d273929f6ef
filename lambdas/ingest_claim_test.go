package lambdas_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/dynamo"
	"github.com/scangate/scangate/store/embedded"
)

// claimStarter hands the lease to the executions it starts for records
// ingest claimed, as Step Functions and the local runtime do; it keeps
// the inputs, and fails StartClaimed while lose is set (a start lost
// after the record was written).
type claimStarter struct {
	mu      sync.Mutex
	claimed []asl.Document
	plain   []asl.Document
	lose    bool
}

func (c *claimStarter) Start(ctx context.Context, rec *domain.Record) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.plain = append(c.plain, asl.Document{ID: rec.ID, Object: rec.Object})
	return "arn:started:" + rec.ID, nil
}

func (c *claimStarter) StartClaimed(ctx context.Context, rec *domain.Record) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lose {
		return "", errors.New("start lost")
	}
	c.claimed = append(c.claimed, asl.Document{ID: rec.ID, Object: rec.Object, LeaseToken: rec.Lease.Token})
	return "arn:started:" + rec.ID, nil
}

func (c *claimStarter) ExecutionID(rec *domain.Record) string { return "arn:started:" + rec.ID }

// claimDrivers are the drivers the claimed ingest runs against: the
// embedded one and DynamoDB's (dynalite), whose sparse by-state index is
// what the sweep must still find a claimed record in.
func claimDrivers(t *testing.T) map[string]func(t *testing.T) store.Driver {
	return map[string]func(t *testing.T) store.Driver{
		"embedded": func(t *testing.T) store.Driver {
			d, err := embedded.Open(filepath.Join(t.TempDir(), "db"), &embedded.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		"dynamo": func(t *testing.T) store.Driver {
			client := dynamodb.New(dynamodb.Options{
				Region: "us-east-1", BaseEndpoint: aws.String(testsvc.Dynalite(t)),
				Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
			})
			if err := dynamo.CreateTable(context.Background(), client, "claims"); err != nil {
				t.Fatal(err)
			}
			d, err := dynamo.New(client, "claims", nil)
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
	}
}

// TestIngestClaimsForItsExecution: a new record is created claimed for
// the execution ingest starts, with both transitions in its history; that
// execution's Claim writes nothing and its Record decides the record; a
// redelivered event changes nothing and starts nothing; and a record
// whose start was lost is found by the sweep once its lease expires.
func TestIngestClaimsForItsExecution(t *testing.T) {
	for name, open := range claimDrivers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var mu sync.Mutex
			now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			st := store.New(open(t), &store.Options{Now: clock})
			t.Cleanup(func() { st.Close() })
			objs, err := localdir.Open(filepath.Join(t.TempDir(), "b"), &localdir.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { objs.Close() })
			starter := &claimStarter{}
			h, err := lambdas.New(lambdas.Config{Store: st, Objects: objs, Starter: starter, QuarantineBucket: "q",
				Owner: "lambda:ingest", LeaseTTL: 5 * time.Minute, MaxScanBytes: 10})
			if err != nil {
				t.Fatal(err)
			}
			put := func(key, body string) domain.ObjectRef {
				t.Helper()
				ref, err := objs.Put(ctx, "uploads", key, strings.NewReader(body), objects.PutOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return ref
			}

			ref := put("a.txt", "a")
			for i, want := range []lambdas.IngestResult{{Created: 1, Started: 1}, {Known: 1}} {
				res, err := h.Ingest(ctx, intake.S3Notification(ref))
				if err != nil || res.Created != want.Created || res.Known != want.Known || res.Started != want.Started {
					t.Fatalf("ingest %d: %+v, %v; want created %d, known %d, started %d", i, res, err, want.Created, want.Known, want.Started)
				}
			}
			rec, err := st.Get(ctx, ref.ID())
			if err != nil {
				t.Fatal(err)
			}
			var events []string
			for _, e := range rec.History {
				events = append(events, e.Event+":"+string(e.From)+">"+string(e.To))
			}
			if rec.State != domain.StatusScanning || rec.Version != 1 || rec.Attempts != 1 || rec.Lease == nil ||
				strings.Join(events, " ") != "ingest:>pending claim:pending>scanning" || rec.ExecutionARN != "arn:started:"+rec.ID {
				t.Fatalf("ingested record: state %s, version %d, attempts %d, lease %+v, history %v, execution %q",
					rec.State, rec.Version, rec.Attempts, rec.Lease, events, rec.ExecutionARN)
			}
			if len(starter.claimed) != 1 || starter.claimed[0].LeaseToken != rec.Lease.Token || len(starter.plain) != 0 {
				t.Fatalf("starts: claimed %+v, plain %+v; want one claimed start with the lease", starter.claimed, starter.plain)
			}

			doc, err := h.Claim(ctx, starter.claimed[0])
			if err != nil || doc.Next != asl.RouteScan || doc.Skip || doc.LeaseToken != rec.Lease.Token {
				t.Fatalf("Claim: %+v, %v; want the scan route under the ingest's lease", doc, err)
			}
			doc.Verdict = &domain.Verdict{Outcome: domain.OutcomeClean, SHA256: strings.Repeat("ab", 32), ScannedAt: clock()}
			if doc, err = h.Record(ctx, doc); err != nil || doc.Status != domain.StatusClean {
				t.Fatalf("Record: %+v, %v", doc, err)
			}
			if rec, err = st.Get(ctx, ref.ID()); err != nil || rec.State != domain.StatusClean || rec.Version != 2 {
				t.Fatalf("after Record: %+v, %v; want clean at version 2 (Claim wrote nothing)", rec, err)
			}

			// Above the stream limit the record is claimed by its own
			// execution, as before.
			large := put("large.bin", strings.Repeat("x", 11))
			if _, err := h.Ingest(ctx, intake.S3Notification(large)); err != nil {
				t.Fatal(err)
			}
			if got, err := st.Get(ctx, large.ID()); err != nil || got.State != domain.StatusPending || len(starter.plain) != 1 {
				t.Fatalf("large object: %+v, %v, plain starts %d; want pending and started plainly", got, err, len(starter.plain))
			}

			// A start lost after the claimed create: the sweep finds the
			// record once the lease has expired, and only then.
			starter.lose = true
			lost := put("lost.txt", "b")
			if _, err := h.Ingest(ctx, intake.S3Notification(lost)); err == nil {
				t.Fatal("Ingest with a lost start succeeded")
			}
			starter.lose = false
			sweep := func() []string {
				t.Helper()
				res, err := h.Sweep(ctx, lambdas.SweepRequest{RetryFailedAfterSeconds: -1})
				if err != nil {
					t.Fatal(err)
				}
				return res.IDs
			}
			for _, id := range sweep() {
				if id == lost.ID() {
					t.Fatal("the sweep restarted a record whose lease is live")
				}
			}
			mu.Lock()
			now = now.Add(6 * time.Minute)
			mu.Unlock()
			found := false
			for _, id := range sweep() {
				found = found || id == lost.ID()
			}
			if !found {
				t.Fatal("the sweep did not find the claimed record whose start was lost")
			}
		})
	}
}
