package domain

// Principal is an authenticated caller: who it is, what it may do, and how
// it proved it. Decisions, allowlist entries and rescans record Name, which
// comes from the credential, never from a request body.
type Principal struct {
	// Name identifies the caller: an account name, "admin-token" for the
	// break-glass token, an IAM ARN, or an OIDC subject.
	Name string `json:"name"`
	// Role is what the caller may do.
	Role Role `json:"role"`
	// Via says how the caller authenticated, for the audit trail:
	// "token:<id>", "password", "admin-token", "iam", "jwt".
	Via string `json:"via,omitempty"`
}

// Can reports whether p may act where need is required. The zero
// Principal (nobody) can do nothing.
func (p Principal) Can(need Role) bool {
	return p.Name != "" && p.Role.Allows(need)
}
