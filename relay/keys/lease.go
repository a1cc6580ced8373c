package keys

import (
	"fmt"
	"net/http"
	"time"
)

// Lease is one request's hold on a key. Release it exactly once, with the outcome.
type Lease struct {
	pool     *Pool
	index    int
	key      string
	charged  float64 // tokens charged to the tpm bucket up front
	released bool    // guarded by pool.mu
}

// Key returns the leased credential; "" for a pool without keys.
func (l *Lease) Key() string { return l.key }

// Index returns the key's position in the provider's configured keys; -1 for a pool without
// keys. It identifies the key in logs and in Snapshot without revealing it.
func (l *Lease) Index() int { return l.index }

// Outcome is what became of a leased request.
type Outcome struct {
	// Status is the upstream HTTP status; 0 when there was no response.
	Status int
	// Header is the upstream response header (retry-after, anthropic-ratelimit-*); may be nil.
	Header http.Header
	// Usage is the real total of tokens (input + output) the request used, or -1 when unknown.
	// With an unknown usage the up-front estimate stands, except for an error status (≥ 400),
	// which is taken to have used nothing.
	Usage int
	// Err is the transport error, if any.
	Err error
}

// Verdict tells the caller what Release did to the key, so that it can log it by index
// without the key.
type Verdict struct {
	// Disabled reports that the key was taken out of rotation (401 or 403).
	Disabled bool
	// CooledFor is how long the key rests after a 429; zero otherwise.
	CooledFor time.Duration
}

// Release gives the key back and learns from the outcome:
//   - the tpm bucket is corrected from the estimate to the real usage;
//   - anthropic-ratelimit-*-remaining/-reset headers set the key's upstream budgets;
//   - a 429 cools the key down for retry-after-ms, retry-after (seconds or HTTP-date) or the
//     earliest anthropic-ratelimit-*-reset, else for a default backoff that doubles on
//     consecutive 429s;
//   - a 401 or 403 disables the key;
//   - a 2xx resets the backoff.
//
// Releasing a lease again does nothing and returns a zero Verdict.
func (l *Lease) Release(o Outcome) Verdict {
	p := l.pool
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.released {
		return Verdict{}
	}
	l.released = true
	if l.index < 0 {
		p.keyless--
		return Verdict{}
	}
	k := p.keys[l.index]
	k.inFlight--

	usage := o.Usage
	if usage < 0 && o.Status >= 400 {
		usage = 0
	}
	if usage >= 0 && k.tpm != nil {
		k.tpm.adjust(now, float64(usage)-l.charged)
	}
	observeBudgets(now, o.Header, &k.budgets)

	var v Verdict
	switch {
	case o.Status == http.StatusTooManyRequests:
		k.strikes++
		d, ok := retryDelay(now, o.Header)
		if ok {
			d = min(d, p.maxCooldown)
		} else {
			d = p.backoff
			for i := 1; i < k.strikes && d < p.maxBackoff; i++ {
				d *= 2
			}
			d = min(d, p.maxBackoff)
		}
		if until := now.Add(d); until.After(k.coolUntil) {
			k.coolUntil = until
		}
		v.CooledFor = d
	case o.Status == http.StatusUnauthorized || o.Status == http.StatusForbidden:
		k.disabled = true
		k.disabledBy = fmt.Sprintf("disabled after upstream %d %s", o.Status, http.StatusText(o.Status))
		v.Disabled = true
	case o.Status >= 200 && o.Status < 300:
		k.strikes = 0
	}
	return v
}
