package s3obj

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/scangate/scangate/domain/errcode"
)

// mapError gives an SDK error its errcode code; nil stays nil. op names the
// driver operation, id the object.
func mapError(ctx context.Context, op, id string, err error) error {
	if err == nil {
		return nil
	}
	var e *errcode.Error
	if errors.As(err, &e) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		// The request may or may not have been carried out; the caller
		// gave up either way, and the contract wants ctx.Err() wrapped.
		return &errcode.Error{Code: errcode.Unavailable, Op: op, ID: id, Err: fmt.Errorf("%w (%v)", cerr, err)}
	}
	return &errcode.Error{Code: classify(err), Op: op, ID: id, Err: err}
}

// classify maps an SDK error to a code: by S3's error code first, then by
// HTTP status, then by the kind of transport failure.
func classify(err error) errcode.Code {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NoSuchVersion", "NoSuchBucket", "NotFound":
			return errcode.NotFound
		case "MethodNotAllowed":
			// The VersionID names a delete marker, which has no bytes.
			return errcode.NotFound
		case "PreconditionFailed":
			return errcode.Changed
		case "SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequests",
			"TooManyRequestsException", "RequestLimitExceeded", "ServiceUnavailable", "InternalError",
			"RequestTimeout", "OperationAborted", "ExpiredToken":
			// RequestTimeout (400): the connection idled; ExpiredToken
			// (400): the SDK fetches fresh credentials on the next try.
			return errcode.Unavailable
		case "BadDigest", "XAmzContentSHA256Mismatch", "IncompleteBody":
			// The bytes were damaged or cut in transit; sending them
			// again can succeed.
			return errcode.Unavailable
		case "NoSuchUpload":
			// Our own multipart upload vanished (a lifecycle rule, or a
			// concurrent abort): the whole operation may be retried. Not
			// NotFound, which would say the object is gone.
			return errcode.Unavailable
		case "NotImplemented", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId",
			"SignatureDoesNotMatch", "InvalidObjectState", "RequestTimeTooSkewed":
			return errcode.Unknown
		}
	}
	var params smithy.InvalidParamsError
	if errors.As(err, &params) {
		return errcode.Invalid
	}
	var (
		send  *smithyhttp.RequestSendError
		netEr net.Error
	)
	if errors.As(err, &send) || errors.As(err, &netEr) || errors.Is(err, io.ErrUnexpectedEOF) {
		// No answer, or a cut one. The SDK wraps these in a
		// ResponseError with status 0.
		return errcode.Unavailable
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		switch s := resp.HTTPStatusCode(); {
		case s == 404, s == 405:
			return errcode.NotFound
		case s == 412:
			return errcode.Changed
		case s == 408, s == 429:
			return errcode.Unavailable
		case s == 501:
			return errcode.Unknown
		case s >= 500:
			return errcode.Unavailable
		case s == 400, s == 411, s == 413, s == 416:
			return errcode.Invalid
		}
	}
	return errcode.Unknown
}
