// Package clamd is a client for ClamAV's scanning daemon, clamd.
//
// It speaks clamd's NUL-terminated "z" commands over one new connection per
// command, and streams objects with INSTREAM without holding them in memory.
//
// # Fail closed
//
// An object is clean only when Instream returns a nil error and a Result
// whose Clean method is true, which happens only when clamd answered exactly
// "stream: OK" to a stream the client sent completely. Every other outcome
// (a signature, a limit alert, an ERROR reply, an unreadable reply, a broken
// connection, a failing source, a timeout, a cancelled context) is either an
// error or a Result that is not clean.
//
// # URLs
//
// New takes clamd's address as a URL:
//
//	unix:///run/clamav/clamd.ctl   a unix socket (absolute path)
//	tcp://127.0.0.1:3310           a TCP address (host:port)
//
// # Errors
//
// Every error from a Client method wraps one of ErrUnavailable,
// ErrProtocol, ErrTimeout or ErrSource (see their documentation), and
// ParseReply's wrap ErrProtocol. Only New's errors (a bad address or
// option) wrap none.
//
// # What clamd 1.4 does
//
// Observed with ClamAV 1.4.6 (see the tests):
//
//   - Past StreamMaxLength clamd answers "INSTREAM size limit exceeded.
//     ERROR" and closes the connection while the client is still writing;
//     the client gets a broken pipe, reads the reply anyway and returns
//     StatusSizeLimit.
//   - With AlertExceedsMax and AlertEncrypted* set (package daemon sets
//     them), an object clamd cannot scan completely is reported as
//     "Heuristics.Limits.Exceeded.<Limit> FOUND" or
//     "Heuristics.Encrypted.<Kind> FOUND"; this package maps those to
//     StatusLimit. Without those settings clamd says "stream: OK".
//   - INSTREAM has no all-match mode: ALLMATCHSCAN takes a path only, and
//     INSTREAM always gets exactly one reply with the first match.
//   - A gap no client can close: when MaxFileSize < MaxScanSize (clamd's
//     defaults), a zip member larger than MaxFileSize is scanned only up to
//     MaxFileSize, with no alert, so content past that point is
//     "stream: OK". Package daemon refuses such a config.
package clamd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Options configures a Client. The zero value gives the defaults.
type Options struct {
	// DialTimeout bounds connecting to clamd. Zero means 5 s.
	DialTimeout time.Duration

	// IOTimeout bounds each single write to and read from clamd; it is
	// renewed for every chunk, so it bounds stalls, not whole scans.
	// Zero means 30 s.
	IOTimeout time.Duration

	// ReplyTimeout bounds the wait for the verdict once the whole stream is
	// sent, while clamd scans. Zero means 3 min: longer than clamd's default
	// MaxScanTime (2 min), so that clamd's own limit answers first with
	// Heuristics.Limits.Exceeded.MaxScanTime instead of the client timing
	// out and the caller retrying a scan that can never finish.
	ReplyTimeout time.Duration

	// ChunkSize is the size of the INSTREAM chunks, and so the memory used
	// per scan. Zero means 64 KiB; at most 16 MiB.
	ChunkSize int

	// MaxStreamBytes stops a scan on the client side once the object is
	// longer, with StatusSizeLimit. Zero means no client-side limit (clamd's
	// StreamMaxLength still applies).
	MaxStreamBytes int64
}

const (
	defaultDialTimeout  = 5 * time.Second
	defaultIOTimeout    = 30 * time.Second
	defaultReplyTimeout = 3 * time.Minute
	defaultChunkSize    = 64 << 10
	maxChunkSize        = 16 << 20

	// maxReplyBytes bounds what the client reads back. STATS is the longest
	// reply, a few hundred bytes per thread pool.
	maxReplyBytes = 1 << 20
)

// Client talks to one clamd. It holds no connection, so it is safe for
// concurrent use and needs no Close.
type Client struct {
	addr    string // as given to New, for error messages
	network string // "unix" or "tcp"
	address string // socket path or host:port
	opts    Options
}

// New returns a client for the clamd at addr (see # URLs). It does not
// connect; use Ping to check that clamd is there.
func New(addr string, opts Options) (*Client, error) {
	network, address, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	if opts.DialTimeout < 0 || opts.IOTimeout < 0 || opts.ReplyTimeout < 0 {
		return nil, fmt.Errorf("clamd: negative timeout in options %+v", opts)
	}
	if opts.ChunkSize < 0 || opts.ChunkSize > maxChunkSize {
		return nil, fmt.Errorf("clamd: ChunkSize %d out of range [0, %d]", opts.ChunkSize, maxChunkSize)
	}
	if opts.MaxStreamBytes < 0 {
		return nil, fmt.Errorf("clamd: negative MaxStreamBytes %d", opts.MaxStreamBytes)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = defaultDialTimeout
	}
	if opts.IOTimeout == 0 {
		opts.IOTimeout = defaultIOTimeout
	}
	if opts.ReplyTimeout == 0 {
		opts.ReplyTimeout = defaultReplyTimeout
	}
	if opts.ChunkSize == 0 {
		opts.ChunkSize = defaultChunkSize
	}
	return &Client{addr: addr, network: network, address: address, opts: opts}, nil
}

func parseAddr(addr string) (network, address string, err error) {
	u, err := url.Parse(addr)
	if err != nil {
		return "", "", fmt.Errorf("clamd: address %q: want unix:///path or tcp://host:port: %w", addr, err)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", "", fmt.Errorf("clamd: address %q: want unix:///path or tcp://host:port", addr)
	}
	switch u.Scheme {
	case "unix":
		if !strings.HasPrefix(addr, "unix:///") || u.Host != "" {
			return "", "", fmt.Errorf("clamd: address %q: want unix:///absolute/path", addr)
		}
		return "unix", u.Path, nil
	case "tcp":
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil || host == "" || port == "" || (u.Path != "" && u.Path != "/") {
			return "", "", fmt.Errorf("clamd: address %q: want tcp://host:port", addr)
		}
		return "tcp", u.Host, nil
	default:
		return "", "", fmt.Errorf("clamd: address %q: unsupported scheme %q, want unix or tcp", addr, u.Scheme)
	}
}

// Ping checks that clamd answers (PONG).
func (c *Client) Ping(ctx context.Context) error {
	reply, err := c.simple(ctx, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("clamd: ping: unexpected reply %q: %w", reply, ErrProtocol)
	}
	return nil
}

// Version returns clamd's version line, for example "ClamAV 1.4.6", or
// "ClamAV 1.4.6/27500/Tue Nov 24 09:00:00 2026" with official databases.
func (c *Client) Version(ctx context.Context) (string, error) {
	reply, err := c.simple(ctx, "VERSION")
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(reply, "ClamAV ") || !validText(reply) {
		return "", fmt.Errorf("clamd: version: unexpected reply %q: %w", reply, ErrProtocol)
	}
	return reply, nil
}

// Stats returns clamd's multi-line thread pool and memory report, as is.
func (c *Client) Stats(ctx context.Context) (string, error) {
	reply, err := c.simple(ctx, "STATS")
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(reply, "END") {
		return "", fmt.Errorf("clamd: stats: reply does not end in END: %q: %w", reply, ErrProtocol)
	}
	return reply, nil
}

// Reload asks clamd to reload its signature databases. clamd answers at
// once and reloads in the background.
func (c *Client) Reload(ctx context.Context) error {
	reply, err := c.simple(ctx, "RELOAD")
	if err != nil {
		return err
	}
	if reply != "RELOADING" {
		return fmt.Errorf("clamd: reload: unexpected reply %q: %w", reply, ErrProtocol)
	}
	return nil
}

// simple sends a command without payload and returns its single reply.
func (c *Client) simple(ctx context.Context, cmd string) (string, error) {
	op := strings.ToLower(cmd)
	conn, done, err := c.dial(ctx, op)
	if err != nil {
		return "", err
	}
	defer done()
	if err := c.write(ctx, conn, op, []byte("z"+cmd+"\x00")); err != nil {
		return "", err
	}
	replies, err := c.readReplies(ctx, conn, op, c.opts.IOTimeout)
	if err != nil {
		return "", err
	}
	if len(replies) != 1 {
		return "", fmt.Errorf("clamd: %s: %d replies %q, want 1: %w", op, len(replies), replies, ErrProtocol)
	}
	return replies[0], nil
}

// Instream scans everything r yields until io.EOF (see the package doc for
// what counts as clean).
//
// The object is sent in Options.ChunkSize chunks as it is read; it is never
// held in memory whole. Cancelling ctx closes the connection, which aborts
// any pending write or read at once. The client checks ctx before every
// read from r, but cannot interrupt a Read call that is already blocked:
// give it a reader that honours ctx too, as an S3 body from a request made
// with ctx does.
//
// If r fails, Instream returns an error wrapping ErrSource and r's error,
// and never a verdict: the stream is abandoned without its end marker, so
// clamd does not scan a partial object.
func (c *Client) Instream(ctx context.Context, r io.Reader) (Result, error) {
	const op = "instream"
	conn, done, err := c.dial(ctx, op)
	if err != nil {
		return Result{}, err
	}
	defer done()

	if err := c.write(ctx, conn, op, []byte("zINSTREAM\x00")); err != nil {
		return Result{}, err
	}

	// buf holds one chunk: a 4-byte big-endian length, then the data.
	buf := make([]byte, 4+c.opts.ChunkSize)
	var sent int64
	for {
		n, eof, err := fill(ctx, r, buf[4:])
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return Result{}, fmt.Errorf("clamd: %s: after %d bytes: %w: %w", op, sent, ErrTimeout, ctxErr)
			}
			return Result{}, fmt.Errorf("clamd: %s: reading source after %d bytes: %w: %w", op, sent, ErrSource, err)
		}
		if n > 0 {
			if limit := c.opts.MaxStreamBytes; limit > 0 && sent+int64(n) > limit {
				// Closing without the end marker makes clamd drop the stream.
				return Result{Status: StatusSizeLimit, Limit: "MaxStreamBytes", Bytes: sent}, nil
			}
			binary.BigEndian.PutUint32(buf, uint32(n))
			if err := c.writeRaw(conn, buf[:4+n]); err != nil {
				return c.afterWriteError(ctx, conn, sent, err)
			}
			sent += int64(n)
		}
		if eof {
			break
		}
	}
	// A zero-length chunk ends the stream and starts the scan.
	if err := c.writeRaw(conn, []byte{0, 0, 0, 0}); err != nil {
		return c.afterWriteError(ctx, conn, sent, err)
	}

	replies, err := c.readReplies(ctx, conn, op, c.opts.ReplyTimeout)
	if err != nil {
		return Result{}, err
	}
	res, err := ParseReply(strings.Join(replies, "\n"))
	if err != nil {
		return Result{}, fmt.Errorf("clamd: %s: %w", op, err)
	}
	// A verdict that raced with cancellation is dropped: a caller that
	// cancelled must not act on it, least of all release the object.
	if ctxErr := ctx.Err(); ctxErr != nil {
		return Result{}, fmt.Errorf("clamd: %s: %w: %w", op, ErrTimeout, ctxErr)
	}
	res.Bytes = sent
	return res, nil
}

// afterWriteError decides what a failed chunk write means. clamd closes the
// connection once a stream passes StreamMaxLength, right after sending its
// reason, so a broken pipe is usually a size limit: the reply says so.
func (c *Client) afterWriteError(ctx context.Context, conn net.Conn, sent int64, werr error) (Result, error) {
	const op = "instream"
	if ctx.Err() != nil || errors.Is(werr, os.ErrDeadlineExceeded) {
		return Result{}, c.ioError(ctx, op, werr)
	}
	replies, rerr := c.readReplies(ctx, conn, op, c.opts.IOTimeout)
	if rerr != nil {
		if ctx.Err() != nil {
			return Result{}, rerr
		}
		return Result{}, fmt.Errorf("clamd: %s: write failed after %d bytes, and no reply: %w: %w", op, sent, ErrUnavailable, werr)
	}
	res, perr := ParseReply(strings.Join(replies, "\n"))
	if perr != nil || res.Status != StatusSizeLimit {
		// Whatever clamd said, it said it about part of the object.
		return Result{}, fmt.Errorf("clamd: %s: write failed after %d bytes (%v), then reply %q: %w", op, sent, werr, replies, ErrProtocol)
	}
	res.Bytes = sent
	return res, nil
}

// dial connects and arranges for the connection to be closed as soon as ctx
// is done, which unblocks any pending I/O. done must be called exactly once.
func (c *Client) dial(ctx context.Context, op string) (conn net.Conn, done func(), err error) {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, nil, fmt.Errorf("clamd: %s: %w: %w", op, ErrTimeout, ctxErr)
	}
	d := net.Dialer{Timeout: c.opts.DialTimeout}
	conn, err = d.DialContext(ctx, c.network, c.address)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, nil, fmt.Errorf("clamd: %s: dial %s: %w: %w", op, c.addr, ErrTimeout, ctxErr)
		}
		return nil, nil, fmt.Errorf("clamd: %s: dial %s: %w: %w", op, c.addr, ErrUnavailable, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return conn, func() {
		stop()
		conn.Close()
	}, nil
}

func (c *Client) write(ctx context.Context, conn net.Conn, op string, p []byte) error {
	if err := c.writeRaw(conn, p); err != nil {
		return c.ioError(ctx, op, err)
	}
	return nil
}

// writeRaw writes p within IOTimeout and returns the error unclassified.
func (c *Client) writeRaw(conn net.Conn, p []byte) error {
	if err := conn.SetWriteDeadline(time.Now().Add(c.opts.IOTimeout)); err != nil {
		return err
	}
	_, err := conn.Write(p)
	return err
}

// readReplies reads until clamd closes the connection, which it does after
// answering any command outside a session, and splits the answer into its
// NUL-terminated replies. Reading to the end, rather than to the first NUL,
// lets trailing junk surface as ErrProtocol.
func (c *Client) readReplies(ctx context.Context, conn net.Conn, op string, timeout time.Duration) ([]string, error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, c.ioError(ctx, op, err)
	}
	var b bytes.Buffer
	_, err := b.ReadFrom(io.LimitReader(conn, maxReplyBytes+1))
	data := b.Bytes()
	complete := len(data) > 0 && data[len(data)-1] == 0
	switch {
	case ctx.Err() != nil:
		return nil, c.ioError(ctx, op, ctx.Err())
	case len(data) > maxReplyBytes:
		return nil, fmt.Errorf("clamd: %s: reply longer than %d bytes: %w", op, maxReplyBytes, ErrProtocol)
	case err != nil && (!complete || errors.Is(err, os.ErrDeadlineExceeded)):
		// An error after a complete reply is clamd resetting the connection
		// it had already answered on (it does after a size limit); that
		// reply stands. Before a complete reply, or a stall, it does not.
		return nil, c.ioError(ctx, op, err)
	case len(data) == 0:
		return nil, fmt.Errorf("clamd: %s: connection closed without a reply: %w", op, ErrUnavailable)
	case !complete:
		return nil, fmt.Errorf("clamd: %s: reply not NUL-terminated: %w", op, protocolError(string(data)))
	}
	return strings.Split(string(data[:len(data)-1]), "\x00"), nil
}

// ioError classifies a connection error: the caller's context first, then
// deadlines, then everything else as clamd having gone away.
func (c *Client) ioError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("clamd: %s: %w: %w", op, ErrTimeout, ctxErr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("clamd: %s: %w: %w", op, ErrTimeout, err)
	}
	return fmt.Errorf("clamd: %s: %w: %w", op, ErrUnavailable, err)
}

// maxEmptyReads bounds consecutive (0, nil) reads, which the io.Reader
// contract discourages but allows.
const maxEmptyReads = 100

// fill reads from r until p is full, r reports io.EOF or an error, or ctx is
// done. Filling whole chunks keeps the chunk count low for readers that
// return little at a time.
func fill(ctx context.Context, r io.Reader, p []byte) (n int, eof bool, err error) {
	empty := 0
	for n < len(p) {
		if err := ctx.Err(); err != nil {
			return n, false, err
		}
		m, err := r.Read(p[n:])
		if m < 0 || m > len(p)-n {
			return n, false, fmt.Errorf("reader returned invalid count %d", m)
		}
		n += m
		switch {
		case err == io.EOF: // The io.Reader contract: EOF itself, unwrapped; a wrapped one is a failure.
			return n, true, nil
		case err != nil:
			return n, false, err
		case m == 0:
			if empty++; empty >= maxEmptyReads {
				return n, false, io.ErrNoProgress
			}
		default:
			empty = 0
		}
	}
	return n, false, nil
}
