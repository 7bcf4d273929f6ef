// Command scangate scans uploads with clamd before anyone trusts them.
//
//	scangate run    the whole lifecycle on one machine: embedded store, local
//	                bucket, supervised clamd, HTTP API
//	scangate scan   one-shot scan of local files, never truncating
//	scangate update freshclam into a database directory (optionally from a
//	                private mirror), then RELOAD a clamd
//	scangate task   the large-object path's task: one object above the
//	                Lambda's stream limit, through the same workflow
//	scangate version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: scangate <command> [flags]

commands:
  run       run the whole pipeline on this machine (embedded store, local bucket, clamd, HTTP API)
  scan      scan local files through clamd: exit 0 clean, 1 found, 2 error or not scannable
  history   a record's workflow executions, state by state (asks the running API)
  backfill  record and scan the objects already in a bucket (asks the running API, or starts the AWS state machine)
  events    events decode: print the object versions an event document would have scanned
  update    update the signature databases with freshclam (optionally from a private mirror), then RELOAD clamd
  task      the large-object path's task (ECS Fargate): scan the object in $SCANGATE_TASK_STATE
  users     accounts and API tokens: add, passwd, role, disable, list, token, tokens, revoke
  version   print the version

Run 'scangate <command> -h' for the command's flags.
`

// version is set by the linker in release builds.
var version = "dev"

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "scan":
		return cmdScan(ctx, args[1:], stdout, stderr)
	case "history":
		return cmdHistory(args[1:], stdout, stderr)
	case "backfill":
		return cmdBackfill(ctx, args[1:], stdout, stderr)
	case "events":
		return cmdEvents(args[1:], stdin, stdout, stderr)
	case "update":
		return cmdUpdate(ctx, args[1:], stdout, stderr)
	case "task":
		return cmdTask(ctx, args[1:], os.Getenv, stdout, stderr)
	case "users":
		return cmdUsers(ctx, args[1:], stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "scangate", version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "scangate: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// parseExit is the exit code for a flag parse error: 0 when the user asked
// for help (-h), which is no error, else 2.
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
