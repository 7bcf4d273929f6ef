// Package dynamo is the store driver over Amazon DynamoDB: one table holds
// the records, the review queue, the allowlist and the verdict cache.
//
// Every lifecycle transition is one conditional UpdateItem. Its condition
// is the whole store.Condition: the record exists, its state is one of the
// event's source states from package statemachine, and, where given, the
// version, the lease token and the lease expiry match. The same request
// sets every field of the store.Mutation, increments the version, appends
// the history entry (list_append) and moves the record's entry in the
// by-state index, so DynamoDB itself refuses an illegal transition and no
// write is ever half done. Creates are PutItem with attribute_not_exists.
// No transactions are used.
//
// The table layout (keys, indexes, item shapes, hot partitions) is in
// TableSchema and docs/dynamodb.md.
//
// # URLs
//
// connect.Store opens this driver for
//
//	dynamodb://TABLE?region=R&endpoint=URL&create=true
//
// region defaults to the SDK's configuration (AWS_REGION, profiles), or to
// us-east-1 for a loopback endpoint; endpoint points the client at a local
// stand-in such as dynalite (dummy credentials are used there when none are
// configured); create=true creates the table, and waits for it, when it is
// missing. Other query parameters are errors.
//
// # Consistency
//
// Get, the allowlist reads, and the record fetches of ListByState are
// strongly consistent unless Options.EventuallyConsistent is set; the
// verdict cache is always read eventually consistently (its entries are
// never removed, so a stale read only misses, and a miss means a scan). Index queries are eventually consistent in DynamoDB: ListByState
// re-reads each listed record and drops those that moved since the index
// was read, and ListOpenReviews may for a moment still show an item just
// decided (deciding it again fails its condition).
//
// # Errors
//
// Errors are *errcode.Error values with the op "dynamo: <operation>" and
// the item's ID:
//   - ConditionalCheckFailedException: ConditionFailed, or AlreadyExists
//     for Create and CreateReview; an Update or DecideReview of a missing
//     item gives NotFound (the driver reads the item after a refused
//     write: DynamoDB returns it with the exception, dynalite does not);
//   - ProvisionedThroughputExceededException, ThrottlingException,
//     RequestLimitExceeded: Throttled;
//   - ValidationException and malformed arguments or cursors: Invalid;
//   - ResourceNotFoundException (no such table): Unavailable, naming the
//     table;
//   - network errors, HTTP 5xx, and a context that is done (the context
//     error is wrapped): Unavailable;
//   - anything else (credentials, permissions, undecodable items): Unknown.
//
// The SDK retries throttling, server and network errors itself. A
// conditional write whose first attempt was applied but whose answer was
// lost is refused by its own retry; when a call needed more than one
// attempt, the driver compares the stored item with what it wrote and
// reports success if they match, so a lost answer does not turn a win
// into AlreadyExists or ConditionFailed. A call whose context ends while a
// write is in flight still gives Unavailable, and the write may or may not
// have been applied.
package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

var _ store.Driver = (*Driver)(nil)

// Options configure a Driver. The zero value is the default.
type Options struct {
	// EventuallyConsistent makes item reads (Get, GetReview, GetAllowlist,
	// ListAllowlist, and ListByState's record fetches and scans)
	// eventually consistent, at half the read cost. The default is
	// strongly consistent reads. Index queries are always eventually
	// consistent (DynamoDB offers nothing else for a GSI).
	EventuallyConsistent bool
	// OnConsumed, when set, makes every request ask for its consumed
	// capacity (ReturnConsumedCapacity TOTAL) and reports it: op is the
	// driver operation ("create", "get", "update", "list", ...), rcu and
	// wcu the read and write capacity units DynamoDB charged. A refused
	// conditional write is charged too, but DynamoDB reports nothing for
	// it. It is called from the calling goroutine.
	OnConsumed func(op string, rcu, wcu float64)
}

// Driver is a store.Driver over one DynamoDB table. It is safe for
// concurrent use.
type Driver struct {
	client     *dynamodb.Client
	table      string
	consistent bool
	onConsumed func(op string, rcu, wcu float64)
	closed     atomic.Bool
}

// New returns a driver over the table called table, which must exist with
// TableSchema (see CreateTable). It makes no request. The driver does not
// own client: Close leaves it open.
func New(client *dynamodb.Client, table string, opts *Options) (*Driver, error) {
	if client == nil {
		return nil, errcode.Errorf(errcode.Invalid, "dynamo: new", table, "nil client")
	}
	if err := checkTableName(table); err != nil {
		return nil, errcode.Errorf(errcode.Invalid, "dynamo: new", table, "%v", err)
	}
	if opts == nil {
		opts = &Options{}
	}
	return &Driver{client: client, table: table, consistent: !opts.EventuallyConsistent, onConsumed: opts.OnConsumed}, nil
}

// checkTableName applies DynamoDB's rule: 3 to 255 of [a-zA-Z0-9_.-].
func checkTableName(name string) error {
	if len(name) < 3 || len(name) > 255 {
		return fmt.Errorf("table name %q must be 3 to 255 characters long", name)
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("table name %q may only hold letters, digits, '_', '.' and '-'", name)
		}
	}
	return nil
}

// Table returns the table's name.
func (d *Driver) Table() string { return d.table }

// Close marks the driver closed; later calls give code Invalid. The
// client, which the caller owns, stays open. Closing twice is safe.
func (d *Driver) Close() error {
	d.closed.Store(true)
	return nil
}

// start checks the driver and the context before a call.
func (d *Driver) start(ctx context.Context, op, id string) error {
	if d.closed.Load() {
		return errcode.Errorf(errcode.Invalid, op, id, "driver is closed")
	}
	if err := ctx.Err(); err != nil {
		return &errcode.Error{Code: errcode.Unavailable, Op: op, ID: id, Err: err}
	}
	return nil
}

func (d *Driver) wrap(ctx context.Context, op, id string, err error) error {
	return mapError(ctx, op, id, d.table, err)
}

// returnConsumed is the ReturnConsumedCapacity setting of every request.
func (d *Driver) returnConsumed() types.ReturnConsumedCapacity {
	if d.onConsumed != nil {
		return types.ReturnConsumedCapacityTotal
	}
	return types.ReturnConsumedCapacityNone
}

// consumed reports capacity to Options.OnConsumed.
func (d *Driver) consumed(op string, write bool, ccs ...*types.ConsumedCapacity) {
	if d.onConsumed == nil {
		return
	}
	var rcu, wcu float64
	for _, cc := range ccs {
		if cc == nil {
			continue
		}
		total := aws.ToFloat64(cc.CapacityUnits)
		switch {
		case cc.ReadCapacityUnits != nil || cc.WriteCapacityUnits != nil:
			rcu += aws.ToFloat64(cc.ReadCapacityUnits)
			wcu += aws.ToFloat64(cc.WriteCapacityUnits)
		case write:
			wcu += total
		default:
			rcu += total
		}
	}
	d.onConsumed(op, rcu, wcu)
}

// countAttempts counts the HTTP attempts of one call (the SDK retries
// throttling, 5xx and network errors on its own), so that a refused
// conditional write can tell whether an earlier attempt of the same call
// may have been applied.
func countAttempts(count *int32) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			mw := middleware.FinalizeMiddlewareFunc("scangate/countAttempts",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					atomic.AddInt32(count, 1)
					return next.HandleFinalize(ctx, in)
				})
			if err := stack.Finalize.Insert(mw, "Retry", middleware.After); err != nil {
				return stack.Finalize.Add(mw, middleware.After)
			}
			return nil
		})
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func recordKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(recordPK(id)), attrSK: s(skRecord)}
}

func reviewKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(recordPK(id)), attrSK: s(skReview)}
}

// getItem reads one item; a missing item gives nil, nil.
func (d *Driver) getItem(ctx context.Context, op string, key map[string]types.AttributeValue, consistent bool) (map[string]types.AttributeValue, error) {
	out, err := d.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(d.table), Key: key, ConsistentRead: aws.Bool(consistent),
		ReturnConsumedCapacity: d.returnConsumed(),
	})
	if err != nil {
		return nil, err
	}
	d.consumed(op, false, out.ConsumedCapacity)
	return out.Item, nil
}

// checkRecord validates what the keys of a record are built from: the
// port's checks, and the years that this driver's fixed-width sort keys
// can hold.
func checkRecord(op, id string, state domain.Status, updated time.Time) error {
	if err := store.CheckRecord(op, id, state); err != nil {
		return err
	}
	if !sortableYear(updated) {
		return errcode.Errorf(errcode.Invalid, op, id, "update time %s is outside the years 0000-9999", updated)
	}
	return nil
}

// Create implements store.Driver: a PutItem conditional on
// attribute_not_exists(pk).
func (d *Driver) Create(ctx context.Context, rec *domain.Record) error {
	const op = "dynamo: create"
	if rec == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil record")
	}
	if err := d.start(ctx, op, rec.ID); err != nil {
		return err
	}
	if err := checkRecord(op, rec.ID, rec.State, rec.UpdatedAt); err != nil {
		return err
	}
	return createItem(ctx, d, op, "create", rec.ID, recordKey(rec.ID), toRecordItem(rec), noItem)
}

// sameItem reports whether stored is the item sent, both normalised
// through the item type T (so that, say, an empty list sent and an absent
// one stored compare equal).
func sameItem[T any](op, id string, stored, sent map[string]types.AttributeValue) bool {
	if stored == nil {
		return false
	}
	norm := func(item map[string]types.AttributeValue) (map[string]types.AttributeValue, bool) {
		v, err := decodeItem[T](op, id, item)
		if err != nil {
			return nil, false
		}
		out, err := attributevalue.MarshalMap(v)
		return out, err == nil
	}
	a, ok1 := norm(stored)
	b, ok2 := norm(sent)
	return ok1 && ok2 && reflect.DeepEqual(a, b)
}

// storedAfterFailure returns the item a refused conditional write found:
// DynamoDB returns it with the exception (ReturnValuesOnConditionCheckFailure),
// dynalite does not, and then it is read. A missing item gives nil, nil.
func (d *Driver) storedAfterFailure(ctx context.Context, op string, ccf *types.ConditionalCheckFailedException, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	if len(ccf.Item) > 0 {
		return ccf.Item, nil
	}
	item, err := d.getItem(ctx, "read after a refused write", key, true)
	if err != nil {
		return nil, d.wrap(ctx, op, "", err)
	}
	return item, nil
}

// Get implements store.Driver.
func (d *Driver) Get(ctx context.Context, id string) (*domain.Record, error) {
	return getAs(ctx, d, "dynamo: get", "get", id, recordKey(id), (*recordItem).domain)
}

// expr collects the placeholders of one request's expressions, so that
// only names and values that are used are sent (DynamoDB refuses others).
type expr struct {
	names  map[string]string
	values map[string]types.AttributeValue
}

func newExpr() *expr {
	return &expr{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

// name returns the placeholder of attribute name a.
func (e *expr) name(a string) string {
	e.names["#"+a] = a
	return "#" + a
}

// path returns the placeholder path of nested attributes.
func (e *expr) path(parts ...string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = e.name(p)
	}
	return strings.Join(out, ".")
}

// value returns the placeholder of v under label.
func (e *expr) value(label string, v types.AttributeValue) string {
	e.values[":"+label] = v
	return ":" + label
}

// updateInput builds the one conditional UpdateItem that Update sends.
func (d *Driver) updateInput(id string, cond store.Condition, m store.Mutation) (*dynamodb.UpdateItemInput, error) {
	const op = "dynamo: update"
	if err := cond.Check(op, id); err != nil {
		return nil, err
	}
	if err := checkRecord(op, id, m.State, m.UpdatedAt); err != nil {
		return nil, err
	}
	e := newExpr()
	var set, remove []string
	assign := func(attr string, v types.AttributeValue) {
		set = append(set, e.name(attr)+" = "+e.value(attr, v))
	}
	marshal := func(attr string, v any) error {
		av, err := attributevalue.Marshal(v)
		if err != nil {
			return errcode.Errorf(errcode.Invalid, op, id, "encode %s: %w", attr, err)
		}
		assign(attr, av)
		return nil
	}
	assign(attrState, s(string(m.State)))
	if sk := stateSortFor(m.State, m.UpdatedAt, id); sk != "" {
		assign(attrStateSort, s(sk))
	} else {
		remove = append(remove, e.name(attrStateSort))
	}
	if m.History != nil && m.History.At.Equal(m.UpdatedAt) {
		// The entry appended below holds the update time (recordItem).
		remove = append(remove, e.name(attrUpdatedAt))
	} else {
		assign(attrUpdatedAt, s(fmtTime(m.UpdatedAt)))
	}
	assign(attrAttempts, n(int64(m.Attempts)))
	if cond.Version != 0 {
		set = append(set, e.name(attrVersion)+" = "+e.value("nextVersion", n(cond.Version+1)))
	} else {
		set = append(set, e.name(attrVersion)+" = "+e.name(attrVersion)+" + "+e.value("one", n(1)))
	}
	optional := func(attr string, present bool, v any) error {
		if !present {
			remove = append(remove, e.name(attr))
			return nil
		}
		return marshal(attr, v)
	}
	var q *objectItem
	if m.Quarantine != nil {
		o := toObject(*m.Quarantine)
		q = &o
	}
	// The verdict is stored once when it is the last of the verdict
	// history this write sets; otherwise (the history left as it is)
	// the stored form is unknown here, so the verdict is written whole.
	cur, isLast := toVerdict(m.Verdict), false
	if m.Verdicts != nil {
		cur, isLast = compactVerdict(m.Verdict, m.Verdicts)
	}
	for _, f := range []struct {
		attr    string
		present bool
		v       any
	}{
		{attrReason, m.Reason != "", m.Reason},
		{attrLease, m.Lease != nil, toLease(m.Lease)},
		{attrVerdict, cur != nil, cur},
		{attrVerdictIsLast, isLast, true},
		{attrQuarantine, q != nil, q},
		{attrExecutionARN, m.ExecutionARN != "", m.ExecutionARN},
	} {
		if err := optional(f.attr, f.present, f.v); err != nil {
			return nil, err
		}
	}
	if m.History != nil {
		h, err := attributevalue.Marshal(toHistory(*m.History))
		if err != nil {
			return nil, errcode.Errorf(errcode.Invalid, op, id, "encode history entry: %w", err)
		}
		hist := e.name(attrHistory)
		set = append(set, fmt.Sprintf("%s = list_append(if_not_exists(%s, %s), %s)", hist, hist,
			e.value("emptyList", &types.AttributeValueMemberL{Value: []types.AttributeValue{}}),
			e.value("history", &types.AttributeValueMemberL{Value: []types.AttributeValue{h}})))
	}
	if m.Verdicts != nil {
		vs, err := attributevalue.Marshal(toVerdicts(m.Verdicts))
		if err != nil {
			return nil, errcode.Errorf(errcode.Invalid, op, id, "encode verdicts: %w", err)
		}
		set = append(set, e.name(attrVerdicts)+" = "+e.value("verdicts", vs))
	}
	update := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	return &dynamodb.UpdateItemInput{
		TableName:                           aws.String(d.table),
		Key:                                 recordKey(id),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String(conditionExpression(e, cond)),
		ExpressionAttributeNames:            e.names,
		ExpressionAttributeValues:           e.values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		ReturnConsumedCapacity:              d.returnConsumed(),
	}, nil
}

// conditionExpression encodes every set field of cond.
func conditionExpression(e *expr, cond store.Condition) string {
	parts := []string{"attribute_exists(" + e.name(attrPK) + ")"}
	states := make([]string, len(cond.States))
	for i, st := range cond.States {
		states[i] = e.value("s"+strconv.Itoa(i), s(string(st)))
	}
	parts = append(parts, e.name(attrState)+" IN ("+strings.Join(states, ", ")+")")
	if cond.Version != 0 {
		parts = append(parts, e.name(attrVersion)+" = "+e.value("version", n(cond.Version)))
	}
	if cond.LeaseToken != "" {
		parts = append(parts, e.path(attrLease, attrLeaseToken)+" = "+e.value("leaseToken", s(cond.LeaseToken)))
	}
	if !cond.LeaseExpiredBy.IsZero() {
		parts = append(parts, fmt.Sprintf("(attribute_not_exists(%s) OR %s <= %s)", e.name(attrLease),
			e.path(attrLease, attrLeaseExpires), e.value("expiredBy", n(cond.LeaseExpiredBy.UnixMilli()))))
	}
	return strings.Join(parts, " AND ")
}

// Update implements store.Driver with one conditional UpdateItem (see
// the package doc). A refused write is told apart as NotFound or
// ConditionFailed from the stored item.
func (d *Driver) Update(ctx context.Context, id string, cond store.Condition, m store.Mutation) (*domain.Record, error) {
	const op = "dynamo: update"
	if err := d.start(ctx, op, id); err != nil {
		return nil, err
	}
	in, err := d.updateInput(id, cond, m)
	if err != nil {
		return nil, err
	}
	return updateItem(ctx, d, op, "update", id, in, (*recordItem).domain,
		func(rec *domain.Record) bool { return ownWrite(rec, cond, m) },
		func(rec *domain.Record) string {
			if why := cond.Unmet(rec); why != "" {
				return why
			}
			return "the record changed meanwhile"
		})
}

// ownWrite reports whether rec is what this Update writes: after a lost
// answer, the SDK's retry finds its own earlier attempt applied.
func ownWrite(rec *domain.Record, cond store.Condition, m store.Mutation) bool {
	if cond.Version != 0 && rec.Version != cond.Version+1 {
		return false
	}
	if rec.State != m.State || !rec.UpdatedAt.Equal(m.UpdatedAt) || rec.Reason != m.Reason ||
		rec.Attempts != m.Attempts || rec.ExecutionARN != m.ExecutionARN ||
		(rec.Lease == nil) != (m.Lease == nil) || (rec.Verdict == nil) != (m.Verdict == nil) ||
		(rec.Quarantine == nil) != (m.Quarantine == nil) {
		return false
	}
	if m.Lease != nil && rec.Lease.Token != m.Lease.Token {
		return false
	}
	if m.History != nil {
		if len(rec.History) == 0 || toHistory(rec.History[len(rec.History)-1]) != toHistory(*m.History) {
			return false
		}
	}
	return true
}

// cursor encodes a listing position: the listing's name and the last key
// handed out.
func encodeCursor(list, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(list + "\n" + key))
}

func decodeCursor(op, list, cursor string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	l, key, ok := strings.Cut(string(raw), "\n")
	if err != nil || !ok || l != list || key == "" {
		return "", errcode.Errorf(errcode.Invalid, op, "", "malformed cursor %q", cursor)
	}
	return key, nil
}

// ListByState implements store.Driver: a Query of the by-state index
// (keys only), then a BatchGetItem of the records. A record whose index
// entry is stale (it moved between the two reads) is left out; it appears
// where it now belongs.
func (d *Driver) ListByState(ctx context.Context, state domain.Status, page store.Page) ([]*domain.Record, string, error) {
	const op = "dynamo: list"
	if err := d.start(ctx, op, string(state)); err != nil {
		return nil, "", err
	}
	if !state.Valid() {
		return nil, "", errcode.Errorf(errcode.Invalid, op, string(state), "unknown state %q", state)
	}
	if !indexed(state) {
		return d.scanByState(ctx, state, page)
	}
	list := "state:" + string(state)
	e := newExpr()
	in := &dynamodb.QueryInput{
		TableName:              aws.String(d.table),
		IndexName:              aws.String(IndexByState),
		KeyConditionExpression: aws.String(e.name(attrState) + " = " + e.value("state", s(string(state)))),
		Limit:                  aws.Int32(int32(page.Size() + 1)),
		ReturnConsumedCapacity: d.returnConsumed(),
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.names, e.values
	if page.Cursor != "" {
		sk, err := decodeCursor(op, list, page.Cursor)
		if err != nil {
			return nil, "", err
		}
		id, ok := splitSortKey(sk)
		if !ok {
			return nil, "", errcode.Errorf(errcode.Invalid, op, string(state), "malformed cursor %q", page.Cursor)
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			attrPK: s(recordPK(id)), attrSK: s(skRecord), attrState: s(string(state)), attrStateSort: s(sk),
		}
	}
	out, err := d.client.Query(ctx, in)
	if err != nil {
		return nil, "", d.wrap(ctx, op, string(state), err)
	}
	d.consumed("list", false, out.ConsumedCapacity)
	type entry struct{ pk, sort string }
	entries := make([]entry, 0, len(out.Items))
	for _, it := range out.Items {
		var k struct {
			PK   string `dynamodbav:"pk"`
			Sort string `dynamodbav:"stateSort"`
		}
		if err := attributevalue.UnmarshalMap(it, &k); err != nil {
			return nil, "", errcode.Errorf(errcode.Unknown, op, string(state), "index entry does not decode: %w", err)
		}
		entries = append(entries, entry{k.PK, k.Sort})
	}
	cursor := ""
	switch size := page.Size(); {
	case len(entries) > size:
		entries = entries[:size]
		cursor = encodeCursor(list, entries[size-1].sort)
	case out.LastEvaluatedKey != nil && len(entries) > 0:
		cursor = encodeCursor(list, entries[len(entries)-1].sort)
	case out.LastEvaluatedKey != nil:
		var k struct {
			Sort string `dynamodbav:"stateSort"`
		}
		if err := attributevalue.UnmarshalMap(out.LastEvaluatedKey, &k); err == nil && k.Sort != "" {
			cursor = encodeCursor(list, k.Sort)
		}
	}
	keys := make([]map[string]types.AttributeValue, len(entries))
	for i, en := range entries {
		keys[i] = map[string]types.AttributeValue{attrPK: s(en.pk), attrSK: s(skRecord)}
	}
	items, err := d.batchGet(ctx, op, keys)
	if err != nil {
		return nil, "", err
	}
	recs := make([]*domain.Record, 0, len(entries))
	for _, en := range entries {
		raw, ok := items[en.pk]
		if !ok {
			continue // deleted meanwhile
		}
		it, err := decodeItem[recordItem](op, en.pk, raw)
		if err != nil {
			return nil, "", err
		}
		if it.State != string(state) || it.StateSort != en.sort {
			continue // the record moved after the index was read
		}
		rec, err := it.domain()
		if err != nil {
			return nil, "", errcode.Errorf(errcode.Unknown, op, it.ID, "stored record does not decode: %w", err)
		}
		recs = append(recs, rec)
	}
	return recs, cursor, nil
}

// scanByState lists the records of a state that has no by-state entries
// (see indexed) with a Scan of the table filtered on the record's state,
// in the table's order (by hash of the key), which store.ListedInOrder
// allows. A Scan reads every item it passes, whatever the filter, so a
// page may be short or empty with a cursor; its cost grows with the table
// (0.5 RRU per 4 KB read eventually consistently), which suits what lists
// clean records: the retro-hunt after a signature update, and the console.
func (d *Driver) scanByState(ctx context.Context, state domain.Status, page store.Page) ([]*domain.Record, string, error) {
	const op = "dynamo: list"
	list := "scan:" + string(state)
	size := page.Size()
	e := newExpr()
	in := &dynamodb.ScanInput{
		TableName: aws.String(d.table),
		FilterExpression: aws.String(e.name(attrSK) + " = " + e.value("record", s(skRecord)) + " AND " +
			e.name(attrState) + " = " + e.value("state", s(string(state)))),
		ConsistentRead:         aws.Bool(d.consistent),
		Limit:                  aws.Int32(int32(size + 1)),
		ReturnConsumedCapacity: d.returnConsumed(),
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.names, e.values
	if page.Cursor != "" {
		raw, err := decodeCursor(op, list, page.Cursor)
		var key [2]string
		if err == nil && (json.Unmarshal([]byte(raw), &key) != nil || key[0] == "" || key[1] == "") {
			err = errcode.Errorf(errcode.Invalid, op, string(state), "malformed cursor %q", page.Cursor)
		}
		if err != nil {
			return nil, "", err
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{attrPK: s(key[0]), attrSK: s(key[1])}
	}
	position := func(pk, sk string) string {
		b, _ := json.Marshal([2]string{pk, sk})
		return encodeCursor(list, string(b))
	}
	// Scan pages count the items read, not those that pass the filter:
	// read on until the page is full or the table ends, so a listing
	// takes as many calls as its records need.
	var recs []*domain.Record
	for {
		out, err := d.client.Scan(ctx, in)
		if err != nil {
			return nil, "", d.wrap(ctx, op, string(state), err)
		}
		d.consumed("list (scan)", false, out.ConsumedCapacity)
		for _, raw := range out.Items {
			rec, err := decodeAs(op, "", raw, (*recordItem).domain)
			if err != nil {
				return nil, "", err
			}
			if len(recs) == size {
				// One more than the page holds: continue after the last
				// one handed out.
				return recs, position(recordPK(recs[size-1].ID), skRecord), nil
			}
			recs = append(recs, rec)
		}
		if out.LastEvaluatedKey == nil {
			return recs, "", nil
		}
		var k struct {
			PK string `dynamodbav:"pk"`
			SK string `dynamodbav:"sk"`
		}
		if err := attributevalue.UnmarshalMap(out.LastEvaluatedKey, &k); err != nil || k.PK == "" || k.SK == "" {
			return nil, "", errcode.Errorf(errcode.Unknown, op, string(state), "scan position does not decode: %v", err)
		}
		if len(recs) == size {
			return recs, position(k.PK, k.SK), nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// batchGet reads items by key, 100 per BatchGetItem, retrying unprocessed
// keys with backoff, and returns them by partition key.
func (d *Driver) batchGet(ctx context.Context, op string, keys []map[string]types.AttributeValue) (map[string]map[string]types.AttributeValue, error) {
	out := make(map[string]map[string]types.AttributeValue, len(keys))
	for len(keys) > 0 {
		chunk := keys[:min(100, len(keys))]
		keys = keys[len(chunk):]
		req := map[string]types.KeysAndAttributes{d.table: {Keys: chunk, ConsistentRead: aws.Bool(d.consistent)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if attempt > 8 {
					return nil, errcode.Errorf(errcode.Throttled, op, "", "BatchGetItem left keys unprocessed %d times", attempt)
				}
				select {
				case <-ctx.Done():
					return nil, &errcode.Error{Code: errcode.Unavailable, Op: op, Err: ctx.Err()}
				case <-time.After(time.Duration(10<<attempt) * time.Millisecond):
				}
			}
			res, err := d.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: req, ReturnConsumedCapacity: d.returnConsumed(),
			})
			if err != nil {
				return nil, d.wrap(ctx, op, "", err)
			}
			ccs := make([]*types.ConsumedCapacity, len(res.ConsumedCapacity))
			for i := range res.ConsumedCapacity {
				ccs[i] = &res.ConsumedCapacity[i]
			}
			d.consumed("list (records)", false, ccs...)
			for _, item := range res.Responses[d.table] {
				if pk, ok := item[attrPK].(*types.AttributeValueMemberS); ok {
					out[pk.Value] = item
				}
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// PutAllowlist implements store.Driver.
func (d *Driver) PutAllowlist(ctx context.Context, e *domain.AllowlistEntry) error {
	const op = "dynamo: put allowlist"
	if e == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil entry")
	}
	if err := d.start(ctx, op, e.SHA256); err != nil {
		return err
	}
	if e.SHA256 == "" {
		return errcode.Errorf(errcode.Invalid, op, "", "entry has no sha256")
	}
	return d.put(ctx, op, "put allowlist", e.SHA256, toAllowlistItem(e))
}

// put stores v, replacing any item with its key.
func (d *Driver) put(ctx context.Context, op, short, id string, v any) error {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return errcode.Errorf(errcode.Invalid, op, id, "encode: %w", err)
	}
	out, err := d.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(d.table), Item: item, ReturnConsumedCapacity: d.returnConsumed(),
	})
	if err != nil {
		return d.wrap(ctx, op, id, err)
	}
	d.consumed(short, true, out.ConsumedCapacity)
	return nil
}

// GetAllowlist implements store.Driver.
func (d *Driver) GetAllowlist(ctx context.Context, sha256 string) (*domain.AllowlistEntry, error) {
	const op = "dynamo: get allowlist"
	if sha256 == "" {
		// NotFound, not Invalid: whether the empty hash is allowed has an
		// answer.
		if err := d.start(ctx, op, sha256); err != nil {
			return nil, err
		}
		return nil, errcode.Errorf(errcode.NotFound, op, "", "no entry has an empty sha256")
	}
	return getAs(ctx, d, op, "get allowlist", sha256, allowlistKey(sha256), (*allowlistItem).domain)
}

func decodeAllowlist(op, id string, item map[string]types.AttributeValue) (*domain.AllowlistEntry, error) {
	return decodeAs(op, id, item, (*allowlistItem).domain)
}

func allowlistKey(sha256 string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(pkAllowlist), attrSK: s(sha256)}
}

// DeleteAllowlist implements store.Driver.
func (d *Driver) DeleteAllowlist(ctx context.Context, sha256 string) error {
	const op = "dynamo: delete allowlist"
	if err := d.start(ctx, op, sha256); err != nil {
		return err
	}
	if sha256 == "" {
		return nil // no entry can have an empty key
	}
	out, err := d.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:              aws.String(d.table),
		Key:                    allowlistKey(sha256),
		ReturnConsumedCapacity: d.returnConsumed(),
	})
	if err != nil {
		return d.wrap(ctx, op, sha256, err)
	}
	d.consumed("delete allowlist", true, out.ConsumedCapacity)
	return nil
}

// ListAllowlist implements store.Driver: a Query of the allowlist
// partition, which is ordered by SHA-256.
func (d *Driver) ListAllowlist(ctx context.Context, page store.Page) ([]*domain.AllowlistEntry, string, error) {
	const op = "dynamo: list allowlist"
	const list = "allowlist"
	if err := d.start(ctx, op, ""); err != nil {
		return nil, "", err
	}
	e := newExpr()
	in := &dynamodb.QueryInput{
		TableName:              aws.String(d.table),
		KeyConditionExpression: aws.String(e.name(attrPK) + " = " + e.value("pk", s(pkAllowlist))),
		ConsistentRead:         aws.Bool(d.consistent),
		Limit:                  aws.Int32(int32(page.Size() + 1)),
		ReturnConsumedCapacity: d.returnConsumed(),
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.names, e.values
	if page.Cursor != "" {
		sha, err := decodeCursor(op, list, page.Cursor)
		if err != nil {
			return nil, "", err
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{attrPK: s(pkAllowlist), attrSK: s(sha)}
	}
	out, err := d.client.Query(ctx, in)
	if err != nil {
		return nil, "", d.wrap(ctx, op, "", err)
	}
	d.consumed("list allowlist", false, out.ConsumedCapacity)
	items, more := out.Items, out.LastEvaluatedKey != nil
	if len(items) > page.Size() {
		items, more = items[:page.Size()], true
	}
	entries := make([]*domain.AllowlistEntry, 0, len(items))
	for _, item := range items {
		en, err := decodeAllowlist(op, "", item)
		if err != nil {
			return nil, "", err
		}
		entries = append(entries, en)
	}
	cursor := ""
	if more && len(entries) > 0 {
		cursor = encodeCursor(list, entries[len(entries)-1].SHA256)
	}
	return entries, cursor, nil
}

// CreateReview implements store.Driver: a PutItem conditional on no item,
// or a decided one.
func (d *Driver) CreateReview(ctx context.Context, item *domain.ReviewItem) error {
	const op = "dynamo: create review"
	if item == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil review item")
	}
	if err := d.start(ctx, op, item.ID); err != nil {
		return err
	}
	if item.ID == "" {
		return errcode.Errorf(errcode.Invalid, op, "", "review item has no id")
	}
	if !sortableYear(item.OpenedAt) {
		return errcode.Errorf(errcode.Invalid, op, item.ID, "open time %s is outside the years 0000-9999", item.OpenedAt)
	}
	return createItem(ctx, d, op, "create review", item.ID, reviewKey(item.ID), toReviewItem(item), noOpenReview)
}

// GetReview implements store.Driver.
func (d *Driver) GetReview(ctx context.Context, id string) (*domain.ReviewItem, error) {
	return getAs(ctx, d, "dynamo: get review", "get review", id, reviewKey(id), (*reviewItem).domain)
}

// DecideReview implements store.Driver: one UpdateItem conditional on an
// existing, undecided item, which also removes the item's keys from the
// open-reviews index.
func (d *Driver) DecideReview(ctx context.Context, id string, dec store.ReviewDecision) (*domain.ReviewItem, error) {
	const op = "dynamo: decide review"
	if err := d.start(ctx, op, id); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	if dec.Decision == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, id, "empty decision")
	}
	e := newExpr()
	set := []string{
		e.name(attrDecision) + " = " + e.value("decision", s(string(dec.Decision))),
		e.name(attrDecidedAt) + " = " + e.value("decidedAt", s(fmtTime(dec.DecidedAt))),
	}
	remove := []string{e.name(attrOpenQueue), e.name(attrOpenSort)}
	for _, f := range []struct{ attr, v string }{{attrReviewer, dec.Reviewer}, {attrComment, dec.Comment}} {
		if f.v == "" {
			remove = append(remove, e.name(f.attr))
		} else {
			set = append(set, e.name(f.attr)+" = "+e.value(f.attr, s(f.v)))
		}
	}
	cond := "attribute_exists(" + e.name(attrPK) + ") AND attribute_not_exists(" + e.name(attrDecision) + ")"
	return updateItem(ctx, d, op, "decide review", id, &dynamodb.UpdateItemInput{
		Key:                       reviewKey(id),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ") + " REMOVE " + strings.Join(remove, ", ")),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	}, (*reviewItem).domain,
		func(item *domain.ReviewItem) bool {
			return item.Decision == dec.Decision && item.Reviewer == dec.Reviewer &&
				item.Comment == dec.Comment && fmtTime(item.DecidedAt) == fmtTime(dec.DecidedAt)
		},
		func(item *domain.ReviewItem) string {
			return fmt.Sprintf("already decided (%s by %s)", item.Decision, item.Reviewer)
		})
}

// SetReviewToken implements store.Driver: an UpdateItem conditional on
// the item existing, so a missing item is never created.
func (d *Driver) SetReviewToken(ctx context.Context, id, token string) error {
	const op = "dynamo: set review token"
	if err := d.start(ctx, op, id); err != nil {
		return err
	}
	if id == "" {
		return errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	e := newExpr()
	update := "REMOVE " + e.name(attrTaskToken)
	if token != "" {
		update = "SET " + e.name(attrTaskToken) + " = " + e.value("token", s(token))
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(d.table),
		Key:                      reviewKey(id),
		UpdateExpression:         aws.String(update),
		ConditionExpression:      aws.String("attribute_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames: e.names,
		ReturnConsumedCapacity:   d.returnConsumed(),
	}
	if len(e.values) > 0 {
		in.ExpressionAttributeValues = e.values
	}
	out, err := d.client.UpdateItem(ctx, in)
	if _, ok := isConditionFailed(err); ok {
		return errcode.Errorf(errcode.NotFound, op, id, "no such review item")
	}
	if err != nil {
		return d.wrap(ctx, op, id, err)
	}
	d.consumed("set review token", true, out.ConsumedCapacity)
	return nil
}

// ListOpenReviews implements store.Driver: a Query of the sparse
// open-reviews index.
func (d *Driver) ListOpenReviews(ctx context.Context, page store.Page) ([]*domain.ReviewItem, string, error) {
	const op = "dynamo: list reviews"
	const list = "open"
	if err := d.start(ctx, op, ""); err != nil {
		return nil, "", err
	}
	e := newExpr()
	in := &dynamodb.QueryInput{
		TableName:              aws.String(d.table),
		IndexName:              aws.String(IndexOpenReviews),
		KeyConditionExpression: aws.String(e.name(attrOpenQueue) + " = " + e.value("open", s(openQueue))),
		Limit:                  aws.Int32(int32(page.Size() + 1)),
		ReturnConsumedCapacity: d.returnConsumed(),
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.names, e.values
	if page.Cursor != "" {
		sk, err := decodeCursor(op, list, page.Cursor)
		if err != nil {
			return nil, "", err
		}
		id, ok := splitSortKey(sk)
		if !ok {
			return nil, "", errcode.Errorf(errcode.Invalid, op, "", "malformed cursor %q", page.Cursor)
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			attrPK: s(recordPK(id)), attrSK: s(skReview), attrOpenQueue: s(openQueue), attrOpenSort: s(sk),
		}
	}
	out, err := d.client.Query(ctx, in)
	if err != nil {
		return nil, "", d.wrap(ctx, op, "", err)
	}
	d.consumed("list reviews", false, out.ConsumedCapacity)
	items, more := out.Items, out.LastEvaluatedKey != nil
	if len(items) > page.Size() {
		items, more = items[:page.Size()], true
	}
	reviews := make([]*domain.ReviewItem, 0, len(items))
	last := ""
	for _, raw := range items {
		it, err := decodeItem[reviewItem](op, "", raw)
		if err != nil {
			return nil, "", err
		}
		last = it.OpenSort
		r, err := it.domain()
		if err != nil {
			return nil, "", errcode.Errorf(errcode.Unknown, op, it.ID, "stored review item does not decode: %w", err)
		}
		reviews = append(reviews, r)
	}
	cursor := ""
	if more && last != "" {
		cursor = encodeCursor(list, last)
	}
	return reviews, cursor, nil
}

// PutCachedVerdict implements store.Driver.
func (d *Driver) PutCachedVerdict(ctx context.Context, sha256, dbVersion string, v *domain.Verdict) error {
	const op = "dynamo: put verdict"
	if v == nil {
		return errcode.Errorf(errcode.Invalid, op, sha256, "nil verdict")
	}
	if err := d.start(ctx, op, sha256); err != nil {
		return err
	}
	if sha256 == "" {
		return errcode.Errorf(errcode.Invalid, op, "", "empty sha256")
	}
	return d.put(ctx, op, "put verdict", sha256, cachedVerdictItem{
		PK: verdictPK(sha256), SK: verdictSK(dbVersion), DBVersion: dbVersion, Verdict: *toVerdict(v),
	})
}

// GetCachedVerdict implements store.Driver.
func (d *Driver) GetCachedVerdict(ctx context.Context, sha256, dbVersion string) (*domain.Verdict, error) {
	const op = "dynamo: get verdict"
	if err := d.start(ctx, op, sha256); err != nil {
		return nil, err
	}
	if sha256 == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	// Eventually consistent always, at half the cost: an entry is
	// written once per (bytes, database) and never changed in meaning or
	// removed, so a stale read can only miss one written a moment ago,
	// and a miss means a scan. Nothing is answered that was not cached.
	key := map[string]types.AttributeValue{attrPK: s(verdictPK(sha256)), attrSK: s(verdictSK(dbVersion))}
	item, err := d.getItem(ctx, "get verdict", key, false)
	if err != nil {
		return nil, d.wrap(ctx, op, sha256, err)
	}
	if item == nil {
		return nil, errcode.Errorf(errcode.NotFound, op, sha256, "not found")
	}
	return decodeAs(op, sha256, item, func(it *cachedVerdictItem) (*domain.Verdict, error) { return it.Verdict.domain() })
}
