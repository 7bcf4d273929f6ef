package daemon

import "syscall"

// sysProcAttr makes the kernel SIGKILL clamd if the supervising process dies
// without calling Stop (a crashed test binary, an OOM kill), so no orphan
// clamd keeps its socket. Pdeathsig fires when the forking OS thread exits;
// the Go runtime only ends threads of goroutines that exit while locked to
// them, and the supervisor would restart a child lost that way anyway.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
