package objectstest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
)

// testListVersions pins down objects.Lister for drivers that implement
// it: every version under the prefix exactly once across pages of any
// size, in key order and newest first within a key, the newest marked
// Latest, nothing outside the prefix, and bad cursors refused.
func testListVersions(t *testing.T, f *fixture) {
	l, ok := f.d.(objects.Lister)
	if !ok {
		t.Skip("driver does not list")
	}
	want := map[string][]string{} // key → version IDs (or ETags), newest first
	for i := range 7 {
		key := fmt.Sprintf("list/k%02d", i)
		n := 1
		if f.h.Versioned && i%3 == 0 {
			n = 3
		}
		for j := range n {
			ref := f.put(t, f.b.Main, key, fmt.Appendf(nil, "%s v%d", key, j), objects.PutOptions{})
			want[key] = append([]string{f.versionName(ref.VersionID, ref.ETag)}, want[key]...)
		}
	}
	f.put(t, f.b.Main, "lisx/outside", []byte("x"), objects.PutOptions{})
	f.put(t, f.b.Main, "other/outside", []byte("x"), objects.PutOptions{})

	for _, limit := range []int{1, 2, 5, 0} {
		t.Run(fmt.Sprint("limit", limit), func(t *testing.T) {
			got := map[string][]string{}
			var order []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Fatal("listing does not end")
				}
				vs, next, err := l.ListVersions(f.ctx, f.b.Main, "list/", cursor, limit)
				if err != nil {
					t.Fatalf("ListVersions(cursor %q): %v", cursor, err)
				}
				for _, v := range vs {
					k := v.Ref.Key
					if v.Latest != (len(got[k]) == 0) {
						t.Errorf("%s %s: Latest = %v, want it on the first (newest) version only", k, v.Ref.VersionID, v.Latest)
					}
					if len(got[k]) == 0 {
						order = append(order, k)
					}
					got[k] = append(got[k], f.versionName(v.Ref.VersionID, v.Ref.ETag))
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.IsSorted(order) {
				t.Errorf("keys not in order: %q", order)
			}
			if len(got) != len(want) {
				t.Errorf("listed keys %q, want %d keys", order, len(want))
			}
			for k, w := range want {
				if !slices.Equal(got[k], w) {
					t.Errorf("%s: versions %q, want %q", k, got[k], w)
				}
			}
		})
	}
	if _, _, err := l.ListVersions(f.ctx, f.b.Main, "", "not-a-cursor", 0); errcode.Of(err) != errcode.Invalid {
		t.Errorf("foreign cursor: err %v, want code Invalid", err)
	}
	if _, _, err := l.ListVersions(f.ctx, "no-such-bucket-"+fmt.Sprint(len(want)), "", "", 0); errcode.Of(err) != errcode.NotFound {
		t.Errorf("missing bucket: err %v, want code NotFound", err)
	}
}

// versionName names a version for comparison: by its ID in a versioned
// bucket, by its ETag in an unversioned one (whose refs carry no ID).
func (f *fixture) versionName(versionID, etag string) string {
	if f.h.Versioned {
		return versionID
	}
	return strings.Trim(etag, `"`)
}
