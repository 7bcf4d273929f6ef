package domain

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DisplayKey renders an object key (or any uploader-written name) for a
// person to read: in logs, CLI output and the console. S3 accepts any
// UTF-8 in a key, including bidirectional overrides (U+202E turns
// "invoice\u202Efdp.exe" into something that reads as a PDF), zero-width
// characters and control codes. DisplayKey escapes every control, format
// and separator character other than the ASCII space as \u{XXXX}, invalid
// UTF-8 as \x{XX}, and the backslash as \\, so that two different keys
// never display alike and what is shown is what is stored.
func DisplayKey(key string) string {
	if !needsEscape(key) {
		return key
	}
	var b strings.Builder
	for i := 0; i < len(key); {
		r, size := utf8.DecodeRuneInString(key[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x{%02X}`, key[i])
		case r == '\\':
			b.WriteString(`\\`)
		case hidden(r):
			fmt.Fprintf(&b, `\u{%04X}`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r == '\\' || hidden(r) {
			return true
		}
	}
	return false
}

// hidden reports whether r changes how text around it reads without
// showing itself: controls (Cc), formats (Cf: the bidi controls, zero-width
// joiners, the BOM), line and paragraph separators, and any space but
// U+0020.
func hidden(r rune) bool {
	if r == ' ' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Zs) ||
		unicode.Is(unicode.Variation_Selector, r) || (r >= 0xE0000 && r <= 0xE007F)
}
