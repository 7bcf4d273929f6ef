// Command netnsfwd lets a test reach a server that runs in its own network
// namespace. Started inside that namespace (by `unshare --net`), it brings
// the namespace's loopback up, starts the server as its child, and forwards
// every connection made to a UNIX socket (a path in the file system, which
// processes in any network namespace can reach) to the server's TCP address
// on that loopback.
//
//	unshare --net -- netnsfwd -ip /usr/sbin/ip -listen DIR/s.sock -connect 127.0.0.1:4100 -- SERVER ARGS...
//
// It exits when the server exits (with the server's exit status), and on
// SIGTERM or SIGINT stops the server (SIGTERM, then SIGKILL after five
// seconds) and exits. testsvc builds it; it is not part of scangate.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	ipPath := flag.String("ip", "", "the ip(8) binary that brings the loopback interface up; empty leaves it as it is")
	listen := flag.String("listen", "", "the UNIX socket path to listen on (required)")
	connect := flag.String("connect", "", "the TCP address to forward to (required)")
	flag.Parse()
	if *listen == "" || *connect == "" {
		fmt.Fprintln(os.Stderr, "netnsfwd: -listen and -connect are required")
		os.Exit(2)
	}
	os.Exit(run(*ipPath, *listen, *connect, flag.Args()))
}

func run(ipPath, listen, connect string, child []string) int {
	if ipPath != "" {
		out, err := exec.Command(ipPath, "link", "set", "lo", "up").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "netnsfwd: %s link set lo up: %v: %s\n", ipPath, err, out)
			return 1
		}
	}
	ln, err := net.Listen("unix", listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netnsfwd: %v\n", err)
		return 1
	}
	defer ln.Close()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	var cmd *exec.Cmd
	exited := make(chan struct{})
	if len(child) > 0 {
		cmd = exec.Command(child[0], child[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "netnsfwd: start %s: %v\n", child[0], err)
			return 1
		}
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
	}

	go serve(ln, connect)

	select {
	case <-exited:
		code := cmd.ProcessState.ExitCode()
		fmt.Fprintf(os.Stderr, "netnsfwd: %s exited: %s\n", child[0], cmd.ProcessState)
		if code <= 0 {
			code = 1
		}
		return code
	case s := <-sigs:
		ln.Close()
		if cmd == nil {
			return 0
		}
		_ = cmd.Process.Signal(s)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		return 0
	}
}

// serve accepts connections until ln is closed, forwarding each to addr.
func serve(ln net.Listener, addr string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			fmt.Fprintf(os.Stderr, "netnsfwd: accept: %v\n", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go forward(c, addr)
	}
}

// forward copies both directions between c and a new connection to addr,
// passing on each side's end of stream as a half close.
func forward(c net.Conn, addr string) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	var d net.Dialer
	up, err := d.DialContext(ctx, "tcp", addr)
	cancel()
	if err != nil {
		// The test retries until the server listens; nothing to report.
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
}
