package route

import (
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Defaults of an Affinity.
const (
	DefaultAffinitySize = 10_000
	DefaultAffinityTTL  = time.Hour
)

// Binding is where a session's requests went last.
type Binding struct {
	Provider string
	// Key is the index of the provider's key that served it; -1 when none.
	Key int
}

// Affinity remembers the provider (and key) that served each session, so that a session's
// next request can go to the same place (the prompt cache lives there, and thinking
// signatures verify there). It holds at most size sessions, forgets a session ttl after its
// last Set, and is safe for concurrent use.
type Affinity struct {
	c *lru[string, Binding]
}

// NewAffinity returns an affinity cache of at most size sessions (≤ 0: DefaultAffinitySize)
// kept for ttl (≤ 0: DefaultAffinityTTL). now is the clock (nil: time.Now).
func NewAffinity(size int, ttl time.Duration, now func() time.Time) *Affinity {
	if size <= 0 {
		size = DefaultAffinitySize
	}
	if ttl <= 0 {
		ttl = DefaultAffinityTTL
	}
	return &Affinity{c: newLRU[string, Binding](size, ttl, now)}
}

// Get returns the session's binding; ok is false for an unknown, expired or empty session.
func (a *Affinity) Get(session string) (b Binding, ok bool) {
	if session == "" {
		return Binding{}, false
	}
	return a.c.get(session)
}

// Set binds the session to where its request was served. An empty session is ignored.
func (a *Affinity) Set(session string, b Binding) {
	if session != "" {
		a.c.set(session, b)
	}
}

// Forget drops the session's binding, for example when its provider was removed.
func (a *Affinity) Forget(session string) { a.c.remove(session) }

// Len returns the number of sessions held.
func (a *Affinity) Len() int { return a.c.len() }

// SessionKey returns the session a request belongs to: the x-claude-code-session-id header,
// else the session_id inside metadata.user_id (Claude Code sends a JSON-encoded string there,
// with the same id), else the whole user_id. "" when the request names no session.
func SessionKey(h http.Header, metadataUserID string) string {
	if id := strings.TrimSpace(h.Get("X-Claude-Code-Session-Id")); id != "" {
		return id
	}
	u := strings.TrimSpace(metadataUserID)
	if u == "" {
		return ""
	}
	if strings.HasPrefix(u, "{") {
		if id := gjson.Get(u, "session_id").String(); id != "" {
			return id
		}
	}
	return "user:" + u
}
