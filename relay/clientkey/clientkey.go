// Package clientkey is the relay's policy for its own clients' keys: server.auth.keys, each
// named, with the models it may use, its rate, token and concurrency limits, its budget and
// its expiry, and server.auth.api_key, one unnamed key without limits.
//
// A key is found by the SHA-256 digest of what the client sent (the table holds digests only)
// and confirmed in constant time. Limits, requests in flight and spend are counted in a
// state.Store, so that they hold across every relay sharing one (Redis); every limit is scaled
// by the store's Share. Answers are Anthropic-shaped errors for the relay's one error writer.
package clientkey

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/state"
)

// Key is one client key as the relay enforces it. It holds the secret's digest, never the
// secret.
type Key struct {
	// Name is the key's name ("" for server.auth.api_key).
	Name   string
	digest [32]byte
	models []string
	rpm    int64
	tpm    int64
	conc   int64
	daily  float64
	month  float64
	// expires is the first instant the key is refused (zero: never); expiresText as written.
	expires     time.Time
	expiresText string
}

// Models are the model patterns the key may use; empty means every model.
func (k *Key) Models() []string {
	if k == nil {
		return nil
	}
	return k.models
}

// Allows reports whether the key may use the client-side model name.
func (k *Key) Allows(model string) bool {
	return k == nil || len(k.models) == 0 || config.MatchModel(k.models, model)
}

// limited reports whether anything is counted for the key.
func (k *Key) limited() bool {
	return k.rpm > 0 || k.tpm > 0 || k.conc > 0 || k.daily > 0 || k.month > 0
}

// Table is the relay's client keys, by digest.
type Table struct {
	keys  map[[32]byte]*Key
	named bool
	store state.Store
	now   func() time.Time
}

// New builds the table of a configuration's server.auth; store counts the limits (nil: a new
// in-process store), now is the clock (nil: time.Now). A key whose digest does not decode is
// left out (validation refuses it).
func New(a config.Auth, store state.Store, now func() time.Time) *Table {
	if now == nil {
		now = time.Now
	}
	if store == nil {
		store = state.NewLocal(now)
	}
	t := &Table{keys: map[[32]byte]*Key{}, store: store, now: now, named: len(a.Keys) > 0}
	if a.APIKey != "" {
		d := sha256.Sum256([]byte(a.APIKey))
		t.keys[d] = &Key{digest: d}
	}
	for _, ck := range a.Keys {
		d, ok := ck.Digest()
		if !ok {
			continue
		}
		t.keys[d] = &Key{
			Name: ck.Name, digest: d, models: ck.Models,
			rpm: int64(ck.RPMLimit), tpm: int64(ck.TPMLimit), conc: int64(ck.MaxConcurrent),
			daily: ck.BudgetUSD.Daily, month: ck.BudgetUSD.Monthly,
			expires: ck.Expires.At, expiresText: ck.Expires.Text,
		}
	}
	return t
}

// Required reports whether clients must send a key: server.auth.api_key or server.auth.keys
// is set.
func (t *Table) Required() bool { return t != nil && len(t.keys) > 0 }

// Named reports whether server.auth.keys is set.
func (t *Table) Named() bool { return t != nil && t.named }

// lookup finds the key whose digest is the secret's: a map lookup by digest (which says
// nothing about the secret), confirmed by a constant-time comparison.
func (t *Table) lookup(secret string) *Key {
	if secret == "" {
		return nil
	}
	d := sha256.Sum256([]byte(secret))
	k := t.keys[d]
	if k == nil || subtle.ConstantTimeCompare(k.digest[:], d[:]) != 1 {
		return nil
	}
	return k
}

// Authenticate finds the client's key among what it sent as x-api-key and as the token of
// Authorization: Bearer (Claude Code's apiKeyHelper sends both, the same value). Either may
// hold the key; the other, when it is the bearer token and not a relay key, is returned as
// the client's own token (a subscription token, which pass-through may forward). Two
// different relay keys in the two headers are refused: the request would count against one
// person or the other by chance. With no key configured, every request is admitted with a
// nil key and the bearer token as it came. An expired key is returned with its 401, so that
// the refusal can be logged under its name.
func (t *Table) Authenticate(apiKey, bearer string) (*Key, string, *apierr.Error) {
	if !t.Required() {
		return nil, bearer, nil
	}
	ka, kb := t.lookup(apiKey), t.lookup(bearer)
	k := ka
	switch {
	case ka != nil && kb != nil && ka != kb:
		return nil, "", apierr.New(http.StatusUnauthorized,
			"x-api-key and Authorization: Bearer hold two different client keys of this relay; send one key (in either header, or the same in both)")
	case ka == nil && kb == nil:
		return nil, "", t.unknown(apiKey == "" && bearer == "")
	case ka == nil:
		k = kb
	}
	if kb != nil {
		bearer = "" // a relay key, never a subscription token
	}
	if !k.expires.IsZero() && !t.now().Before(k.expires) {
		when := k.expires.UTC().Format(time.RFC3339)
		if len(k.expiresText) == len(time.DateOnly) {
			when = "the end of " + k.expiresText + " (UTC)"
		}
		return k, "", apierr.New(http.StatusUnauthorized, fmt.Sprintf(
			"client key %q expired at %s (server.auth.keys[name=%s].expires); ask the relay's operator for a new key", k.Name, when, k.Name))
	}
	return k, bearer, nil
}

// unknown is the 401 of a request without a key of this relay.
func (t *Table) unknown(missing bool) *apierr.Error {
	how := "this relay requires server.auth.api_key, sent as x-api-key or Authorization: Bearer"
	if t.named {
		how = "this relay requires a client key of its own (server.auth.keys), sent as x-api-key or Authorization: Bearer"
	}
	if missing {
		return apierr.New(http.StatusUnauthorized, "missing credentials: "+how)
	}
	return apierr.New(http.StatusUnauthorized, "invalid x-api-key: "+how)
}

// Permit checks that the key may use the client-side model: a 403 permission_error naming the
// model and the key's patterns otherwise.
func (t *Table) Permit(k *Key, model string) *apierr.Error {
	if k.Allows(model) {
		return nil
	}
	return apierr.New(http.StatusForbidden, fmt.Sprintf(
		"client key %q may not use model %q; it may use %s (server.auth.keys[name=%s].models)",
		k.Name, model, strings.Join(k.models, ", "), k.Name))
}
