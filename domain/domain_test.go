package domain_test

import (
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
)

func TestObjectRefID(t *testing.T) {
	base := domain.ObjectRef{Bucket: "b", Key: "k", VersionID: "v1", ETag: "e", Sequencer: "01"}
	tests := []struct {
		name string
		a, b domain.ObjectRef
		same bool
	}{
		{"same version", base, base, true},
		{"size and etag do not change a versioned identity", base, func() domain.ObjectRef { o := base; o.Size = 9; o.ETag = "x"; return o }(), true},
		{"another version", base, func() domain.ObjectRef { o := base; o.VersionID = "v2"; return o }(), false},
		{"another key", base, func() domain.ObjectRef { o := base; o.Key = "k2"; return o }(), false},
		{"key and bucket do not run together",
			domain.ObjectRef{Bucket: "ab", Key: "c", VersionID: "v"}, domain.ObjectRef{Bucket: "a", Key: "bc", VersionID: "v"}, false},
		{"unversioned: same etag, same sequencer",
			domain.ObjectRef{Bucket: "b", Key: "k", ETag: "e", Sequencer: "01"}, domain.ObjectRef{Bucket: "b", Key: "k", ETag: "e", Sequencer: "01"}, true},
		{"unversioned: same bytes uploaded again",
			domain.ObjectRef{Bucket: "b", Key: "k", ETag: "e", Sequencer: "01"}, domain.ObjectRef{Bucket: "b", Key: "k", ETag: "e", Sequencer: "02"}, false},
		{"unversioned vs versioned",
			domain.ObjectRef{Bucket: "b", Key: "k", ETag: "e"}, domain.ObjectRef{Bucket: "b", Key: "k", VersionID: "e"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.ID() == tt.b.ID(); got != tt.same {
				t.Errorf("ID(%v) == ID(%v) is %v; want %v", tt.a, tt.b, got, tt.same)
			}
			if len(tt.a.ID()) != 32 {
				t.Errorf("ID length %d; want 32", len(tt.a.ID()))
			}
		})
	}
}

func TestReadable(t *testing.T) {
	for _, s := range domain.Statuses() {
		want := s == domain.StatusClean || s == domain.StatusReleased || s == domain.StatusAllowlisted
		if got := s.Readable(); got != want {
			t.Errorf("%s.Readable() = %v; want %v", s, got, want)
		}
	}
}

func TestLeaseAndAllowlistExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var nilLease *domain.Lease
	if !nilLease.Expired(now) {
		t.Error("a missing lease must count as expired")
	}
	l := &domain.Lease{Expires: now.Add(time.Second)}
	if l.Expired(now) || !l.Expired(now.Add(time.Second)) {
		t.Error("lease expiry is off")
	}
	e := &domain.AllowlistEntry{Expires: now}
	if e.Active(now) {
		t.Error("an entry is not active at its expiry")
	}
	if !(&domain.AllowlistEntry{}).Active(now) {
		t.Error("an entry without expiry is active")
	}
	var nilEntry *domain.AllowlistEntry
	if nilEntry.Active(now) {
		t.Error("a missing entry is not active")
	}
}
