// Command maxrss runs a command and writes the command's peak resident set
// size, getrusage's ru_maxrss in KiB, to a file, as GNU time's %M reports
// it.
//
//	maxrss -o FILE -- COMMAND [ARG...]
//
// It exists because that figure is wrong when a large parent reads it: Go
// starts a child with vfork, so until exec the child runs in its parent's
// memory, and Linux keeps the high-water mark of the memory a process had
// before exec in its maxrss. Read by the benchmark harness, a child's
// ru_maxrss is at least the harness's own peak. Started from this small
// process, it is at least this process's few MiB instead; the harness
// measures that floor with a command that does nothing.
//
// maxrss exits with the command's exit status, or 2 if it could not run it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	fl := flag.NewFlagSet("maxrss", flag.ExitOnError)
	out := fl.String("o", "", "write the command's ru_maxrss in KiB to this file")
	fl.Parse(os.Args[1:])
	if *out == "" || fl.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: maxrss -o FILE -- COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(fl.Arg(0), fl.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "maxrss:", err)
		os.Exit(2)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "maxrss: no rusage on this system")
		os.Exit(2)
	}
	if err := os.WriteFile(*out, fmt.Appendf(nil, "%d\n", ru.Maxrss), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "maxrss:", err)
		os.Exit(2)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
