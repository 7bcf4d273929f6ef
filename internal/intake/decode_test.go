package intake

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/domain"
)

var eventTime0 = time.Date(2024, 5, 14, 9, 21, 7, 511_000_000, time.UTC)

// baseRef is what baseS3Record decodes to.
func baseRef() Ref {
	return Ref{
		ObjectRef: domain.ObjectRef{
			Bucket: "uploads-bucket", Key: "dir/file.txt", VersionID: "v1.EXAMPLE",
			ETag: "0123456789abcdef0123456789abcdef", Size: 42, Sequencer: "0055AED6DCD90281E5",
		},
		EventName: "ObjectCreated:Put",
		EventTime: eventTime0,
		Requester: "AWS:AROAEXAMPLE:uploader",
		Reason:    "PutObject",
	}
}

func TestDecodeS3Record(t *testing.T) {
	t.Parallel()
	refWith := func(f func(*Ref)) *Ref {
		r := baseRef()
		f(&r)
		return &r
	}
	tests := []struct {
		name      string
		overrides map[string]any
		want      *Ref     // the single ref, or nil
		ignored   *Ignored // the single ignored entry, or nil
		wantErr   error
		errText   string
	}{
		{name: "put versioned", want: refWith(func(*Ref) {})},
		{name: "space as plus", overrides: map[string]any{"s3.object.key": "my+file.txt"},
			want: refWith(func(r *Ref) { r.Key = "my file.txt" })},
		{name: "encoded plus", overrides: map[string]any{"s3.object.key": "a%2Bb+c"},
			want: refWith(func(r *Ref) { r.Key = "a+b c" })},
		{name: "encoded slash", overrides: map[string]any{"s3.object.key": "test%2Fkey"},
			want: refWith(func(r *Ref) { r.Key = "test/key" })},
		{name: "unicode and percent", overrides: map[string]any{"s3.object.key": "r%C3%A9sum%C3%A9+100%25+%23.pdf"},
			want: refWith(func(r *Ref) { r.Key = "résumé 100% #.pdf" })},
		{name: "raw unicode left alone", overrides: map[string]any{"s3.object.key": "日本/ü"},
			want: refWith(func(r *Ref) { r.Key = "日本/ü" })},
		{name: "equals and colon", overrides: map[string]any{"s3.object.key": "dt%3D2024-05-04%2F10%3A47.log"},
			want: refWith(func(r *Ref) { r.Key = "dt=2024-05-04/10:47.log" })},
		{name: "key of 1024 bytes", overrides: map[string]any{"s3.object.key": strings.Repeat("%C3%A9", 512)},
			want: refWith(func(r *Ref) { r.Key = strings.Repeat("é", 512) })},
		{name: "versionId string null", overrides: map[string]any{"s3.object.versionId": "null"},
			want: refWith(func(r *Ref) { r.VersionID = "" })},
		{name: "versionId json null", overrides: map[string]any{"s3.object.versionId": nil},
			want: refWith(func(r *Ref) { r.VersionID = "" })},
		{name: "versionId absent", overrides: map[string]any{"s3.object.versionId": absent},
			want: refWith(func(r *Ref) { r.VersionID = "" })},
		{name: "quoted etag", overrides: map[string]any{"s3.object.eTag": `"abc123"`},
			want: refWith(func(r *Ref) { r.ETag = "abc123" })},
		{name: "lone quote kept", overrides: map[string]any{"s3.object.eTag": `"`},
			want: refWith(func(r *Ref) { r.ETag = `"` })},
		{name: "zero size", overrides: map[string]any{"s3.object.size": 0},
			want: refWith(func(r *Ref) { r.Size = 0 })},
		{name: "5 TiB", overrides: map[string]any{"s3.object.size": int64(5) << 40},
			want: refWith(func(r *Ref) { r.Size = 5 << 40 })},
		{name: "sequencer absent", overrides: map[string]any{"s3.object.sequencer": absent},
			want: refWith(func(r *Ref) { r.Sequencer = "" })},
		{name: "event version 2.3", overrides: map[string]any{"eventVersion": "2.3"},
			want: refWith(func(*Ref) {})},
		{name: "event time absent", overrides: map[string]any{"eventTime": absent},
			want: refWith(func(r *Ref) { r.EventTime = time.Time{} })},
		{name: "no principal", overrides: map[string]any{"userIdentity": absent},
			want: refWith(func(r *Ref) { r.Requester = "" })},
		{name: "copy", overrides: map[string]any{"eventName": "ObjectCreated:Copy"},
			want: refWith(func(r *Ref) { r.EventName, r.Reason = "ObjectCreated:Copy", "CopyObject" })},
		{name: "post", overrides: map[string]any{"eventName": "ObjectCreated:Post"},
			want: refWith(func(r *Ref) { r.EventName, r.Reason = "ObjectCreated:Post", "POST Object" })},
		{name: "multipart", overrides: map[string]any{"eventName": "ObjectCreated:CompleteMultipartUpload"},
			want: refWith(func(r *Ref) {
				r.EventName, r.Reason = "ObjectCreated:CompleteMultipartUpload", "CompleteMultipartUpload"
			})},
		{name: "unknown created kind", overrides: map[string]any{"eventName": "ObjectCreated:Future"},
			want: refWith(func(r *Ref) { r.EventName, r.Reason = "ObjectCreated:Future", "ObjectCreated:Future" })},
		{name: "legacy bucket name", overrides: map[string]any{"s3.bucket.name": "Legacy_Bucket.2009"},
			want: refWith(func(r *Ref) { r.Bucket = "Legacy_Bucket.2009" })},

		{name: "removed is ignored", overrides: map[string]any{"eventName": "ObjectRemoved:Delete", "s3.object.size": absent, "s3.object.eTag": absent},
			ignored: &Ignored{Reason: `event "ObjectRemoved:Delete" creates no object version`, Object: domain.ObjectRef{
				Bucket: "uploads-bucket", Key: "dir/file.txt", VersionID: "v1.EXAMPLE", Sequencer: "0055AED6DCD90281E5"}}},
		{name: "tagging is ignored", overrides: map[string]any{"eventName": "ObjectTagging:Put", "eventVersion": "2.3"},
			ignored: &Ignored{Reason: `event "ObjectTagging:Put" creates no object version`, Object: baseRef().ObjectRef}},
		{name: "ignored with undecodable key", overrides: map[string]any{"eventName": "ObjectRestore:Completed", "s3.object.key": "%zz"},
			ignored: &Ignored{Reason: `event "ObjectRestore:Completed" creates no object version`, Object: func() domain.ObjectRef {
				o := baseRef().ObjectRef
				o.Key = ""
				return o
			}()}},
		{name: "lifecycle expiration is ignored", overrides: map[string]any{"eventName": "LifecycleExpiration:Delete"},
			ignored: &Ignored{Reason: `event "LifecycleExpiration:Delete" creates no object version`, Object: baseRef().ObjectRef}},
		{name: "acl is ignored", overrides: map[string]any{"eventName": "ObjectAcl:Put"},
			ignored: &Ignored{Reason: `event "ObjectAcl:Put" creates no object version`, Object: baseRef().ObjectRef}},

		{name: "invalid escape", overrides: map[string]any{"s3.object.key": "bad%zzkey"}, wantErr: ErrMalformed, errText: "not valid url encoding"},
		{name: "truncated escape", overrides: map[string]any{"s3.object.key": "bad%2"}, wantErr: ErrMalformed, errText: "not valid url encoding"},
		{name: "escape to invalid utf-8", overrides: map[string]any{"s3.object.key": "a%FFb"}, wantErr: ErrMalformed, errText: "not valid utf-8"},
		{name: "escape to nul", overrides: map[string]any{"s3.object.key": "a%00b"}, wantErr: ErrMalformed, errText: "nul"},
		{name: "empty key", overrides: map[string]any{"s3.object.key": ""}, wantErr: ErrMalformed, errText: "key is empty"},
		{name: "missing key", overrides: map[string]any{"s3.object.key": absent}, wantErr: ErrMalformed, errText: "key is missing"},
		{name: "null key", overrides: map[string]any{"s3.object.key": nil}, wantErr: ErrMalformed, errText: "key is missing"},
		{name: "numeric key", overrides: map[string]any{"s3.object.key": 7}, wantErr: ErrMalformed, errText: "s3.object.key is a json number, want a string"},
		{name: "key of 1025 bytes", overrides: map[string]any{"s3.object.key": strings.Repeat("a", 1025)}, wantErr: ErrTooLarge},
		{name: "encoded key too long", overrides: map[string]any{"s3.object.key": strings.Repeat("%C3%A9", 513)}, wantErr: ErrTooLarge},
		{name: "negative size", overrides: map[string]any{"s3.object.size": -1}, wantErr: ErrMalformed, errText: "size is negative"},
		{name: "missing size", overrides: map[string]any{"s3.object.size": absent}, wantErr: ErrMalformed, errText: "size is missing"},
		{name: "null size", overrides: map[string]any{"s3.object.size": nil}, wantErr: ErrMalformed, errText: "size is missing"},
		{name: "fractional size", overrides: map[string]any{"s3.object.size": 1.5}, wantErr: ErrMalformed},
		{name: "string size", overrides: map[string]any{"s3.object.size": "42"}, wantErr: ErrMalformed},
		{name: "size beyond int64", overrides: map[string]any{"s3.object.size": 1e19}, wantErr: ErrMalformed},
		{name: "missing bucket", overrides: map[string]any{"s3.bucket": absent}, wantErr: ErrMalformed, errText: "bucket name is missing"},
		{name: "bucket with slash", overrides: map[string]any{"s3.bucket.name": "a/b-bucket"}, wantErr: ErrMalformed, errText: "bucket name"},
		{name: "short bucket", overrides: map[string]any{"s3.bucket.name": "ab"}, wantErr: ErrMalformed, errText: "bucket name"},
		{name: "missing object", overrides: map[string]any{"s3.object": absent}, wantErr: ErrMalformed, errText: "s3.object is missing"},
		{name: "missing s3", overrides: map[string]any{"s3": absent}, wantErr: ErrMalformed, errText: "s3.object is missing"},
		{name: "missing eventName", overrides: map[string]any{"eventName": absent}, wantErr: ErrMalformed, errText: "eventName is missing"},
		{name: "eventVersion 3", overrides: map[string]any{"eventVersion": "3.0"}, wantErr: ErrUnsupported, errText: "eventVersion"},
		{name: "eventVersion 2", overrides: map[string]any{"eventVersion": "2"}, wantErr: ErrUnsupported},
		{name: "eventVersion 2.x", overrides: map[string]any{"eventVersion": "2.x"}, wantErr: ErrUnsupported},
		{name: "missing eventVersion", overrides: map[string]any{"eventVersion": absent}, wantErr: ErrMalformed},
		{name: "bad eventTime", overrides: map[string]any{"eventTime": "yesterday"}, wantErr: ErrMalformed, errText: "rfc 3339"},
		{name: "control character in version", overrides: map[string]any{"s3.object.versionId": "v\n1"}, wantErr: ErrMalformed, errText: "control character"},
		{name: "huge etag", overrides: map[string]any{"s3.object.eTag": strings.Repeat("e", 1025)}, wantErr: ErrTooLarge},
		{name: "object is an array", overrides: map[string]any{"s3.object": []any{}}, wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := Decode(records(t, with(baseS3Record(), tt.overrides)))
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr, tt.errText)
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := Batch{Kind: KindS3}
			if tt.want != nil {
				want.Refs = []Ref{*tt.want}
			}
			if tt.ignored != nil {
				want.Ignored = []Ignored{*tt.ignored}
			}
			if diff := cmp.Diff(b, want); diff != "" {
				t.Errorf("Decode (-got +want):\n%s", diff)
			}
		})
	}
}

// checkErr asserts that err wraps want, mentions text, starts with the
// package prefix, and is lowercase.
func checkErr(t *testing.T, err, want error, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Errorf("err = %v, want it to wrap %v", err, want)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("err = %q, want it to mention %q", err, text)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "intake: ") {
		t.Errorf("err = %q, want prefix \"intake: \"", msg)
	}
}

func TestDecodeS3Document(t *testing.T) {
	t.Parallel()
	second := with(baseS3Record(), map[string]any{"s3.object.key": "other", "s3.object.versionId": "v2"})
	t.Run("two records", func(t *testing.T) {
		t.Parallel()
		b, err := Decode(records(t, baseS3Record(), second))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(b.Refs), 2; got != want {
			t.Fatalf("len(Refs) = %d, want %d", got, want)
		}
		if got, want := b.Refs[1].Key, "other"; got != want {
			t.Errorf("Refs[1].Key = %q, want %q", got, want)
		}
	})
	t.Run("one bad record fails the document", func(t *testing.T) {
		t.Parallel()
		bad := with(baseS3Record(), map[string]any{"s3.object.size": -5})
		_, err := Decode(records(t, baseS3Record(), bad))
		checkErr(t, err, ErrMalformed, "record 1: ")
	})
	t.Run("mixed event sources", func(t *testing.T) {
		t.Parallel()
		_, err := Decode(records(t, baseS3Record(), sqsMessage("m1", []byte("{}"))))
		checkErr(t, err, ErrMalformed, "eventSource differs")
	})
	t.Run("error does not echo the key", func(t *testing.T) {
		t.Parallel()
		_, err := Decode(records(t, with(baseS3Record(), map[string]any{"s3.object.key": "secret-name%zz"})))
		if err == nil || strings.Contains(err.Error(), "secret-name") {
			t.Errorf("err = %v, want an error that does not repeat the key", err)
		}
	})
	t.Run("too many records", func(t *testing.T) {
		t.Parallel()
		recs := make([]map[string]any, MaxRecords+1)
		small := map[string]any{"eventSource": "aws:s3"}
		for i := range recs {
			recs[i] = small
		}
		_, err := Decode(records(t, recs...))
		checkErr(t, err, ErrTooLarge, "10001 records exceed 10000")
	})
	t.Run("max records", func(t *testing.T) {
		t.Parallel()
		refs := make([]domain.ObjectRef, MaxRecords)
		for i := range refs {
			refs[i] = domain.ObjectRef{Bucket: "b-1", Key: fmt.Sprint(i), Size: 1}
		}
		doc := S3Notification(refs...)
		if len(doc) <= MaxDocumentBytes {
			b, err := Decode(doc)
			if err != nil || len(b.Refs) != MaxRecords {
				t.Errorf("Decode of %d records: %d refs, err %v", MaxRecords, len(b.Refs), err)
			}
			return
		}
		// Ten thousand realistic records exceed 1 MiB: the size limit
		// bites first, with the error saying so.
		_, err := Decode(doc)
		checkErr(t, err, ErrTooLarge, "exceeds 1048576")
	})
}

func TestDecodeTopLevel(t *testing.T) {
	t.Parallel()
	nested := func(depth int) []byte {
		return []byte(`{"Records":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr error
		errText string
	}{
		{"empty", nil, ErrMalformed, "document is empty"},
		{"whitespace", []byte(" \n"), ErrMalformed, "document is empty"},
		{"not json", []byte("hello"), ErrMalformed, "not json"},
		{"truncated", []byte(`{"Records":[`), ErrMalformed, "truncated"},
		{"array", []byte(`[]`), ErrUnsupported, "not an object"},
		{"string", []byte(`"x"`), ErrUnsupported, "not an object"},
		{"null", []byte(`null`), ErrUnsupported, "not an s3 notification"},
		{"empty object", []byte(`{}`), ErrUnsupported, "not an s3 notification"},
		{"unknown object", []byte(`{"hello":"world"}`), ErrUnsupported, "not an s3 notification"},
		{"trailing data", append(records(t, baseS3Record()), []byte(" {}")...), ErrMalformed, "data after"},
		{"two values", []byte(`{} {}`), ErrMalformed, "data after"},
		{"invalid utf-8", []byte("{\"Records\":[],\"x\":\"\xff\"}"), ErrMalformed, "utf-8"},
		{"lone high surrogate", []byte(`{"x":"\ud800"}`), ErrMalformed, "surrogate"},
		{"lone low surrogate", []byte(`{"x":"\udc00"}`), ErrMalformed, "surrogate"},
		{"reversed surrogates", []byte(`{"x":"\udc00\ud800"}`), ErrMalformed, "surrogate"},
		{"duplicate member", []byte(`{"Records":[],"Records":[]}`), ErrMalformed, "repeats"},
		{"duplicate by case", []byte(`{"Records":[],"records":[]}`), ErrMalformed, "repeats"},
		{"duplicate by kelvin sign", []byte(`{"k":1,"\u212a":2}`), ErrMalformed, "repeats"},
		{"too deep", nested(maxDepth), ErrMalformed, "nests deeper"},
		{"empty records", []byte(`{"Records":[]}`), ErrMalformed, "Records is empty"},
		{"null records", []byte(`{"Records":null}`), ErrMalformed, "Records is empty"},
		{"records not an array", []byte(`{"Records":{}}`), ErrMalformed, "want an array"},
		{"record not an object", []byte(`{"Records":[1]}`), ErrMalformed, "record 0"},
		{"no eventSource", []byte(`{"Records":[{}]}`), ErrMalformed, "no eventSource"},
		{"sns lambda event", []byte(`{"Records":[{"EventSource":"aws:sns"}]}`), ErrUnsupported, `eventSource "aws:sns"`},
		{"mixed shapes", []byte(`{"Records":[],"detail-type":"Object Created"}`), ErrUnsupported, "mixes"},
		{"not the test event", []byte(`{"Service":"Amazon S3","Event":"s3:Other"}`), ErrUnsupported, "not the s3 test event"},
		{"test event without service", []byte(`{"Event":"s3:TestEvent"}`), ErrUnsupported, "not the s3 test event"},
		{"over batch limit", bytes.Repeat([]byte(" "), MaxBatchBytes+1), ErrTooLarge, "exceeds 6291456"},
		{"over document limit", append(records(t, baseS3Record()), bytes.Repeat([]byte(" "), MaxDocumentBytes)...), ErrTooLarge, "exceeds 1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := Decode(tt.data)
			checkErr(t, err, tt.wantErr, tt.errText)
			if diff := cmp.Diff(b, Batch{}); diff != "" {
				t.Errorf("Batch with an error (-got +want):\n%s", diff)
			}
		})
	}
}

func TestDecodeDepthLimit(t *testing.T) {
	t.Parallel()
	// maxDepth-1 nested arrays inside the object is exactly the limit: the
	// document is then refused for what it is, not for its depth.
	doc := []byte(`{"Records":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`)
	_, err := Decode(doc)
	if err == nil || strings.Contains(err.Error(), "nests deeper") {
		t.Errorf("err = %v, want a non-depth error", err)
	}
}

func TestDecodeTestEvent(t *testing.T) {
	t.Parallel()
	doc := []byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2014-10-13T15:57:02.089Z","Bucket":"bucketname","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}`)
	b, err := Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := Batch{Kind: KindS3Test, Ignored: []Ignored{{Reason: ReasonTestEvent}}}
	if diff := cmp.Diff(b, want); diff != "" {
		t.Errorf("Decode (-got +want):\n%s", diff)
	}
}

func TestDecodeEventBridge(t *testing.T) {
	t.Parallel()
	base := Ref{
		ObjectRef: domain.ObjectRef{
			Bucket: "uploads-bucket", Key: "dir/file.txt", VersionID: "v1.EXAMPLE",
			ETag: "0123456789abcdef0123456789abcdef", Size: 42, Sequencer: "617f08299329d189",
		},
		EventName: "Object Created",
		EventTime: time.Date(2024, 5, 14, 9, 21, 7, 0, time.UTC),
		Requester: "111122223333",
		Reason:    "PutObject",
	}
	refWith := func(f func(*Ref)) *Ref {
		r := base
		f(&r)
		return &r
	}
	tests := []struct {
		name      string
		overrides map[string]any
		want      *Ref
		ignored   *Ignored
		wantErr   error
		errText   string
	}{
		{name: "put", want: refWith(func(*Ref) {})},
		{name: "keys are literal", overrides: map[string]any{"detail.object.key": "a+b%2Bc%zz"},
			want: refWith(func(r *Ref) { r.Key = "a+b%2Bc%zz" })},
		{name: "multipart", overrides: map[string]any{"detail.reason": "CompleteMultipartUpload", "detail.object.etag": "4af981f98d22a0b9979da24b259e5e42-12"},
			want: refWith(func(r *Ref) { r.Reason, r.ETag = "CompleteMultipartUpload", "4af981f98d22a0b9979da24b259e5e42-12" })},
		{name: "unversioned", overrides: map[string]any{"detail.object.version-id": absent},
			want: refWith(func(r *Ref) { r.VersionID = "" })},
		{name: "version null", overrides: map[string]any{"detail.object.version-id": "null"},
			want: refWith(func(r *Ref) { r.VersionID = "" })},
		{name: "quoted etag", overrides: map[string]any{"detail.object.etag": `"abc"`},
			want: refWith(func(r *Ref) { r.ETag = "abc" })},
		{name: "deleted is ignored", overrides: map[string]any{"detail-type": "Object Deleted", "detail.object.size": absent},
			ignored: &Ignored{Reason: `event "Object Deleted" creates no object version`, Object: func() domain.ObjectRef {
				o := base.ObjectRef
				o.Size = 0
				return o
			}()}},
		{name: "cloudtrail is ignored", overrides: map[string]any{"detail-type": "AWS API Call via CloudTrail", "detail": map[string]any{"eventName": "PutObject"}},
			ignored: &Ignored{Reason: `event "AWS API Call via CloudTrail" creates no object version`}},
		{name: "other source", overrides: map[string]any{"source": "aws.ec2"}, wantErr: ErrUnsupported, errText: "aws.ec2"},
		{name: "missing source", overrides: map[string]any{"source": absent}, wantErr: ErrUnsupported, errText: "source"},
		{name: "version 1", overrides: map[string]any{"version": "1"}, wantErr: ErrUnsupported, errText: "version"},
		{name: "missing detail-type", overrides: map[string]any{"detail-type": absent}, wantErr: ErrMalformed, errText: "detail-type is missing"},
		{name: "missing detail", overrides: map[string]any{"detail": absent}, wantErr: ErrMalformed, errText: "detail is missing"},
		{name: "missing object", overrides: map[string]any{"detail.object": absent}, wantErr: ErrMalformed, errText: "detail.object is missing"},
		{name: "missing size", overrides: map[string]any{"detail.object.size": absent}, wantErr: ErrMalformed, errText: "size is missing"},
		{name: "negative size", overrides: map[string]any{"detail.object.size": -3}, wantErr: ErrMalformed, errText: "negative"},
		{name: "empty key", overrides: map[string]any{"detail.object.key": ""}, wantErr: ErrMalformed, errText: "key is empty"},
		{name: "nul in key", overrides: map[string]any{"detail.object.key": "a\x00b"}, wantErr: ErrMalformed, errText: "nul"},
		{name: "long key", overrides: map[string]any{"detail.object.key": strings.Repeat("k", 1025)}, wantErr: ErrTooLarge},
		{name: "empty bucket", overrides: map[string]any{"detail.bucket.name": ""}, wantErr: ErrMalformed, errText: "bucket name is missing"},
		{name: "bad time", overrides: map[string]any{"time": "now"}, wantErr: ErrMalformed, errText: "rfc 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := Decode(mustJSON(t, with(baseEBEvent(), tt.overrides)))
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr, tt.errText)
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := Batch{Kind: KindEventBridge}
			if tt.want != nil {
				want.Refs = []Ref{*tt.want}
			}
			if tt.ignored != nil {
				want.Ignored = []Ignored{*tt.ignored}
			}
			if diff := cmp.Diff(b, want); diff != "" {
				t.Errorf("Decode (-got +want):\n%s", diff)
			}
		})
	}
}

func TestDecodeSQS(t *testing.T) {
	t.Parallel()
	s3doc := records(t, baseS3Record())
	ebdoc := mustJSON(t, baseEBEvent())
	withMsg := func(r Ref, id string) Ref {
		r.MessageID = id
		return r
	}
	type failure struct {
		id   string
		err  error
		text string
	}
	tests := []struct {
		name     string
		msgs     []map[string]any
		refs     []Ref
		ignored  []Ignored
		failures []failure
	}{
		{
			name: "s3 and eventbridge bodies",
			msgs: []map[string]any{sqsMessage("m1", s3doc), sqsMessage("m2", ebdoc)},
			refs: []Ref{withMsg(baseRef(), "m1"), func() Ref {
				b, _ := Decode(ebdoc)
				return withMsg(b.Refs[0], "m2")
			}()},
		},
		{
			name:     "one malformed body",
			msgs:     []map[string]any{sqsMessage("m1", []byte("not json")), sqsMessage("m2", s3doc)},
			refs:     []Ref{withMsg(baseRef(), "m2")},
			failures: []failure{{"m1", ErrMalformed, "intake: sqs message body: malformed event: document is not json"}},
		},
		{
			name: "bad record fails only its message",
			msgs: []map[string]any{
				sqsMessage("m1", records(t, baseS3Record(), with(baseS3Record(), map[string]any{"s3.object.key": "%"}))),
				sqsMessage("m2", s3doc),
			},
			refs:     []Ref{withMsg(baseRef(), "m2")},
			failures: []failure{{"m1", ErrMalformed, "record 1: malformed event: object key is not valid url encoding"}},
		},
		{
			name: "sns envelope",
			msgs: []map[string]any{sqsMessage("m1", snsEnvelopeOf(t, s3doc))},
			refs: []Ref{withMsg(baseRef(), "m1")},
		},
		{
			name:    "sns subscription confirmation is ignored",
			msgs:    []map[string]any{sqsMessage("m1", []byte(`{"Type":"SubscriptionConfirmation","MessageId":"x","Token":"t","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Message":"You have chosen to subscribe","SubscribeURL":"https://example.com"}`))},
			ignored: []Ignored{{MessageID: "m1", Reason: ReasonSNSControl}},
		},
		{
			name:     "sns envelope in sns envelope",
			msgs:     []map[string]any{sqsMessage("m1", snsEnvelopeOf(t, snsEnvelopeOf(t, s3doc)))},
			failures: []failure{{"m1", ErrUnsupported, "sns envelope inside an sns envelope"}},
		},
		{
			name:     "sns without message",
			msgs:     []map[string]any{sqsMessage("m1", []byte(`{"Type":"Notification"}`))},
			failures: []failure{{"m1", ErrMalformed, "no Message"}},
		},
		{
			name:     "sqs in sqs",
			msgs:     []map[string]any{sqsMessage("m1", records(t, sqsMessage("inner", s3doc)))},
			failures: []failure{{"m1", ErrUnsupported, "sqs batch inside an sqs message"}},
		},
		{
			name:    "test event and removal are ignored",
			msgs:    []map[string]any{sqsMessage("m1", []byte(`{"Service":"Amazon S3","Event":"s3:TestEvent"}`)), sqsMessage("m2", records(t, with(baseS3Record(), map[string]any{"eventName": "ObjectRemoved:Delete"})))},
			ignored: []Ignored{{MessageID: "m1", Reason: ReasonTestEvent}, {MessageID: "m2", Reason: `event "ObjectRemoved:Delete" creates no object version`, Object: baseRef().ObjectRef}},
		},
		{
			name:     "empty body",
			msgs:     []map[string]any{with(sqsMessage("m1", nil), map[string]any{"body": ""})},
			failures: []failure{{"m1", ErrMalformed, "no body"}},
		},
		{
			name:     "body not a string",
			msgs:     []map[string]any{with(sqsMessage("m1", nil), map[string]any{"body": map[string]any{}})},
			failures: []failure{{"m1", ErrMalformed, "body is a json object, want a string"}},
		},
		{
			name:     "body over 1 MiB",
			msgs:     []map[string]any{sqsMessage("m1", append(s3doc, bytes.Repeat([]byte(" "), MaxDocumentBytes)...))},
			failures: []failure{{"m1", ErrTooLarge, "exceeds 1048576"}},
		},
		{
			name: "same message twice",
			msgs: []map[string]any{sqsMessage("m1", s3doc), sqsMessage("m1", s3doc)},
			refs: []Ref{withMsg(baseRef(), "m1"), withMsg(baseRef(), "m1")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := Decode(records(t, tt.msgs...))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if b.Kind != KindSQS {
				t.Errorf("Kind = %q, want %q", b.Kind, KindSQS)
			}
			if diff := cmp.Diff(b.Refs, tt.refs); diff != "" {
				t.Errorf("Refs (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(b.Ignored, tt.ignored); diff != "" {
				t.Errorf("Ignored (-got +want):\n%s", diff)
			}
			if len(b.Failures) != len(tt.failures) {
				t.Fatalf("Failures = %v, want %d", b.Failures, len(tt.failures))
			}
			for i, f := range tt.failures {
				got := b.Failures[i]
				if got.MessageID != f.id || !errors.Is(got.Err, f.err) || !strings.Contains(got.Err.Error(), f.text) {
					t.Errorf("Failures[%d] = %s: %v, want %s: %v mentioning %q", i, got.MessageID, got.Err, f.id, f.err, f.text)
				}
			}
		})
	}
}

func TestDecodeSQSEnvelopeErrors(t *testing.T) {
	t.Parallel()
	good := sqsMessage("m1", records(t, baseS3Record()))
	tests := []struct {
		name    string
		msgs    []map[string]any
		wantErr error
		errText string
	}{
		{"no messageId", []map[string]any{good, with(good, map[string]any{"messageId": absent})}, ErrMalformed, "record 1: malformed event: sqs message has no messageId"},
		{"empty messageId", []map[string]any{with(good, map[string]any{"messageId": ""})}, ErrMalformed, "no messageId"},
		{"numeric messageId", []map[string]any{with(good, map[string]any{"messageId": 5})}, ErrMalformed, "no messageId"},
		{"control character in messageId", []map[string]any{with(good, map[string]any{"messageId": "a\nb"})}, ErrMalformed, "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(records(t, tt.msgs...))
			checkErr(t, err, tt.wantErr, tt.errText)
		})
	}
	t.Run("batch over 1 MiB is fine", func(t *testing.T) {
		t.Parallel()
		// A Lambda batch may hold many messages; only each body is held to
		// MaxDocumentBytes.
		body := records(t, baseS3Record())
		n := MaxDocumentBytes/len(body) + 10
		msgs := make([]map[string]any, n)
		for i := range msgs {
			msgs[i] = sqsMessage(fmt.Sprintf("m%d", i), body)
		}
		doc := records(t, msgs...)
		if len(doc) <= MaxDocumentBytes {
			t.Fatalf("test batch is only %d bytes", len(doc))
		}
		b, err := Decode(doc)
		if err != nil || len(b.Refs) != n {
			t.Errorf("Decode: %d refs, err %v; want %d refs", len(b.Refs), err, n)
		}
	})
}

func TestDecodeTopLevelSNS(t *testing.T) {
	t.Parallel()
	b, err := Decode(snsEnvelopeOf(t, records(t, baseS3Record())))
	if err != nil {
		t.Fatal(err)
	}
	want := Batch{Kind: KindS3, Refs: []Ref{baseRef()}}
	if diff := cmp.Diff(b, want); diff != "" {
		t.Errorf("Decode (-got +want):\n%s", diff)
	}
	_, err = Decode([]byte(`{"Type":"SubscriptionConfirmation","Message":"x"}`))
	checkErr(t, err, ErrUnsupported, "sns SubscriptionConfirmation message")
	_, err = Decode(snsEnvelopeOf(t, records(t, sqsMessage("m1", []byte("{}")))))
	checkErr(t, err, ErrUnsupported, "sqs batch inside")
	_, err = Decode([]byte(`{"Type":"Weird","Message":"{}"}`))
	checkErr(t, err, ErrUnsupported, "sns message type")
	_, err = Decode([]byte(`{"Message":"{}"}`))
	checkErr(t, err, ErrMalformed, "no Type")
}
