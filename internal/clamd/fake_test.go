package clamd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/internal/clamd"
)

// fakeClamd serves each connection with handle, on a unix socket. It stands
// in for clamd where a real one cannot be made to misbehave.
type fakeClamd struct {
	addr string
}

func startFake(t *testing.T, handle func(conn net.Conn)) *fakeClamd {
	t.Helper()
	dir, err := os.MkdirTemp("", "fake-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "clamd.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				handle(conn)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		os.RemoveAll(dir)
	})
	return &fakeClamd{addr: "unix://" + path}
}

// readCommand reads one NUL-terminated command.
func readCommand(conn net.Conn) (string, error) {
	var cmd []byte
	b := make([]byte, 1)
	for {
		if _, err := conn.Read(b); err != nil {
			return "", err
		}
		if b[0] == 0 {
			return string(cmd), nil
		}
		cmd = append(cmd, b[0])
	}
}

// readStream reads INSTREAM chunks up to the zero-length one and returns the
// data and the chunk sizes.
func readStream(conn net.Conn) ([]byte, []int, error) {
	var data []byte
	var sizes []int
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return data, sizes, err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			return data, sizes, nil
		}
		sizes = append(sizes, int(n))
		chunk := make([]byte, n)
		if _, err := io.ReadFull(conn, chunk); err != nil {
			return data, sizes, err
		}
		data = append(data, chunk...)
	}
}

// replyAfterStream returns a handler that reads a whole INSTREAM and then
// writes reply verbatim.
func replyAfterStream(reply string) func(net.Conn) {
	return func(conn net.Conn) {
		if _, err := readCommand(conn); err != nil {
			return
		}
		if _, _, err := readStream(conn); err != nil {
			return
		}
		conn.Write([]byte(reply))
	}
}

func TestInstreamFraming(t *testing.T) {
	t.Parallel()
	type seen struct {
		cmd   string
		data  []byte
		sizes []int
	}
	got := make(chan seen, 1)
	fake := startFake(t, func(conn net.Conn) {
		cmd, _ := readCommand(conn)
		data, sizes, err := readStream(conn)
		got <- seen{cmd, data, sizes}
		if err == nil {
			conn.Write([]byte("stream: OK\x00"))
		}
	})
	c, err := clamd.New(fake.addr, clamd.Options{ChunkSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 250) // 2500 bytes
	res, err := c.Instream(testContext(t), bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Instream: %v", err)
	}
	if diff := cmp.Diff(res, clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK", Bytes: 2500}); diff != "" {
		t.Errorf("Instream mismatch (-got +want):\n%s", diff)
	}
	s := <-got
	if s.cmd != "zINSTREAM" {
		t.Errorf("command = %q, want zINSTREAM", s.cmd)
	}
	if !bytes.Equal(s.data, data) {
		t.Errorf("clamd got %d bytes, want the %d sent", len(s.data), len(data))
	}
	if diff := cmp.Diff(s.sizes, []int{1000, 1000, 500}); diff != "" {
		t.Errorf("chunk sizes mismatch (-got +want):\n%s", diff)
	}
}

// TestInstreamBadReplies feeds the client replies that must never be clean.
func TestInstreamBadReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reply   string
		wantErr error
	}{
		{"no reply", "", clamd.ErrUnavailable},
		{"not NUL-terminated", "stream: OK", clamd.ErrProtocol},
		{"newline-terminated", "stream: OK\n", clamd.ErrProtocol},
		{"trailing junk", "stream: OK\x00junk", clamd.ErrProtocol},
		{"two clean replies", "stream: OK\x00stream: OK\x00", clamd.ErrProtocol},
		{"clean then found", "stream: OK\x00stream: X FOUND\x00", clamd.ErrProtocol},
		{"session id", "1: stream: OK\x00", clamd.ErrProtocol},
		{"empty reply", "\x00", clamd.ErrProtocol},
		{"unknown command", "UNKNOWN COMMAND\x00", clamd.ErrProtocol},
		{"timeout text", "COMMAND READ TIMED OUT\n", clamd.ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, replyAfterStream(tt.reply))
			c, err := clamd.New(fake.addr, clamd.Options{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Instream(testContext(t), strings.NewReader("data"))
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Instream = %+v, %v; want %v", res, err, tt.wantErr)
			}
			if res.Clean() {
				t.Error("clean")
			}
		})
	}
}

// TestInstreamSeveralFoundReplies shows how the client would report an
// all-match answer, should clamd ever send one for INSTREAM.
func TestInstreamSeveralFoundReplies(t *testing.T) {
	t.Parallel()
	fake := startFake(t, replyAfterStream("stream: A FOUND\x00stream: Heuristics.Encrypted.Zip FOUND\x00"))
	c, err := clamd.New(fake.addr, clamd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Instream(testContext(t), strings.NewReader("data"))
	if err != nil {
		t.Fatalf("Instream: %v", err)
	}
	want := clamd.Result{
		Status:     clamd.StatusFound,
		Signatures: []string{"A", "Heuristics.Encrypted.Zip"},
		Limit:      "Encrypted",
		Raw:        "stream: A FOUND\nstream: Heuristics.Encrypted.Zip FOUND",
		Bytes:      4,
	}
	if diff := cmp.Diff(res, want); diff != "" {
		t.Errorf("Instream mismatch (-got +want):\n%s", diff)
	}
}

// TestInstreamEarlyReply plays clamd at StreamMaxLength: it stops reading,
// answers, and closes while the client is still writing.
func TestInstreamEarlyReply(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		reply string
		want  clamd.Status
	}{
		{"INSTREAM size limit exceeded. ERROR\x00", clamd.StatusSizeLimit},
		{"stream: OK\x00", clamd.StatusUnknown}, // a verdict on half a stream is an error
		{"", clamd.StatusUnknown},
	} {
		t.Run(tt.reply, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, func(conn net.Conn) {
				readCommand(conn)
				io.CopyN(io.Discard, conn, 1<<16)
				conn.Write([]byte(tt.reply))
				// Closing with unread data makes the kernel reset the
				// connection, as with clamd.
			})
			c, err := clamd.New(fake.addr, clamd.Options{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Instream(testContext(t), bytes.NewReader(make([]byte, 32<<20)))
			if tt.want == clamd.StatusSizeLimit {
				if err != nil || res.Status != clamd.StatusSizeLimit {
					t.Fatalf("Instream = %+v, %v; want StatusSizeLimit", res, err)
				}
				return
			}
			if err == nil || res.Clean() {
				t.Fatalf("Instream = %+v, %v; want an error", res, err)
			}
		})
	}
}

// TestInstreamCancel checks that cancelling aborts at once whatever the
// client is blocked on: writing to a clamd that stopped reading, or
// waiting for a verdict that does not come.
func TestInstreamCancel(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		read   bool // whether the fake reads the stream before stalling
		source io.Reader
	}{
		{"blocked writing", false, bytes.NewReader(make([]byte, 64<<20))},
		{"waiting for verdict", true, strings.NewReader("data")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			fake := startFake(t, func(conn net.Conn) {
				if tt.read {
					readCommand(conn)
					readStream(conn)
				}
				<-release
			})
			// Registered after startFake, so it runs before the fake waits
			// for its handlers.
			t.Cleanup(func() { close(release) })
			c, err := clamd.New(fake.addr, clamd.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			time.AfterFunc(200*time.Millisecond, cancel)
			start := time.Now()
			res, err := c.Instream(ctx, tt.source)
			if !errors.Is(err, clamd.ErrTimeout) || !errors.Is(err, context.Canceled) || res.Clean() {
				t.Fatalf("Instream = %+v, %v; want ErrTimeout and Canceled", res, err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Instream returned %v after cancel", took)
			}
		})
	}
}

func TestInstreamReplyTimeout(t *testing.T) {
	t.Parallel()
	fake := startFake(t, func(conn net.Conn) {
		readCommand(conn)
		readStream(conn)
		io.Copy(io.Discard, conn)
	})
	c, err := clamd.New(fake.addr, clamd.Options{ReplyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Instream(testContext(t), strings.NewReader("data"))
	if !errors.Is(err, clamd.ErrTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) || res.Clean() {
		t.Fatalf("Instream = %+v, %v; want ErrTimeout from the deadline", res, err)
	}
}

func TestSimpleCommandBadReplies(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		reply string
		call  func(context.Context, *clamd.Client) error
	}{
		{"PONG", func(ctx context.Context, c *clamd.Client) error { return c.Ping(ctx) }},
		{"PONG\x00PONG\x00", func(ctx context.Context, c *clamd.Client) error { return c.Ping(ctx) }},
		{"PANG\x00", func(ctx context.Context, c *clamd.Client) error { return c.Ping(ctx) }},
		{"RELOAD\x00", func(ctx context.Context, c *clamd.Client) error { return c.Reload(ctx) }},
		{"1.4.6\x00", func(ctx context.Context, c *clamd.Client) error { _, err := c.Version(ctx); return err }},
		{"POOLS: 1\x00", func(ctx context.Context, c *clamd.Client) error { _, err := c.Stats(ctx); return err }},
	} {
		fake := startFake(t, func(conn net.Conn) {
			readCommand(conn)
			conn.Write([]byte(tt.reply))
		})
		c, err := clamd.New(fake.addr, clamd.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.call(testContext(t), c); !errors.Is(err, clamd.ErrProtocol) {
			t.Errorf("reply %q: got %v, want ErrProtocol", tt.reply, err)
		}
	}
}
