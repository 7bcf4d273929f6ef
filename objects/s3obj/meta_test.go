package s3obj

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scangate/scangate/objects"
)

func TestEncodeValue(t *testing.T) {
	cases := []struct {
		in, wire string
	}{
		{"", ""},
		{"plain ascii; a=b", "plain ascii; a=b"},
		{"naïve", "=?UTF-8?B?bmHDr3Zl?="},
		{" lead", "=?UTF-8?B?IGxlYWQ=?="},
		{"trail ", "=?UTF-8?B?dHJhaWwg?="},
		{"a=?b", "=?UTF-8?B?YT0/Yg==?="},
	}
	for _, tc := range cases {
		if got := encodeValue(tc.in); got != tc.wire {
			t.Errorf("encodeValue(%q) = %q, want %q", tc.in, got, tc.wire)
		}
		if got := decodeValue(tc.wire); got != tc.in {
			t.Errorf("decodeValue(%q) = %q, want %q", tc.wire, got, tc.in)
		}
	}
	// What S3 itself returns for non-ASCII values written by others:
	// encoded words, B or Q, which may be split.
	for wire, want := range map[string]string{
		"=?UTF-8?B?w7xuw68=?=":                  "ünï",
		"=?UTF-8?Q?=C3=BCn=C3=AF?=":             "ünï",
		"=?utf-8?b?w7w=?= =?utf-8?b?bsOv?=":     "ünï",
		"not =? an encoded word":                "not =? an encoded word",
		"=?UTF-8?B?!!!?=":                       "=?UTF-8?B?!!!?=",
		"=?x-unknown-charset?B?w7xuw68=?= tail": "=?x-unknown-charset?B?w7xuw68=?= tail",
	} {
		if got := decodeValue(wire); got != want {
			t.Errorf("decodeValue(%q) = %q, want %q", wire, got, want)
		}
	}
}

// FuzzMetadataValue: every value the driver accepts goes on the wire as
// printable ASCII without edge spaces and in encoded words of at most 75
// characters, and comes back exactly.
func FuzzMetadataValue(f *testing.F) {
	for _, s := range []string{"", "x", "naïve résumé", " ", "=?", "=?UTF-8?B?w7xuw68=?=", strings.Repeat("€", 100), "😀", "a  b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if !utf8.ValidString(v) || objects.HasControl(v) {
			return // refused by encodeMetadata
		}
		wire := encodeValue(v)
		if v != "" && (wire[0] == ' ' || wire[len(wire)-1] == ' ') {
			t.Errorf("encodeValue(%q) = %q has edge spaces", v, wire)
		}
		for i := 0; i < len(wire); i++ {
			if wire[i] < 0x20 || wire[i] > 0x7e {
				t.Fatalf("encodeValue(%q) = %q is not printable ASCII", v, wire)
			}
		}
		if wire != v {
			for _, w := range strings.Split(wire, " ") {
				if len(w) > 75 {
					t.Errorf("encodeValue(%q) has an encoded word of %d characters", v, len(w))
				}
			}
		}
		if got := decodeValue(wire); got != v {
			t.Errorf("decodeValue(encodeValue(%q)) = %q", v, got)
		}
	})
}

func TestFullObjectSHA256(t *testing.T) {
	sum := sha256.Sum256([]byte("hello"))
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	cases := []struct {
		name string
		sum  *string
		typ  types.ChecksumType
		want string
	}{
		{"full object", aws.String(b64), types.ChecksumTypeFullObject, hex.EncodeToString(sum[:])},
		{"composite", aws.String(b64 + "-3"), types.ChecksumTypeComposite, ""},
		{"composite without suffix", aws.String(b64), types.ChecksumTypeComposite, ""},
		{"type not given", aws.String(b64), "", ""},
		{"none", nil, types.ChecksumTypeFullObject, ""},
		{"not base64", aws.String("not base64!"), types.ChecksumTypeFullObject, ""},
		{"wrong length", aws.String(base64.StdEncoding.EncodeToString([]byte("short"))), types.ChecksumTypeFullObject, ""},
	}
	for _, tc := range cases {
		if got := fullObjectSHA256(tc.sum, tc.typ); got != tc.want {
			t.Errorf("%s: fullObjectSHA256 = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCopySourceHeader(t *testing.T) {
	for _, key := range []string{"plain/key.txt", "naïve résumé+1%.pdf", "q?x=1&y=2#f", `back\slash`, "a//b", " sp "} {
		h := copySourceHeader("bucket", key, "v+1/=")
		path, query, _ := strings.Cut(h, "?")
		got, err := url.PathUnescape(path)
		if err != nil || got != "bucket/"+key {
			t.Errorf("copySourceHeader(%q) = %q, decodes to %q, %v", key, h, got, err)
		}
		if q, err := url.ParseQuery(query); err != nil || q.Get("versionId") != "v+1/=" {
			t.Errorf("copySourceHeader(%q) query %q gives versionId %q, %v", key, query, q.Get("versionId"), err)
		}
		if strings.ContainsAny(path, " +?#") {
			t.Errorf("copySourceHeader(%q) = %q leaves a character unescaped", key, h)
		}
	}
	if h := copySourceHeader("b", "k", ""); h != "b/k" {
		t.Errorf("copySourceHeader without a version = %q", h)
	}
}

func TestEncodeTagging(t *testing.T) {
	if got := encodeTagging(nil); got != nil {
		t.Errorf("encodeTagging(nil) = %q, want nil", *got)
	}
	tags := map[string]string{"b": "x y+z", "a": "ü/=:@"}
	got := aws.ToString(encodeTagging(tags))
	if got != "a=%C3%BC%2F%3D%3A%40&b=x%20y%2Bz" {
		t.Errorf("encodeTagging = %q", got)
	}
	q, err := url.ParseQuery(got)
	if err != nil || q.Get("a") != tags["a"] || q.Get("b") != tags["b"] {
		t.Errorf("encodeTagging = %q does not decode to %v", got, tags)
	}
}

// TestPartReader checks part boundaries: eof is known exactly when a part
// is the last, also when the stream ends on a part boundary and when the
// reader returns data one byte at a time.
func TestPartReader(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{0, 1, 9, 10, 11, 20, 25} {
		for _, slow := range []bool{false, true} {
			data := bytes.Repeat([]byte("0123456789abcdefghij"), 2)[:size]
			var r io.Reader = bytes.NewReader(data)
			if slow {
				r = iotest.OneByteReader(r)
			}
			p := &partReader{r: r}
			buf := make([]byte, 10)
			var got []byte
			var parts []int
			for {
				n, err := p.fill(ctx, buf)
				if err != nil {
					t.Fatalf("size %d: fill: %v", size, err)
				}
				got = append(got, buf[:n]...)
				parts = append(parts, n)
				if p.eof {
					break
				}
				if n != len(buf) {
					t.Fatalf("size %d: a part of %d bytes that is not the last", size, n)
				}
			}
			if !bytes.Equal(got, data) {
				t.Errorf("size %d slow %t: read %q", size, slow, got)
			}
			wantParts := max((size+9)/10, 1)
			if len(parts) != wantParts {
				t.Errorf("size %d slow %t: parts %v, want %d", size, slow, parts, wantParts)
			}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	p := &partReader{r: strings.NewReader("data")}
	if _, err := p.fill(ctx, make([]byte, 10)); err != context.Canceled {
		t.Errorf("fill with a cancelled ctx: %v", err)
	}
}
