package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scangate/scangate/domain/errcode"
)

// The create, get and decode steps that every kind of item shares. Each
// item type T (recordItem, intentItem, …) converts to its domain value D
// with its domain method.

// decodeItem unmarshals a stored item into T.
func decodeItem[T any](op, id string, item map[string]types.AttributeValue) (*T, error) {
	v := new(T)
	if err := attributevalue.UnmarshalMap(item, v); err != nil {
		return nil, errcode.Errorf(errcode.Unknown, op, id, "stored item does not decode: %w", err)
	}
	return v, nil
}

// decodeAs decodes a stored item through its item type.
func decodeAs[T any, D any](op, id string, item map[string]types.AttributeValue, conv func(*T) (D, error)) (D, error) {
	var zero D
	it, err := decodeItem[T](op, id, item)
	if err != nil {
		return zero, err
	}
	v, err := conv(it)
	if err != nil {
		return zero, errcode.Errorf(errcode.Unknown, op, id, "stored item does not decode: %w", err)
	}
	return v, nil
}

// createCond is the condition of a create, and what its failure means.
type createCond struct {
	expr    string
	names   map[string]string
	refused string // the message of the AlreadyExists error
}

var (
	// noItem: nothing is stored under the key.
	noItem = createCond{
		expr:    "attribute_not_exists(#pk)",
		names:   map[string]string{"#pk": attrPK},
		refused: "an item with this key exists",
	}
	// noOpenReview: no review item, or a decided one, which a rescanned
	// object's new review replaces.
	noOpenReview = createCond{
		expr:    "attribute_not_exists(#pk) OR attribute_exists(#decision)",
		names:   map[string]string{"#pk": attrPK, "#decision": attrDecision},
		refused: "an open review item with this id exists",
	}
)

// createItem is a PutItem of v (of item type T) under key, conditional on
// cond. A refused write whose call took more than one attempt compares the
// stored item with v: an equal one is our own earlier attempt, whose
// answer was lost.
func createItem[T any](ctx context.Context, d *Driver, op, short, id string, key map[string]types.AttributeValue, v T, cond createCond) error {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return errcode.Errorf(errcode.Invalid, op, id, "encode: %w", err)
	}
	var attempts int32
	out, err := d.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(d.table),
		Item:                                item,
		ConditionExpression:                 aws.String(cond.expr),
		ExpressionAttributeNames:            cond.names,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		ReturnConsumedCapacity:              d.returnConsumed(),
	}, countAttempts(&attempts))
	if ccf, ok := isConditionFailed(err); ok {
		if attempts > 1 {
			stored, gerr := d.storedAfterFailure(ctx, op, ccf, key)
			if gerr == nil && sameItem[T](op, id, stored, item) {
				return nil
			}
		}
		return errcode.Errorf(errcode.AlreadyExists, op, id, "%s", cond.refused)
	}
	if err != nil {
		return d.wrap(ctx, op, id, err)
	}
	d.consumed(short, true, out.ConsumedCapacity)
	return nil
}

// getAs reads one item by key and decodes it, or gives NotFound.
func getAs[T any, D any](ctx context.Context, d *Driver, op, short, id string, key map[string]types.AttributeValue, conv func(*T) (D, error)) (D, error) {
	var zero D
	if err := d.start(ctx, op, id); err != nil {
		return zero, err
	}
	if id == "" {
		return zero, errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	item, err := d.getItem(ctx, short, key, d.consistent)
	if err != nil {
		return zero, d.wrap(ctx, op, id, err)
	}
	if item == nil {
		return zero, errcode.Errorf(errcode.NotFound, op, id, "not found")
	}
	return decodeAs(op, id, item, conv)
}

// updateItem sends in, one conditional UpdateItem, and returns the item as
// written. A refused write is told apart from the stored item: none gives
// NotFound; our own earlier attempt (own, when the call was retried after
// its answer was lost) is success; anything else gives ConditionFailed,
// with refused saying why.
func updateItem[T any, D any](ctx context.Context, d *Driver, op, short, id string, in *dynamodb.UpdateItemInput,
	conv func(*T) (D, error), own func(D) bool, refused func(D) string) (D, error) {
	var zero D
	in.TableName = aws.String(d.table)
	in.ReturnValues = types.ReturnValueAllNew
	in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	in.ReturnConsumedCapacity = d.returnConsumed()
	var attempts int32
	out, err := d.client.UpdateItem(ctx, in, countAttempts(&attempts))
	if ccf, ok := isConditionFailed(err); ok {
		stored, gerr := d.storedAfterFailure(ctx, op, ccf, in.Key)
		if gerr != nil {
			return zero, gerr
		}
		if stored == nil {
			return zero, errcode.Errorf(errcode.NotFound, op, id, "not found")
		}
		v, derr := decodeAs(op, id, stored, conv)
		if derr != nil {
			return zero, derr
		}
		if attempts > 1 && own(v) {
			return v, nil
		}
		return zero, errcode.Errorf(errcode.ConditionFailed, op, id, "%s", refused(v))
	}
	if err != nil {
		return zero, d.wrap(ctx, op, id, err)
	}
	d.consumed(short, true, out.ConsumedCapacity)
	return decodeAs(op, id, out.Attributes, conv)
}
