package lambdas_test

import (
	"context"
	"encoding/json"
	"github.com/scangate/scangate/asl"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/authn"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/lambdas"
)

// underReview drives a new upload of key to reviewing.
func (f *fixture) underReview(t *testing.T, key string) asl.Document {
	t.Helper()
	ctx := context.Background()
	f.scan.res = clamd.Result{Status: clamd.StatusFound, Signatures: []string{"Test.Sig"}, Raw: "stream: Test.Sig FOUND"}
	st, err := f.h.Quarantine(ctx, f.verdict(t, key, "bad bytes"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != domain.StatusReviewing {
		t.Fatalf("%s is %s; want reviewing", key, st.Status)
	}
	return st
}

// The review Lambda names the decider from the verified invocation and
// never from the payload, and checks the role for every action.
func TestReviewHTTP(t *testing.T) {
	const (
		reviewerARN = "arn:aws:sts::111122223333:assumed-role/scangate-reviewers/rita"
		viewerARN   = "arn:aws:sts::111122223333:assumed-role/scangate-viewers/vic"
	)
	inv := authn.Invocation{IAMRoles: map[string]domain.Role{
		"arn:aws:iam::111122223333:role/scangate-reviewers": domain.RoleReviewer,
		"arn:aws:iam::111122223333:role/scangate-viewers":   domain.RoleViewer,
	}}
	iam := func(arn string) events.APIGatewayV2HTTPRequestContext {
		rc := events.APIGatewayV2HTTPRequestContext{RequestID: "r1"}
		rc.HTTP.Method = http.MethodPost
		if arn != "" {
			rc.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{UserARN: arn}}
		}
		return rc
	}
	jwt := func(claims map[string]string) events.APIGatewayV2HTTPRequestContext {
		rc := iam("")
		rc.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}
		return rc
	}
	f := newFixture(t)
	handler := f.h.ReviewHTTP(inv)
	ctx := context.Background()
	call := func(rc events.APIGatewayV2HTTPRequestContext, body string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		resp, err := handler(ctx, events.APIGatewayV2HTTPRequest{RequestContext: rc, Body: body})
		if err != nil {
			t.Fatalf("handler error %v; want an HTTP response", err)
		}
		return resp
	}
	st := f.underReview(t, "review/a.com")
	decide := `{"action":"decide","id":"` + st.ID + `","decision":"confirm","comment":"true positive"}`

	tests := []struct {
		name string
		rc   events.APIGatewayV2HTTPRequestContext
		body string
		code int
	}{
		{"no verified caller", iam(""), `{"action":"list"}`, http.StatusUnauthorized},
		{"unmapped role", iam("arn:aws:sts::111122223333:assumed-role/other/x"), `{"action":"list"}`, http.StatusUnauthorized},
		{"viewer lists", iam(viewerARN), `{"action":"list"}`, http.StatusOK},
		{"viewer reads", iam(viewerARN), `{"action":"get","id":"` + st.ID + `"}`, http.StatusOK},
		{"viewer may not decide", iam(viewerARN), decide, http.StatusForbidden},
		{"viewer may not rescan", iam(viewerARN), `{"action":"rescan","id":"` + st.ID + `"}`, http.StatusForbidden},
		{"payload names someone else", iam(reviewerARN), strings.Replace(decide, `"comment"`, `"reviewer":"bob-the-ciso","comment"`, 1), http.StatusBadRequest},
		{"unknown field", iam(reviewerARN), `{"action":"list","as":"admin"}`, http.StatusBadRequest},
		{"malformed", iam(reviewerARN), `{`, http.StatusBadRequest},
		{"jwt viewer may not decide", jwt(map[string]string{"email": "v@example.com", "cognito:groups": "viewer"}), decide, http.StatusForbidden},
		{"reviewer decides", iam(reviewerARN), decide, http.StatusOK},
		{"the same decision again is idempotent", iam(reviewerARN), decide, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := call(tt.rc, tt.body)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d (%s); want %d", resp.StatusCode, resp.Body, tt.code)
			}
			if resp.Headers["Content-Type"] != "application/json" {
				t.Errorf("Content-Type %q", resp.Headers["Content-Type"])
			}
		})
	}
	rec, err := f.st.Get(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != domain.StatusConfirmed {
		t.Fatalf("record %s; want confirmed", rec.State)
	}
	item, err := f.st.Review(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if item.Reviewer != reviewerARN {
		t.Errorf("decision recorded for %q; want the verified caller %q", item.Reviewer, reviewerARN)
	}
	last := rec.History[len(rec.History)-1]
	if last.Actor != reviewerARN {
		t.Errorf("history names %q; want %q", last.Actor, reviewerARN)
	}
	var out lambdas.ReviewResponse
	resp := call(jwt(map[string]string{"email": "v@example.com", "cognito:groups": "[viewer]"}), `{"action":"get","id":"`+st.ID+`"}`)
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil || out.Record == nil || out.Record.ID != st.ID {
		t.Errorf("get as a JWT viewer: %d %s", resp.StatusCode, resp.Body)
	}
}
