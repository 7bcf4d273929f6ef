package domain_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
)

func TestRoleAllows(t *testing.T) {
	const (
		v = domain.RoleViewer
		r = domain.RoleReviewer
		a = domain.RoleAdmin
		i = domain.RoleIngest
	)
	tests := []struct {
		have, need domain.Role
		want       bool
	}{
		{v, v, true}, {v, r, false}, {v, a, false}, {v, i, false},
		{r, v, true}, {r, r, true}, {r, a, false}, {r, i, false},
		{a, v, true}, {a, r, true}, {a, a, true}, {a, i, true},
		{i, v, false}, {i, r, false}, {i, a, false}, {i, i, true},
		// Unknown roles fail closed, both ways.
		{"", v, false}, {"root", v, false}, {"Admin", v, false}, {a, "", false}, {a, "root", false},
		{"", "", false}, {"root", "root", false},
	}
	for _, tt := range tests {
		if got := tt.have.Allows(tt.need); got != tt.want {
			t.Errorf("Role(%q).Allows(%q) = %v; want %v", tt.have, tt.need, got, tt.want)
		}
	}
}

func TestRoleValid(t *testing.T) {
	for _, r := range domain.Roles() {
		if !r.Valid() {
			t.Errorf("%q is listed but not valid", r)
		}
	}
	for _, r := range []domain.Role{"", "root", "Admin", "admin ", "viewer\x00"} {
		if r.Valid() {
			t.Errorf("%q is valid", r)
		}
	}
}

func TestCheckAccountName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"a", true},
		{"0ps", true},
		{"bob.smith-2_x", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"Alice", false},
		{".hidden", false},
		{"-flag", false},
		{"_x", false},
		{"a b", false},
		{"a/b", false},
		{"al\u202eice", false},
		{"ålice", false},
		{"admin-token", false},
		{"anonymous", false},
		{"sweep", false},
	}
	for _, tt := range tests {
		if err := domain.CheckAccountName(tt.name); (err == nil) != tt.ok {
			t.Errorf("CheckAccountName(%q) = %v; want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestSecretsStayOut checks that hashes never reach JSON, which is what the
// API serves.
func TestSecretsStayOut(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, v := range []any{
		domain.Account{Name: "alice", Role: domain.RoleAdmin, PasswordHash: "$2a$12$secret", CreatedAt: now, UpdatedAt: now},
		domain.APIToken{ID: "0123456789ab", Account: "alice", Hash: "secret", CreatedAt: now},
	} {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "secret") {
			t.Errorf("JSON of %T holds the hash: %s", v, raw)
		}
	}
}

func TestReleaseProofID(t *testing.T) {
	p := domain.ReleaseProof{Bucket: "b", Key: "k", VersionID: "v1", RecordID: "r", SHA256: "s"}
	if got, want := p.ID(), (domain.ObjectRef{Bucket: "b", Key: "k", VersionID: "v1"}).ID(); got != want {
		t.Errorf("ID = %s; want the version's record identity %s", got, want)
	}
	q := p
	q.RecordID, q.SHA256, q.By = "other", "other", "other"
	if q.ID() != p.ID() {
		t.Error("the ID depends on more than the version")
	}
	q = p
	q.VersionID = "v2"
	if q.ID() == p.ID() {
		t.Error("two versions share an ID")
	}
}
