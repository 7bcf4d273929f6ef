package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/scangate/scangate/domain"
)

// Session is one signed-in browser. The cookie carries only a random
// secret; the store keys sessions by its SHA-256, so that what the server
// holds cannot be replayed as a cookie.
type Session struct {
	// Account names a local account: its role and whether it is enabled
	// are read from the store on every request, so that disabling an
	// account or lowering its role takes effect at once.
	Account string
	// Principal is set instead for a sign-in the console cannot look up
	// again (OpenID Connect): the role the issuer's claims gave at
	// sign-in, kept no longer than the session.
	Principal *domain.Principal
	// CSRF is the token every form of this session carries.
	CSRF      string
	Created   time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
}

// SessionStore keeps sessions server-side, keyed by the hash of the
// cookie's secret.
type SessionStore interface {
	Put(key string, s Session)
	Get(key string) (Session, bool)
	Delete(key string)
}

// MemorySessions keeps sessions in the process: a restart signs everyone
// out, which is what `scangate run` (one process) accepts. It bounds the
// number of sessions, dropping expired ones first, so that sign-ins cannot
// exhaust memory.
type MemorySessions struct {
	mu  sync.Mutex
	m   map[string]Session
	Now func() time.Time
	// Max bounds the sessions held; 0 means 10000.
	Max int
}

// NewMemorySessions returns an empty in-memory session store.
func NewMemorySessions() *MemorySessions { return &MemorySessions{m: map[string]Session{}} }

func (m *MemorySessions) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Put stores s under key.
func (m *MemorySessions) Put(key string, s Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	limit := m.Max
	if limit <= 0 {
		limit = 10000
	}
	if len(m.m) >= limit {
		now := m.now()
		for k, v := range m.m {
			if !now.Before(v.ExpiresAt) {
				delete(m.m, k)
			}
		}
		// Still full: drop the session idle the longest.
		for len(m.m) >= limit {
			var oldest string
			var at time.Time
			for k, v := range m.m {
				if oldest == "" || v.LastSeen.Before(at) {
					oldest, at = k, v.LastSeen
				}
			}
			delete(m.m, oldest)
		}
	}
	m.m[key] = s
}

// Get returns the session stored under key.
func (m *MemorySessions) Get(key string) (Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[key]
	return s, ok
}

// Delete removes the session stored under key.
func (m *MemorySessions) Delete(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key)
}

// newSecret returns 32 random bytes in unpadded base64url.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sessionKey is the store key of a cookie secret.
func sessionKey(secret string) string {
	h := sha256.Sum256([]byte("scangate-session\x00" + secret))
	return hex.EncodeToString(h[:])
}

// sealer keeps a session in its cookie, encrypted and authenticated with
// AES-256-GCM: for a console served by many instances that share no
// memory (the review function on AWS). The server then keeps nothing, so
// signing out clears the cookie but cannot revoke a copy of it; a copy
// lives until the session's absolute or idle expiry, whichever is first.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	k := sha256.Sum256(append([]byte("scangate-console-session\x00"), key...))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(sess Session) string {
	b, _ := json.Marshal(sess)
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, b, []byte(CookieName)))
}

func (s *sealer) open(v string) (Session, bool) {
	var sess Session
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return sess, false
	}
	b, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(CookieName))
	if err != nil || json.Unmarshal(b, &sess) != nil {
		return sess, false
	}
	return sess, true
}
