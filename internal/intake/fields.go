package intake

import (
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scangate/scangate/domain"
)

// maxTokenBytes bounds every other string taken from an event (version ID,
// ETag, sequencer, requester, event name). Real values are far shorter.
const maxTokenBytes = 1024

// objectFields is what an event says about one object, before validation.
// Key is as it appears in the event (URL-encoded for S3 notifications).
type objectFields struct {
	Bucket    string
	Key       *string
	Size      *int64
	ETag      string
	VersionID *string
	Sequencer string
}

// ref validates f into an ObjectRef. decodeKey says whether the key is
// URL-encoded (S3 notifications) or literal (EventBridge).
func (f objectFields) ref(decodeKey bool) (domain.ObjectRef, error) {
	if err := checkBucket(f.Bucket); err != nil {
		return domain.ObjectRef{}, err
	}
	if f.Key == nil {
		return domain.ObjectRef{}, malformed("object key is missing")
	}
	key, err := objectKey(*f.Key, decodeKey)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	if f.Size == nil {
		return domain.ObjectRef{}, malformed("object size is missing")
	}
	if *f.Size < 0 {
		return domain.ObjectRef{}, malformed("object size is negative")
	}
	o := domain.ObjectRef{
		Bucket:    f.Bucket,
		Key:       key,
		VersionID: versionID(f.VersionID),
		ETag:      normalizeETag(f.ETag),
		Size:      *f.Size,
		Sequencer: f.Sequencer,
	}
	for _, t := range []struct{ name, v string }{
		{"version id", o.VersionID}, {"etag", o.ETag}, {"sequencer", o.Sequencer},
	} {
		if err := checkToken(t.name, t.v); err != nil {
			return domain.ObjectRef{}, err
		}
	}
	return o, nil
}

// bestEffort is what an ignored event named, for the record: fields that
// do not validate are left empty, and nothing fails.
func (f objectFields) bestEffort(decodeKey bool) domain.ObjectRef {
	var o domain.ObjectRef
	if checkBucket(f.Bucket) == nil {
		o.Bucket = f.Bucket
	}
	if f.Key != nil {
		if k, err := objectKey(*f.Key, decodeKey); err == nil {
			o.Key = k
		}
	}
	if f.Size != nil && *f.Size >= 0 {
		o.Size = *f.Size
	}
	if v := versionID(f.VersionID); checkToken("", v) == nil {
		o.VersionID = v
	}
	if v := normalizeETag(f.ETag); checkToken("", v) == nil {
		o.ETag = v
	}
	if checkToken("", f.Sequencer) == nil {
		o.Sequencer = f.Sequencer
	}
	return o
}

// objectKey decodes (if asked) and validates a key. S3 notifications encode
// keys like HTML form values, so url.QueryUnescape is the inverse: "+" is a
// space and "%2B" a plus.
func objectKey(raw string, decode bool) (string, error) {
	key := raw
	if decode {
		// Each decoded byte takes at most three encoded ones.
		if len(raw) > 3*MaxKeyBytes {
			return "", tooLarge("object key is longer than %d bytes", MaxKeyBytes)
		}
		k, err := url.QueryUnescape(raw)
		if err != nil {
			return "", malformed("object key is not valid url encoding")
		}
		key = k
	}
	switch {
	case key == "":
		return "", malformed("object key is empty")
	case len(key) > MaxKeyBytes:
		return "", tooLarge("object key is longer than %d bytes", MaxKeyBytes)
	case !utf8.ValidString(key):
		return "", malformed("object key is not valid utf-8")
	case strings.IndexByte(key, 0) >= 0:
		return "", malformed("object key contains a nul character")
	}
	return key, nil
}

// checkBucket accepts S3 bucket names, including legacy ones (up to 255
// characters, upper case and underscores allowed), and nothing that could
// be read as a path or URL syntax.
func checkBucket(b string) error {
	if b == "" {
		return malformed("bucket name is missing")
	}
	if len(b) < 3 || len(b) > 255 {
		return malformed("bucket name is not 3 to 255 characters long")
	}
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		default:
			return malformed("bucket name has a character s3 does not allow")
		}
	}
	return nil
}

// checkToken bounds an opaque string and refuses control characters, which
// no AWS identifier contains.
func checkToken(name, v string) error {
	if len(v) > maxTokenBytes {
		return tooLarge("%s is longer than %d bytes", name, maxTokenBytes)
	}
	if !utf8.ValidString(v) {
		return malformed("%s is not valid utf-8", name)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return malformed("%s contains a control character", name)
		}
	}
	return nil
}

// versionID maps S3's spellings of "unversioned" (a missing member, JSON
// null, or the string "null") to "".
func versionID(v *string) string {
	if v == nil || *v == "null" {
		return ""
	}
	return *v
}

// normalizeETag strips one pair of surrounding double quotes, as S3 puts
// around ETags in HTTP headers and some events.
func normalizeETag(e string) string {
	if len(e) >= 2 && e[0] == '"' && e[len(e)-1] == '"' {
		return e[1 : len(e)-1]
	}
	return e
}

// eventTime parses an RFC 3339 timestamp; an empty one is the zero time.
func eventTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, malformed("event time is not an rfc 3339 timestamp")
	}
	return t.UTC(), nil
}
