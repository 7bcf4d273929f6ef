package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scangate/scangate/domain/errcode"
)

// Attribute names of the keys. They are the only names the schema fixes;
// docs/dynamodb.md describes every item shape.
const (
	attrPK         = "pk"         // table partition key
	attrSK         = "sk"         // table sort key
	attrState      = "state"      // state-index partition key: the record's state, or intent#<state>
	attrStateSort  = "stateSort"  // state-index sort key: updatedAt#id (intents: expiresAt#id)
	attrOpenQueue  = "openQueue"  // open-reviews partition key: "open" while undecided
	attrOpenSort   = "openSort"   // open-reviews sort key: openedAt#id
	attrIntentKey  = "intentKey"  // intents-by-key partition key: domain.KeyHash(bucket, key)
	attrIntentSort = "intentSort" // intents-by-key sort key: issuedAt#id
)

// Index names.
const (
	// IndexByState lists records of one state, oldest update first.
	IndexByState = "by-state"
	// IndexOpenReviews lists undecided review items, oldest first. It is
	// sparse: a decision removes the item's keys for this index.
	IndexOpenReviews = "open-reviews"
	// IndexIntentsByKey lists the upload intents of one key, oldest issue
	// first. Its keys never change after the intent is created, so the
	// index is written once per intent.
	IndexIntentsByKey = "intents-by-key"
)

// Schema is the table's key schema and secondary indexes, in plain strings
// so that infrastructure code (the CDK stack) can build the same table
// without importing the AWS SDK. TableSchema returns the one definition;
// CreateTableInput derives the SDK request from it.
type Schema struct {
	// PartitionKey and SortKey are the table's primary key.
	PartitionKey Attribute
	SortKey      Attribute
	// Indexes are the global secondary indexes.
	Indexes []Index
	// BillingMode is "PAY_PER_REQUEST" (on-demand) or "PROVISIONED".
	BillingMode string
}

// Attribute is a key attribute: its name and its DynamoDB scalar type
// ("S", "N" or "B").
type Attribute struct {
	Name string
	Type string
}

// Index is a global secondary index.
type Index struct {
	Name         string
	PartitionKey Attribute
	SortKey      Attribute
	// Projection is "ALL", "KEYS_ONLY" or "INCLUDE".
	Projection string
	// NonKeyAttributes are the projected attributes of an "INCLUDE"
	// projection.
	NonKeyAttributes []string
}

// TableSchema returns the table's key schema. Every item type shares the
// generic keys pk and sk:
//
//	record          pk "rec#<id>"           sk "record"
//	review item     pk "rec#<id>"           sk "review"
//	allowlist entry pk "allowlist"          sk "<sha256>"
//	cached verdict  pk "verdict#<sha256>"   sk "db#<dbVersion>"
//	upload intent   pk "intent#<id>"        sk "intent"
//	account         pk "account#<name>"     sk "account"
//	API token       pk "token#<id>"         sk "token"
//	release proof   pk "release#<id>"       sk "release"
//
// The by-state index holds every record (KEYS_ONLY, so a transition writes
// two tiny index entries rather than two copies of the record); the
// open-reviews index holds only undecided review items (ALL, since the
// queue is small and read whole). Upload intents reuse by-state, under
// the partitions "intent#expected", "intent#arrived" and "intent#expired"
// (no record state can take those values) sorted by expiresAt#id, so the
// sweep reads expected intents soonest expiry first; and they are the only
// items in intents-by-key (KEYS_ONLY: keyHash, then issuedAt#id), which
// ingest and the sweep query for the intents of one key.
// Accounts and tokens reuse by-state as well, under the fixed partitions
// "account#all" and "token#all", sorted by name and ID; release proofs are
// read by key only and are in no index.
func TableSchema() Schema {
	return Schema{
		PartitionKey: Attribute{Name: attrPK, Type: "S"},
		SortKey:      Attribute{Name: attrSK, Type: "S"},
		Indexes: []Index{
			{
				Name:         IndexByState,
				PartitionKey: Attribute{Name: attrState, Type: "S"},
				SortKey:      Attribute{Name: attrStateSort, Type: "S"},
				Projection:   "KEYS_ONLY",
			},
			{
				Name:         IndexOpenReviews,
				PartitionKey: Attribute{Name: attrOpenQueue, Type: "S"},
				SortKey:      Attribute{Name: attrOpenSort, Type: "S"},
				Projection:   "ALL",
			},
			{
				Name:         IndexIntentsByKey,
				PartitionKey: Attribute{Name: attrIntentKey, Type: "S"},
				SortKey:      Attribute{Name: attrIntentSort, Type: "S"},
				Projection:   "KEYS_ONLY",
			},
		},
		BillingMode: "PAY_PER_REQUEST",
	}
}

// CreateTableInput returns the CreateTable request for a table called name
// with TableSchema's keys and indexes.
func CreateTableInput(name string) *dynamodb.CreateTableInput {
	s := TableSchema()
	var defs []types.AttributeDefinition
	define := func(a Attribute) {
		for _, d := range defs {
			if aws.ToString(d.AttributeName) == a.Name {
				return
			}
		}
		defs = append(defs, types.AttributeDefinition{
			AttributeName: aws.String(a.Name), AttributeType: types.ScalarAttributeType(a.Type),
		})
	}
	keys := func(pk, sk Attribute) []types.KeySchemaElement {
		define(pk)
		out := []types.KeySchemaElement{{AttributeName: aws.String(pk.Name), KeyType: types.KeyTypeHash}}
		if sk.Name != "" {
			define(sk)
			out = append(out, types.KeySchemaElement{AttributeName: aws.String(sk.Name), KeyType: types.KeyTypeRange})
		}
		return out
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		KeySchema:   keys(s.PartitionKey, s.SortKey),
		BillingMode: types.BillingMode(s.BillingMode),
	}
	for _, ix := range s.Indexes {
		p := &types.Projection{ProjectionType: types.ProjectionType(ix.Projection)}
		if len(ix.NonKeyAttributes) > 0 {
			p.NonKeyAttributes = slices.Clone(ix.NonKeyAttributes)
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.Name),
			KeySchema:  keys(ix.PartitionKey, ix.SortKey),
			Projection: p,
		})
	}
	in.AttributeDefinitions = defs
	return in
}

// CreateTable creates the table called name with TableSchema and waits
// until it is ACTIVE. A table of that name that already exists is accepted
// when its keys and indexes match the schema (it is then waited for too);
// otherwise the error has code Invalid and names the difference.
func CreateTable(ctx context.Context, client *dynamodb.Client, name string) error {
	const op = "dynamo: create table"
	_, err := client.CreateTable(ctx, CreateTableInput(name))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return mapError(ctx, op, name, name, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 5*time.Second
	})
	out, err := waiter.WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 10*time.Minute)
	if err != nil {
		if ctx.Err() != nil {
			return mapError(ctx, op, name, name, err)
		}
		return errcode.Errorf(errcode.Unavailable, op, name, "table %q did not become ACTIVE: %w", name, err)
	}
	if why := schemaDiff(out.Table); why != "" {
		return errcode.Errorf(errcode.Invalid, op, name, "table %q exists with another schema: %s", name, why)
	}
	return nil
}

// schemaDiff compares an existing table with TableSchema and says how they
// differ, or "".
func schemaDiff(t *types.TableDescription) string {
	if t == nil {
		return "no table description"
	}
	want := CreateTableInput(aws.ToString(t.TableName))
	if got, w := keyString(t.KeySchema), keyString(want.KeySchema); got != w {
		return fmt.Sprintf("primary key is %s, want %s", got, w)
	}
	attrTypes := map[string]types.ScalarAttributeType{}
	for _, d := range t.AttributeDefinitions {
		attrTypes[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	for _, d := range want.AttributeDefinitions {
		if got := attrTypes[aws.ToString(d.AttributeName)]; got != d.AttributeType {
			return fmt.Sprintf("attribute %s has type %q, want %q", aws.ToString(d.AttributeName), got, d.AttributeType)
		}
	}
	for _, w := range want.GlobalSecondaryIndexes {
		var found *types.GlobalSecondaryIndexDescription
		for i := range t.GlobalSecondaryIndexes {
			if aws.ToString(t.GlobalSecondaryIndexes[i].IndexName) == aws.ToString(w.IndexName) {
				found = &t.GlobalSecondaryIndexes[i]
			}
		}
		if found == nil {
			return fmt.Sprintf("index %s is missing", aws.ToString(w.IndexName))
		}
		if got, wk := keyString(found.KeySchema), keyString(w.KeySchema); got != wk {
			return fmt.Sprintf("index %s has key %s, want %s", aws.ToString(w.IndexName), got, wk)
		}
		if found.Projection == nil || found.Projection.ProjectionType != w.Projection.ProjectionType {
			return fmt.Sprintf("index %s has another projection, want %s", aws.ToString(w.IndexName), w.Projection.ProjectionType)
		}
	}
	return ""
}

func keyString(ks []types.KeySchemaElement) string {
	s := ""
	for _, k := range ks {
		s += fmt.Sprintf("[%s %s]", aws.ToString(k.AttributeName), k.KeyType)
	}
	return s
}
