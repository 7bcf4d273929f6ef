package dynamo

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scangate/scangate/store"
)

// UpdateInput returns the UpdateItem request that d.Update(id, cond, m)
// sends, so that tests can send it through the raw SDK.
func UpdateInput(d *Driver, id string, cond store.Condition, m store.Mutation) (*dynamodb.UpdateItemInput, error) {
	return d.updateInput(id, cond, m)
}
