package httpapi

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
)

// guard puts the browser-origin defences in front of h:
//   - a request whose Host is not allowed gets 421, so that a DNS
//     rebinding page (evil.example resolving to 127.0.0.1) reads nothing;
//   - a cross-origin state change gets 403 (http.CrossOriginProtection,
//     which reads Sec-Fetch-Site and Origin; clients that send neither,
//     such as curl and webhooks, are not browsers and pass);
//   - every response says nosniff, so a browser never renders uploaded
//     bytes or an error body as something else.
func guard(h http.Handler, allowed []string, log *slog.Logger) http.Handler {
	hosts := newHostSet(allowed)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Info("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "secFetchSite", r.Header.Get("Sec-Fetch-Site"))
		writeError(w, http.StatusForbidden, errors.New("cross-origin request refused"))
	}))
	inner := cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("X-Frame-Options", "DENY")
		if !hosts.allows(r.Host) {
			log.Info("request for a host this server does not serve", "host", quoteForLog(r.Host), "path", r.URL.Path)
			writeError(w, http.StatusMisdirectedRequest, errors.New("this server does not serve that host"))
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// hostSet holds the allowed Host values: a bare host matches on any port,
// host:port only on that port.
type hostSet struct {
	any   map[string]bool // host -> allowed on any port
	exact map[string]bool // host:port
}

func newHostSet(allowed []string) hostSet {
	if len(allowed) == 0 {
		allowed = []string{"localhost", "127.0.0.1", "::1"}
	}
	s := hostSet{any: map[string]bool{}, exact: map[string]bool{}}
	for _, h := range allowed {
		h = strings.ToLower(strings.TrimSpace(h))
		if host, port, err := net.SplitHostPort(h); err == nil && port != "" {
			s.exact[net.JoinHostPort(host, port)] = true
			continue
		}
		s.any[strings.Trim(h, "[]")] = true
	}
	return s
}

func (s hostSet) allows(hostport string) bool {
	hostport = strings.ToLower(hostport)
	if hostport == "" {
		return false
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), ""
	}
	if s.any[host] {
		return true
	}
	return port != "" && s.exact[net.JoinHostPort(host, port)]
}

// quoteForLog keeps a header value an attacker wrote from forging log
// lines.
func quoteForLog(v string) string {
	if len(v) > 200 {
		v = v[:200]
	}
	return strings.ToValidUTF8(v, "?")
}
