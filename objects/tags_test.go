package objects_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/objects"
)

// callLog is a Driver that records the refs its tagging calls get; every
// version it is asked about has the tag "owner".
type callLog struct {
	objects.Driver
	calls []string
}

func (c *callLog) Tags(_ context.Context, ref domain.ObjectRef) (map[string]string, error) {
	c.calls = append(c.calls, "Tags "+ref.VersionID+" "+ref.ETag)
	return map[string]string{"owner": "alice"}, nil
}

func (c *callLog) SetTags(_ context.Context, ref domain.ObjectRef, tags map[string]string) error {
	c.calls = append(c.calls, "SetTags "+ref.VersionID+" "+ref.ETag)
	return nil
}

// MergeTagsRead drops the ETag check only for the exact, immutable
// version that was read, and skips reading tags only when the read counted
// none; everything else goes MergeTags' way, with the ref's ETag.
func TestMergeTagsReadRefs(t *testing.T) {
	ref := domain.ObjectRef{Bucket: "b", Key: "k", VersionID: "v1", ETag: `"e1"`}
	untagged := objects.Info{Ref: ref, TagCountKnown: true}
	with := func(f func(*objects.Info)) objects.Info {
		i := untagged
		f(&i)
		return i
	}
	for _, tc := range []struct {
		name string
		ref  domain.ObjectRef
		read objects.Info
		want []string
	}{
		{"untagged version", ref, untagged, []string{"SetTags v1 "}},
		{"unquoted ETag in the ref", func() domain.ObjectRef { r := ref; r.ETag = "E1"; return r }(), untagged, []string{"SetTags v1 "}},
		{"tagged version", ref, with(func(i *objects.Info) { i.TagCount = 2 }), []string{"Tags v1 ", "SetTags v1 "}},
		{"tag count unknown", ref, with(func(i *objects.Info) { i.TagCountKnown = false }), []string{"Tags v1 ", "SetTags v1 "}},
		{"no read", ref, objects.Info{}, []string{`Tags v1 "e1"`, `SetTags v1 "e1"`}},
		{"another ETag", ref, with(func(i *objects.Info) { i.Ref.ETag = `"e2"` }), []string{`Tags v1 "e1"`, `SetTags v1 "e1"`}},
		{"another version", ref, with(func(i *objects.Info) { i.Ref.VersionID = "v2" }), []string{`Tags v1 "e1"`, `SetTags v1 "e1"`}},
		{"another key", ref, with(func(i *objects.Info) { i.Ref.Key = "k2" }), []string{`Tags v1 "e1"`, `SetTags v1 "e1"`}},
		{"another bucket", ref, with(func(i *objects.Info) { i.Ref.Bucket = "b2" }), []string{`Tags v1 "e1"`, `SetTags v1 "e1"`}},
		{
			"the null version",
			domain.ObjectRef{Bucket: "b", Key: "k", VersionID: "null", ETag: `"e1"`},
			objects.Info{Ref: domain.ObjectRef{Bucket: "b", Key: "k", VersionID: "null", ETag: `"e1"`}, TagCountKnown: true},
			[]string{`Tags null "e1"`, `SetTags null "e1"`},
		},
		{
			"no VersionID",
			domain.ObjectRef{Bucket: "b", Key: "k", ETag: `"e1"`},
			objects.Info{Ref: domain.ObjectRef{Bucket: "b", Key: "k", ETag: `"e1"`}, TagCountKnown: true},
			[]string{`Tags  "e1"`, `SetTags  "e1"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &callLog{}
			if err := objects.MergeTagsRead(t.Context(), d, tc.ref, tc.read, map[string]string{objects.TagStatus: "clean"}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(d.calls, tc.want); diff != "" {
				t.Errorf("calls (-got +want):\n%s", diff)
			}
		})
	}
}
