package intake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/domain"
)

// addEventSeeds adds every document of testdata/events to f's corpus.
func addEventSeeds(f *testing.F) {
	inputs, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzDecode(f *testing.F) {
	addEventSeeds(f)
	ref := domain.ObjectRef{Bucket: "b-1", Key: "a b+c%/é", VersionID: "v", ETag: "e", Size: 1, Sequencer: "s"}
	f.Add(S3Notification(ref))
	f.Add(EventBridgeEvent(ref, "CopyObject"))
	f.Add([]byte(`{"Records":[{"messageId":"m","eventSource":"aws:sqs","body":"{\"Type\":\"Notification\",\"Message\":\"{}\"}"}]}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if diff := cmp.Diff(b, Batch{}); diff != "" {
				t.Fatalf("Batch with an error:\n%s", diff)
			}
			return
		}
		switch b.Kind {
		case KindS3, KindEventBridge, KindSQS, KindS3Test:
		default:
			t.Fatalf("Kind = %q", b.Kind)
		}
		for _, r := range b.Refs {
			if r.Bucket == "" || r.Key == "" || len(r.Key) > MaxKeyBytes || !utf8.ValidString(r.Key) ||
				strings.IndexByte(r.Key, 0) >= 0 || r.Size < 0 {
				t.Fatalf("invalid ref: %+v", r)
			}
			if (b.Kind == KindSQS) != (r.MessageID != "") {
				t.Fatalf("kind %s, ref with message ID %q", b.Kind, r.MessageID)
			}
		}
		for _, fl := range b.Failures {
			if b.Kind != KindSQS || fl.MessageID == "" || fl.Err == nil {
				t.Fatalf("bad failure %+v in a %s batch", fl, b.Kind)
			}
			if !errors.Is(fl.Err, ErrMalformed) && !errors.Is(fl.Err, ErrTooLarge) && !errors.Is(fl.Err, ErrUnsupported) {
				t.Fatalf("failure wraps no sentinel: %v", fl.Err)
			}
		}

		// WriteDecoded writes one line per ref that reads back as the ref.
		var buf bytes.Buffer
		if err := WriteDecoded(&buf, b); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(&buf)
		sc.Buffer(nil, 1<<20)
		for i := 0; sc.Scan(); i++ {
			var got domain.ObjectRef
			if err := json.Unmarshal(sc.Bytes(), &got); err != nil || i >= len(b.Refs) || got != b.Refs[i].ObjectRef {
				t.Fatalf("line %d %q does not read back as %+v (%v)", i, sc.Text(), b.Refs, err)
			}
		}

		// The refs survive being written as an S3 notification.
		refs := objectRefs(b.Refs)
		if len(refs) == 0 || len(refs) > MaxRecords {
			return
		}
		doc := S3Notification(refs...)
		if len(doc) > MaxDocumentBytes {
			return
		}
		b2, err := Decode(doc)
		if err != nil {
			t.Fatalf("Decode(S3Notification(refs)): %v", err)
		}
		if diff := cmp.Diff(objectRefs(b2.Refs), refs); diff != "" {
			t.Fatalf("re-encoded refs differ (-got +want):\n%s", diff)
		}
	})
}

func FuzzKeyRoundTrip(f *testing.F) {
	for _, k := range oddKeys {
		f.Add(k)
	}
	f.Add("")
	f.Add(strings.Repeat("a", MaxKeyBytes+1))
	f.Fuzz(func(t *testing.T, key string) {
		if !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
			t.Skip()
		}
		ref := domain.ObjectRef{Bucket: "fuzz-bucket", Key: key, VersionID: "v1", ETag: "e", Size: 7, Sequencer: "0A"}
		for name, doc := range map[string][]byte{
			"s3":          S3Notification(ref),
			"eventbridge": EventBridgeEvent(ref, ""),
		} {
			b, err := Decode(doc)
			if key == "" || len(key) > MaxKeyBytes {
				if err == nil {
					t.Fatalf("%s: Decode accepted a key of %d bytes", name, len(key))
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: Decode: %v", name, err)
			}
			if len(b.Refs) != 1 || b.Refs[0].ObjectRef != ref {
				t.Fatalf("%s: got %+v, want %+v", name, b.Refs, ref)
			}
		}
	})
}
