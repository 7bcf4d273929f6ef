package policy

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const good = `
rules:
  - name: avatars
    bucket: uploads
    prefix: avatars/
    maxSize: 5MiB
    contentTypes: [image/png, image/jpeg]
    action: quarantine
  - name: docs
    prefix: docs/
    archives: false
    action: review
  - name: everything-else
    maxSize: 100MB
    action: block
denylist:
  sha256:
    - 275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F
  files: [intel.sha256]
`

func TestParseAndMatch(t *testing.T) {
	intel := "# threat intel\n\n" + strings.Repeat("a", 64) + "  evil.exe\n" + strings.Repeat("B", 64) + "\n"
	p, err := Parse("p.yaml", []byte(good), func(name string) ([]byte, error) {
		if name != "intel.sha256" {
			t.Errorf("read %q", name)
		}
		return []byte(intel), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bucket, key, want string
	}{
		{"uploads", "avatars/me.png", "avatars"},
		{"other", "avatars/me.png", "everything-else"}, // bucket does not match
		{"uploads", "docs/a.pdf", "docs"},
		{"x", "readme", "everything-else"},
		{"uploads", "Avatars/me.png", "everything-else"}, // prefixes are case-sensitive, like keys
	} {
		r := p.Match(tc.bucket, tc.key)
		if r == nil || r.Name != tc.want {
			t.Errorf("Match(%q, %q) = %+v, want rule %q", tc.bucket, tc.key, r, tc.want)
		}
	}
	if r := p.Match("uploads", "avatars/x"); r.MaxSize != 5<<20 || r.Line != 3 {
		t.Errorf("avatars rule = %+v, want maxSize 5MiB on line 3", r)
	}
	for _, sum := range []string{
		"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
		strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("B", 64),
	} {
		if !p.Denied(sum) {
			t.Errorf("Denied(%s) = false", sum)
		}
	}
	if p.Denied(strings.Repeat("c", 64)) || p.Denied("") {
		t.Error("Denied of an unlisted hash is true")
	}
	if p.DenylistSize() != 3 {
		t.Errorf("DenylistSize = %d, want 3", p.DenylistSize())
	}
	var nilPolicy *Policy
	if nilPolicy.Match("b", "k") != nil || nilPolicy.Denied(strings.Repeat("a", 64)) {
		t.Error("a nil policy matched")
	}
}

func gz(t *testing.T) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte("hello"))
	w.Close()
	return b.Bytes()
}

func tarHead() []byte {
	b := make([]byte, 512)
	copy(b, "file.txt")
	copy(b[257:], "ustar\x0000")
	return b
}

func TestSniff(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	for _, tc := range []struct {
		name    string
		head    []byte
		want    string
		archive bool
	}{
		{"png", png, "image/png", false},
		{"jpeg", []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF"), "image/jpeg", false},
		{"text", []byte("quarterly numbers\n"), "text/plain", false},
		{"empty", nil, "text/plain", false},
		{"pdf", []byte("%PDF-1.7\n"), "application/pdf", false},
		{"zip", []byte("PK\x03\x04\x14\x00"), "application/zip", true},
		{"empty zip", []byte("PK\x05\x06" + strings.Repeat("\x00", 18)), "application/zip", true},
		{"gzip", gz(t), "application/x-gzip", true},
		{"7z", []byte("7z\xBC\xAF\x27\x1C\x00\x04"), "application/x-7z-compressed", true},
		{"rar", []byte("Rar!\x1A\x07\x01\x00"), "application/x-rar-compressed", true},
		{"xz", []byte("\xFD7zXZ\x00"), "application/x-xz", true},
		{"bzip2", []byte("BZh91AY&SY"), "application/x-bzip2", true},
		{"tar", tarHead(), "application/x-tar", true},
		{"exe", []byte("MZ\x90\x00"), "application/octet-stream", false},
		{"png named .txt is still png", png, "image/png", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Sniff(tc.head)
			if got != tc.want || IsArchive(got) != tc.archive {
				t.Errorf("Sniff = %q (archive %v), want %q (archive %v)", got, IsArchive(got), tc.want, tc.archive)
			}
		})
	}
}

func TestHeadKeepsOnlyTheFirstBytes(t *testing.T) {
	var h Head
	for range 3 {
		n, err := h.Write(bytes.Repeat([]byte("x"), 300))
		if n != 300 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if len(h.Bytes()) != SniffLen {
		t.Errorf("captured %d bytes, want %d", len(h.Bytes()), SniffLen)
	}
}

func TestRuleChecks(t *testing.T) {
	no := false
	r := &Rule{Name: "r", MaxSize: 10, ContentTypes: []string{"image/png", "text/*"}, Archives: &no, Action: ActionBlock}
	for _, tc := range []struct {
		name   string
		size   int64
		ct     string
		reason string
	}{
		{"fits", 10, "image/png", ""},
		{"wildcard", 1, "text/plain", ""},
		{"too large", 11, "image/png", ReasonMaxSize},
		{"wrong type", 1, "application/pdf", ReasonContentType},
		{"archive", 1, "application/zip", ReasonArchive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := r.CheckSize(tc.size)
			if v == nil {
				v = r.CheckType(tc.ct)
			}
			got := ""
			if v != nil {
				got = v.Reason
				if v.Action != ActionBlock || v.Rule != "r" || v.Detail == "" {
					t.Errorf("violation = %+v", v)
				}
			}
			if got != tc.reason {
				t.Errorf("reason = %q, want %q", got, tc.reason)
			}
		})
	}
	yes := true
	open := &Rule{Archives: &yes, MaxSize: 1}
	if open.ChecksContent() || open.CheckType("application/zip") != nil {
		t.Error("archives: true refused an archive")
	}
}

func TestBadPolicies(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		line      int
		want      string
	}{
		{"empty", "", 0, "empty policy file"},
		{"not yaml", "rules: [\n", 1, ""},
		{"unknown top-level field", "rules: []\nrulez: []\n", 2, "rulez"},
		{"unknown rule field", "rules:\n  - prefix: a/\n    maxsize: 1\n    action: block\n", 3, `unknown field "maxsize"`},
		{"no action", "rules:\n  - prefix: a/\n    maxSize: 1\n", 2, "needs an action"},
		{"bad action", "rules:\n  - prefix: a/\n    maxSize: 1\n    action: delete\n", 4, `unknown action "delete"`},
		{"bad size", "rules:\n  - prefix: a/\n    action: block\n    maxSize: lots\n", 4, "maxSize"},
		{"negative size", "rules:\n  - prefix: a/\n    action: block\n    maxSize: -1\n", 4, "maxSize"},
		{"bad unit", "rules:\n  - action: block\n    maxSize: 5 parsecs\n", 3, "maxSize"},
		{"bad content type", "rules:\n  - action: block\n    contentTypes:\n      - image/png\n      - PNG\n", 3, `"PNG"`},
		{"bad bucket glob", "rules:\n  - action: block\n    maxSize: 1\n    bucket: '[x'\n", 4, "bucket pattern"},
		{"limits nothing", "rules:\n  - prefix: a/\n    action: block\n", 2, "limits nothing"},
		{"duplicate name", "rules:\n  - {name: a, maxSize: 1, action: block}\n  - {name: a, maxSize: 2, action: block}\n", 3, "used already on line 2"},
		{"rule not a mapping", "rules:\n  - avatars\n", 2, "a rule is a mapping"},
		{"archives not bool", "rules:\n  - action: block\n    archives: sometimes\n", 3, ""},
		{"bad hash", "denylist:\n  sha256:\n    - abc\n", 3, `"abc" is not a hex SHA-256`},
		{"hash list not a list", "denylist:\n  sha256: abc\n", 2, "is a list"},
		{"denylist file missing", "denylist:\n  files: [nope.txt]\n", 2, "denylist file"},
		{"unknown denylist field", "denylist:\n  hashes: []\n", 2, "hashes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.doc), func(string) ([]byte, error) { return nil, os.ErrNotExist })
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error = %v, want a *policy.Error", err)
			}
			if pe.Line != tc.line || !strings.Contains(err.Error(), tc.want) || pe.File != "p.yaml" {
				t.Errorf("error = %q (line %d), want line %d and %q", err, pe.Line, tc.line, tc.want)
			}
		})
	}
}

func TestBadDenylistFileNamesItsLine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "intel.txt"), []byte("# ok\n"+strings.Repeat("a", 64)+"\nnot-a-hash\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("denylist:\n  files: [intel.txt]\n"), 0o600)
	_, err := Load(filepath.Join(dir, "p.yaml"))
	var pe *Error
	if !errors.As(err, &pe) || pe.File != "intel.txt" || pe.Line != 3 {
		t.Fatalf("Load = %v, want intel.txt line 3", err)
	}
}

func TestLoadJSON(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "p.json")
	os.WriteFile(f, []byte(`{"rules": [{"prefix": "avatars/", "contentTypes": ["image/png"], "action": "block"}]}`), 0o600)
	p, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Match("b", "avatars/a"); r == nil || r.Name != "rule 1" || r.CheckType("image/png") != nil || r.CheckType("text/plain") == nil {
		t.Errorf("rule = %+v", r)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "10B": 10, "5KB": 5000, "5KiB": 5120, "2 MiB": 2 << 20, "1GB": 1e9} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "0", "-1", "1XB", "99999999999999999999", "9000000TiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"rules": [{"prefix": "a", "maxSize": 1, "action": "block"}]}`))
	f.Add([]byte("denylist:\n  sha256: [" + strings.Repeat("a", 64) + "]\n"))
	f.Add([]byte("rules:\n  - {maxSize: 5MiB, action: review, archives: false}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data, func(string) ([]byte, error) { return data, nil })
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *policy.Error", err)
			}
			return
		}
		for _, r := range p.Rules {
			switch r.Action {
			case ActionBlock, ActionQuarantine, ActionReview:
			default:
				t.Fatalf("accepted action %q", r.Action)
			}
			if r.MaxSize < 0 || (r.MaxSize == 0 && !r.ChecksContent()) {
				t.Fatalf("accepted a rule that limits nothing: %+v", r)
			}
		}
	})
}

func FuzzParseDenylist(f *testing.F) {
	f.Add("# c\n" + strings.Repeat("a", 64) + "  x\n")
	f.Add("zz\n")
	f.Fuzz(func(t *testing.T, s string) {
		sums, err := ParseDenylist("fuzz", strings.NewReader(s))
		if err != nil {
			return
		}
		for _, sum := range sums {
			if !sha256RE.MatchString(sum) {
				t.Fatalf("accepted %q", sum)
			}
		}
	})
}

func FuzzSniff(f *testing.F) {
	f.Add([]byte("PK\x03\x04"))
	f.Add(tarHead())
	f.Fuzz(func(t *testing.T, b []byte) {
		if mt := Sniff(b); !validMediaType(mt) {
			t.Fatalf("Sniff = %q, not a media type", mt)
		}
	})
}
