package store_test

import (
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/store"
)

func TestSameVersion(t *testing.T) {
	base := domain.ObjectRef{Bucket: "uploads", Key: "a.txt", VersionID: "v1", ETag: `"e1"`}
	with := func(f func(*domain.ObjectRef)) domain.ObjectRef {
		r := base
		f(&r)
		return r
	}
	tests := []struct {
		name       string
		want, read domain.ObjectRef
		same       bool
	}{
		{"the same", base, base, true},
		{"ETag without quotes", base, with(func(r *domain.ObjectRef) { r.ETag = "e1" }), true},
		{"read without an ETag", base, with(func(r *domain.ObjectRef) { r.ETag = "" }), true},
		{"another version", base, with(func(r *domain.ObjectRef) { r.VersionID = "v2" }), false},
		{"another ETag", base, with(func(r *domain.ObjectRef) { r.ETag = `"e2"` }), false},
		{"another key", base, with(func(r *domain.ObjectRef) { r.Key = "b.txt" }), false},
		{"another bucket", base, with(func(r *domain.ObjectRef) { r.Bucket = "other" }), false},
		{"unversioned, same ETag", with(func(r *domain.ObjectRef) { r.VersionID = "" }), with(func(r *domain.ObjectRef) { r.VersionID = "" }), true},
		{"unversioned, another ETag", with(func(r *domain.ObjectRef) { r.VersionID = "" }), with(func(r *domain.ObjectRef) { r.VersionID = ""; r.ETag = `"e2"` }), false},
		{"S3's null version read as none", with(func(r *domain.ObjectRef) { r.VersionID = "null" }), with(func(r *domain.ObjectRef) { r.VersionID = "" }), true},
	}
	for _, tt := range tests {
		if got := store.SameVersion(tt.want, tt.read); got != tt.same {
			t.Errorf("%s: SameVersion(%v, %v) = %v, want %v", tt.name, tt.want, tt.read, got, tt.same)
		}
	}
}
