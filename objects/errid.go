package objects

import (
	"strings"
	"unicode/utf8"

	"github.com/scangate/scangate/domain"
)

// ShortKey makes an untrusted key fit for an error message or a log line:
// at most 80 bytes (cut at a rune boundary), valid UTF-8, with control
// characters shown as '?', so that no key can flood or forge a log line.
func ShortKey(key string) string {
	if len(key) > 80 {
		cut := 80
		for cut > 0 && !utf8.RuneStart(key[cut]) {
			cut--
		}
		key = key[:cut] + "…"
	}
	key = strings.ToValidUTF8(key, "?")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, key)
}

// RefID names ref in a driver's errors, its key shortened by ShortKey.
func RefID(ref domain.ObjectRef) string {
	ref.Key = ShortKey(ref.Key)
	return ref.String()
}

// KeyID names a bucket's key in a driver's errors, as s3://bucket/key with
// the key shortened by ShortKey.
func KeyID(bucket, key string) string { return "s3://" + bucket + "/" + ShortKey(key) }
