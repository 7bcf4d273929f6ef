package authn

import (
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scangate/scangate/domain"
)

// Invocation says how the review Lambda maps the identity that API
// Gateway or a Function URL verified to a principal. The Lambda trusts the
// request context only: API Gateway and Lambda fill it after they have
// checked the SigV4 signature or the JWT, and a caller cannot write it.
type Invocation struct {
	// IAMRoles maps IAM role or user ARNs to roles. An assumed-role
	// session (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION) matches the
	// entry of its role, arn:aws:iam::ACCOUNT:role/NAME.
	IAMRoles map[string]domain.Role
	// NameClaim names the JWT claim that identifies the caller ("email"
	// when empty; "sub" when the token has no such claim).
	NameClaim string
	// RoleClaim names the JWT claim that lists the caller's roles, for
	// example "cognito:groups" (the default). The highest role named wins.
	RoleClaim string
}

// FromHTTPContext returns the principal of an API Gateway HTTP API or
// Function URL request. A request that carries no verified identity, or
// one that maps to no role, gives an error wrapping ErrBadCredentials.
func (m Invocation) FromHTTPContext(rc events.APIGatewayV2HTTPRequestContext) (domain.Principal, error) {
	az := rc.Authorizer
	switch {
	case az != nil && az.JWT != nil:
		return m.fromClaims(az.JWT.Claims)
	case az != nil && az.IAM != nil && az.IAM.UserARN != "":
		return m.fromIAM(az.IAM.UserARN)
	}
	return domain.Principal{}, fmt.Errorf("%w: the invocation carries no verified identity", ErrBadCredentials)
}

func (m Invocation) fromIAM(arn string) (domain.Principal, error) {
	role, ok := m.IAMRoles[arn]
	if !ok {
		role, ok = m.IAMRoles[roleARN(arn)]
	}
	if !ok || !role.Valid() {
		return domain.Principal{}, fmt.Errorf("%w: %s has no scangate role", ErrBadCredentials, arn)
	}
	return domain.Principal{Name: arn, Role: role, Via: "iam"}, nil
}

// roleARN turns an assumed-role session ARN into its role's ARN; any other
// ARN comes back unchanged.
func roleARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" {
		return arn
	}
	res := strings.Split(parts[5], "/")
	if len(res) < 3 || res[0] != "assumed-role" {
		return arn
	}
	return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + res[1]
}

func (m Invocation) fromClaims(claims map[string]string) (domain.Principal, error) {
	nameClaim, roleClaim := m.NameClaim, m.RoleClaim
	if nameClaim == "" {
		nameClaim = "email"
	}
	if roleClaim == "" {
		roleClaim = "cognito:groups"
	}
	name := claims[nameClaim]
	if name == "" {
		name = claims["sub"]
	}
	if name == "" {
		return domain.Principal{}, fmt.Errorf("%w: the token names nobody", ErrBadCredentials)
	}
	role, ok := HighestRole(claims[roleClaim])
	if !ok {
		return domain.Principal{}, fmt.Errorf("%w: %s has no scangate role in claim %q", ErrBadCredentials, name, roleClaim)
	}
	return domain.Principal{Name: name, Role: role, Via: "jwt"}, nil
}

// HighestRole reads a role claim as API Gateway passes it: a single
// value, a space- or comma-separated list, or a bracketed list such as
// "[viewer reviewer]". It returns the most powerful scangate role named;
// ingest counts only when it is the only role.
func HighestRole(claim string) (domain.Role, bool) {
	claim = strings.Trim(strings.TrimSpace(claim), "[]")
	var best domain.Role
	for _, f := range strings.FieldsFunc(claim, func(c rune) bool { return c == ' ' || c == ',' || c == '"' }) {
		r := domain.Role(strings.ToLower(f))
		if !r.Valid() {
			continue
		}
		if best == "" || (r != domain.RoleIngest && (best == domain.RoleIngest || r.Allows(best))) {
			best = r
		}
	}
	return best, best != ""
}
