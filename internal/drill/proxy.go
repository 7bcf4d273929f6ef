package drill

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
)

// ProxyOptions configure a ResetProxy.
type ProxyOptions struct {
	// ResetProbability is the chance that a connection is doomed when it
	// is accepted: it is reset once it has forwarded ResetAfter response
	// bytes. 0 never resets.
	ResetProbability float64
	// MinResetAfter and MaxResetAfter bound the response bytes a doomed
	// connection forwards before its reset, drawn uniformly per connection.
	// Both 0 means 0 to 256 KiB, so that most resets cut a body, some a
	// header, and a few a connection between two requests.
	MinResetAfter, MaxResetAfter int64
	// Seed seeds the draws, for a drill that can be replayed.
	Seed uint64
}

// ProxyStats counts what a ResetProxy did.
type ProxyStats struct {
	Conns  int64 // connections accepted
	Doomed int64 // of those, chosen to be reset
	Resets int64 // connections actually reset (a doomed one may close first)
}

// ResetProxy forwards TCP connections from a loopback port to a target and
// resets some of them mid-response: SetLinger(0) then Close sends the
// client a RST, as a load balancer or a flaky network does. It counts
// response bytes only (server to client), so what it cuts are answers,
// typically object bodies.
type ResetProxy struct {
	ln     net.Listener
	target string
	opts   ProxyOptions

	mu     sync.Mutex
	rng    *rand.Rand
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	accepted, doomed, resets atomic.Int64
}

// StartResetProxy listens on a free port of 127.0.0.1 and forwards every
// connection to target (host:port).
func StartResetProxy(target string, opts ProxyOptions) (*ResetProxy, error) {
	if opts.MinResetAfter == 0 && opts.MaxResetAfter == 0 {
		opts.MaxResetAfter = 256 << 10
	}
	if opts.MinResetAfter < 0 || opts.MaxResetAfter < opts.MinResetAfter {
		return nil, fmt.Errorf("drill: proxy to %s: reset after %d to %d bytes is no range", target, opts.MinResetAfter, opts.MaxResetAfter)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("drill: proxy to %s: %w", target, err)
	}
	p := &ResetProxy{
		ln: ln, target: target, opts: opts,
		rng:   rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15)),
		conns: map[net.Conn]struct{}{},
	}
	p.SetResetProbability(opts.ResetProbability)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the proxy's host:port.
func (p *ResetProxy) Addr() string { return p.ln.Addr().String() }

// SetResetProbability changes the chance that a new connection is doomed;
// connections already doomed stay so.
func (p *ResetProxy) SetResetProbability(prob float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opts.ResetProbability = prob
}

// Stats returns the counts so far.
func (p *ResetProxy) Stats() ProxyStats {
	return ProxyStats{Conns: p.accepted.Load(), Doomed: p.doomed.Load(), Resets: p.resets.Load()}
}

// Close stops accepting, ends every open connection and waits for the
// forwarding goroutines.
func (p *ResetProxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *ResetProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.accepted.Add(1)
		after, doom := p.draw()
		if doom {
			p.doomed.Add(1)
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c, doom, after)
	}
}

// draw decides a new connection's fate.
func (p *ResetProxy) draw() (after int64, doom bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	doom = p.rng.Float64() < p.opts.ResetProbability
	after = p.opts.MinResetAfter
	if span := p.opts.MaxResetAfter - p.opts.MinResetAfter; span > 0 {
		after += p.rng.Int64N(span + 1)
	}
	return after, doom
}

// track registers c for Close; false when the proxy is closing.
func (p *ResetProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *ResetProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *ResetProxy) serve(client net.Conn, doom bool, after int64) {
	defer p.wg.Done()
	defer p.untrack(client)
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		// The client sees its connection closed, as when a target is down.
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	defer server.Close()

	up := make(chan struct{})
	go func() {
		defer close(up)
		_, _ = io.Copy(server, client)
		// The client is done sending; let the target see the end of
		// the request stream, but keep reading its answers.
		if tc, ok := server.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()

	if !doom {
		_, _ = io.Copy(client, server)
	} else if n, err := io.CopyN(client, server, after); n == after && err == nil {
		// The RST reaches the client instead of the rest of the answer.
		if tc, ok := client.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		p.resets.Add(1)
	}
	client.Close()
	server.Close()
	<-up
}
