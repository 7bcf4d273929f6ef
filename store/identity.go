package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
)

// ErrBadCredentials is the one answer to a sign-in or a token that does not
// hold, wrapped with code ConditionFailed: it never says whether the
// account, the password, the token or its revocation was the reason, so a
// caller cannot probe which accounts exist. Errors of the store itself
// (Unavailable, Throttled, Unknown) are returned as they are, so that an
// outage is not mistaken for a wrong password.
var ErrBadCredentials = errors.New("bad credentials")

func badCredentials(op string) error {
	return &errcode.Error{Code: errcode.ConditionFailed, Op: op, Err: ErrBadCredentials}
}

// Password bounds. bcrypt reads at most 72 bytes; a longer password would
// be silently cut, so it is refused instead.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 72
)

// DefaultPasswordCost is the bcrypt cost of new password hashes.
const DefaultPasswordCost = 12

// dummy holds a bcrypt hash of a random password at the store's cost, made
// once: CheckPassword compares against it when the account is missing, so
// that a missing account costs the same time as a wrong password.
type dummy struct {
	once sync.Once
	hash []byte
}

func (s *Store) dummyHash() []byte {
	s.dummy.once.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), s.passwordCost)
		if err != nil {
			panic(err) // only a bad cost fails, and New checks it
		}
		s.dummy.hash = h
	})
	return s.dummy.hash
}

func (s *Store) hashPassword(op, name string, password []byte) (string, error) {
	if err := CheckPassword(password); err != nil {
		return "", &errcode.Error{Code: errcode.Invalid, Op: op, ID: name, Err: err}
	}
	h, err := bcrypt.GenerateFromPassword(password, s.passwordCost)
	if err != nil {
		return "", &errcode.Error{Code: errcode.Invalid, Op: op, ID: name, Err: err}
	}
	return string(h), nil
}

// CheckPassword returns an error unless password is between MinPasswordLen
// and MaxPasswordLen bytes long.
func CheckPassword(password []byte) error {
	switch {
	case len(password) < MinPasswordLen:
		return errors.New("password must be at least 12 bytes long")
	case len(password) > MaxPasswordLen:
		return errors.New("password must be at most 72 bytes long (bcrypt ignores the rest)")
	}
	return nil
}

func checkName(op, name string) error {
	if err := domain.CheckAccountName(name); err != nil {
		return &errcode.Error{Code: errcode.Invalid, Op: op, ID: name, Err: err}
	}
	return nil
}

func checkRole(op, name string, role domain.Role) error {
	if !role.Valid() {
		return errcode.Errorf(errcode.Invalid, op, name, "unknown role %q (want one of %v)", role, domain.Roles())
	}
	return nil
}

// AddAccount creates an account with a bcrypt hash of password. An account
// of that name that exists gives AlreadyExists; a bad name, role or
// password gives Invalid.
func (s *Store) AddAccount(ctx context.Context, name string, role domain.Role, password []byte) (*domain.Account, error) {
	const op = "store: add account"
	if err := checkName(op, name); err != nil {
		return nil, err
	}
	if err := checkRole(op, name, role); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(op, name, password)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	a := &domain.Account{Name: name, Role: role, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := s.d.CreateAccount(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// Account returns the account called name, or NotFound.
func (s *Store) Account(ctx context.Context, name string) (*domain.Account, error) {
	if err := checkName("store: account", name); err != nil {
		return nil, err
	}
	return s.d.GetAccount(ctx, name)
}

// ListAccounts pages through the accounts by name.
func (s *Store) ListAccounts(ctx context.Context, page Page) ([]*domain.Account, string, error) {
	return s.d.ListAccounts(ctx, page)
}

// HasAccounts reports whether any account exists: scangate run asks before
// it serves on a non-loopback address, and to create a first admin.
func (s *Store) HasAccounts(ctx context.Context) (bool, error) {
	page := Page{Limit: 1}
	for {
		accts, next, err := s.d.ListAccounts(ctx, page)
		if err != nil {
			return false, err
		}
		if len(accts) > 0 {
			return true, nil
		}
		if next == "" {
			return false, nil
		}
		page.Cursor = next
	}
}

// updateAccount reads the account, applies change and writes it back
// conditional on what it read, reading again when another write came
// between. change returns false when the account already is as wanted:
// nothing is written then.
func (s *Store) updateAccount(ctx context.Context, op, name string, change func(a *domain.Account) (bool, error)) (*domain.Account, error) {
	if err := checkName(op, name); err != nil {
		return nil, err
	}
	var err error
	for range 8 {
		var a *domain.Account
		if a, err = s.d.GetAccount(ctx, name); err != nil {
			return nil, err
		}
		prev := a.UpdatedAt
		var write bool
		if write, err = change(a); err != nil || !write {
			return a, err
		}
		// The next write is conditional on UpdatedAt, so it must move even
		// when the clock did not (a fake clock, a coarse one).
		a.UpdatedAt = s.Now()
		if !a.UpdatedAt.After(prev) {
			a.UpdatedAt = prev.Add(time.Millisecond)
		}
		err = s.d.UpdateAccount(ctx, a, prev)
		if err == nil {
			return a, nil
		}
		if errcode.Of(err) != errcode.ConditionFailed {
			return nil, err
		}
	}
	return nil, err
}

// SetRole gives the account another role.
func (s *Store) SetRole(ctx context.Context, name string, role domain.Role) (*domain.Account, error) {
	const op = "store: set role"
	if err := checkRole(op, name, role); err != nil {
		return nil, err
	}
	return s.updateAccount(ctx, op, name, func(a *domain.Account) (bool, error) {
		if a.Role == role {
			return false, nil
		}
		a.Role = role
		return true, nil
	})
}

// SetPassword replaces the account's password. Tokens stay valid: revoke
// them (RevokeToken) when the password change is because of a leak.
func (s *Store) SetPassword(ctx context.Context, name string, password []byte) (*domain.Account, error) {
	const op = "store: set password"
	hash, err := s.hashPassword(op, name, password)
	if err != nil {
		return nil, err
	}
	return s.updateAccount(ctx, op, name, func(a *domain.Account) (bool, error) {
		a.PasswordHash = hash
		return true, nil
	})
}

// DisableAccount disables the account: its password and every token of it
// are refused from now on. Disabling it again changes nothing.
func (s *Store) DisableAccount(ctx context.Context, name string) (*domain.Account, error) {
	return s.setDisabled(ctx, "store: disable account", name, true)
}

// EnableAccount undoes DisableAccount.
func (s *Store) EnableAccount(ctx context.Context, name string) (*domain.Account, error) {
	return s.setDisabled(ctx, "store: enable account", name, false)
}

func (s *Store) setDisabled(ctx context.Context, op, name string, disabled bool) (*domain.Account, error) {
	return s.updateAccount(ctx, op, name, func(a *domain.Account) (bool, error) {
		if a.Disabled == disabled {
			return false, nil
		}
		a.Disabled = disabled
		return true, nil
	})
}

// CheckPassword returns the account when password is its password and it
// is enabled. Every other outcome (no such account, a malformed name, a
// wrong password, a disabled account) is ErrBadCredentials, after the same
// bcrypt work, so neither the answer nor its time tells them apart.
func (s *Store) CheckPassword(ctx context.Context, name string, password []byte) (*domain.Account, error) {
	const op = "store: check password"
	var a *domain.Account
	hash := s.dummyHash()
	if domain.CheckAccountName(name) == nil {
		got, err := s.d.GetAccount(ctx, name)
		switch {
		case err == nil:
			a, hash = got, []byte(got.PasswordHash)
		case errcode.Of(err) != errcode.NotFound:
			return nil, err
		}
	}
	// Compare even for a password of a bad length: refusing it early would
	// be quicker than a wrong one of the right length.
	ok := bcrypt.CompareHashAndPassword(hash, password) == nil
	if a == nil || !ok || a.Disabled || len(password) > MaxPasswordLen {
		return nil, badCredentials(op)
	}
	return a, nil
}

// Token secrets are "sgt_<id>_<secret>": a fixed prefix that secret
// scanners can match, the public token ID (12 hex digits), and 32 random
// bytes in unpadded base64url (43 characters). The ID is in the secret so
// that Authenticate reads one item by key; the store keeps only the hex
// SHA-256 of the 43-character secret part.
const (
	tokenPrefix    = "sgt_"
	tokenIDLen     = 12
	tokenSecretLen = 43
	// TokenLen is the length of a whole token secret.
	TokenLen = len(tokenPrefix) + tokenIDLen + 1 + tokenSecretLen
)

// MaxTokenLabelLen bounds a token's label.
const MaxTokenLabelLen = 200

// ParseToken splits a token secret into its ID and its secret part. It
// checks the form exactly (prefix, length, lower-case hex ID, canonical
// base64url of 32 bytes) and says nothing about whether the token exists.
func ParseToken(secret string) (id, part string, err error) {
	bad := errors.New("not a scangate token (sgt_<12 hex>_<43 base64url>)")
	rest, ok := strings.CutPrefix(secret, tokenPrefix)
	if !ok || len(secret) != TokenLen || rest[tokenIDLen] != '_' {
		return "", "", bad
	}
	id, part = rest[:tokenIDLen], rest[tokenIDLen+1:]
	if !isLowerHex(id) {
		return "", "", bad
	}
	raw, derr := base64.RawURLEncoding.Strict().DecodeString(part)
	if derr != nil || len(raw) != 32 {
		return "", "", bad
	}
	return id, part, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// tokenHash is the stored hash of a token's secret part.
func tokenHash(part string) string {
	h := sha256.Sum256([]byte(part))
	return hex.EncodeToString(h[:])
}

// dummyTokenHash is compared when no token has the ID, so a missing token
// does the same work as a wrong secret.
var dummyTokenHash = tokenHash(strings.Repeat("A", tokenSecretLen))

func checkLabel(op, id, label string) error {
	if len(label) > MaxTokenLabelLen || !utf8.ValidString(label) ||
		strings.ContainsFunc(label, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
		return errcode.Errorf(errcode.Invalid, op, id, "a label is at most %d bytes of UTF-8 without control or format characters", MaxTokenLabelLen)
	}
	return nil
}

// IssueToken creates an API token for the account and returns its secret,
// which exists nowhere else: only its hash is stored. The account must
// exist (NotFound) and be enabled (ConditionFailed).
func (s *Store) IssueToken(ctx context.Context, account, label string) (string, *domain.APIToken, error) {
	const op = "store: issue token"
	if err := checkLabel(op, account, label); err != nil {
		return "", nil, err
	}
	a, err := s.Account(ctx, account)
	if err != nil {
		return "", nil, err
	}
	if a.Disabled {
		return "", nil, errcode.Errorf(errcode.ConditionFailed, op, account, "the account is disabled")
	}
	// 48 random bits of ID collide rarely; a collision is refused by the
	// conditional create and a new ID drawn.
	for range 8 {
		var idb [tokenIDLen / 2]byte
		var sec [32]byte
		_, _ = rand.Read(idb[:]) // crypto/rand never fails on supported platforms
		_, _ = rand.Read(sec[:])
		part := base64.RawURLEncoding.EncodeToString(sec[:])
		tok := &domain.APIToken{
			ID: hex.EncodeToString(idb[:]), Account: a.Name, Hash: tokenHash(part),
			CreatedAt: s.Now(), Label: label,
		}
		err = s.d.CreateToken(ctx, tok)
		if err == nil {
			return tokenPrefix + tok.ID + "_" + part, tok, nil
		}
		if errcode.Of(err) != errcode.AlreadyExists {
			return "", nil, err
		}
	}
	return "", nil, err
}

// Authenticate returns the account and token that secret stands for. A
// malformed, unknown, wrong or revoked token, and a token of a disabled or
// deleted account, all give ErrBadCredentials; the hashes are compared in
// constant time.
func (s *Store) Authenticate(ctx context.Context, secret string) (*domain.Account, *domain.APIToken, error) {
	const op = "store: authenticate"
	id, part, err := ParseToken(secret)
	if err != nil {
		return nil, nil, badCredentials(op)
	}
	stored := dummyTokenHash
	tok, err := s.d.GetToken(ctx, id)
	switch {
	case err == nil:
		stored = tok.Hash
	case errcode.Of(err) != errcode.NotFound:
		return nil, nil, err
	}
	ok := subtle.ConstantTimeCompare([]byte(tokenHash(part)), []byte(stored)) == 1
	if tok == nil || !ok || tok.Revoked() {
		return nil, nil, badCredentials(op)
	}
	a, err := s.d.GetAccount(ctx, tok.Account)
	switch {
	case errcode.Of(err) == errcode.NotFound:
		return nil, nil, badCredentials(op)
	case err != nil:
		return nil, nil, err
	case a.Disabled:
		return nil, nil, badCredentials(op)
	}
	return a, tok, nil
}

// Token returns the token with the given ID (never its secret, which is
// not stored).
func (s *Store) Token(ctx context.Context, id string) (*domain.APIToken, error) {
	if err := checkTokenID("store: token", id); err != nil {
		return nil, err
	}
	return s.d.GetToken(ctx, id)
}

func checkTokenID(op, id string) error {
	if len(id) != tokenIDLen || !isLowerHex(id) {
		return errcode.Errorf(errcode.Invalid, op, id, "a token ID is %d lower-case hex digits", tokenIDLen)
	}
	return nil
}

// RevokeToken revokes the token: Authenticate refuses it from now on.
// Revoking a revoked token is a success that keeps the first revocation
// time; a missing one gives NotFound.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	const op = "store: revoke token"
	if err := checkTokenID(op, id); err != nil {
		return err
	}
	err := s.d.RevokeToken(ctx, id, s.Now())
	if errcode.Of(err) == errcode.ConditionFailed {
		return nil
	}
	return err
}

// ListTokens pages through the tokens by ID; account, when not empty,
// keeps only that account's. A page may then hold fewer tokens than the
// limit, or none, with a cursor to go on (see Page).
func (s *Store) ListTokens(ctx context.Context, account string, page Page) ([]*domain.APIToken, string, error) {
	toks, next, err := s.d.ListTokens(ctx, page)
	if err != nil || account == "" {
		return toks, next, err
	}
	out := toks[:0]
	for _, t := range toks {
		if t.Account == account {
			out = append(out, t)
		}
	}
	return out, next, nil
}
