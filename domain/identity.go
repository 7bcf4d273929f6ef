package domain

import (
	"fmt"
	"slices"
	"time"
)

// Role is what an authenticated principal may do. Roles are nested
// (admin ⊇ reviewer ⊇ viewer) except ingest, which stands apart: it is the
// role of the webhooks of S3-compatible servers, and may only announce
// events.
type Role string

const (
	// RoleViewer reads records, reviews, histories and the allowlist.
	RoleViewer Role = "viewer"
	// RoleReviewer is a viewer who may also decide, rescan and change the
	// allowlist.
	RoleReviewer Role = "reviewer"
	// RoleAdmin is a reviewer who may also manage accounts and tokens.
	RoleAdmin Role = "admin"
	// RoleIngest may only POST /v1/events.
	RoleIngest Role = "ingest"
)

// Roles lists every role in a stable order, weakest person role first.
func Roles() []Role {
	return []Role{RoleViewer, RoleReviewer, RoleAdmin, RoleIngest}
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// rank orders the nested person roles; ingest and unknown roles have none.
func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleReviewer:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Allows reports whether a principal holding r may act where need is
// required: admin ⊇ reviewer ⊇ viewer; ingest allows only ingest, and
// only ingest and admin allow ingest (an admin may do everything; a
// webhook's ingest token can read nothing). An unknown role allows
// nothing and is allowed by nothing, so a typo fails closed.
func (r Role) Allows(need Role) bool {
	if need == RoleIngest {
		return r == RoleIngest || r == RoleAdmin
	}
	if r == RoleIngest {
		return false
	}
	return r.rank() > 0 && need.rank() > 0 && r.rank() >= need.rank()
}

// AdminTokenPrincipal is the principal of the break-glass --admin-token.
// No account may take the name, so that a history entry naming it always
// means the token.
const AdminTokenPrincipal = "admin-token"

// reservedNames are principals that scangate itself writes into histories
// and intents; an account of that name could pass for them.
var reservedNames = []string{AdminTokenPrincipal, Anonymous, "ingest", "sweep", "scangate", "system"}

// MaxAccountNameLen is the longest account name.
const MaxAccountNameLen = 64

// CheckAccountName returns an error unless name is a valid account name:
// 1 to 64 characters of [a-z0-9._-], starting with a letter or a digit, and
// none of the reserved principals. The alphabet keeps names safe to show
// in logs, histories and the console unescaped, and to use in keys.
func CheckAccountName(name string) error {
	if name == "" || len(name) > MaxAccountNameLen {
		return fmt.Errorf("account name must be 1 to %d characters long", MaxAccountNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("account name %q must start with a lower-case letter or a digit", name)
		}
		if !alnum && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("account name %q may only hold a-z, 0-9, '.', '_' and '-'", name)
		}
	}
	if slices.Contains(reservedNames, name) {
		return fmt.Errorf("account name %q is reserved for a principal of scangate's own", name)
	}
	return nil
}

// Account is a person or a service that signs in. Passwords are kept only
// as bcrypt hashes; tokens (APIToken) only as SHA-256 hashes.
type Account struct {
	// Name is the principal recorded in histories and decisions; see
	// CheckAccountName.
	Name string `json:"name"`
	Role Role   `json:"role"`
	// PasswordHash is the bcrypt hash; never serialised to API output.
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"createdAt"`
	// UpdatedAt changes with every write and guards the next one: an
	// update is conditional on the UpdatedAt it read.
	UpdatedAt time.Time `json:"updatedAt"`
	Disabled  bool      `json:"disabled,omitempty"`
}

// APIToken is a bearer token of an account. Its secret is shown once, when
// it is issued; the store keeps only the SHA-256 of the secret part.
type APIToken struct {
	// ID is public and random (12 hex digits); it is part of the secret
	// ("sgt_<id>_<secret>") so a token's record is found without a scan.
	ID      string `json:"id"`
	Account string `json:"account"`
	// Hash is the hex SHA-256 of the secret part; never serialised to API
	// output.
	Hash      string     `json:"-"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// Label is an optional note ("minio webhook", "laptop").
	Label string `json:"label,omitempty"`
}

// Revoked reports whether the token was revoked.
func (t *APIToken) Revoked() bool { return t.RevokedAt != nil }

// ReleaseProof is scangate's own record that it wrote a released copy: the
// exact version a release (or allowlist decision) wrote back, and the bytes
// it holds. Only scangate writes it; the Scan step trusts a released copy
// only through it, never through the object's metadata or tags, which the
// uploader controls.
type ReleaseProof struct {
	// Bucket, Key and VersionID name the version scangate wrote. A proof
	// needs a VersionID: without one a key names no exact version.
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"versionId"`
	// RecordID is the record whose review released the bytes.
	RecordID string `json:"recordId"`
	// SHA256 is the hex SHA-256 of the bytes released.
	SHA256 string `json:"sha256"`
	// Decision is DecisionRelease or DecisionAllowlist.
	Decision Decision `json:"decision"`
	// By is the authenticated principal that decided.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// ID is the proof's key: the record identity of the version it names,
// ObjectRef{Bucket, Key, VersionID}.ID(). Lookups compare the stored
// bucket, key and version too, so even a collision of the hash would not
// vouch for another version.
func (p *ReleaseProof) ID() string {
	return ObjectRef{Bucket: p.Bucket, Key: p.Key, VersionID: p.VersionID}.ID()
}
