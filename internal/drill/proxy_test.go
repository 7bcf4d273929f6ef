package drill_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/scangate/scangate/internal/drill"
)

func startProxy(t *testing.T, body []byte, opts drill.ProxyOptions) (*drill.ResetProxy, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	p, err := drill.StartResetProxy(strings.TrimPrefix(srv.URL, "http://"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return p, &http.Client{Transport: tr}
}

// Without resets the proxy is transparent, and keeps connections alive.
func TestProxyForwards(t *testing.T) {
	body := bytes.Repeat([]byte("scangate "), 100_000)
	p, c := startProxy(t, body, drill.ProxyOptions{})
	for range 5 {
		resp, err := c.Get("http://" + p.Addr() + "/x")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("read %d bytes, %v; want the %d-byte body", len(got), err, len(body))
		}
	}
	if s := p.Stats(); s.Conns != 1 || s.Resets != 0 {
		t.Errorf("stats %+v; want one connection for five requests, no reset", s)
	}
}

// A doomed connection is reset after exactly the chosen number of
// response bytes: the client gets them, then ECONNRESET.
func TestProxyResetsMidBody(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1<<20)
	p, c := startProxy(t, body, drill.ProxyOptions{ResetProbability: 1, MinResetAfter: 64 << 10, MaxResetAfter: 64 << 10})
	resp, err := c.Get("http://" + p.Addr() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reading the body: %v; want ECONNRESET", err)
	}
	if len(got) == 0 || len(got) >= 64<<10 {
		t.Errorf("read %d body bytes; want some, fewer than the 64 KiB forwarded with the headers", len(got))
	}
	if s := p.Stats(); s.Conns != 1 || s.Doomed != 1 || s.Resets != 1 {
		t.Errorf("stats %+v; want one connection, doomed and reset", s)
	}
}
