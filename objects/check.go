package objects

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/scangate/scangate/domain/errcode"
)

// MaxMetadataBytes is S3's limit on user metadata: names plus values.
const MaxMetadataBytes = 2048

// CheckMetadata returns the metadata with lowercase names, as S3 keeps it,
// or an Invalid error when S3 would refuse it: names that are not HTTP
// header tokens or collide in lowercase, values that are not UTF-8 or hold
// control characters, more than 2 KB in all. Every driver applies it, so
// the local default cannot accept what production refuses.
func CheckMetadata(op, id string, in map[string]string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		return errcode.Errorf(errcode.Invalid, op, id, format, args...)
	}
	out := make(map[string]string, len(in))
	total := 0
	for k, v := range in {
		lk := strings.ToLower(k)
		if !isToken(lk) {
			return nil, bad("metadata name %q is not an http header token", k)
		}
		if _, dup := out[lk]; dup {
			return nil, bad("metadata names collide in lowercase: %q", lk)
		}
		if !utf8.ValidString(v) || HasControl(v) {
			return nil, bad("metadata %q has a value with invalid utf-8 or a control character", lk)
		}
		total += len(lk) + len(v)
		out[lk] = v
	}
	if total > MaxMetadataBytes {
		return nil, bad("metadata takes %d bytes, over the 2 KB limit", total)
	}
	return out, nil
}

// CheckTags refuses tag sets that S3 refuses: more than 10 tags, keys of
// more than 128 or values of more than 256 characters, characters other
// than letters, digits, spaces and _ . : / = + - @, and the reserved aws:
// prefix.
func CheckTags(op, id string, tags map[string]string) error {
	bad := func(format string, args ...any) error {
		return errcode.Errorf(errcode.Invalid, op, id, format, args...)
	}
	if len(tags) > 10 {
		return bad("%d tags, over the 10-tag limit", len(tags))
	}
	for k, v := range tags {
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 {
			return bad("tag key %q must be 1 to 128 characters long", k)
		}
		if utf8.RuneCountInString(v) > 256 {
			return bad("tag %q has a value over 256 characters", k)
		}
		if !tagText(k) || !tagText(v) {
			return bad("tag %q uses characters other than letters, digits, spaces and _.:/=+-@", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return bad("tag key %q uses the reserved aws: prefix", k)
		}
	}
	return nil
}

func tagText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.In(r, unicode.Z) && !strings.ContainsRune("_.:/=+-@", r) {
			return false
		}
	}
	return true
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// HasControl reports whether s holds an ASCII control character.
func HasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
