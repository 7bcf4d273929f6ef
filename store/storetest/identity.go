package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

// The account, token and release proof cases. They are listed in the
// Driver, Store and Race groups of RunConformanceTests, so both drivers
// run them.

func identityDriverTests() []namedTest {
	return []namedTest{
		{"AccountRoundTrip", testAccountRoundTrip},
		{"UpdateAccount", testUpdateAccount},
		{"ListAccountsOrderAndPaging", testListAccounts},
		{"TokenRoundTrip", testTokenRoundTrip},
		{"RevokeToken", testRevokeTokenDriver},
		{"ListTokensOrderAndPaging", testListTokens},
		{"ReleaseProofRoundTrip", testReleaseProofRoundTrip},
		{"IdentityInvalidArguments", testIdentityInvalid},
		{"IdentityContextDone", testIdentityContextDone},
	}
}

func identityStoreTests() []namedTest {
	return []namedTest{
		{"Accounts", testStoreAccounts},
		{"CheckPassword", testCheckPassword},
		{"Tokens", testStoreTokens},
		{"Authenticate", testAuthenticate},
		{"RecordRelease", testRecordRelease},
	}
}

func identityRaceTests() []namedTest {
	return []namedTest{
		{"UpdateAccount", testRaceUpdateAccount},
		{"RevokeToken", testRaceRevokeToken},
		{"RecordRelease", testRaceRecordRelease},
	}
}

// identityStore is newStore with the cheapest bcrypt cost: the suite
// hashes many passwords, and the cost changes nothing it checks.
func identityStore(d store.Driver) (*store.Store, *clock) {
	clk := newClock(base)
	return store.New(d, &store.Options{Now: clk.Now, PasswordCost: bcrypt.MinCost}), clk
}

func account(name string, ms int64) *domain.Account {
	return &domain.Account{
		Name: name, Role: domain.RoleReviewer, PasswordHash: "$2a$04$" + sum(name)[:53],
		CreatedAt: at(ms), UpdatedAt: at(ms + 1), Disabled: false,
	}
}

func token(id, acct string, ms int64) *domain.APIToken {
	return &domain.APIToken{ID: id, Account: acct, Hash: sum("secret/" + id), CreatedAt: at(ms), Label: "minio webhook"}
}

func proof(name string, ms int64) *domain.ReleaseProof {
	return &domain.ReleaseProof{
		Bucket: "uploads", Key: "incoming/" + name + "/résumé (final).pdf", VersionID: "v." + name,
		RecordID: ref(name).ID(), SHA256: sum(name), Decision: domain.DecisionRelease, By: "alice", At: at(ms),
	}
}

func getAccount(t *testing.T, d store.Driver, name string) *domain.Account {
	t.Helper()
	a, err := d.GetAccount(context.Background(), name)
	mustOK(t, err, "GetAccount "+name)
	return a
}

func getToken(t *testing.T, d store.Driver, id string) *domain.APIToken {
	t.Helper()
	tok, err := d.GetToken(context.Background(), id)
	mustOK(t, err, "GetToken "+id)
	return tok
}

func testAccountRoundTrip(t *testing.T, d store.Driver) {
	ctx := context.Background()
	a := account("alice", 0)
	a.Disabled = true
	// A copy, not clone: JSON drops the hash, which the driver must keep.
	cp := *a
	mustOK(t, d.CreateAccount(ctx, &cp), "CreateAccount")
	want := *a
	got := getAccount(t, d, "alice")
	if delta := diff(got, &want); delta != "" {
		t.Errorf("GetAccount after CreateAccount: diff (-got +want):\n%s", delta)
	}
	if got.PasswordHash != a.PasswordHash {
		t.Errorf("PasswordHash = %q; want %q", got.PasswordHash, a.PasswordHash)
	}
	other := account("alice", 5000)
	other.Role = domain.RoleAdmin
	wantCode(t, d.CreateAccount(ctx, other), errcode.AlreadyExists, "second CreateAccount")
	if delta := diff(getAccount(t, d, "alice"), &want); delta != "" {
		t.Errorf("account after the refused CreateAccount: diff (-got +want):\n%s", delta)
	}
	_, err := d.GetAccount(ctx, "bob")
	wantCode(t, err, errcode.NotFound, "GetAccount of a missing account")
}

func testUpdateAccount(t *testing.T, d store.Driver) {
	ctx := context.Background()
	a := account("carol", 0)
	mustOK(t, d.CreateAccount(ctx, a), "CreateAccount")
	prev := a.UpdatedAt
	next := *a
	next.Role, next.Disabled, next.PasswordHash, next.UpdatedAt = domain.RoleAdmin, true, "$2a$04$new", at(2000)
	mustOK(t, d.UpdateAccount(ctx, &next, prev), "UpdateAccount")
	if delta := diff(getAccount(t, d, "carol"), &next); delta != "" {
		t.Errorf("GetAccount after UpdateAccount: diff (-got +want):\n%s", delta)
	}
	if got := getAccount(t, d, "carol").PasswordHash; got != "$2a$04$new" {
		t.Errorf("PasswordHash after UpdateAccount = %q", got)
	}
	// A writer that read before the update is refused.
	stale := *a
	stale.Role, stale.UpdatedAt = domain.RoleViewer, at(3000)
	wantCode(t, d.UpdateAccount(ctx, &stale, prev), errcode.ConditionFailed, "UpdateAccount from a stale read")
	if delta := diff(getAccount(t, d, "carol"), &next); delta != "" {
		t.Errorf("account after the refused UpdateAccount: diff (-got +want):\n%s", delta)
	}
	// A missing account is never created.
	ghost := account("ghost", 0)
	ghost.UpdatedAt = at(10)
	wantCode(t, d.UpdateAccount(ctx, ghost, at(1)), errcode.NotFound, "UpdateAccount of a missing account")
	_, err := d.GetAccount(ctx, "ghost")
	wantCode(t, err, errcode.NotFound, "GetAccount after UpdateAccount of a missing account")
	// An update that does not move UpdatedAt could not guard the next.
	same := next
	same.Role = domain.RoleViewer
	wantCode(t, d.UpdateAccount(ctx, &same, next.UpdatedAt), errcode.Invalid, "UpdateAccount keeping UpdatedAt")
}

func testListAccounts(t *testing.T, d store.Driver) {
	ctx := context.Background()
	names := []string{"zed", "alice", "bob.b", "bob-a", "0day", "carol", "bob_c"}
	for i, n := range rand.Perm(len(names)) {
		mustOK(t, d.CreateAccount(ctx, account(names[n], int64(i))), "CreateAccount "+names[n])
	}
	want := slices.Clone(names)
	slices.Sort(want) // byte order
	for _, limit := range []int{1, 2, 3, 0} {
		got, _ := listAll(t, limit, len(names), func(p store.Page) ([]*domain.Account, string, error) {
			return d.ListAccounts(ctx, p)
		})
		var gotNames []string
		for _, a := range got {
			gotNames = append(gotNames, a.Name)
			if a.PasswordHash == "" {
				t.Errorf("ListAccounts (limit %d): %s without its hash", limit, a.Name)
			}
		}
		if delta := diff(gotNames, want); delta != "" {
			t.Errorf("ListAccounts (limit %d): diff (-got +want):\n%s", limit, delta)
		}
	}
	_, _, err := d.ListAccounts(ctx, store.Page{Cursor: "!!not a cursor"})
	wantCode(t, err, errcode.Invalid, "ListAccounts with a malformed cursor")
}

func testTokenRoundTrip(t *testing.T, d store.Driver) {
	ctx := context.Background()
	tok := token("0123456789ab", "alice", 0)
	mustOK(t, d.CreateToken(ctx, clone(t, tok)), "CreateToken")
	got := getToken(t, d, tok.ID)
	want := *tok
	want.Hash = "" // clone drops it: compare it on its own
	got2 := *got
	got2.Hash = ""
	if delta := diff(&got2, &want); delta != "" {
		t.Errorf("GetToken after CreateToken: diff (-got +want):\n%s", delta)
	}
	// clone dropped the hash on the way in, so write one with it.
	full := token("fedcba987654", "alice", 10)
	mustOK(t, d.CreateToken(ctx, full), "CreateToken with a hash")
	if delta := diff(getToken(t, d, full.ID), full); delta != "" {
		t.Errorf("GetToken: diff (-got +want):\n%s", delta)
	}
	other := token(full.ID, "mallory", 20)
	wantCode(t, d.CreateToken(ctx, other), errcode.AlreadyExists, "second CreateToken")
	if delta := diff(getToken(t, d, full.ID), full); delta != "" {
		t.Errorf("token after the refused CreateToken: diff (-got +want):\n%s", delta)
	}
	_, err := d.GetToken(ctx, "000000000000")
	wantCode(t, err, errcode.NotFound, "GetToken of a missing token")
	// A token created revoked keeps its revocation.
	rev := token("aaaaaaaaaaaa", "alice", 30)
	r := at(40)
	rev.RevokedAt = &r
	mustOK(t, d.CreateToken(ctx, rev), "CreateToken revoked")
	if delta := diff(getToken(t, d, rev.ID), rev); delta != "" {
		t.Errorf("GetToken of a revoked token: diff (-got +want):\n%s", delta)
	}
}

func testRevokeTokenDriver(t *testing.T, d store.Driver) {
	ctx := context.Background()
	tok := token("00000000000a", "alice", 0)
	mustOK(t, d.CreateToken(ctx, tok), "CreateToken")
	mustOK(t, d.RevokeToken(ctx, tok.ID, at(1000)), "RevokeToken")
	want := *tok
	r := at(1000)
	want.RevokedAt = &r
	if delta := diff(getToken(t, d, tok.ID), &want); delta != "" {
		t.Errorf("GetToken after RevokeToken: diff (-got +want):\n%s", delta)
	}
	wantCode(t, d.RevokeToken(ctx, tok.ID, at(2000)), errcode.ConditionFailed, "second RevokeToken")
	if delta := diff(getToken(t, d, tok.ID), &want); delta != "" {
		t.Errorf("token after the second RevokeToken (the first time stays): diff (-got +want):\n%s", delta)
	}
	wantCode(t, d.RevokeToken(ctx, "00000000000b", at(1000)), errcode.NotFound, "RevokeToken of a missing token")
	_, err := d.GetToken(ctx, "00000000000b")
	wantCode(t, err, errcode.NotFound, "GetToken after RevokeToken of a missing token")
}

func testListTokens(t *testing.T, d store.Driver) {
	ctx := context.Background()
	var ids []string
	for i := range 9 {
		ids = append(ids, sum(fmt.Sprint("tok", i))[:12])
	}
	for i, n := range rand.Perm(len(ids)) {
		mustOK(t, d.CreateToken(ctx, token(ids[n], fmt.Sprint("acct", n%3), int64(i))), "CreateToken")
	}
	// Accounts share nothing with tokens.
	mustOK(t, d.CreateAccount(ctx, account("acct0", 0)), "CreateAccount")
	want := slices.Clone(ids)
	slices.Sort(want)
	for _, limit := range []int{1, 4, 0} {
		got, _ := listAll(t, limit, len(ids), func(p store.Page) ([]*domain.APIToken, string, error) {
			return d.ListTokens(ctx, p)
		})
		var gotIDs []string
		for _, tok := range got {
			gotIDs = append(gotIDs, tok.ID)
		}
		if delta := diff(gotIDs, want); delta != "" {
			t.Errorf("ListTokens (limit %d): diff (-got +want):\n%s", limit, delta)
		}
	}
	accts, _, err := d.ListAccounts(ctx, store.Page{})
	mustOK(t, err, "ListAccounts")
	if len(accts) != 1 {
		t.Errorf("ListAccounts: %d accounts, want 1", len(accts))
	}
}

func testReleaseProofRoundTrip(t *testing.T, d store.Driver) {
	ctx := context.Background()
	p := proof("released", 0)
	mustOK(t, d.CreateReleaseProof(ctx, clone(t, p)), "CreateReleaseProof")
	got, err := d.GetReleaseProof(ctx, p.ID())
	mustOK(t, err, "GetReleaseProof")
	if delta := diff(got, p); delta != "" {
		t.Errorf("GetReleaseProof: diff (-got +want):\n%s", delta)
	}
	other := proof("released", 9000)
	other.RecordID, other.Decision = "another", domain.DecisionAllowlist
	wantCode(t, d.CreateReleaseProof(ctx, other), errcode.AlreadyExists, "second CreateReleaseProof")
	got, err = d.GetReleaseProof(ctx, p.ID())
	mustOK(t, err, "GetReleaseProof")
	if delta := diff(got, p); delta != "" {
		t.Errorf("proof after the refused CreateReleaseProof: diff (-got +want):\n%s", delta)
	}
	_, err = d.GetReleaseProof(ctx, proof("missing", 0).ID())
	wantCode(t, err, errcode.NotFound, "GetReleaseProof of a missing proof")
}

func testIdentityInvalid(t *testing.T, d store.Driver) {
	ctx := context.Background()
	noVersion := proof("no-version", 0)
	noVersion.VersionID = ""
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateAccount without a name", func() error { return d.CreateAccount(ctx, account("", 0)) }},
		{"CreateAccount nil", func() error { return d.CreateAccount(ctx, nil) }},
		{"GetAccount without a name", func() error { _, err := d.GetAccount(ctx, ""); return err }},
		{"UpdateAccount nil", func() error { return d.UpdateAccount(ctx, nil, at(0)) }},
		{"CreateToken without an ID", func() error { return d.CreateToken(ctx, token("", "alice", 0)) }},
		{"CreateToken without an account", func() error { return d.CreateToken(ctx, token("0123456789ab", "", 0)) }},
		{"GetToken without an ID", func() error { _, err := d.GetToken(ctx, ""); return err }},
		{"RevokeToken without an ID", func() error { return d.RevokeToken(ctx, "", at(0)) }},
		{"CreateReleaseProof without a version", func() error { return d.CreateReleaseProof(ctx, noVersion) }},
		{"GetReleaseProof without an ID", func() error { _, err := d.GetReleaseProof(ctx, ""); return err }},
	}
	for _, c := range calls {
		if err := c.call(); errcode.Of(err) != errcode.Invalid {
			t.Errorf("%s: got %v (code %s), want Invalid", c.name, err, errcode.Of(err))
		}
	}
}

func testIdentityContextDone(t *testing.T, d store.Driver) {
	live := context.Background()
	mustOK(t, d.CreateAccount(live, account("ctx", 0)), "CreateAccount")
	mustOK(t, d.CreateToken(live, token("0000000000cc", "ctx", 0)), "CreateToken")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	upd := account("ctx", 0)
	upd.UpdatedAt = at(99)
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateAccount", func() error { return d.CreateAccount(ctx, account("ctx-new", 0)) }},
		{"GetAccount", func() error { _, err := d.GetAccount(ctx, "ctx"); return err }},
		{"UpdateAccount", func() error { return d.UpdateAccount(ctx, upd, at(1)) }},
		{"ListAccounts", func() error { _, _, err := d.ListAccounts(ctx, store.Page{}); return err }},
		{"CreateToken", func() error { return d.CreateToken(ctx, token("0000000000dd", "ctx", 0)) }},
		{"GetToken", func() error { _, err := d.GetToken(ctx, "0000000000cc"); return err }},
		{"RevokeToken", func() error { return d.RevokeToken(ctx, "0000000000cc", at(5)) }},
		{"ListTokens", func() error { _, _, err := d.ListTokens(ctx, store.Page{}); return err }},
		{"CreateReleaseProof", func() error { return d.CreateReleaseProof(ctx, proof("ctx", 0)) }},
		{"GetReleaseProof", func() error { _, err := d.GetReleaseProof(ctx, proof("ctx", 0).ID()); return err }},
	}
	for _, c := range calls {
		err := c.call()
		if errcode.Of(err) != errcode.Unavailable || !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a done context: got %v (code %s), want Unavailable wrapping context.Canceled", c.name, err, errcode.Of(err))
		}
	}
	// Nothing was written.
	if delta := diff(getAccount(t, d, "ctx"), account("ctx", 0)); delta != "" {
		t.Errorf("account after calls with a done context: diff (-got +want):\n%s", delta)
	}
	if getToken(t, d, "0000000000cc").Revoked() {
		t.Error("RevokeToken with a done context revoked the token")
	}
	for _, f := range []func() error{
		func() error { _, err := d.GetAccount(live, "ctx-new"); return err },
		func() error { _, err := d.GetToken(live, "0000000000dd"); return err },
		func() error { _, err := d.GetReleaseProof(live, proof("ctx", 0).ID()); return err },
	} {
		wantCode(t, f(), errcode.NotFound, "an item created with a done context")
	}
}

func testStoreAccounts(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := identityStore(d)
	has, err := s.HasAccounts(ctx)
	mustOK(t, err, "HasAccounts")
	if has {
		t.Fatal("HasAccounts of an empty store is true")
	}
	pw := []byte("correct horse battery")
	a, err := s.AddAccount(ctx, "alice", domain.RoleAdmin, pw)
	mustOK(t, err, "AddAccount")
	if a.Name != "alice" || a.Role != domain.RoleAdmin || a.Disabled || !a.CreatedAt.Equal(base) || !a.UpdatedAt.Equal(base) {
		t.Errorf("AddAccount returned %+v", a)
	}
	if !strings.HasPrefix(a.PasswordHash, "$2") || strings.Contains(a.PasswordHash, string(pw)) {
		t.Errorf("PasswordHash %q is not a bcrypt hash", a.PasswordHash)
	}
	has, err = s.HasAccounts(ctx)
	mustOK(t, err, "HasAccounts")
	if !has {
		t.Error("HasAccounts after AddAccount is false")
	}
	_, err = s.AddAccount(ctx, "alice", domain.RoleViewer, pw)
	wantCode(t, err, errcode.AlreadyExists, "AddAccount twice")

	invalid := []struct {
		name, acct string
		role       domain.Role
		pw         string
	}{
		{"bad name", "Alice", domain.RoleViewer, string(pw)},
		{"reserved name", domain.AdminTokenPrincipal, domain.RoleAdmin, string(pw)},
		{"empty name", "", domain.RoleViewer, string(pw)},
		{"unknown role", "bob", "root", string(pw)},
		{"empty role", "bob", "", string(pw)},
		{"empty password", "bob", domain.RoleViewer, ""},
		{"11-byte password", "bob", domain.RoleViewer, "12345678901"},
		{"73-byte password", "bob", domain.RoleViewer, strings.Repeat("x", 73)},
	}
	for _, c := range invalid {
		_, err := s.AddAccount(ctx, c.acct, c.role, []byte(c.pw))
		wantCode(t, err, errcode.Invalid, "AddAccount with "+c.name)
	}
	_, err = s.AddAccount(ctx, "bob", domain.RoleViewer, []byte(strings.Repeat("x", 72)))
	mustOK(t, err, "AddAccount with a 72-byte password")

	// The clock stands still: UpdatedAt must move anyway, or the next
	// conditional update could not tell writers apart.
	got, err := s.SetRole(ctx, "bob", domain.RoleReviewer)
	mustOK(t, err, "SetRole")
	if got.Role != domain.RoleReviewer || !got.UpdatedAt.After(base) {
		t.Errorf("SetRole returned %+v", got)
	}
	again, err := s.SetRole(ctx, "bob", domain.RoleReviewer)
	mustOK(t, err, "SetRole to the same role")
	if !again.UpdatedAt.Equal(got.UpdatedAt) {
		t.Error("SetRole to the same role wrote")
	}
	_, err = s.SetRole(ctx, "bob", "root")
	wantCode(t, err, errcode.Invalid, "SetRole to an unknown role")
	_, err = s.SetRole(ctx, "nobody", domain.RoleViewer)
	wantCode(t, err, errcode.NotFound, "SetRole of a missing account")
	_, err = s.SetPassword(ctx, "bob", []byte("short"))
	wantCode(t, err, errcode.Invalid, "SetPassword with a short password")

	dis, err := s.DisableAccount(ctx, "bob")
	mustOK(t, err, "DisableAccount")
	if !dis.Disabled {
		t.Error("DisableAccount returned an enabled account")
	}
	_, err = s.DisableAccount(ctx, "bob")
	mustOK(t, err, "DisableAccount twice")
	en, err := s.EnableAccount(ctx, "bob")
	mustOK(t, err, "EnableAccount")
	if en.Disabled {
		t.Error("EnableAccount returned a disabled account")
	}
	stored, err := s.Account(ctx, "bob")
	mustOK(t, err, "Account")
	if delta := diff(stored, en); delta != "" {
		t.Errorf("Account: diff (-got +want):\n%s", delta)
	}
	_, err = s.Account(ctx, "nobody")
	wantCode(t, err, errcode.NotFound, "Account of a missing account")

	list, _, err := s.ListAccounts(ctx, store.Page{})
	mustOK(t, err, "ListAccounts")
	if len(list) != 2 || list[0].Name != "alice" || list[1].Name != "bob" {
		t.Errorf("ListAccounts = %v", list)
	}
}

func wantBadCredentials(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, store.ErrBadCredentials) || errcode.Of(err) != errcode.ConditionFailed {
		t.Errorf("%s: got %v (code %s), want ErrBadCredentials with code ConditionFailed", what, err, errcode.Of(err))
	}
	if err != nil && (strings.Contains(err.Error(), "disabled") || strings.Contains(err.Error(), "not found") ||
		strings.Contains(err.Error(), "revoked")) {
		t.Errorf("%s: the error says which part failed: %v", what, err)
	}
}

func testCheckPassword(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := identityStore(d)
	pw := []byte("correct horse battery")
	_, err := s.AddAccount(ctx, "alice", domain.RoleViewer, pw)
	mustOK(t, err, "AddAccount")
	a, err := s.CheckPassword(ctx, "alice", pw)
	mustOK(t, err, "CheckPassword")
	if a.Name != "alice" || a.Role != domain.RoleViewer {
		t.Errorf("CheckPassword returned %+v", a)
	}
	_, err = s.CheckPassword(ctx, "alice", []byte("correct horse battery!"))
	wantBadCredentials(t, err, "CheckPassword with a wrong password")
	_, err = s.CheckPassword(ctx, "alice", nil)
	wantBadCredentials(t, err, "CheckPassword with no password")
	_, err = s.CheckPassword(ctx, "nobody", pw)
	wantBadCredentials(t, err, "CheckPassword of a missing account")
	_, err = s.CheckPassword(ctx, "Not A Name", pw)
	wantBadCredentials(t, err, "CheckPassword of a malformed name")

	newPW := []byte("staple battery horse correct")
	_, err = s.SetPassword(ctx, "alice", newPW)
	mustOK(t, err, "SetPassword")
	_, err = s.CheckPassword(ctx, "alice", pw)
	wantBadCredentials(t, err, "CheckPassword with the old password")
	_, err = s.CheckPassword(ctx, "alice", newPW)
	mustOK(t, err, "CheckPassword with the new password")

	_, err = s.DisableAccount(ctx, "alice")
	mustOK(t, err, "DisableAccount")
	_, err = s.CheckPassword(ctx, "alice", newPW)
	wantBadCredentials(t, err, "CheckPassword of a disabled account")
}

func testStoreTokens(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := identityStore(d)
	for _, n := range []string{"alice", "bob"} {
		_, err := s.AddAccount(ctx, n, domain.RoleViewer, []byte("correct horse battery"))
		mustOK(t, err, "AddAccount")
	}
	secret, tok, err := s.IssueToken(ctx, "alice", "laptop")
	mustOK(t, err, "IssueToken")
	id, part, err := store.ParseToken(secret)
	mustOK(t, err, "ParseToken of an issued token")
	if id != tok.ID || len(secret) != store.TokenLen || !strings.HasPrefix(secret, "sgt_"+tok.ID+"_") {
		t.Errorf("IssueToken gave secret %q for token %+v", secret, tok)
	}
	if tok.Account != "alice" || tok.Label != "laptop" || tok.Revoked() || !tok.CreatedAt.Equal(base) {
		t.Errorf("IssueToken returned %+v", tok)
	}
	stored, err := s.Token(ctx, tok.ID)
	mustOK(t, err, "Token")
	if stored.Hash == "" || strings.Contains(stored.Hash, part) || strings.Contains(secret, stored.Hash) {
		t.Errorf("stored hash %q is empty or holds the secret", stored.Hash)
	}
	if len(stored.Hash) != 64 {
		t.Errorf("stored hash %q is not a hex SHA-256", stored.Hash)
	}
	secret2, _, err := s.IssueToken(ctx, "alice", "")
	mustOK(t, err, "IssueToken without a label")
	if secret2 == secret {
		t.Error("two tokens have the same secret")
	}
	_, bobTok, err := s.IssueToken(ctx, "bob", "ci")
	mustOK(t, err, "IssueToken for bob")

	_, _, err = s.IssueToken(ctx, "nobody", "")
	wantCode(t, err, errcode.NotFound, "IssueToken for a missing account")
	_, _, err = s.IssueToken(ctx, "alice", "bad\x1b[31mlabel")
	wantCode(t, err, errcode.Invalid, "IssueToken with a control character in the label")
	_, _, err = s.IssueToken(ctx, "alice", "bidi\u202elabel")
	wantCode(t, err, errcode.Invalid, "IssueToken with a bidi override in the label")
	_, _, err = s.IssueToken(ctx, "alice", strings.Repeat("x", store.MaxTokenLabelLen+1))
	wantCode(t, err, errcode.Invalid, "IssueToken with a long label")
	_, err = s.DisableAccount(ctx, "bob")
	mustOK(t, err, "DisableAccount")
	_, _, err = s.IssueToken(ctx, "bob", "")
	wantCode(t, err, errcode.ConditionFailed, "IssueToken for a disabled account")

	collect := func(account string) []string {
		toks, _ := listAll(t, 1, 3, func(p store.Page) ([]*domain.APIToken, string, error) {
			return s.ListTokens(ctx, account, p)
		})
		var out []string
		for _, tk := range toks {
			out = append(out, tk.Account)
		}
		return out
	}
	if got := collect("alice"); len(got) != 2 || got[0] != "alice" || got[1] != "alice" {
		t.Errorf("ListTokens alice: accounts %v", got)
	}
	if got := collect("bob"); len(got) != 1 {
		t.Errorf("ListTokens bob: accounts %v", got)
	}
	if got := collect(""); len(got) != 3 {
		t.Errorf("ListTokens of all: accounts %v", got)
	}

	clk.Advance(time.Minute)
	mustOK(t, s.RevokeToken(ctx, bobTok.ID), "RevokeToken")
	clk.Advance(time.Minute)
	mustOK(t, s.RevokeToken(ctx, bobTok.ID), "RevokeToken twice")
	got, err := s.Token(ctx, bobTok.ID)
	mustOK(t, err, "Token")
	if got.RevokedAt == nil || !got.RevokedAt.Equal(base.Add(time.Minute)) {
		t.Errorf("RevokedAt = %v; want the first revocation, %v", got.RevokedAt, base.Add(time.Minute))
	}
	wantCode(t, s.RevokeToken(ctx, "000000000000"), errcode.NotFound, "RevokeToken of a missing token")
	wantCode(t, s.RevokeToken(ctx, "not-an-id"), errcode.Invalid, "RevokeToken of a malformed ID")
}

func testAuthenticate(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := identityStore(d)
	for _, n := range []string{"alice", "bob"} {
		_, err := s.AddAccount(ctx, n, domain.RoleReviewer, []byte("correct horse battery"))
		mustOK(t, err, "AddAccount")
	}
	secret, tok, err := s.IssueToken(ctx, "alice", "")
	mustOK(t, err, "IssueToken")
	a, got, err := s.Authenticate(ctx, secret)
	mustOK(t, err, "Authenticate")
	if a.Name != "alice" || a.Role != domain.RoleReviewer || got.ID != tok.ID {
		t.Errorf("Authenticate = %+v, %+v", a, got)
	}

	bobSecret, bobTok, err := s.IssueToken(ctx, "bob", "")
	mustOK(t, err, "IssueToken bob")
	// Alice's ID with Bob's secret part, and the other way round.
	swapped := secret[:len("sgt_")+12] + bobSecret[len("sgt_")+12:]
	flipped := []byte(secret)
	flipped[len(flipped)-2] ^= 1 // stays in the alphabet: A<->B, etc.
	// A token whose account is gone (written by the driver: the store
	// never makes one).
	orphanSecret, orphanTok, err := s.IssueToken(ctx, "alice", "")
	mustOK(t, err, "IssueToken")
	orphan := *orphanTok
	orphan.ID = "0000000000ff"
	orphan.Account = "ghost"
	stored, err := s.Token(ctx, orphanTok.ID)
	mustOK(t, err, "Token")
	orphan.Hash = stored.Hash
	mustOK(t, d.CreateToken(ctx, &orphan), "CreateToken of an orphan")
	orphanSecret = "sgt_0000000000ff" + orphanSecret[len("sgt_")+12:]

	for _, c := range []struct{ name, secret string }{
		{"empty", ""},
		{"garbage", "hello"},
		{"lower-case scheme", "Bearer " + secret},
		{"swapped secret part", swapped},
		{"flipped bit", string(flipped)},
		{"upper-case ID", strings.ToUpper(secret[:16]) + secret[16:]},
		{"trailing newline", secret + "\n"},
		{"unknown ID", "sgt_000000000000" + secret[len("sgt_")+12:]},
		{"orphan token", orphanSecret},
	} {
		_, _, err := s.Authenticate(ctx, c.secret)
		wantBadCredentials(t, err, "Authenticate with "+c.name)
	}

	mustOK(t, s.RevokeToken(ctx, bobTok.ID), "RevokeToken")
	_, _, err = s.Authenticate(ctx, bobSecret)
	wantBadCredentials(t, err, "Authenticate with a revoked token")

	_, _, err = s.Authenticate(ctx, secret)
	mustOK(t, err, "Authenticate before DisableAccount")
	_, err = s.DisableAccount(ctx, "alice")
	mustOK(t, err, "DisableAccount")
	_, _, err = s.Authenticate(ctx, secret)
	wantBadCredentials(t, err, "Authenticate with a token of a disabled account")
	_, err = s.EnableAccount(ctx, "alice")
	mustOK(t, err, "EnableAccount")
	_, _, err = s.Authenticate(ctx, secret)
	mustOK(t, err, "Authenticate after EnableAccount")
}

func testRecordRelease(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, clk := identityStore(d)
	p := *proof("release", 0)
	p.At = time.Time{}
	p.SHA256 = strings.ToUpper(p.SHA256)
	got, err := s.RecordRelease(ctx, p)
	mustOK(t, err, "RecordRelease")
	want := *proof("release", 0)
	want.At = base
	if delta := diff(got, &want); delta != "" {
		t.Errorf("RecordRelease returned: diff (-got +want):\n%s", delta)
	}
	// A retried step writes the same proof later: it gets the stored one.
	clk.Advance(time.Minute)
	again, err := s.RecordRelease(ctx, p)
	mustOK(t, err, "RecordRelease again")
	if delta := diff(again, &want); delta != "" {
		t.Errorf("RecordRelease again returned: diff (-got +want):\n%s", delta)
	}
	for _, change := range []func(*domain.ReleaseProof){
		func(q *domain.ReleaseProof) { q.RecordID = "another" },
		func(q *domain.ReleaseProof) { q.SHA256 = sum("other bytes") },
		func(q *domain.ReleaseProof) { q.Decision = domain.DecisionAllowlist },
		func(q *domain.ReleaseProof) { q.By = "mallory" },
	} {
		q := p
		change(&q)
		_, err := s.RecordRelease(ctx, q)
		wantCode(t, err, errcode.ConditionFailed, "RecordRelease of a different proof for the same version")
	}

	found, err := s.ReleaseProof(ctx, p.Bucket, p.Key, p.VersionID)
	mustOK(t, err, "ReleaseProof")
	if delta := diff(found, &want); delta != "" {
		t.Errorf("ReleaseProof: diff (-got +want):\n%s", delta)
	}
	for _, c := range []struct{ bucket, key, version string }{
		{p.Bucket, p.Key, "v.other"},
		{p.Bucket, p.Key + " ", p.VersionID},
		{"other", p.Key, p.VersionID},
		{p.Bucket, p.Key, ""},
		{"", "", ""},
	} {
		got, err := s.ReleaseProof(ctx, c.bucket, c.key, c.version)
		mustOK(t, err, "ReleaseProof of another version")
		if got != nil {
			t.Errorf("ReleaseProof(%q, %q, %q) = %+v; want nil", c.bucket, c.key, c.version, got)
		}
	}

	invalid := map[string]func(*domain.ReleaseProof){
		"no bucket":      func(q *domain.ReleaseProof) { q.Bucket = "" },
		"no key":         func(q *domain.ReleaseProof) { q.Key = "" },
		"no version":     func(q *domain.ReleaseProof) { q.VersionID = "" },
		"no record":      func(q *domain.ReleaseProof) { q.RecordID = "" },
		"bad hash":       func(q *domain.ReleaseProof) { q.SHA256 = "abc" },
		"confirm":        func(q *domain.ReleaseProof) { q.Decision = domain.DecisionConfirm },
		"no decision":    func(q *domain.ReleaseProof) { q.Decision = "" },
		"no principal":   func(q *domain.ReleaseProof) { q.By = " " },
		"other decision": func(q *domain.ReleaseProof) { q.Decision = "approve" },
	}
	for name, change := range invalid {
		q := *proof("invalid", 0)
		change(&q)
		_, err := s.RecordRelease(ctx, q)
		wantCode(t, err, errcode.Invalid, "RecordRelease with "+name)
	}
}

func testRaceUpdateAccount(t *testing.T, d store.Driver) {
	ctx := context.Background()
	a := account("race", 0)
	mustOK(t, d.CreateAccount(ctx, a), "CreateAccount")
	// Writers of the same read: exactly one wins.
	errs := race(func(i int) error {
		next := *a
		next.Disabled = i%2 == 0
		next.UpdatedAt = at(int64(1000 + i))
		return d.UpdateAccount(ctx, &next, a.UpdatedAt)
	})
	oneWinner(t, errs, "UpdateAccount")
	// Through the store every writer gets through, one after another.
	s, _ := identityStore(d)
	errs = race(func(i int) error {
		_, err := s.SetRole(ctx, "race", []domain.Role{domain.RoleViewer, domain.RoleAdmin}[i%2])
		return err
	})
	for i, err := range errs {
		if err != nil && errcode.Of(err) != errcode.ConditionFailed {
			t.Errorf("SetRole racer %d: %v", i, err)
		}
	}
}

func testRaceRevokeToken(t *testing.T, d store.Driver) {
	ctx := context.Background()
	tok := token("0000000000ee", "alice", 0)
	mustOK(t, d.CreateToken(ctx, tok), "CreateToken")
	errs := race(func(i int) error { return d.RevokeToken(ctx, tok.ID, at(int64(1000+i))) })
	oneWinner(t, errs, "RevokeToken")
	got := getToken(t, d, tok.ID)
	for i, err := range errs {
		if err == nil && (got.RevokedAt == nil || !got.RevokedAt.Equal(at(int64(1000+i)))) {
			t.Errorf("RevokedAt = %v, not the winner's", got.RevokedAt)
		}
	}
}

func testRaceRecordRelease(t *testing.T, d store.Driver) {
	ctx := context.Background()
	s, _ := identityStore(d)
	// Retries of one step all succeed with the one stored proof.
	same := *proof("race-same", 0)
	errs := race(func(int) error { _, err := s.RecordRelease(ctx, same); return err })
	for i, err := range errs {
		if err != nil {
			t.Errorf("RecordRelease of the same proof, racer %d: %v", i, err)
		}
	}
	// Different proofs for one version: exactly one is stored.
	errs = race(func(i int) error {
		p := *proof("race-different", 0)
		p.RecordID = fmt.Sprint("record-", i)
		_, err := s.RecordRelease(ctx, p)
		return err
	})
	oneWinner(t, errs, "RecordRelease of different proofs")
}
