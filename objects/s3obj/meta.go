package s3obj

import (
	"encoding/base64"
	"maps"
	"mime"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/scangate/scangate/objects"
)

// encodeMetadata checks metadata against S3's rules and returns it as S3's
// API takes it: names in lowercase, values header-safe (see encodeValue).
// The size limit is checked on the values as given, as S3 and the
// local-directory driver count them.
func encodeMetadata(op, id string, in map[string]string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	checked, err := objects.CheckMetadata(op, id, in)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(checked))
	for k, v := range checked {
		out[k] = encodeValue(v)
	}
	return out, nil
}

// decodeMetadata undoes encodeMetadata on what S3 returns, and also
// decodes the encoded words S3 makes of other clients' non-ASCII values.
func decodeMetadata(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[strings.ToLower(k)] = decodeValue(v)
	}
	return out
}

// encodedWordBytes is how many bytes of a value go into one encoded word:
// 45 bytes make 60 base64 characters, and with "=?UTF-8?B?" and "?=" the
// word stays within RFC 2047's 75.
const encodedWordBytes = 45

// encodeValue returns v unchanged when it is plain: printable US-ASCII,
// without leading or trailing spaces (HTTP trims them) and without "=?"
// (which would be read as the start of an encoded word). Otherwise it
// returns v as RFC 2047 "B" encoded words of UTF-8, separated by spaces,
// each holding whole characters.
func encodeValue(v string) string {
	if isPlain(v) {
		return v
	}
	var b strings.Builder
	for len(v) > 0 {
		n := min(len(v), encodedWordBytes)
		for n < len(v) && !utf8.RuneStart(v[n]) {
			n--
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("=?UTF-8?B?")
		b.WriteString(base64.StdEncoding.EncodeToString([]byte(v[:n])))
		b.WriteString("?=")
		v = v[n:]
	}
	return b.String()
}

func isPlain(v string) bool {
	if v == "" {
		return true
	}
	if v[0] == ' ' || v[len(v)-1] == ' ' || strings.Contains(v, "=?") {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

var wordDecoder = &mime.WordDecoder{}

// decodeValue decodes RFC 2047 encoded words (B or Q, in UTF-8, US-ASCII
// or ISO-8859-1) in v. A value that does not decode is returned as it is.
func decodeValue(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	s, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return s
}

// encodeTagging formats tags for the x-amz-tagging header, a URL query
// with spaces as %20; nil when there are none.
func encodeTagging(tags map[string]string) *string {
	if len(tags) == 0 {
		return nil
	}
	var b strings.Builder
	for _, k := range sortedKeys(tags) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(queryEscape(k))
		b.WriteByte('=')
		b.WriteString(queryEscape(tags[k]))
	}
	s := b.String()
	return &s
}

// queryEscape escapes s for a URL query, with spaces as %20 rather than
// '+', which not every S3 implementation decodes as a space.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
