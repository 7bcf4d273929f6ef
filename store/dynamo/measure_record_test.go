package dynamo_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/dynamo"
)

// TestMeasurementsVerdictLookups measures the requests the scan workflow
// makes besides the record's own (TestMeasurements covers those): the
// Record step's allowlist lookup, which misses for almost every object, and
// its write of the clean verdict to the verdict cache; and the two lookups
// the Scan step makes when S3 vouches for the bytes' SHA-256. The figures
// are for docs/cost.md (run with -v). A cached verdict item has no index
// keys, so these requests write no index.
func TestMeasurementsVerdictLookups(t *testing.T) {
	ctx := context.Background()
	svc := startDynalite(t)
	m := &meter{}
	d := svc.driver(t, &dynamo.Options{OnConsumed: m.record})
	s := store.New(d, nil)
	sum := strings.Repeat("ab", 32)
	v := &domain.Verdict{Outcome: domain.OutcomeClean, Engine: "ClamAV 1.4.6", DBVersion: "27512",
		DBTime: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC), SHA256: sum, BytesScanned: 1 << 20,
		Duration: 120 * time.Millisecond, ScannedAt: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}

	var lines []string
	step := func(name string, fn func() error) {
		m.reset()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m.mu.Lock()
		lines = append(lines, fmt.Sprintf("  %-26s %d reads %d writes  %3.1f RCU %3.1f WCU  %v", name, m.reads, m.writes, m.rcu, m.wcu, m.ops))
		m.mu.Unlock()
	}
	step("Allowlisted (miss)", func() error {
		e, err := s.Allowlisted(ctx, sum)
		if e != nil {
			return fmt.Errorf("unexpected entry %+v", e)
		}
		return err
	})
	step("CachedVerdict (miss)", func() error {
		got, err := s.CachedVerdict(ctx, sum, v.DBVersion)
		if got != nil {
			return fmt.Errorf("unexpected verdict %+v", got)
		}
		return err
	})
	step("CacheVerdict", func() error { return s.CacheVerdict(ctx, v) })
	step("CachedVerdict (hit)", func() error {
		got, err := s.CachedVerdict(ctx, sum, v.DBVersion)
		if err == nil && got == nil {
			err = fmt.Errorf("no cached verdict")
		}
		return err
	})
	out, err := svc.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(d.Table()),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "verdict#" + sum},
			"sk": &types.AttributeValueMemberS{Value: "db#" + v.DBVersion},
		},
	})
	if err != nil || out.Item == nil {
		t.Fatalf("reading the cached verdict item: %v", err)
	}
	t.Logf("verdict lookups and cache write, per object; cached verdict item %d B\n%s", itemSize(out.Item), strings.Join(lines, "\n"))
}
