package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/store"
)

// firstAdmin is the account `scangate run` creates on loopback when the
// store has none.
const firstAdmin = "admin"

// checkAccess decides whether the API may start as configured, and fills
// in the allowed hosts.
//
// The API refuses anonymous callers everywhere but the upload endpoints,
// so it is never open; but a server that nobody can sign in to is useless,
// and creating an account with a printed password is only safe where the
// person starting it is the only one who can reach it. So: on a loopback
// address with no accounts, run creates the first admin and prints its
// password and an API token once; on any other address it refuses to
// start until an account or an admin token exists.
func checkAccess(ctx context.Context, st *store.Store, c *runConfig, stdout io.Writer) error {
	host, _, err := net.SplitHostPort(c.listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", c.listen, err)
	}
	loopback := isLoopback(host)
	if len(c.allowedHosts) == 0 {
		c.allowedHosts = []string{"localhost"}
		if host != "" && !net.ParseIP(strings.Trim(host, "[]")).IsUnspecified() {
			c.allowedHosts = append(c.allowedHosts, host)
		}
		if loopback {
			c.allowedHosts = append(c.allowedHosts, "127.0.0.1", "::1")
		}
	}
	has, err := st.HasAccounts(ctx)
	if err != nil {
		return fmt.Errorf("read accounts: %w", err)
	}
	switch {
	case has || c.adminToken != "":
		return nil
	case !loopback:
		return fmt.Errorf("refusing to listen on %s with no accounts and no --admin-token: anyone who can reach it could not be told apart; "+
			"create an account first (scangate users add NAME --role admin --data %s), or listen on 127.0.0.1", c.listen, c.dataDir)
	}
	password := make([]byte, 18)
	if _, err := rand.Read(password); err != nil {
		return err
	}
	pw := base64.RawURLEncoding.EncodeToString(password)
	if _, err := st.AddAccount(ctx, firstAdmin, domain.RoleAdmin, []byte(pw)); err != nil {
		return fmt.Errorf("create the first admin account: %w", err)
	}
	secret, _, err := st.IssueToken(ctx, firstAdmin, "first start")
	if err != nil {
		return fmt.Errorf("issue the first admin's API token: %w", err)
	}
	fmt.Fprintf(stdout, `
No accounts yet: created the admin account %q. This is shown once; keep it.
  password:  %s
  API token: %s
Use the token as "Authorization: Bearer TOKEN". More accounts and tokens:
scangate users add|token ... --data %s (while the server is stopped).

`, firstAdmin, pw, secret, c.dataDir)
	return nil
}

// isLoopback reports whether a listen host is a loopback address only:
// "" and 0.0.0.0 listen everywhere, and a name could resolve anywhere
// but "localhost".
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
