package httpapi_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/policy"
	"github.com/scangate/scangate/objects"
)

var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"), bytes.Repeat([]byte{0}, 64)...)

func zipBytes(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, _ := w.Create("notes.txt")
	f.Write([]byte("harmless notes"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var denied = []byte("bytes that threat intelligence knows to be bad\n")

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func testPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	doc := `
rules:
  - name: avatars
    bucket: uploads
    prefix: avatars/
    contentTypes: [image/png, image/jpeg]
    action: quarantine
  - name: docs
    prefix: docs/
    archives: false
    action: review
  - name: small
    prefix: small/
    maxSize: 100
    action: block
denylist:
  sha256: [` + hexSum(denied) + `]
`
	p, err := policy.Parse("test-policy.yaml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Each rule and action through the real pipeline: the committed workflow,
// the real handlers, a real clamd, the local bucket.
func TestPolicyEndToEnd(t *testing.T) {
	e := setup(t, setupOpts{rules: testPolicy(t)})
	ctx := context.Background()
	tags := func(ref domain.ObjectRef) map[string]string {
		t.Helper()
		tg, err := e.objs.Tags(ctx, ref)
		if err != nil {
			t.Fatalf("tags of %s: %v", ref.Key, err)
		}
		return tg
	}
	wantViolation := func(rec *domain.Record, state domain.Status, reason, rule, action string) {
		t.Helper()
		if rec.State != state || rec.Verdict == nil || rec.Verdict.Outcome != domain.OutcomeUnscannable ||
			rec.Verdict.Reason != reason || rec.Verdict.PolicyRule != rule || rec.Verdict.PolicyAction != action {
			t.Fatalf("%s: state %s, verdict %+v; want %s with %s by rule %s (%s)", rec.Object.Key, rec.State, rec.Verdict, state, reason, rule, action)
		}
	}

	t.Run("allowed type is clean", func(t *testing.T) {
		rec := e.wait(e.upload("avatars/me.png", pngBytes).ID)
		e.assertClean(rec)
		if rec.Verdict.ContentType != "image/png" {
			t.Errorf("content type %q, want image/png", rec.Verdict.ContentType)
		}
	})
	t.Run("content type judged by bytes, not the header: quarantine", func(t *testing.T) {
		hdr := http.Header{"Content-Type": {"image/png"}}
		r, code, msg := e.tryUpload("avatars/me.png", []byte("#!/bin/sh\necho not a picture\n"), hdr)
		if code != http.StatusCreated {
			t.Fatalf("upload: %d %s", code, msg)
		}
		rec := e.wait(r.ID)
		e.assertQuarantined(rec)
		wantViolation(rec, domain.StatusReviewing, policy.ReasonContentType, "avatars", "quarantine")
		if rec.Verdict.ContentType != "text/plain" {
			t.Errorf("content type %q, want text/plain", rec.Verdict.ContentType)
		}
		item, err := e.st.Review(ctx, rec.ID)
		if err != nil || item.Reason != policy.ReasonContentType {
			t.Errorf("review item %+v, %v; want reason %s", item, err, policy.ReasonContentType)
		}
	})
	t.Run("infected beats the policy", func(t *testing.T) {
		rec := e.wait(e.upload("avatars/eicar.png", clamdtest.EICARBytes()).ID)
		e.assertQuarantined(rec)
		if rec.Verdict.Outcome != domain.OutcomeInfected || rec.Verdict.PolicyRule != "" {
			t.Errorf("verdict %+v; want infected, no policy rule", rec.Verdict)
		}
	})
	t.Run("a cached clean verdict does not bypass the rule", func(t *testing.T) {
		body := []byte("plain text, clean anywhere but under avatars/\n")
		e.assertClean(e.wait(e.upload("misc/notes.txt", body).ID))
		calls := e.scanner.calls.Load()
		rec := e.wait(e.upload("avatars/notes.png", body).ID)
		wantViolation(rec, domain.StatusReviewing, policy.ReasonContentType, "avatars", "quarantine")
		if !rec.Verdict.Reused || e.scanner.calls.Load() != calls {
			t.Errorf("verdict %+v after %d more streams; want the cached verdict judged by the rule, no stream", rec.Verdict, e.scanner.calls.Load()-calls)
		}
	})
	t.Run("archive: review in place, then release", func(t *testing.T) {
		rec := e.wait(e.upload("docs/bundle.docx", zipBytes(t)).ID)
		wantViolation(rec, domain.StatusReviewing, policy.ReasonArchive, "docs", "review")
		if rec.Quarantine != nil {
			t.Fatalf("moved to %+v; the review action leaves the version in place", rec.Quarantine)
		}
		if tg := tags(rec.Object); tg[objects.TagStatus] != string(domain.StatusUnscannable) {
			t.Errorf("tags in place %v; want status unscannable, which the bucket policy refuses", tg)
		}
		if item, err := e.st.Review(ctx, rec.ID); err != nil || !item.Open() || item.Reason != policy.ReasonArchive {
			t.Fatalf("review item %+v, %v; want open, reason %s", item, err, policy.ReasonArchive)
		}
		if resp := e.decide(rec.ID, domain.DecisionRelease, "a document, fine"); resp.StatusCode != http.StatusOK {
			t.Fatalf("decision: %d", resp.StatusCode)
		}
		rec = e.decided(rec.ID)
		if rec.State != domain.StatusReleased {
			t.Fatalf("after release: %s; history %+v", rec.State, rec.History)
		}
		if tg := tags(rec.Object); tg[objects.TagStatus] != string(domain.StatusReleased) {
			t.Errorf("tags after release %v; want status released on the reviewed version", tg)
		}
	})
	t.Run("max size: block without a stream", func(t *testing.T) {
		calls := e.scanner.calls.Load()
		rec := e.wait(e.upload("small/big.txt", bytes.Repeat([]byte("x"), 101)).ID)
		wantViolation(rec, domain.StatusUnscannable, policy.ReasonMaxSize, "small", "block")
		if e.scanner.calls.Load() != calls || rec.Verdict.BytesScanned != 0 {
			t.Errorf("%d streams, %d bytes scanned; a size violation reads nothing", e.scanner.calls.Load()-calls, rec.Verdict.BytesScanned)
		}
		// The record is written first; the Block step tags after it.
		deadline := time.Now().Add(10 * time.Second)
		for tg := tags(rec.Object); tg[objects.TagStatus] != string(domain.StatusUnscannable); tg = tags(rec.Object) {
			if time.Now().After(deadline) {
				t.Fatalf("tags %v; want status unscannable", tg)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := e.st.Review(ctx, rec.ID); errcode.Of(err) != errcode.NotFound {
			t.Errorf("review item: %v; block opens none", err)
		}
		e.assertClean(e.wait(e.upload("small/ok.txt", bytes.Repeat([]byte("x"), 100)).ID))
	})
	t.Run("denylisted hash: infected without a scan, despite the allowlist", func(t *testing.T) {
		if _, err := e.st.AddAllowlist(ctx, domain.AllowlistEntry{SHA256: hexSum(denied), AddedBy: "bob", Reason: "someone trusted it"}); err != nil {
			t.Fatal(err)
		}
		calls := e.scanner.calls.Load()
		rec := e.wait(e.upload("misc/evil.bin", denied).ID)
		e.assertQuarantined(rec)
		if rec.Verdict.Outcome != domain.OutcomeInfected || !slices.Equal(rec.Verdict.Signatures, []string{policy.DenylistSignature}) {
			t.Errorf("verdict %+v; want infected by %s", rec.Verdict, policy.DenylistSignature)
		}
		if e.scanner.calls.Load() != calls {
			t.Errorf("%d streams; a denylisted hash needs none", e.scanner.calls.Load()-calls)
		}
	})
}
