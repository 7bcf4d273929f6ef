package dynamo_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/dynamo"
)

// TestByStateIsSparse follows one record through the states of a clean
// scan and a rescan and checks its by-state entry in the index itself: it
// is there in every state but clean, keeps its sort key while a write
// leaves the state and update time alone, and listing clean records (by a
// Scan) still finds the record.
func TestByStateIsSparse(t *testing.T) {
	ctx := context.Background()
	svc := startDynalite(t)
	d := svc.driver(t, nil)
	rec := fullRecord("sparse", domain.StatusPending)
	rec.Verdict, rec.Quarantine, rec.Reason = nil, nil, ""
	if err := d.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	entry := func() (string, bool) {
		t.Helper()
		out, err := svc.client.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(d.Table()), IndexName: aws.String(dynamo.IndexByState),
			KeyConditionExpression:    aws.String("#s = :s"),
			ExpressionAttributeNames:  map[string]string{"#s": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: string(rec.State)}},
		})
		if err != nil {
			t.Fatalf("Query by-state: %v", err)
		}
		for _, it := range out.Items {
			if it["pk"].(*types.AttributeValueMemberS).Value == "rec#"+rec.ID {
				return it["stateSort"].(*types.AttributeValueMemberS).Value, true
			}
		}
		return "", false
	}
	at := rec.UpdatedAt
	steps := []struct {
		name      string
		to        domain.Status
		sameTime  bool
		verdict   bool // sets a clean verdict
		clear     bool // drops the verdict, as a rescan does
		wantEntry bool
	}{
		{name: "claim", to: domain.StatusScanning, wantEntry: true},
		{name: "bookkeeping", to: domain.StatusScanning, sameTime: true, wantEntry: true},
		{name: "pass", to: domain.StatusClean, verdict: true, wantEntry: false},
		{name: "rescan", to: domain.StatusPending, clear: true, wantEntry: true},
	}
	sort, _ := entry()
	for _, st := range steps {
		if !st.sameTime {
			at = at.Add(time.Second)
		}
		m := store.Mutation{State: st.to, Attempts: rec.Attempts, UpdatedAt: at, ExecutionARN: rec.ExecutionARN, Verdict: rec.Verdict}
		if !st.sameTime {
			m.History = &domain.HistoryEntry{At: at, Event: st.name, From: rec.State, To: st.to}
		}
		if st.clear {
			m.Verdict = nil
		}
		if st.verdict {
			v := domain.Verdict{Outcome: domain.OutcomeClean, SHA256: "ab", ScannedAt: at}
			m.Verdict, m.Verdicts = &v, []domain.Verdict{v}
		}
		got, err := d.Update(ctx, rec.ID, store.Condition{States: []domain.Status{rec.State}, Version: rec.Version}, m)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		prev := sort
		rec = got
		var ok bool
		sort, ok = entry()
		if ok != st.wantEntry {
			t.Errorf("%s: record in %s has a by-state entry: %t, want %t", st.name, rec.State, ok, st.wantEntry)
		}
		if st.sameTime && sort != prev {
			t.Errorf("%s: the entry moved (%q to %q) although state and update time stayed", st.name, prev, sort)
		}
		if rec.State == domain.StatusClean {
			if rec.Verdict == nil || len(rec.Verdicts) != 1 || rec.Verdict.SHA256 != "ab" {
				t.Errorf("%s: the verdict stored once does not read back: %+v, %+v", st.name, rec.Verdict, rec.Verdicts)
			}
			listed, _, err := d.ListByState(ctx, domain.StatusClean, store.Page{})
			if err != nil || !slices.ContainsFunc(listed, func(r *domain.Record) bool { return r.ID == rec.ID }) {
				t.Errorf("%s: ListByState clean = %d records, %v; want the record", st.name, len(listed), err)
			}
		}
	}
	if rec.Verdict != nil || len(rec.Verdicts) != 1 {
		t.Errorf("after the rescan: verdict %+v, verdicts %d; want none and the clean one kept", rec.Verdict, len(rec.Verdicts))
	}
}

// TestLegacyRecordDecodes reads a record as drivers before the compact
// layout wrote it: id and createdAt stored, verdicts under long names, no
// verdictIsLast.
func TestLegacyRecordDecodes(t *testing.T) {
	ctx := context.Background()
	svc := startDynalite(t)
	d := svc.driver(t, nil)
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	num := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	verdict := &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		"outcome": str("clean"), "dbVersion": str("27512"), "dbTime": str("2026-05-01T08:00:00.000000000Z"),
		"bytesScanned": num("4096"), "durationNs": num("3000000"), "scannedAt": str("2026-05-01T12:00:00.000000000Z"),
		"contentType": str("application/pdf"), "sha256": str("ab"),
	}}
	item := map[string]types.AttributeValue{
		"pk": str("rec#legacy"), "sk": str("record"), "id": str("legacy"), "state": str("clean"),
		"stateSort": str("2026-05-01T12:00:01.000000000Z#legacy"), "version": num("3"), "attempts": num("1"),
		"object":    &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"bucket": str("b"), "key": str("k")}},
		"createdAt": str("2026-05-01T11:59:00.000000000Z"), "updatedAt": str("2026-05-01T12:00:01.000000000Z"),
		"history": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"at": str("2026-05-01T11:59:00.000000000Z"), "event": str("ingest"), "to": str("pending"),
		}}}},
		"verdict": verdict, "verdicts": &types.AttributeValueMemberL{Value: []types.AttributeValue{verdict}},
	}
	if _, err := svc.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.Table()), Item: item}); err != nil {
		t.Fatal(err)
	}
	rec, err := d.Get(ctx, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Verdict{Outcome: domain.OutcomeClean, DBVersion: "27512", DBTime: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC),
		BytesScanned: 4096, Duration: 3 * time.Millisecond, ScannedAt: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		ContentType: "application/pdf", SHA256: "ab"}
	if rec.ID != "legacy" || rec.Verdict == nil || len(rec.Verdicts) != 1 {
		t.Fatalf("legacy record = %+v", rec)
	}
	for _, got := range []domain.Verdict{*rec.Verdict, rec.Verdicts[0]} {
		got.Signatures = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("legacy verdict = %+v, want %+v", got, want)
		}
	}
	if !rec.CreatedAt.Equal(time.Date(2026, 5, 1, 11, 59, 0, 0, time.UTC)) || !rec.UpdatedAt.Equal(time.Date(2026, 5, 1, 12, 0, 1, 0, time.UTC)) {
		t.Errorf("legacy times: created %s, updated %s", rec.CreatedAt, rec.UpdatedAt)
	}
}
