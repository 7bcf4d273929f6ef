package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

func intentKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(intentPK(id)), attrSK: s(skIntent)}
}

// checkIntent validates what an intent's keys are built from: the port's
// checks, and the years that this driver's fixed-width sort keys can hold.
func checkIntent(op string, in *domain.UploadIntent) error {
	if err := store.CheckIntent(op, in); err != nil {
		return err
	}
	if !sortableYear(in.IssuedAt) || !sortableYear(in.ExpiresAt) {
		return errcode.Errorf(errcode.Invalid, op, in.ID, "issue or expiry time is outside the years 0000-9999")
	}
	return nil
}

// CreateIntent implements store.Driver: a PutItem conditional on
// attribute_not_exists(pk). The one write puts the intent in by-state
// (intent#expected) and in intents-by-key.
func (d *Driver) CreateIntent(ctx context.Context, in *domain.UploadIntent) error {
	const op = "dynamo: create intent"
	if in == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil intent")
	}
	if err := d.start(ctx, op, in.ID); err != nil {
		return err
	}
	if err := checkIntent(op, in); err != nil {
		return err
	}
	return createItem(ctx, d, op, "create intent", in.ID, intentKey(in.ID), toIntentItem(in), noItem)
}

// GetIntent implements store.Driver.
func (d *Driver) GetIntent(ctx context.Context, id string) (*domain.UploadIntent, error) {
	return getAs(ctx, d, "dynamo: get intent", "get intent", id, intentKey(id), (*intentItem).domain)
}

// ResolveIntent implements store.Driver: one UpdateItem conditional on
// the intent existing and being expected. Changing state moves the
// intent's by-state entry; its intents-by-key entry stays.
func (d *Driver) ResolveIntent(ctx context.Context, id string, r store.IntentResolution) (*domain.UploadIntent, error) {
	const op = "dynamo: resolve intent"
	if err := d.start(ctx, op, id); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	if err := checkResolution(op, id, r); err != nil {
		return nil, err
	}
	e := newExpr()
	set := []string{
		e.name(attrState) + " = " + e.value("state", s(intentStatePK(r.State))),
		e.name(attrResolvedAt) + " = " + e.value("resolvedAt", s(fmtTime(r.At))),
	}
	var remove []string
	for _, f := range []struct{ attr, v string }{{attrRecordID, r.RecordID}, {attrResolvedBy, r.By}} {
		if f.v == "" {
			remove = append(remove, e.name(f.attr))
		} else {
			set = append(set, e.name(f.attr)+" = "+e.value(f.attr, s(f.v)))
		}
	}
	update := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	cond := "attribute_exists(" + e.name(attrPK) + ") AND " + e.name(attrState) + " = " +
		e.value("expected", s(intentStatePK(domain.IntentExpected)))
	return updateItem(ctx, d, op, "resolve intent", id, &dynamodb.UpdateItemInput{
		Key:                       intentKey(id),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	}, (*intentItem).domain,
		func(in *domain.UploadIntent) bool {
			return in.State == r.State && in.RecordID == r.RecordID && in.ResolvedBy == r.By &&
				fmtTime(in.ResolvedAt) == fmtTime(r.At)
		},
		func(in *domain.UploadIntent) string { return fmt.Sprintf("intent is %s, not expected", in.State) })
}

// checkResolution validates a resolution as every driver does, and that
// its time fits the sortable keys.
func checkResolution(op, id string, r store.IntentResolution) error {
	if err := store.CheckIntentResolution(op, id, r); err != nil {
		return err
	}
	if !sortableYear(r.At) {
		return errcode.Errorf(errcode.Invalid, op, id, "resolution time %s is outside the years 0000-9999", r.At)
	}
	return nil
}

// ListIntents implements store.Driver: a Query of by-state under
// intent#<state> (with stateSort <= expiresBy when given), then a
// BatchGetItem of the intents. An intent whose index entry is stale is
// left out, as in ListByState.
func (d *Driver) ListIntents(ctx context.Context, state domain.IntentState, expiresBy time.Time, page store.Page) ([]*domain.UploadIntent, string, error) {
	const op = "dynamo: list intents"
	if err := d.start(ctx, op, string(state)); err != nil {
		return nil, "", err
	}
	if !state.Valid() {
		return nil, "", errcode.Errorf(errcode.Invalid, op, string(state), "unknown intent state %q", state)
	}
	e := newExpr()
	partition := intentStatePK(state)
	keyCond := e.name(attrState) + " = " + e.value("state", s(partition))
	if !expiresBy.IsZero() {
		if !sortableYear(expiresBy) {
			return nil, "", errcode.Errorf(errcode.Invalid, op, string(state), "time %s is outside the years 0000-9999", expiresBy)
		}
		// "~" sorts after every ID character, so every ID at that time is in.
		keyCond += " AND " + e.name(attrStateSort) + " <= " + e.value("by", s(fmtTime(expiresBy)+"#~"))
	}
	return d.listIntents(ctx, op, string(state), intentQuery{
		list: "intents:" + string(state), index: IndexByState, e: e, keyCond: keyCond,
		partAttr: attrState, partValue: partition, sortAttr: attrStateSort,
		keep: func(it *intentItem) bool { return it.State == partition },
	}, page)
}

// ListKeyIntents implements store.Driver: a Query of intents-by-key (with
// intentSort >= since when given), then a BatchGetItem of the intents.
func (d *Driver) ListKeyIntents(ctx context.Context, bucket, key string, since time.Time, page store.Page) ([]*domain.UploadIntent, string, error) {
	const op = "dynamo: list key intents"
	id := bucket + "/" + key
	if err := d.start(ctx, op, id); err != nil {
		return nil, "", err
	}
	if bucket == "" || key == "" {
		return nil, "", errcode.Errorf(errcode.Invalid, op, id, "a bucket and a key are required")
	}
	hash := domain.KeyHash(bucket, key)
	e := newExpr()
	keyCond := e.name(attrIntentKey) + " = " + e.value("key", s(hash))
	if !since.IsZero() {
		if !sortableYear(since) {
			return nil, "", errcode.Errorf(errcode.Invalid, op, id, "time %s is outside the years 0000-9999", since)
		}
		keyCond += " AND " + e.name(attrIntentSort) + " >= " + e.value("since", s(fmtTime(since)))
	}
	return d.listIntents(ctx, op, id, intentQuery{
		list: "key:" + hash, index: IndexIntentsByKey, e: e, keyCond: keyCond,
		partAttr: attrIntentKey, partValue: hash, sortAttr: attrIntentSort,
		keep: func(it *intentItem) bool { return it.Bucket == bucket && it.Key == key },
	}, page)
}

// intentQuery is one intent listing: a Query of a KEYS_ONLY index whose
// sort key is time#id, and which fetched intents to keep.
type intentQuery struct {
	list      string // the cursor's listing name
	index     string
	e         *expr
	keyCond   string
	partAttr  string
	partValue string
	sortAttr  string
	keep      func(*intentItem) bool
}

func (d *Driver) listIntents(ctx context.Context, op, id string, q intentQuery, page store.Page) ([]*domain.UploadIntent, string, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(d.table),
		IndexName:              aws.String(q.index),
		KeyConditionExpression: aws.String(q.keyCond),
		Limit:                  aws.Int32(int32(page.Size() + 1)),
		ReturnConsumedCapacity: d.returnConsumed(),
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = q.e.names, q.e.values
	if page.Cursor != "" {
		sk, err := decodeCursor(op, q.list, page.Cursor)
		if err != nil {
			return nil, "", err
		}
		intentID, ok := splitSortKey(sk)
		if !ok {
			return nil, "", errcode.Errorf(errcode.Invalid, op, id, "malformed cursor %q", page.Cursor)
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			attrPK: s(intentPK(intentID)), attrSK: s(skIntent), q.partAttr: s(q.partValue), q.sortAttr: s(sk),
		}
	}
	out, err := d.client.Query(ctx, in)
	if err != nil {
		return nil, "", d.wrap(ctx, op, id, err)
	}
	d.consumed("list intents", false, out.ConsumedCapacity)
	type entry struct{ pk, sort string }
	entries := make([]entry, 0, len(out.Items))
	for _, it := range out.Items {
		pk, _ := it[attrPK].(*types.AttributeValueMemberS)
		sort, _ := it[q.sortAttr].(*types.AttributeValueMemberS)
		if pk == nil || sort == nil {
			return nil, "", errcode.Errorf(errcode.Unknown, op, id, "index entry without %s or %s", attrPK, q.sortAttr)
		}
		entries = append(entries, entry{pk.Value, sort.Value})
	}
	cursor := ""
	switch size := page.Size(); {
	case len(entries) > size:
		entries = entries[:size]
		cursor = encodeCursor(q.list, entries[size-1].sort)
	case out.LastEvaluatedKey != nil && len(entries) > 0:
		cursor = encodeCursor(q.list, entries[len(entries)-1].sort)
	case out.LastEvaluatedKey != nil:
		if sort, ok := out.LastEvaluatedKey[q.sortAttr].(*types.AttributeValueMemberS); ok && sort.Value != "" {
			cursor = encodeCursor(q.list, sort.Value)
		}
	}
	keys := make([]map[string]types.AttributeValue, len(entries))
	for i, en := range entries {
		keys[i] = map[string]types.AttributeValue{attrPK: s(en.pk), attrSK: s(skIntent)}
	}
	items, err := d.batchGet(ctx, op, keys)
	if err != nil {
		return nil, "", err
	}
	intents := make([]*domain.UploadIntent, 0, len(entries))
	for _, en := range entries {
		raw, ok := items[en.pk]
		if !ok {
			continue // deleted meanwhile
		}
		it, err := decodeItem[intentItem](op, en.pk, raw)
		if err != nil {
			return nil, "", err
		}
		if !q.keep(it) || (q.sortAttr == attrStateSort && it.StateSort != en.sort) {
			continue // moved after the index was read, or another key's
		}
		intent, err := it.domain()
		if err != nil {
			return nil, "", errcode.Errorf(errcode.Unknown, op, it.ID, "stored intent does not decode: %w", err)
		}
		intents = append(intents, intent)
	}
	return intents, cursor, nil
}
