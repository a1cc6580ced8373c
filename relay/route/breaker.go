package route

import "time"

// Circuit states, as State and Snapshot report them.
const (
	Closed   = "closed"
	Open     = "open"
	HalfOpen = "half-open"
)

// breaker is one provider's circuit. The router's lock guards it.
//
// It opens after threshold consecutive failures. Once the cooldown has passed (or Order has
// waived it because every candidate was open) it is half-open: Allow hands out exactly one
// probe at a time. A success closes it; a failure while half-open opens it again.
type breaker struct {
	failures    int // consecutive
	open        bool
	openedAt    time.Time
	lastFailure time.Time
	probeAt     time.Time // when the live probe was handed out; zero when none
	waived      bool      // Order waived the rest of the cooldown (all candidates open)
	cause       string    // what the last failure was, for the message of a skip
}

func (b *breaker) state(now time.Time, cooldown time.Duration) string {
	switch {
	case !b.open:
		return Closed
	case b.waived || !now.Before(b.openedAt.Add(cooldown)):
		return HalfOpen
	default:
		return Open
	}
}

// probing reports whether a probe handed out at probeAt is still live.
func (b *breaker) probing(now time.Time) bool {
	return !b.probeAt.IsZero() && now.Before(b.probeAt.Add(ProbeTimeout))
}

// usable reports whether Order may offer the provider: closed, or half-open with its probe free.
func (b *breaker) usable(now time.Time, cooldown time.Duration) bool {
	switch b.state(now, cooldown) {
	case Closed:
		return true
	case HalfOpen:
		return !b.probing(now)
	}
	return false
}

func (r *Router) breakerLocked(name string) *breaker {
	b := r.breakers[name]
	if b == nil {
		b = &breaker{}
		r.breakers[name] = b
	}
	return b
}

// fallbackLocked picks, when every allowed provider is open, the least recently failed one,
// preferring those without a live probe, and waives the rest of its cooldown.
func (r *Router) fallbackLocked(now time.Time, names []string) string {
	better := func(b, than *breaker) bool {
		if bp, tp := b.probing(now), than.probing(now); bp != tp {
			return !bp
		}
		return b.lastFailure.Before(than.lastFailure)
	}
	best := names[0]
	for _, n := range names[1:] {
		if better(r.breakerLocked(n), r.breakerLocked(best)) {
			best = n
		}
	}
	r.breakerLocked(best).waived = true
	return best
}

// Allow is asked right before an attempt on provider. ok reports whether the attempt may go;
// probe reports that it is the single probe of a half-open circuit, whose Report decides
// whether the circuit closes. Concurrent callers never both get the probe; a probe that is
// not reported within ProbeTimeout is given up and handed out again.
func (r *Router) Allow(provider string) (ok, probe bool) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.breakerLocked(provider)
	switch b.state(now, r.cooldown) {
	case Closed:
		return true, false
	case HalfOpen:
		if b.probing(now) {
			return false, false
		}
		b.probeAt, b.waived = now, false
		return true, true
	}
	return false, false
}

// Report records the result of an attempt on provider: ok is a success (the response headers
// came back and were not a provider failure), !ok a failure (transport error, timeout, 5xx,
// 529). What counts as which is the caller's decision; a client's own 4xx should not be
// reported as a failure, nor a 429 that only benched one key.
//
// A success closes the circuit whatever its state. A failure counts towards the threshold
// when closed, opens the circuit again when half-open, and changes nothing else while open.
func (r *Router) Report(provider string, ok bool) { r.report(provider, ok, "") }

// Fail reports a failed attempt on provider, as Report(provider, false) does, with its cause
// in a few words ("unreachable at http://127.0.0.1:11434 (connection refused)"). The cause of
// the last failure is kept, so that a request skipping the open circuit can say why.
func (r *Router) Fail(provider, cause string) { r.report(provider, false, cause) }

func (r *Router) report(provider string, ok bool, cause string) {
	rep := r.reportLocked(provider, ok, cause)
	if r.onReport != nil {
		r.onReport(rep)
	}
}

func (r *Router) reportLocked(provider string, ok bool, cause string) Reported {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.breakerLocked(provider)
	rep := Reported{Provider: provider, OK: ok, Cause: cause}
	if ok {
		*b = breaker{lastFailure: b.lastFailure, cause: b.cause}
		return rep
	}
	b.cause = cause
	b.failures++
	b.lastFailure = now
	switch b.state(now, r.cooldown) {
	case Closed:
		if b.failures >= r.threshold {
			b.open, b.openedAt = true, now
			rep.Opened = true
		}
	case HalfOpen:
		b.openedAt, b.probeAt, b.waived = now, time.Time{}, false
		rep.Opened = true
	}
	// Open and cooling down: the failure of a request sent before the circuit opened changes
	// nothing but the count.
	rep.Failures = b.failures
	if b.open {
		rep.OpenedAt = b.openedAt
	}
	return rep
}

// Skip says why a provider's circuit keeps requests away: for how much longer, after how
// many consecutive failures, and the last failure's cause.
type Skip struct {
	For      time.Duration // until the circuit lets a probe through; 0 when a probe is in flight
	Failures int
	Cause    string
}

// Skipped returns why provider is skipped now, and false when its circuit would let a request
// through (closed, or half-open with its probe free).
func (r *Router) Skipped(provider string) (Skip, bool) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.breakerLocked(provider)
	if b.usable(now, r.cooldown) {
		return Skip{}, false
	}
	s := Skip{Failures: b.failures, Cause: b.cause}
	if b.state(now, r.cooldown) == Open {
		s.For = b.openedAt.Add(r.cooldown).Sub(now)
	}
	return s, true
}

// State returns the circuit state of provider: closed, open or half-open.
func (r *Router) State(provider string) string {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.breakerLocked(provider).state(now, r.cooldown)
}

// ProviderState describes one provider's circuit for /v1/providers and /health.
type ProviderState struct {
	Name                string    `json:"name"`
	State               string    `json:"state"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastFailure         time.Time `json:"last_failure,omitzero"`
	// RetryAt is when an open circuit becomes half-open; zero unless open.
	RetryAt time.Time `json:"retry_at,omitzero"`
	// Probing reports that a half-open circuit's probe is in flight.
	Probing bool `json:"probing,omitempty"`
	// LastError is the cause of the last failure, kept while the circuit is not closed.
	LastError string `json:"last_error,omitempty"`
}

// Snapshot describes every candidate's circuit, in configuration order.
func (r *Router) Snapshot() []ProviderState {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ProviderState, 0, len(r.names))
	for _, n := range r.names {
		b := r.breakerLocked(n)
		s := ProviderState{Name: n, State: b.state(now, r.cooldown), ConsecutiveFailures: b.failures,
			LastFailure: b.lastFailure}
		if b.failures > 0 {
			s.LastError = b.cause
		}
		switch s.State {
		case Open:
			s.RetryAt = b.openedAt.Add(r.cooldown)
		case HalfOpen:
			s.Probing = b.probing(now)
		}
		out = append(out, s)
	}
	return out
}
