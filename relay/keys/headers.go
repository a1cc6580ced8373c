package keys

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Upstream rate-limit header families (anthropic-ratelimit-<family>-{limit,remaining,reset}).
const (
	famRequests = iota
	famTokens
	famInputTokens
	famOutputTokens
	numFamilies
)

var familyNames = [numFamilies]string{"requests", "tokens", "input-tokens", "output-tokens"}

// familyHeaders are the canonical header names of each family, built once: observeBudgets
// runs on every response, and building "Anthropic-Ratelimit-"+name+"-Remaining" there cost
// two concatenations and a canonicalization per family.
var familyHeaders = func() (h [numFamilies]struct{ remaining, reset, limit string }) {
	for f, name := range familyNames {
		prefix := "Anthropic-Ratelimit-" + name
		h[f].remaining = http.CanonicalHeaderKey(prefix + "-Remaining")
		h[f].reset = http.CanonicalHeaderKey(prefix + "-Reset")
		h[f].limit = http.CanonicalHeaderKey(prefix + "-Limit")
	}
	return h
}()

// budgetReasons say which upstream limit holds a key back, by family.
var budgetReasons = [numFamilies]string{
	"upstream requests limit reached",
	"upstream tokens limit reached",
	"upstream input-tokens limit reached",
	"upstream output-tokens limit reached",
}

// budget is what the upstream last said about one of a key's limits: remaining units until
// reset. Anthropic replenishes continuously, so when the limit is known the budget refills at
// limit per minute, and it is forgotten at reset (the limit is then full again).
type budget struct {
	tokens  float64
	perNano float64 // 0 when the limit is unknown: nothing comes back before reset
	max     float64
	last    time.Time
	until   time.Time // zero: no budget known
}

// set records remaining units, refilling at limit per minute (limit ≤ 0: unknown) until reset.
func (b *budget) set(now time.Time, remaining, limit float64, reset time.Time) {
	*b = budget{tokens: remaining, max: math.Inf(1), last: now, until: reset}
	if limit > 0 {
		b.perNano = limit / float64(time.Minute)
		b.max = limit
	}
}

// active reports whether the budget still applies at now.
func (b *budget) active(now time.Time) bool {
	return !b.until.IsZero() && now.Before(b.until)
}

func (b *budget) refill(now time.Time) {
	if !now.After(b.last) {
		return
	}
	b.tokens = math.Min(b.max, b.tokens+float64(now.Sub(b.last))*b.perNano)
	b.last = now
}

// wait returns how long until n units are available; never later than reset.
func (b *budget) wait(now time.Time, n float64) time.Duration {
	if !b.active(now) {
		return 0
	}
	b.refill(now)
	missing := n - b.tokens
	if missing <= epsilon {
		return 0
	}
	left := b.until.Sub(now)
	if b.perNano > 0 {
		if d := time.Duration(math.Ceil(missing / b.perNano)); d < left {
			return d
		}
	}
	return left
}

// take spends n units of an active budget, so that concurrent leases do not all count on the
// same remaining units; the next response's headers overwrite the guess.
func (b *budget) take(now time.Time, n float64) {
	if b.active(now) {
		b.refill(now)
		b.tokens -= n
	}
}

// observeBudgets updates a key's budgets from anthropic-ratelimit-* response headers. A family
// needs both -remaining and a future -reset (RFC 3339) to count; -limit is optional.
func observeBudgets(now time.Time, h http.Header, budgets *[numFamilies]budget) {
	if h == nil {
		return
	}
	for f, names := range familyHeaders {
		v := h[names.remaining] // canonical key: a map lookup, no allocation
		if len(v) == 0 {
			continue // the usual case without rate-limit headers: no ParseFloat error to allocate
		}
		rem, err := strconv.ParseFloat(strings.TrimSpace(v[0]), 64)
		if err != nil || rem < 0 {
			continue
		}
		reset, err := time.Parse(time.RFC3339, strings.TrimSpace(h.Get(names.reset)))
		if err != nil || !reset.After(now) {
			continue
		}
		limit, err := strconv.ParseFloat(strings.TrimSpace(h.Get(names.limit)), 64)
		if err != nil {
			limit = 0
		}
		budgets[f].set(now, rem, limit, reset)
	}
}

// retryDelay reads how long a 429 asks to wait: retry-after-ms, then retry-after (seconds or
// an HTTP-date), then the earliest future anthropic-ratelimit-*-reset. ok is false when the
// response gives no hint.
func retryDelay(now time.Time, h http.Header) (d time.Duration, ok bool) {
	if h == nil {
		return 0, false
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return scaled(ms, time.Millisecond), true
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			return scaled(s, time.Second), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	var earliest time.Time
	for _, name := range familyNames {
		reset, err := time.Parse(time.RFC3339, strings.TrimSpace(h.Get("Anthropic-Ratelimit-"+name+"-Reset")))
		if err != nil || !reset.After(now) {
			continue
		}
		if earliest.IsZero() || reset.Before(earliest) {
			earliest = reset
		}
	}
	if earliest.IsZero() {
		return 0, false
	}
	return earliest.Sub(now), true
}

// scaled converts a non-negative count of units into a duration, saturating instead of
// overflowing (a retry-after of 1e30 seconds is simply "very long").
func scaled(n float64, unit time.Duration) time.Duration {
	d := n * float64(unit)
	if d >= math.MaxInt64 || math.IsNaN(d) {
		return math.MaxInt64
	}
	return time.Duration(d)
}
