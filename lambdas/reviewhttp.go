package lambdas

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scangate/scangate/internal/authn"
)

// maxReviewBody bounds a review request; a real one is under 1 KiB.
const maxReviewBody = 64 << 10

// ReviewHTTP is the review Lambda's handler behind a Function URL (auth
// type AWS_IAM) or an API Gateway HTTP API (IAM or JWT authorizer): POST
// a ReviewRequest as JSON, get a ReviewResponse.
//
// The caller is who the request context says API Gateway or Lambda
// verified, mapped to a role by inv; the body cannot name them. A direct
// Invoke carries no verified caller, which is why the review function
// takes HTTP events only.
func (h *Handlers) ReviewHTTP(inv authn.Invocation) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		by, err := inv.FromHTTPContext(ev.RequestContext)
		if err != nil {
			h.log.Info("review request refused", "err", err, "requestId", ev.RequestContext.RequestID)
			return httpJSON(http.StatusUnauthorized, map[string]string{"error": "credentials not accepted"}), nil
		}
		if m := ev.RequestContext.HTTP.Method; m != "" && m != http.MethodPost {
			return httpJSON(http.StatusMethodNotAllowed, map[string]string{"error": "POST a review request"}), nil
		}
		body := []byte(ev.Body)
		if ev.IsBase64Encoded {
			if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
				return httpJSON(http.StatusBadRequest, map[string]string{"error": "body is not base64"}), nil
			}
		}
		if len(body) > maxReviewBody {
			return httpJSON(http.StatusRequestEntityTooLarge, map[string]string{"error": "request too large"}), nil
		}
		var req ReviewRequest
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return httpJSON(http.StatusBadRequest, map[string]string{"error": "bad request body: " + err.Error()}), nil
		}
		resp, err := h.Review(ctx, by, req)
		if err != nil {
			code, msg := reviewStatus(err)
			return httpJSON(code, map[string]string{"error": msg}), nil
		}
		return httpJSON(http.StatusOK, resp), nil
	}
}

// reviewStatus maps a review error to an HTTP status and a message.
func reviewStatus(err error) (int, string) {
	var se *StepError
	if !errors.As(err, &se) {
		return http.StatusInternalServerError, "internal error"
	}
	switch se.Type {
	case ErrForbidden:
		return http.StatusForbidden, se.Msg
	case ErrInvalidInput:
		return http.StatusBadRequest, se.Msg
	case ErrUnavailable:
		return http.StatusServiceUnavailable, se.Msg
	}
	return http.StatusInternalServerError, "internal error"
}

func httpJSON(code int, v any) events.APIGatewayV2HTTPResponse {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: code,
		Headers: map[string]string{
			"Content-Type": "application/json", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
		},
		Body: string(b),
	}
}
