package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/store"
)

const usersUsage = `usage: scangate users <command> [flags] [args]

Accounts and API tokens in the record store. Every command takes run's
--data DIR and --store URL, and works while the server is stopped (the
embedded store is one file that one process holds at a time; a DynamoDB
table may be changed while servers run).

commands:
  add NAME --role ROLE       create an account; its password is the first line of stdin
  passwd NAME                set the account's password from the first line of stdin
  role NAME ROLE             change the account's role
  disable NAME               refuse the account's password and tokens from now on
  enable NAME                undo disable
  list                       accounts, their roles and whether they are disabled
  token NAME [--label L]     issue an API token; it is printed once, alone on the last line of stdout
  tokens [NAME]              tokens (of NAME, or all): id, account, created, revoked, label
  revoke TOKEN_ID            revoke a token (revoking twice is fine)

roles: viewer (reads), reviewer (viewer + decide, rescan, allowlist),
admin (reviewer + users and tokens), ingest (only POST /v1/events).
Passwords are 12 to 72 bytes. Exit status: 0 done, 2 usage or any error.
`

// passwordCost is the bcrypt cost of the passwords users sets; tests lower
// it.
var passwordCost = store.DefaultPasswordCost

// usersCommand is one subcommand: its positional arguments, and what it
// does with them.
type usersCommand struct {
	args string // e.g. "NAME ROLE", for the usage line
	min  int    // positional arguments at least
	max  int    // and at most
	run  func(ctx context.Context, u *usersEnv, args []string) error
}

type usersEnv struct {
	st     *store.Store
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	role   string
	label  string
}

var usersCommands = map[string]usersCommand{
	"add":     {"NAME --role ROLE", 1, 1, usersAdd},
	"passwd":  {"NAME", 1, 1, usersPasswd},
	"role":    {"NAME ROLE", 2, 2, usersRole},
	"disable": {"NAME", 1, 1, usersDisable},
	"enable":  {"NAME", 1, 1, usersEnable},
	"list":    {"", 0, 0, usersList},
	"token":   {"NAME [--label L]", 1, 1, usersToken},
	"tokens":  {"[NAME]", 0, 1, usersTokens},
	"revoke":  {"TOKEN_ID", 1, 1, usersRevoke},
}

func cmdUsers(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usersUsage)
		return 2
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		fmt.Fprint(stdout, usersUsage)
		return 0
	}
	cmd, ok := usersCommands[name]
	if !ok {
		fmt.Fprintf(stderr, "scangate users: unknown command %q\n\n%s", name, usersUsage)
		return 2
	}
	env := &usersEnv{stdin: stdin, stdout: stdout, stderr: stderr}
	fl := flag.NewFlagSet("users "+name, flag.ContinueOnError)
	fl.SetOutput(io.Discard) // help goes to stdout, errors to stderr: below
	dataDir := fl.String("data", "scangate-data", "directory of the embedded store (as scangate run --data)")
	storeURLFlag := fl.String("store", "", storeFlagUsage)
	switch name {
	case "add":
		fl.StringVar(&env.role, "role", "", "the account's role: viewer, reviewer, admin or ingest (required)")
	case "token":
		fl.StringVar(&env.label, "label", "", "a note on the token (where it is used)")
	}
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: scangate users %s [--data DIR] [--store URL] %s\n\nflags:\n", name, cmd.args)
		fl.SetOutput(w)
		fl.PrintDefaults()
		fl.SetOutput(io.Discard)
	}
	pos, err := parseInterspersed(fl, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return 0
	}
	if err == nil && (len(pos) < cmd.min || len(pos) > cmd.max) {
		err = fmt.Errorf("want %s, got %d arguments", orNone(cmd.args), len(pos))
	}
	if err == nil && name == "add" && env.role == "" {
		err = errors.New("--role is required")
	}
	if err != nil {
		fmt.Fprintf(stderr, "scangate users %s: %v\n", name, err)
		usage(stderr)
		return 2
	}
	st, err := openStore(ctx, *dataDir, *storeURLFlag, &store.Options{PasswordCost: passwordCost})
	if err != nil {
		fmt.Fprintf(stderr, "scangate users %s: %v\n", name, err)
		return 2
	}
	defer st.Close()
	env.st = st
	if err := cmd.run(ctx, env, pos); err != nil {
		fmt.Fprintf(stderr, "scangate users %s: %v\n", name, err)
		return 2
	}
	return 0
}

func orNone(s string) string {
	if s == "" {
		return "no arguments"
	}
	return s
}

// parseInterspersed parses flags that come before, between or after the
// positional arguments ("users add alice --role admin"), which
// flag.FlagSet alone stops at. After "--" everything is positional.
func parseInterspersed(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		rest := fl.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// readPassword reads the first line of r (without its line ending). On a
// terminal it prompts on stderr first.
func readPassword(u *usersEnv, name string) ([]byte, error) {
	if f, ok := u.stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintf(u.stderr, "password for %s (%d to %d bytes; the terminal shows it): ", name, store.MinPasswordLen, store.MaxPasswordLen)
		}
	}
	// A line longer than bcrypt's limit is refused anyway; read a little
	// more than that so the message can say so.
	line, err := bufio.NewReaderSize(io.LimitReader(u.stdin, 4096), 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read the password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return nil, errors.New("no password on stdin (give it as the first line)")
	}
	if err := store.CheckPassword([]byte(line)); err != nil {
		return nil, err
	}
	return []byte(line), nil
}

func usersAdd(ctx context.Context, u *usersEnv, args []string) error {
	role := domain.Role(u.role)
	if !role.Valid() {
		return fmt.Errorf("unknown role %q (want one of %v)", role, domain.Roles())
	}
	if err := domain.CheckAccountName(args[0]); err != nil {
		return err
	}
	pw, err := readPassword(u, args[0])
	if err != nil {
		return err
	}
	a, err := u.st.AddAccount(ctx, args[0], role, pw)
	if err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "added %s (%s)\n", a.Name, a.Role)
	return nil
}

func usersPasswd(ctx context.Context, u *usersEnv, args []string) error {
	if _, err := u.st.Account(ctx, args[0]); err != nil {
		return err // before reading a password for nobody
	}
	pw, err := readPassword(u, args[0])
	if err != nil {
		return err
	}
	if _, err := u.st.SetPassword(ctx, args[0], pw); err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "password of %s changed; its tokens stay valid (revoke them if the password leaked)\n", args[0])
	return nil
}

func usersRole(ctx context.Context, u *usersEnv, args []string) error {
	a, err := u.st.SetRole(ctx, args[0], domain.Role(args[1]))
	if err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "%s is %s\n", a.Name, a.Role)
	return nil
}

func usersDisable(ctx context.Context, u *usersEnv, args []string) error {
	a, err := u.st.DisableAccount(ctx, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "%s is disabled: its password and tokens are refused\n", a.Name)
	return nil
}

func usersEnable(ctx context.Context, u *usersEnv, args []string) error {
	a, err := u.st.EnableAccount(ctx, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "%s is enabled\n", a.Name)
	return nil
}

// timeText formats a time for a listing, in UTC to the second.
func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func usersList(ctx context.Context, u *usersEnv, _ []string) error {
	w := tabwriter.NewWriter(u.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tROLE\tSTATUS\tCREATED\tUPDATED")
	page := store.Page{}
	for {
		accts, next, err := u.st.ListAccounts(ctx, page)
		if err != nil {
			return err
		}
		for _, a := range accts {
			status := "enabled"
			if a.Disabled {
				status = "disabled"
			}
			// Names are of a safe alphabet, roles are checked; %q keeps a
			// stored value that is neither (written by another tool) from
			// reaching the terminal raw.
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", safe(a.Name), safe(string(a.Role)), status, timeText(a.CreatedAt), timeText(a.UpdatedAt))
		}
		if next == "" {
			return w.Flush()
		}
		page.Cursor = next
	}
}

func usersToken(ctx context.Context, u *usersEnv, args []string) error {
	secret, tok, err := u.st.IssueToken(ctx, args[0], u.label)
	if err != nil {
		return err
	}
	// Everything but the secret goes to stderr, so that
	// TOKEN=$(scangate users token NAME) captures exactly the token.
	fmt.Fprintf(u.stderr, "token %s for %s issued; it is shown only now, store it safely:\n", tok.ID, tok.Account)
	fmt.Fprintln(u.stdout, secret)
	return nil
}

func usersTokens(ctx context.Context, u *usersEnv, args []string) error {
	account := ""
	if len(args) == 1 {
		account = args[0]
		if _, err := u.st.Account(ctx, account); err != nil {
			return err
		}
	}
	w := tabwriter.NewWriter(u.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tACCOUNT\tCREATED\tREVOKED\tLABEL")
	page := store.Page{}
	for {
		toks, next, err := u.st.ListTokens(ctx, account, page)
		if err != nil {
			return err
		}
		for _, t := range toks {
			revoked := "-"
			if t.RevokedAt != nil {
				revoked = timeText(*t.RevokedAt)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", safe(t.ID), safe(t.Account), timeText(t.CreatedAt), revoked, safe(t.Label))
		}
		if next == "" {
			return w.Flush()
		}
		page.Cursor = next
	}
}

func usersRevoke(ctx context.Context, u *usersEnv, args []string) error {
	if err := u.st.RevokeToken(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "token %s is revoked\n", args[0])
	return nil
}

// safe returns s as it is when every rune is printable, else quoted with
// escapes, so that no stored value moves the cursor or hides text.
func safe(s string) string {
	for _, r := range s {
		if r == '\t' || !strconv.IsPrint(r) {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}
