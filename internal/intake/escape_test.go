package intake_test

import (
	"encoding/json"
	"testing"

	"github.com/scangate/scangate/internal/intake"
)

func TestEscapeHidden(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"key":"plain/ñ.txt"}`, `{"key":"plain/ñ.txt"}`},
		{"{\"key\":\"invoice\u202Efdp.exe\"}", `{"key":"invoice\u202efdp.exe"}`},
		{"{\"key\":\"a\u200Bb\U000E0041\"}", `{"key":"a\u200bb\udb40\udc41"}`},
	}
	for _, tt := range tests {
		got := string(intake.EscapeHidden([]byte(tt.in)))
		if got != tt.want {
			t.Errorf("EscapeHidden(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// Escaping never changes what the document decodes to.
func FuzzEscapeHidden(f *testing.F) {
	f.Add("invoice\u202Efdp.exe")
	f.Add("a\u200Bb\U000E0041\\\"")
	f.Fuzz(func(t *testing.T, key string) {
		doc, err := json.Marshal(map[string]string{"key": key})
		if err != nil {
			t.Skip()
		}
		var a, b map[string]string
		if err := json.Unmarshal(doc, &a); err != nil {
			t.Fatal(err)
		}
		esc := intake.EscapeHidden(doc)
		if err := json.Unmarshal(esc, &b); err != nil {
			t.Fatalf("escaped %q is not JSON: %v", esc, err)
		}
		if a["key"] != b["key"] {
			t.Fatalf("escaping %q changed the key: %q -> %q", doc, a["key"], b["key"])
		}
	})
}
