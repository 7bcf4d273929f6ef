package domain_test

import (
	"testing"
	"unicode/utf8"

	"github.com/scangate/scangate/domain"
)

func TestDisplayKey(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"plain", "uploads/report 2026.pdf", "uploads/report 2026.pdf"},
		{"unicode letters stay", "fotos/mañana-東京.jpg", "fotos/mañana-東京.jpg"},
		{"right-to-left override", "invoice\u202Efdp.exe", `invoice\u{202E}fdp.exe`},
		{"isolates and marks", "a\u2066b\u2069c\u200Fd\u061Ce", `a\u{2066}b\u{2069}c\u{200F}d\u{061C}e`},
		{"zero width", "pay\u200Bpal\u200D\uFEFF", `pay\u{200B}pal\u{200D}\u{FEFF}`},
		{"controls", "a\nb\tc\x00d\x7f", `a\u{000A}b\u{0009}c\u{0000}d\u{007F}`},
		{"odd spaces", "a\u00A0b\u3000c\u2028d", `a\u{00A0}b\u{3000}c\u{2028}d`},
		{"tag characters", "x\U000E0041y", `x\u{E0041}y`},
		{"backslash is escaped so escapes cannot be forged", `a\u{202E}b`, `a\\u{202E}b`},
		{"invalid utf-8", "a\xffb", `a\x{FF}b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.DisplayKey(tt.key); got != tt.want {
				t.Errorf("DisplayKey(%q) = %q; want %q", tt.key, got, tt.want)
			}
		})
	}
}

// Two different keys never display alike, and a displayed key holds
// nothing hidden.
func FuzzDisplayKey(f *testing.F) {
	for _, s := range []string{"a", "invoice\u202Efdp.exe", `a\u{202E}`, "\xff", "a\\b"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		da, db := domain.DisplayKey(a), domain.DisplayKey(b)
		if a != b && da == db {
			t.Fatalf("%q and %q both display as %q", a, b, da)
		}
		if !utf8.ValidString(da) {
			t.Fatalf("DisplayKey(%q) = %q is not valid UTF-8", a, da)
		}
		for _, r := range da {
			if r != ' ' && (r < 0x21 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x202E || r == 0x200B) {
				t.Fatalf("DisplayKey(%q) = %q still holds %U", a, da, r)
			}
		}
	})
}
