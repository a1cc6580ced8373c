package route

import "time"

// What relays sharing their state (server.state) learn from each other about circuits is
// given to a router with Observe; what it learns itself comes out through OnReport. A router
// that is never told anything behaves as it does alone.

// Reported is what a function set with OnReport learns of one reported attempt, once the
// circuit has changed.
type Reported struct {
	Provider string
	OK       bool
	Cause    string
	// Failures is the count of consecutive failures; 0 after a success.
	Failures int
	// Opened reports that this failure opened the circuit (or opened it again after a failed
	// probe); OpenedAt is when the open circuit opened, zero when the circuit is closed.
	Opened   bool
	OpenedAt time.Time
}

// OnReport sets f, called after each Report and Fail outside the router's lock. Set it before
// the router is used.
func (r *Router) OnReport(f func(Reported)) { r.onReport = f }

// Observe opens provider's circuit as another relay sharing the state opened it: at openedAt,
// after failures consecutive failures, the last for cause. The circuit then lets a probe
// through once openedAt plus the cooldown has passed, as if this router had opened it. An
// opening no later than the one the router knows changes nothing.
func (r *Router) Observe(provider string, openedAt time.Time, failures int, cause string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.breakerLocked(provider)
	if b.open && !openedAt.After(b.openedAt) {
		return
	}
	b.open, b.openedAt, b.waived = true, openedAt, false
	b.failures = max(b.failures, failures)
	if openedAt.After(b.lastFailure) {
		b.lastFailure = openedAt
	}
	if cause != "" {
		b.cause = cause
	}
}
