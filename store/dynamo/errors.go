package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/scangate/scangate/domain/errcode"
)

// mapError gives an SDK error its errcode code. op names the driver
// operation, id the item, table the table (named in the message when the
// table is missing).
func mapError(ctx context.Context, op, id, table string, err error) error {
	if err == nil {
		return nil
	}
	var e *errcode.Error
	if errors.As(err, &e) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		// The call may or may not have reached the table; either way the
		// caller gave up, and the contract wants ctx.Err() wrapped.
		return &errcode.Error{Code: errcode.Unavailable, Op: op, ID: id, Err: fmt.Errorf("%w (%v)", cerr, err)}
	}
	code := classify(err)
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return errcode.Errorf(errcode.Unavailable, op, id,
			"table %q does not exist in this account and region, or is not ACTIVE: %w", table, err)
	}
	return &errcode.Error{Code: code, Op: op, ID: id, Err: err}
}

// classify maps an SDK error to a code.
func classify(err error) errcode.Code {
	var (
		ccf   *types.ConditionalCheckFailedException
		pte   *types.ProvisionedThroughputExceededException
		rle   *types.RequestLimitExceeded
		thr   *types.ThrottlingException
		lim   *types.LimitExceededException
		rnf   *types.ResourceNotFoundException
		ise   *types.InternalServerError
		rwc   *types.ReplicatedWriteConflictException
		api   smithy.APIError
		resp  *awshttp.ResponseError
		send  *smithyhttp.RequestSendError
		netEr net.Error
	)
	switch {
	case errors.As(err, &ccf):
		return errcode.ConditionFailed
	case errors.As(err, &pte), errors.As(err, &rle), errors.As(err, &thr), errors.As(err, &lim):
		return errcode.Throttled
	case errors.As(err, &rnf), errors.As(err, &ise), errors.As(err, &rwc):
		return errcode.Unavailable
	}
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ValidationException", "SerializationException":
			return errcode.Invalid
		case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
			"TooManyRequestsException", "LimitExceededException":
			return errcode.Throttled
		case "InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException":
			return errcode.Unavailable
		}
	}
	switch {
	case errors.As(err, &resp) && resp.HTTPStatusCode() >= 500:
		return errcode.Unavailable
	case errors.As(err, &send), errors.As(err, &netEr):
		return errcode.Unavailable
	}
	return errcode.Unknown
}

// isConditionFailed reports whether err is DynamoDB refusing a write
// because its condition did not hold, and returns the exception.
func isConditionFailed(err error) (*types.ConditionalCheckFailedException, bool) {
	var ccf *types.ConditionalCheckFailedException
	ok := errors.As(err, &ccf)
	return ccf, ok
}
