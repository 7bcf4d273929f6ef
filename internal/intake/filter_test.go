package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/domain"
)

func refAt(bucket, key, requester string) Ref {
	return Ref{ObjectRef: domain.ObjectRef{Bucket: bucket, Key: key, Size: 1}, Requester: requester, MessageID: "m-" + key}
}

func TestFilterApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter Filter
		ref    Ref
		reason string // "" when the ref is kept
	}{
		{"zero filter keeps everything", Filter{}, refAt("b-1", "quarantine/x", "AWS:AROAQ:scangate"), ""},
		{"quarantine bucket", Filter{QuarantineBucket: "q-bucket"}, refAt("q-bucket", "any/key", ""), ReasonQuarantine},
		{"other bucket", Filter{QuarantineBucket: "q-bucket"}, refAt("uploads", "any/key", ""), ""},
		{"bucket and prefix", Filter{QuarantineBucket: "q-bucket", QuarantinePrefix: "infected/"}, refAt("q-bucket", "infected/a", ""), ReasonQuarantine},
		{"bucket, outside prefix", Filter{QuarantineBucket: "q-bucket", QuarantinePrefix: "infected/"}, refAt("q-bucket", "clean/a", ""), ""},
		{"prefix in another bucket", Filter{QuarantineBucket: "q-bucket", QuarantinePrefix: "infected/"}, refAt("uploads", "infected/a", ""), ""},
		{"prefix in any bucket", Filter{QuarantinePrefix: "quarantine/"}, refAt("uploads", "quarantine/a", ""), ReasonQuarantine},
		{"segment prefix covers children", Filter{QuarantinePrefix: "quarantine"}, refAt("uploads", "quarantine/a", ""), ReasonQuarantine},
		{"segment prefix covers itself", Filter{QuarantinePrefix: "quarantine"}, refAt("uploads", "quarantine", ""), ReasonQuarantine},
		{"segment prefix is not a string prefix", Filter{QuarantinePrefix: "quarantine"}, refAt("uploads", "quarantine-report.pdf", ""), ""},
		{"self principal", Filter{SelfPrincipals: []string{"AWS:AROAQ:scangate"}}, refAt("uploads", "a", "AWS:AROAQ:scangate"), ReasonSelf},
		{"self role, any session", Filter{SelfPrincipals: []string{"AWS:AROAQ"}}, refAt("uploads", "a", "AWS:AROAQ:quarantine-fn"), ReasonSelf},
		{"role ID prefix is not enough", Filter{SelfPrincipals: []string{"AWS:AROAQ"}}, refAt("uploads", "a", "AWS:AROAQX:fn"), ""},
		{"other principal", Filter{SelfPrincipals: []string{"AWS:AROAQ"}}, refAt("uploads", "a", "AWS:AROAUSER:alice"), ""},
		{"empty self principal matches nothing", Filter{SelfPrincipals: []string{""}}, refAt("uploads", "a", "AWS:AROAUSER:alice"), ""},
		{"no requester", Filter{SelfPrincipals: []string{"AWS:AROAQ"}}, refAt("uploads", "a", ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := Batch{Kind: KindSQS, Refs: []Ref{tt.ref}, Ignored: []Ignored{{Reason: "before"}}, Failures: []MessageFailure{{MessageID: "f"}}}
			got := tt.filter.Apply(in)
			want := Batch{Kind: KindSQS, Ignored: []Ignored{{Reason: "before"}}, Failures: in.Failures}
			if tt.reason == "" {
				want.Refs = []Ref{tt.ref}
			} else {
				want.Ignored = append(want.Ignored, Ignored{MessageID: tt.ref.MessageID, Reason: tt.reason, Object: tt.ref.ObjectRef})
			}
			if diff := cmp.Diff(got, want, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("Apply (-got +want):\n%s", diff)
			}
			if len(in.Ignored) != 1 || len(in.Refs) != 1 {
				t.Errorf("Apply modified its input: %+v", in)
			}
		})
	}
}

func TestDedup(t *testing.T) {
	t.Parallel()
	v := func(key, version, etag, seq, msg string) Ref {
		return Ref{ObjectRef: domain.ObjectRef{Bucket: "b-1", Key: key, VersionID: version, ETag: etag, Sequencer: seq}, MessageID: msg}
	}
	tests := []struct {
		name string
		in   []Ref
		want []Ref
	}{
		{"empty", nil, []Ref{}},
		{"redelivery", []Ref{v("k", "v1", "e", "s1", "m1"), v("k", "v1", "e", "s1", "m2")}, []Ref{v("k", "v1", "e", "s1", "m1")}},
		{"versions differ", []Ref{v("k", "v1", "e", "s1", ""), v("k", "v2", "e", "s2", "")}, []Ref{v("k", "v1", "e", "s1", ""), v("k", "v2", "e", "s2", "")}},
		{"version wins over etag", []Ref{v("k", "v1", "e1", "s1", ""), v("k", "v1", "e2", "s1", "")}, []Ref{v("k", "v1", "e1", "s1", "")}},
		{"unversioned same bytes, new write", []Ref{v("k", "", "e", "s1", ""), v("k", "", "e", "s2", "")}, []Ref{v("k", "", "e", "s1", ""), v("k", "", "e", "s2", "")}},
		{"unversioned redelivery", []Ref{v("k", "", "e", "s1", ""), v("k", "", "e", "s1", "")}, []Ref{v("k", "", "e", "s1", "")}},
		{"keys differ", []Ref{v("a", "v1", "", "", ""), v("b", "v1", "", "", "")}, []Ref{v("a", "v1", "", "", ""), v("b", "v1", "", "", "")}},
		{"version id is not an etag", []Ref{v("k", "x", "", "", ""), v("k", "", "x", "", "")}, []Ref{v("k", "x", "", "", ""), v("k", "", "x", "", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(Dedup(tt.in), tt.want); diff != "" {
				t.Errorf("Dedup (-got +want):\n%s", diff)
			}
		})
	}
}

func TestSQSResponse(t *testing.T) {
	t.Parallel()
	b := Batch{Failures: []MessageFailure{{MessageID: "m1", Err: errors.New("x")}, {MessageID: "m2"}}}
	got := SQSResponse(b, "m3", "m1", "")
	want := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{
		{ItemIdentifier: "m1"}, {ItemIdentifier: "m2"}, {ItemIdentifier: "m3"},
	}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("SQSResponse (-got +want):\n%s", diff)
	}
	js, err := json.Marshal(BatchResponse(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(js), `{"batchItemFailures":[]}`; got != want {
		t.Errorf("BatchResponse(nil) = %s, want %s", got, want)
	}
}

func TestWriteDecoded(t *testing.T) {
	t.Parallel()
	b := Batch{Refs: []Ref{
		{ObjectRef: domain.ObjectRef{Bucket: "b-1", Key: "a <b> & c\n\x1b[31m", VersionID: "v1", ETag: "e", Size: 3, Sequencer: "s"}, EventName: "ObjectCreated:Put"},
		{ObjectRef: domain.ObjectRef{Bucket: "b-1", Key: "unversioned", Size: 0}},
	}, Ignored: []Ignored{{Reason: "x"}}}
	var buf bytes.Buffer
	if err := WriteDecoded(&buf, b); err != nil {
		t.Fatal(err)
	}
	want := `{"bucket":"b-1","key":"a <b> & c\n\u001b[31m","versionId":"v1","etag":"e","size":3,"sequencer":"s"}` + "\n" +
		`{"bucket":"b-1","key":"unversioned","size":0}` + "\n"
	if diff := cmp.Diff(buf.String(), want); diff != "" {
		t.Errorf("WriteDecoded (-got +want):\n%s", diff)
	}
	if err := WriteDecoded(failingWriter{}, b); err == nil {
		t.Error("WriteDecoded to a failing writer: err = nil")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// oddKeys are keys that exercise the S3 key encoding.
var oddKeys = []string{
	"plain.txt",
	"with space.txt",
	"plus+sign",
	"encoded-looking %2B %20 %zz %",
	"100%",
	"#fragment?query=1&x=y",
	"dir/sub dir/file",
	"/leading/and/trailing/",
	"//double//slashes",
	"../../etc/passwd",
	"unicode é ü 日本語 🙂",
	"tab\tnewline\ncr\r",
	"\u2028line separator",
	"<script>alert(1)</script>",
	`quote " backslash \`,
	"~!*'();:@=$,[]",
	strings.Repeat("é", 512),
	strings.Repeat("/", 1024),
	"\x7f\x01",
}

func TestS3NotificationRoundTrip(t *testing.T) {
	t.Parallel()
	refs := make([]domain.ObjectRef, len(oddKeys))
	for i, k := range oddKeys {
		refs[i] = domain.ObjectRef{Bucket: "uploads", Key: k, VersionID: "v" + string(rune('a'+i)), ETag: "etag", Size: int64(i), Sequencer: "0055AED6DCD90281E5"}
	}
	refs = append(refs, domain.ObjectRef{Bucket: "unversioned", Key: "k", Size: 0})
	doc := S3Notification(refs...)
	if strings.Contains(string(doc), "%2F") {
		t.Errorf("S3Notification escaped a slash, unlike S3")
	}
	b, err := Decode(doc)
	if err != nil {
		t.Fatalf("Decode(S3Notification): %v", err)
	}
	if b.Kind != KindS3 {
		t.Errorf("Kind = %q, want %q", b.Kind, KindS3)
	}
	if diff := cmp.Diff(objectRefs(b.Refs), refs); diff != "" {
		t.Errorf("round trip (-got +want):\n%s", diff)
	}
	for _, r := range b.Refs {
		if r.EventName != "ObjectCreated:Put" || r.Reason != "PutObject" || r.Requester != buildPrincipal || r.EventTime.IsZero() {
			t.Errorf("ref metadata = %+v", r)
			break
		}
	}
	if !strings.Contains(string(S3Notification(domain.ObjectRef{Bucket: "b-1", Key: "a b+c"})), `"key":"a+b%2Bc"`) {
		t.Errorf("S3Notification does not encode keys as S3 does")
	}
}

func TestS3NotificationAt(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 26, 9, 30, 1, 123_456_789, time.FixedZone("CET", 3600))
	b, err := Decode(S3NotificationAt(at, domain.ObjectRef{Bucket: "uploads", Key: "k", VersionID: "v"}))
	if err != nil {
		t.Fatalf("Decode(S3NotificationAt): %v", err)
	}
	// S3 dates events in UTC to the millisecond.
	if want := at.UTC().Truncate(time.Millisecond); len(b.Refs) != 1 || !b.Refs[0].EventTime.Equal(want) {
		t.Errorf("event time = %v, want %v", b.Refs, want)
	}
}

func TestEventBridgeEventRoundTrip(t *testing.T) {
	t.Parallel()
	for _, k := range oddKeys {
		for _, reason := range []string{"", "CopyObject"} {
			ref := domain.ObjectRef{Bucket: "uploads", Key: k, ETag: "etag", Size: 5, Sequencer: "617f08299329d189"}
			b, err := Decode(EventBridgeEvent(ref, reason))
			if err != nil {
				t.Fatalf("Decode(EventBridgeEvent(%q)): %v", k, err)
			}
			want := reason
			if want == "" {
				want = "PutObject"
			}
			if len(b.Refs) != 1 || b.Refs[0].ObjectRef != ref || b.Refs[0].Reason != want || b.Kind != KindEventBridge {
				t.Errorf("round trip of %q = %+v, want %+v with reason %s", k, b, ref, want)
			}
		}
	}
}

func TestBuildersAreDeterministic(t *testing.T) {
	t.Parallel()
	ref := domain.ObjectRef{Bucket: "b-1", Key: "k", VersionID: "v", ETag: "e", Size: 1, Sequencer: "s"}
	if !bytes.Equal(S3Notification(ref), S3Notification(ref)) || !bytes.Equal(EventBridgeEvent(ref, ""), EventBridgeEvent(ref, "")) {
		t.Error("builders are not deterministic")
	}
	if err := checkJSON(S3Notification()); err != nil {
		t.Errorf("S3Notification() is not valid JSON: %v", err)
	}
}

func objectRefs(refs []Ref) []domain.ObjectRef {
	out := make([]domain.ObjectRef, len(refs))
	for i, r := range refs {
		out[i] = r.ObjectRef
	}
	return out
}
