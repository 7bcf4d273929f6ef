package objects_test

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
)

// driverMade matches the names the local-directory driver creates: none of
// them comes from a key.
var driverMade = regexp.MustCompile(`^(fuzz-bucket|objects|tmp|[0-9a-f]{64}|[0-9a-f]{40}|meta\.json|data|tags\.log)$`)

// FuzzValidateKey checks that for any key, either ValidateKey refuses it
// (and so does a driver's Put, with code Invalid), or the key, stored
// through the local-directory driver, stays inside the driver's root and
// round-trips byte for byte.
func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{
		// Keys real uploads use.
		"uploads/2026/11/05/report.pdf",
		"user-42/avatar.png",
		"My Documents/Q3 report (final) v2.docx",
		"a+b=c&d;e,f'g\"h",
		"100%/%2e%2e%2f",
		"hash#frag?query=1",
		"ünïcödé/文件/файл.pdf",
		"emoji-😀.png",
		"e\u0301",
		"\u202egnp.exe",
		"a//b",
		"dir/",
		"...",
		"a/..b/c..",
		`back\slash`,
		strings.Repeat("k", objects.MaxKeyLen),
		strings.Repeat("€", objects.MaxKeyLen/3) + "x",
		// Keys that must be refused.
		"",
		".",
		"..",
		"../x",
		"a/../../b",
		"./a",
		`..\x`,
		`a\..\..\b`,
		"/abs",
		"/etc/passwd",
		"a\x00b",
		"tab\tkey",
		"new\nline",
		"\x7f",
		"\xff\xfe",
		strings.Repeat("k", objects.MaxKeyLen+1),
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		verr := objects.ValidateKey(key)
		if verr != nil && errcode.Of(verr) != errcode.Invalid {
			t.Fatalf("ValidateKey(%q) = %v, want code Invalid", key, verr)
		}

		base := t.TempDir()
		root := filepath.Join(base, "root")
		d, err := localdir.Open(root, &localdir.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		ctx := t.Context()
		ref, perr := d.Put(ctx, "fuzz-bucket", key, strings.NewReader(key), objects.PutOptions{})

		if verr != nil {
			if errcode.Of(perr) != errcode.Invalid {
				t.Fatalf("ValidateKey(%q) refused it, but Put gave %v", key, perr)
			}
		} else {
			if perr != nil {
				t.Fatalf("Put(%q): %v", key, perr)
			}
			if ref.Key != key {
				t.Fatalf("Put(%q) returned key %q", key, ref.Key)
			}
			rc, info, err := d.Open(ctx, domain.ObjectRef{Bucket: "fuzz-bucket", Key: key})
			if err != nil {
				t.Fatalf("Open(%q): %v", key, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(b) != key || info.Ref.Key != key {
				t.Fatalf("Open(%q) read %q (key %q), %v", key, b, info.Ref.Key, err)
			}
			list, err := d.List(ctx, "fuzz-bucket", key)
			if err != nil || len(list) != 1 || list[0].Ref.Key != key {
				t.Fatalf("List(%q) = %v, %v", key, list, err)
			}
		}

		// Nothing beside the root, and nothing inside it named after the key.
		entries, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != "root" {
			t.Fatalf("Put(%q) wrote beside the root: %v", key, entries)
		}
		err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || p == root {
				return err
			}
			if !driverMade.MatchString(e.Name()) || e.Type()&fs.ModeSymlink != 0 {
				t.Errorf("Put(%q) made %q under the root", key, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
