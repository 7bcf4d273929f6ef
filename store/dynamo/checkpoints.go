package dynamo

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
)

// A checkpoint is one item, pk checkpoint#<id>, sk checkpoint, in no
// index: it is only ever read by its ID. Its document is kept whole as
// JSON next to the version its writes are conditional on.
const (
	checkpointPrefix = "checkpoint#"
	skCheckpoint     = "checkpoint"
)

type checkpointItem struct {
	PK      string `dynamodbav:"pk"`
	SK      string `dynamodbav:"sk"`
	Version int64  `dynamodbav:"version"`
	Doc     string `dynamodbav:"doc"`
}

func checkpointKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(checkpointPrefix + id), attrSK: s(skCheckpoint)}
}

func (it *checkpointItem) domain() (*domain.Checkpoint, error) {
	var c domain.Checkpoint
	if err := json.Unmarshal([]byte(it.Doc), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// GetCheckpoint implements store.Driver.
func (d *Driver) GetCheckpoint(ctx context.Context, id string) (*domain.Checkpoint, error) {
	return getAs(ctx, d, "dynamo: get checkpoint", "get checkpoint", id, checkpointKey(id), (*checkpointItem).domain)
}

// PutCheckpoint implements store.Driver: one PutItem conditional on
// attribute_not_exists(pk) for version 1, else on the stored version.
func (d *Driver) PutCheckpoint(ctx context.Context, c *domain.Checkpoint) error {
	const op = "dynamo: put checkpoint"
	if c == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil checkpoint")
	}
	if err := d.start(ctx, op, c.ID); err != nil {
		return err
	}
	if c.ID == "" || c.Version < 1 {
		return errcode.Errorf(errcode.Invalid, op, c.ID, "a checkpoint needs an id and a version of at least 1")
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return errcode.Errorf(errcode.Invalid, op, c.ID, "encode checkpoint: %w", err)
	}
	item, err := attributevalue.MarshalMap(checkpointItem{PK: checkpointPrefix + c.ID, SK: skCheckpoint, Version: c.Version, Doc: string(doc)})
	if err != nil {
		return errcode.Errorf(errcode.Invalid, op, c.ID, "encode checkpoint: %w", err)
	}
	e := newExpr()
	var cond string
	if c.Version > 1 {
		cond = e.name(attrVersion) + " = " + e.value("prev", &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Version-1, 10)})
	} else {
		cond = "attribute_not_exists(" + e.name(attrPK) + ")"
	}
	in := &dynamodb.PutItemInput{
		TableName:                           aws.String(d.table),
		Item:                                item,
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            e.names,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		ReturnConsumedCapacity:              d.returnConsumed(),
	}
	if len(e.values) > 0 {
		in.ExpressionAttributeValues = e.values
	}
	var attempts int32
	out, err := d.client.PutItem(ctx, in, countAttempts(&attempts))
	if ccf, ok := isConditionFailed(err); ok {
		if attempts > 1 {
			stored, gerr := d.storedAfterFailure(ctx, op, ccf, checkpointKey(c.ID))
			if gerr == nil && sameItem[checkpointItem](op, c.ID, stored, item) {
				return nil // our own earlier attempt
			}
		}
		return errcode.Errorf(errcode.ConditionFailed, op, c.ID, "checkpoint is not at version %d", c.Version-1)
	}
	if err != nil {
		return d.wrap(ctx, op, c.ID, err)
	}
	d.consumed("put checkpoint", true, out.ConsumedCapacity)
	return nil
}
