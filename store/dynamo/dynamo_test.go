package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/goleak"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/statemachine"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/dynamo"
	"github.com/scangate/scangate/store/embedded"
	"github.com/scangate/scangate/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestConformance runs the shared suite, including its 16-goroutine claim,
// reclaim, finish, ingest, update and decide races, against dynalite.
func TestConformance(t *testing.T) {
	svc := startDynalite(t)
	t.Run("dynamo", func(t *testing.T) {
		storetest.RunConformanceTests(t, svc.newDriver)
	})
}

// TestProperty applies the suite's 1,000 random sequences. It runs in
// parallel with TestDifferential, each against its own dynalite, which
// halves the package's wall time on two cores.
func TestProperty(t *testing.T) {
	t.Parallel()
	svc := startDynalite(t)
	t.Run("dynamo", func(t *testing.T) {
		storetest.RunPropertyTests(t, svc.newDriver, nil)
	})
}

func newEmbedded(t *testing.T) store.Driver {
	t.Helper()
	d, err := embedded.Open(filepath.Join(t.TempDir(), "scangate.db"), &embedded.Options{NoSync: true})
	if err != nil {
		t.Fatalf("embedded.Open: %v", err)
	}
	return d
}

// TestDifferential applies 1,000 random sequences to the embedded driver
// and to this one: every step must have the same outcome and every
// sequence end in equal records. It uses another seed than TestProperty,
// so that this driver meets 2,000 distinct sequences in all, and at most
// 10 steps per sequence (TestProperty has the full 20), which halves its
// cost: against dynalite each step is several requests, and the race
// detector doubles the client's share.
func TestDifferential(t *testing.T) {
	t.Parallel()
	svc := startDynalite(t)
	t.Run("embedded-vs-dynamo", func(t *testing.T) {
		storetest.RunDifferential(t, newEmbedded, svc.newDriver, &storetest.PropertyOptions{Seed: 1, MaxSteps: 10})
	})
}

// fullRecord is a record in state with every field set.
func fullRecord(name string, state domain.Status) *domain.Record {
	obj := domain.ObjectRef{Bucket: "uploads", Key: "in/" + name, VersionID: "v-" + name, ETag: `"e"`, Size: 10}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	rec := &domain.Record{
		ID: obj.ID(), Object: obj, State: state, Reason: domain.ReasonTimeout, Version: 4, Attempts: 1,
		Verdict:      &domain.Verdict{Outcome: domain.OutcomeInfected, Signatures: []string{"Eicar-Signature"}, SHA256: strings.Repeat("ab", 32), ScannedAt: t0},
		Quarantine:   &domain.ObjectRef{Bucket: "quarantine", Key: "q/" + obj.ID()},
		ExecutionARN: "arn:aws:states:eu-west-1:123456789012:execution:scan:" + obj.ID(),
		CreatedAt:    t0, UpdatedAt: t0.Add(time.Second),
		History: []domain.HistoryEntry{{At: t0, Event: "ingest", To: domain.StatusPending, Actor: "ingest"}},
	}
	if state == domain.StatusScanning {
		rec.Lease = &domain.Lease{Owner: "w", Token: "tok-" + name, Expires: t0.Add(time.Hour)}
	}
	return rec
}

func rawGet(t *testing.T, c *dynamodb.Client, table string, key map[string]types.AttributeValue) map[string]types.AttributeValue {
	t.Helper()
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	return out.Item
}

func recordKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "rec#" + id},
		"sk": &types.AttributeValueMemberS{Value: "record"},
	}
}

// TestDatabaseRefusesIllegalTransitions proves that the lifecycle guard
// lives in DynamoDB's condition, not only in Go: for every (state, event)
// pair, the exact UpdateItem the driver would send for the event, with the
// condition built from the event's source states in the statemachine table
// (and the correct version, so only the state can fail it), is sent through
// the raw SDK client, bypassing store.Store and its statemachine.Next
// check. DynamoDB must refuse every illegal pair with
// ConditionalCheckFailedException and leave the item byte for byte as it
// was, and accept every legal pair.
func TestDatabaseRefusesIllegalTransitions(t *testing.T) {
	ctx := context.Background()
	svc := startDynalite(t)
	d := svc.driver(t, nil)
	var illegal, legal int
	for _, from := range domain.Statuses() {
		for _, ev := range statemachine.Events() {
			rec := fullRecord(fmt.Sprintf("%s-%s", from, ev), from)
			if err := d.Create(ctx, rec); err != nil {
				t.Fatalf("Create: %v", err)
			}
			before := rawGet(t, svc.client, d.Table(), recordKey(rec.ID))
			to := statemachine.Target(ev)
			at := rec.UpdatedAt.Add(time.Minute)
			m := store.Mutation{
				State: to, Attempts: rec.Attempts, Verdict: rec.Verdict, UpdatedAt: at,
				History: &domain.HistoryEntry{At: at, Event: string(ev), From: from, To: to, Actor: "raw-sdk"},
			}
			cond := store.Condition{States: statemachine.Sources(ev), Version: rec.Version}
			in, err := dynamo.UpdateInput(d, rec.ID, cond, m)
			if err != nil {
				t.Fatalf("UpdateInput %s from %s: %v", ev, from, err)
			}
			_, err = svc.client.UpdateItem(ctx, in)
			after := rawGet(t, svc.client, d.Table(), recordKey(rec.ID))
			if statemachine.Can(from, ev) {
				legal++
				if err != nil {
					t.Errorf("legal %s from %s: raw UpdateItem failed: %v", ev, from, err)
				} else if got := after["state"].(*types.AttributeValueMemberS).Value; got != string(to) {
					t.Errorf("legal %s from %s: state is %s, want %s", ev, from, got, to)
				}
				continue
			}
			illegal++
			var ccf *types.ConditionalCheckFailedException
			if !errors.As(err, &ccf) {
				t.Errorf("illegal %s from %s: raw UpdateItem gave %v, want ConditionalCheckFailedException\ncondition: %s",
					ev, from, err, aws.ToString(in.ConditionExpression))
			}
			if !reflect.DeepEqual(after, before) {
				t.Errorf("illegal %s from %s: the item changed:\nbefore %v\nafter  %v", ev, from, before, after)
			}
		}
	}
	if total := len(domain.Statuses()) * len(statemachine.Events()); illegal+legal != total || illegal == 0 || legal == 0 {
		t.Fatalf("tested %d illegal and %d legal pairs of %d", illegal, legal, total)
	}
	t.Logf("DynamoDB refused all %d illegal (state, event) pairs and accepted all %d legal ones", illegal, legal)
}

// TestKeysFollowSchema checks that the items carry the key attributes that
// TableSchema declares: records in the by-state index, open review items
// (and only open ones) in the open-reviews index, upload intents in
// by-state under their own partitions and in intents-by-key.
func TestKeysFollowSchema(t *testing.T) {
	ctx := context.Background()
	svc := startDynalite(t)
	d := svc.driver(t, nil)
	schema := dynamo.TableSchema()
	if len(schema.Indexes) != 3 || schema.Indexes[0].Name != dynamo.IndexByState || schema.Indexes[1].Name != dynamo.IndexOpenReviews ||
		schema.Indexes[2].Name != dynamo.IndexIntentsByKey {
		t.Fatalf("TableSchema indexes = %+v", schema.Indexes)
	}
	byState, open, byKey := schema.Indexes[0], schema.Indexes[1], schema.Indexes[2]
	has := func(item map[string]types.AttributeValue, names ...string) bool {
		for _, n := range names {
			if _, ok := item[n]; !ok {
				return false
			}
		}
		return true
	}
	rec := fullRecord("keys", domain.StatusReviewing)
	if err := d.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	item := rawGet(t, svc.client, d.Table(), recordKey(rec.ID))
	if !has(item, schema.PartitionKey.Name, schema.SortKey.Name, byState.PartitionKey.Name, byState.SortKey.Name) {
		t.Errorf("record item %v lacks the table or by-state keys", item)
	}
	if has(item, open.PartitionKey.Name) || has(item, byKey.PartitionKey.Name) {
		t.Errorf("record item %v has open-reviews or intents-by-key keys", item)
	}
	review := &domain.ReviewItem{ID: rec.ID, Object: rec.Object, OpenedAt: rec.UpdatedAt}
	if err := d.CreateReview(ctx, review); err != nil {
		t.Fatal(err)
	}
	reviewKey := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "rec#" + rec.ID}, "sk": &types.AttributeValueMemberS{Value: "review"},
	}
	if item := rawGet(t, svc.client, d.Table(), reviewKey); !has(item, open.PartitionKey.Name, open.SortKey.Name) || has(item, byState.PartitionKey.Name) {
		t.Errorf("open review item %v: want the open-reviews keys and no by-state keys", item)
	}
	if _, err := d.DecideReview(ctx, rec.ID, store.ReviewDecision{Decision: domain.DecisionConfirm, Reviewer: "r", DecidedAt: rec.UpdatedAt}); err != nil {
		t.Fatal(err)
	}
	if item := rawGet(t, svc.client, d.Table(), reviewKey); has(item, open.PartitionKey.Name) || has(item, open.SortKey.Name) {
		t.Errorf("decided review item %v still has open-reviews keys", item)
	}

	// An upload intent: by-state under intent#<state>, where no record
	// listing looks, and intents-by-key, whose keys never change.
	in := &domain.UploadIntent{
		ID: "0123456789abcdef0123456789abcdef", Bucket: "uploads", Key: "in/keys", Requester: domain.Anonymous,
		Method: "PUT", IssuedAt: rec.UpdatedAt, ExpiresAt: rec.UpdatedAt.Add(time.Hour), State: domain.IntentExpected,
	}
	if err := d.CreateIntent(ctx, in); err != nil {
		t.Fatal(err)
	}
	intentKey := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "intent#" + in.ID}, "sk": &types.AttributeValueMemberS{Value: "intent"},
	}
	item = rawGet(t, svc.client, d.Table(), intentKey)
	if !has(item, byState.PartitionKey.Name, byState.SortKey.Name, byKey.PartitionKey.Name, byKey.SortKey.Name) || has(item, open.PartitionKey.Name) {
		t.Errorf("intent item %v: want the by-state and intents-by-key keys only", item)
	}
	if st := item[byState.PartitionKey.Name].(*types.AttributeValueMemberS).Value; st != "intent#expected" {
		t.Errorf("expected intent's by-state partition %q, want intent#expected", st)
	}
	if _, err := d.ResolveIntent(ctx, in.ID, store.IntentResolution{State: domain.IntentArrived, RecordID: rec.ID, At: rec.UpdatedAt, By: "ingest"}); err != nil {
		t.Fatal(err)
	}
	after := rawGet(t, svc.client, d.Table(), intentKey)
	if st := after[byState.PartitionKey.Name].(*types.AttributeValueMemberS).Value; st != "intent#arrived" {
		t.Errorf("arrived intent's by-state partition %q, want intent#arrived", st)
	}
	for _, k := range []string{byKey.PartitionKey.Name, byKey.SortKey.Name, byState.SortKey.Name} {
		if !reflect.DeepEqual(after[k], item[k]) {
			t.Errorf("resolving the intent changed %s: %v, was %v", k, after[k], item[k])
		}
	}
	for _, st := range domain.Statuses() {
		recs, _, err := d.ListByState(ctx, st, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.ID != rec.ID {
				t.Errorf("ListByState %s returned %+v, which is not the one record", st, r)
			}
		}
	}

	// The SDK request is derived from the same definition.
	cti := dynamo.CreateTableInput("x")
	if got := aws.ToString(cti.KeySchema[0].AttributeName); got != schema.PartitionKey.Name {
		t.Errorf("CreateTableInput partition key %q, want %q", got, schema.PartitionKey.Name)
	}
	for i, ix := range schema.Indexes {
		g := cti.GlobalSecondaryIndexes[i]
		if aws.ToString(g.IndexName) != ix.Name || string(g.Projection.ProjectionType) != ix.Projection ||
			aws.ToString(g.KeySchema[0].AttributeName) != ix.PartitionKey.Name || aws.ToString(g.KeySchema[1].AttributeName) != ix.SortKey.Name {
			t.Errorf("CreateTableInput index %d = %+v, want %+v", i, g, ix)
		}
	}
}

func TestCreateTable(t *testing.T) {
	ctx := context.Background()
	svc := startDynalite(t)
	name := svc.newTable(t)
	if err := dynamo.CreateTable(ctx, svc.client, name); err != nil {
		t.Errorf("CreateTable of an existing table with the schema: %v", err)
	}
	// A table of that name with other keys is refused.
	_, err := svc.client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("other-keys"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = dynamo.CreateTable(ctx, svc.client, "other-keys")
	if errcode.Of(err) != errcode.Invalid || !strings.Contains(err.Error(), "other-keys") {
		t.Errorf("CreateTable over a table with other keys: %v (code %s), want Invalid naming the table", err, errcode.Of(err))
	}
}

func TestNewRefuses(t *testing.T) {
	client := dynamodb.New(dynamodb.Options{Region: "us-east-1"}) // sends nothing
	for _, name := range []string{"", "ab", "has space", strings.Repeat("x", 256)} {
		if _, err := dynamo.New(client, name, nil); errcode.Of(err) != errcode.Invalid {
			t.Errorf("New with table %q: %v, want code Invalid", name, err)
		}
	}
	if _, err := dynamo.New(nil, "table", nil); errcode.Of(err) != errcode.Invalid {
		t.Errorf("New with a nil client: %v, want code Invalid", err)
	}
}

func TestMissingTable(t *testing.T) {
	svc := startDynalite(t)
	d, err := dynamo.New(svc.client, "no-such-table", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Get(context.Background(), "x")
	if errcode.Of(err) != errcode.Unavailable || !strings.Contains(err.Error(), `"no-such-table"`) {
		t.Errorf("Get from a missing table: %v (code %s), want Unavailable naming the table", err, errcode.Of(err))
	}
}

func TestInvalidArguments(t *testing.T) {
	ctx := context.Background()
	svc := startDynalite(t)
	d := svc.driver(t, nil)
	for _, id := range []string{"r1", "r2"} {
		if err := d.Create(ctx, &domain.Record{ID: id, State: domain.StatusPending, Version: 1}); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	_, second, err := d.ListByState(ctx, domain.StatusPending, store.Page{Limit: 1})
	if err != nil || second == "" {
		t.Fatalf("ListByState = cursor %q, %v; want a cursor to the second record", second, err)
	}
	pending := []domain.Status{domain.StatusPending}
	tests := []struct {
		name string
		call func() error
	}{
		{"create nil", func() error { return d.Create(ctx, nil) }},
		{"create without id", func() error { return d.Create(ctx, &domain.Record{State: domain.StatusPending}) }},
		{"create in an unknown state", func() error { return d.Create(ctx, &domain.Record{ID: "r3", State: "limbo"}) }},
		{"create in year 10000", func() error {
			return d.Create(ctx, &domain.Record{ID: "r4", State: domain.StatusPending, UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
		}},
		{"get without id", func() error { _, err := d.Get(ctx, ""); return err }},
		{"update without states", func() error {
			_, err := d.Update(ctx, "r1", store.Condition{}, store.Mutation{State: domain.StatusScanning})
			return err
		}},
		{"update with an unknown state in the condition", func() error {
			_, err := d.Update(ctx, "r1", store.Condition{States: []domain.Status{"limbo"}}, store.Mutation{State: domain.StatusScanning})
			return err
		}},
		{"update to an unknown state", func() error {
			_, err := d.Update(ctx, "r1", store.Condition{States: pending}, store.Mutation{State: "limbo"})
			return err
		}},
		{"update without id", func() error {
			_, err := d.Update(ctx, "", store.Condition{States: pending}, store.Mutation{State: domain.StatusScanning})
			return err
		}},
		{"list an unknown state", func() error { _, _, err := d.ListByState(ctx, "limbo", store.Page{}); return err }},
		{"cursor not base64", func() error {
			_, _, err := d.ListByState(ctx, domain.StatusPending, store.Page{Cursor: "%%%"})
			return err
		}},
		{"cursor of another state", func() error {
			_, _, err := d.ListByState(ctx, domain.StatusClean, store.Page{Cursor: second})
			return err
		}},
		{"state cursor given to the allowlist", func() error { _, _, err := d.ListAllowlist(ctx, store.Page{Cursor: second}); return err }},
		{"state cursor given to the review queue", func() error { _, _, err := d.ListOpenReviews(ctx, store.Page{Cursor: second}); return err }},
		{"allowlist without sha256", func() error { return d.PutAllowlist(ctx, &domain.AllowlistEntry{}) }},
		{"allowlist nil", func() error { return d.PutAllowlist(ctx, nil) }},
		{"allowlist key too long for DynamoDB", func() error { _, err := d.GetAllowlist(ctx, strings.Repeat("a", 2000)); return err }},
		{"review without id", func() error { return d.CreateReview(ctx, &domain.ReviewItem{}) }},
		{"empty decision", func() error { _, err := d.DecideReview(ctx, "r1", store.ReviewDecision{}); return err }},
		{"verdict without sha256", func() error { return d.PutCachedVerdict(ctx, "", "1", &domain.Verdict{}) }},
		{"nil verdict", func() error { return d.PutCachedVerdict(ctx, "x", "1", nil) }},
	}
	for _, tc := range tests {
		if err := tc.call(); errcode.Of(err) != errcode.Invalid {
			t.Errorf("%s: %v (code %s), want code Invalid", tc.name, err, errcode.Of(err))
		}
	}
	// No cursor when nothing follows a full page.
	_, last, err := d.ListByState(ctx, domain.StatusPending, store.Page{Cursor: second, Limit: 1})
	if err != nil || last != "" {
		t.Errorf("ListByState of the last page = cursor %q, %v; want \"\", nil", last, err)
	}
}

func TestClosedAndCancelled(t *testing.T) {
	svc := startDynalite(t)
	d := svc.driver(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := d.Get(ctx, "x")
	if errcode.Of(err) != errcode.Unavailable || !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: %v (code %s), want Unavailable wrapping context.Canceled", err, errcode.Of(err))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err = d.Get(context.Background(), "x")
	if errcode.Of(err) != errcode.Invalid || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Get after Close: %v (code %s), want Invalid saying closed", err, errcode.Of(err))
	}
}
