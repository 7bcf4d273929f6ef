package lambdahttp_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scangate/scangate/internal/lambdahttp"
)

// TestRoundTrip: a Function URL event reaches the handler with its method,
// path, query, headers, cookies, body and source address, over TLS, and
// the handler's status, headers, cookies and bytes come back.
func TestRoundTrip(t *testing.T) {
	h := lambdahttp.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c, err := r.Cookie("s")
		switch {
		case r.Method != http.MethodPost, r.URL.Path != "/admin/records/x/decision", r.URL.Query().Get("a") != "1",
			r.Header.Get("Sec-Fetch-Site") != "same-origin", err != nil || c.Value != "v", string(b) != "decision=release",
			r.Host != "abc.lambda-url.eu-west-1.on.aws", r.RemoteAddr != "203.0.113.9:0", r.TLS == nil:
			t.Errorf("request %s %s host %s remote %s cookie %v body %q tls %v", r.Method, r.URL, r.Host, r.RemoteAddr, c, b, r.TLS != nil)
		}
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
		w.Header().Set("Location", "/admin/")
		w.WriteHeader(http.StatusSeeOther)
		w.Write([]byte{0xff, 0x00})
	}))
	ev := events.APIGatewayV2HTTPRequest{
		RawPath: "/admin/records/x/decision", RawQueryString: "a=1",
		Headers: map[string]string{"sec-fetch-site": "same-origin", "host": "abc.lambda-url.eu-west-1.on.aws"},
		Cookies: []string{"s=v", "t=w"},
		Body:    base64.StdEncoding.EncodeToString([]byte("decision=release")), IsBase64Encoded: true,
	}
	ev.RequestContext.HTTP.Method = http.MethodPost
	ev.RequestContext.HTTP.SourceIP = "203.0.113.9"
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Headers["Location"] != "/admin/" || len(resp.Cookies) != 2 ||
		!resp.IsBase64Encoded || resp.Body != base64.StdEncoding.EncodeToString([]byte{0xff, 0x00}) {
		t.Errorf("response %+v", resp)
	}
}
