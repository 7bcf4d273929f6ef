package lambdas

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// ForLambda adapts a handler so that its errors reach Step Functions with
// the step error type as errorType: that is the name the workflow's Retry
// and Catch rules match. The reason travels at the head of the message.
func ForLambda[In, Out any](fn func(context.Context, In) (Out, error)) func(context.Context, In) (Out, error) {
	return func(ctx context.Context, in In) (Out, error) {
		out, err := fn(ctx, in)
		if err != nil {
			return out, InvokeError(err)
		}
		return out, nil
	}
}

// InvokeError renders err as Lambda's error response.
func InvokeError(err error) messages.InvokeResponse_Error {
	if ie, ok := err.(messages.InvokeResponse_Error); ok {
		return ie
	}
	var se *StepError
	if !errors.As(err, &se) {
		se = &StepError{Type: ErrInternal, Msg: err.Error()}
	}
	msg := se.Msg
	if se.Reason != "" {
		msg = "reason=" + se.Reason + ": " + msg
	}
	return messages.InvokeResponse_Error{Type: se.Type, Message: msg}
}

// reasonFromMessage reads the reason InvokeError put at the head of a
// message.
func reasonFromMessage(msg string) string {
	rest, ok := strings.CutPrefix(msg, "reason=")
	if !ok {
		return ""
	}
	r, _, _ := strings.Cut(rest, ":")
	return r
}
