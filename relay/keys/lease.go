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
	probe    bool    // the lease probes a rejected key
	released bool    // guarded by pool.mu
	// then is told of the release (Then); nil for none.
	then func(Outcome, Verdict)
}

// Then sets f to be called once, after the lease is released, with the outcome and what
// Release did to the key: the relay's shared state learns from it. Set it before Release,
// from the goroutine that holds the lease.
func (l *Lease) Then(f func(Outcome, Verdict)) { l.then = f }

// Charged returns the tokens charged to the key's tpm bucket up front (the estimate, at most
// the bucket); 0 when the key has no tpm limit.
func (l *Lease) Charged() float64 { return l.charged }

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
	// Rejected reports that the provider rejected the key itself: auth, billing or quota. It is
	// treated as a 401 or 403 whatever the status, so that a balance error that some vendors
	// send as 429 or 402 disables the key instead of cooling it down.
	Rejected bool
}

// Verdict tells the caller what Release did to the key, so that it can log it by index
// without the key.
type Verdict struct {
	// Disabled reports that the provider rejected the key (401, 403 or Outcome.Rejected) and
	// that it is out of rotation.
	Disabled bool
	// RetryIn is how long until a disabled key may be probed; zero when Disabled is false.
	RetryIn time.Duration
	// Reenabled reports that the lease probed a disabled key and the provider accepted it: the
	// key is back in rotation.
	Reenabled bool
	// CooledFor is how long the key rests after a 429; zero otherwise.
	CooledFor time.Duration
}

// Release gives the key back and learns from the outcome:
//   - the tpm bucket is corrected from the estimate to the real usage;
//   - anthropic-ratelimit-*-remaining/-reset headers set the key's upstream budgets;
//   - a 429 cools the key down for retry-after-ms, retry-after (seconds or HTTP-date) or the
//     earliest anthropic-ratelimit-*-reset, else for a default backoff that doubles on
//     consecutive 429s;
//   - a rejection (401, 403 or Outcome.Rejected, whatever the status) disables the key until
//     the pool's key retry has passed, and never also cools it down;
//   - a 2xx resets the backoff.
//
// A lease that probed a disabled key decides its fate: a rejection disables it again for twice
// the previous retry (at most MaxKeyRetry, or the base retry when that is longer); any other
// response below 500 means the provider accepted the key, which is enabled again with its
// retry reset; no response (transport error, or a lease given back unused with Status 0) or
// a 5xx says nothing about the key, which stays disabled and may be probed by the next lease.
// Only a probe re-enables a key: a success of a lease taken before the key was disabled does
// not, and a rejection of such a lease does not double the retry.
//
// Releasing a lease again does nothing and returns a zero Verdict.
func (l *Lease) Release(o Outcome) Verdict {
	v, first := l.release(o)
	if first && l.then != nil {
		l.then(o, v)
	}
	return v
}

// release is Release; first reports that the lease was not released before.
func (l *Lease) release(o Outcome) (Verdict, bool) {
	p := l.pool
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.released {
		return Verdict{}, false
	}
	l.released = true
	if l.index < 0 {
		p.keyless--
		return Verdict{}, true
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

	rejected := o.Rejected || o.Status == http.StatusUnauthorized || o.Status == http.StatusForbidden
	var v Verdict
	switch {
	case rejected:
		p.reject(k, l.probe, now, o.Status)
		v.Disabled, v.RetryIn = true, k.disabledUntil.Sub(now)
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
	case o.Status >= 200 && o.Status < 300:
		k.strikes = 0
	}
	if l.probe {
		k.probing = false
		if !rejected && o.Status >= 100 && o.Status < 500 {
			k.disabled, k.disabledBy, k.disabledUntil, k.retry = false, "", time.Time{}, 0
			v.Reenabled = true
		}
	}
	return v, true
}

// reject takes k out of rotation after the provider rejected it with status (0: unknown). A
// first rejection waits the pool's key retry; a rejected probe doubles the key's retry up to
// MaxKeyRetry; a rejection of a lease taken before the key was disabled keeps the retry.
func (p *Pool) reject(k *key, probe bool, now time.Time, status int) {
	switch limit := max(p.keyRetry, MaxKeyRetry); {
	case !k.disabled:
		k.retry = p.keyRetry
	case probe && k.retry < limit:
		k.retry = min(2*k.retry, limit)
	}
	k.disabled = true
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		k.disabledBy = fmt.Sprintf("disabled after upstream %d %s", status, http.StatusText(status))
	case status > 0:
		k.disabledBy = fmt.Sprintf("disabled after upstream %d %s: the provider rejected the key", status, http.StatusText(status))
	default:
		k.disabledBy = "disabled after the provider rejected the key"
	}
	if until := now.Add(k.retry); until.After(k.disabledUntil) {
		k.disabledUntil = until
	}
}
