//go:build !linux

package daemon

import "syscall"

// sysProcAttr has nothing to add outside Linux: there is no Pdeathsig.
func sysProcAttr() *syscall.SysProcAttr { return nil }
