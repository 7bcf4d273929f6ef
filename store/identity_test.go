package store_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/scangate/scangate/store"
)

// FuzzParseToken checks that ParseToken accepts exactly the canonical form
// sgt_<12 lower hex>_<43 base64url of 32 bytes>, and that what it accepts
// splits back into the input.
func FuzzParseToken(f *testing.F) {
	valid := "sgt_0123456789ab_" + base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	for _, seed := range []string{
		valid, "", "sgt_", "sgt__", valid + "=", valid[:len(valid)-1], strings.ToUpper(valid),
		"Bearer " + valid, "sgt_0123456789ab-" + valid[17:], "sgt_0123456789a__" + valid[17:],
		valid[:len(valid)-1] + "B", // non-zero padding bits: not canonical
		"sgt_0123456789ab_" + strings.Repeat("_", 43), "sgt_0123456789ab_" + strings.Repeat("-", 43),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, part, err := store.ParseToken(s)
		if err != nil {
			if id != "" || part != "" {
				t.Fatalf("ParseToken(%q) failed but returned %q, %q", s, id, part)
			}
			return
		}
		if s != "sgt_"+id+"_"+part || len(s) != store.TokenLen {
			t.Fatalf("ParseToken(%q) = %q, %q: does not rebuild the input", s, id, part)
		}
		if len(id) != 12 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("ParseToken(%q): id %q is not 12 lower-case hex digits", s, id)
		}
		raw, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil || len(raw) != 32 || base64.RawURLEncoding.EncodeToString(raw) != part {
			t.Fatalf("ParseToken(%q): part %q is not the canonical base64url of 32 bytes", s, part)
		}
	})
}

func TestParseToken(t *testing.T) {
	part := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\xff", 32)))
	tests := []struct {
		in string
		ok bool
	}{
		{"sgt_0123456789ab_" + part, true},
		{"sgt_0123456789AB_" + part, false},
		{"sgt_0123456789ab_" + part + "A", false},
		{"sgt_0123456789ab_" + part[:42], false},
		{"sgt_0123456789ab " + part, false},
		{"sgx_0123456789ab_" + part, false},
		{" sgt_0123456789ab_" + part[1:], false},
		{"sgt_0123456789ab_" + part[:42] + "=", false},
	}
	for _, tt := range tests {
		if _, _, err := store.ParseToken(tt.in); (err == nil) != tt.ok {
			t.Errorf("ParseToken(%q) = %v; want ok=%v", tt.in, err, tt.ok)
		}
	}
}
