package objects_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scangate/scangate/objects"
)

func TestShortKey(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"a/b.txt", "a/b.txt"},
		{"line\nforged\x7f", "line?forged?"},
		{"bad\xffutf8", "bad?utf8"},
		{strings.Repeat("x", 80), strings.Repeat("x", 80)},
		{strings.Repeat("x", 81), strings.Repeat("x", 80) + "…"},
		// 79 bytes then a 2-byte rune across the limit: cut before it.
		{strings.Repeat("x", 79) + "üü", strings.Repeat("x", 79) + "…"},
	} {
		got := objects.ShortKey(tc.key)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("ShortKey(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}
