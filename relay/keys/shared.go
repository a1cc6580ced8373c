package keys

import "time"

// What relays sharing their state (server.state) learn from each other is applied to a pool
// with Observe and Hold; a pool that is never told anything behaves as it does alone.

// Observe applies to the key at index what another relay sharing the state learned: a 429
// cooldown until coolUntil, and a rejection by the provider until rejectedUntil, with its
// reason. A zero time says nothing; a time no later than what the pool knows changes nothing.
// A key disabled this way may be probed from rejectedUntil on, as if this pool had disabled it.
func (p *Pool) Observe(index int, coolUntil, rejectedUntil time.Time, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if index < 0 || index >= len(p.keys) {
		return
	}
	k := p.keys[index]
	if coolUntil.After(k.coolUntil) {
		k.coolUntil = coolUntil
	}
	if rejectedUntil.After(k.disabledUntil) {
		if !k.disabled {
			k.retry = p.keyRetry
		}
		k.disabled, k.disabledBy, k.disabledUntil = true, reason, rejectedUntil
	}
}

// Hold keeps the key at index out of leases until until, saying why (a rate limit that holds
// across the relays sharing the state). A later Hold replaces an earlier one.
func (p *Pool) Hold(index int, until time.Time, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if index < 0 || index >= len(p.keys) {
		return
	}
	k := p.keys[index]
	k.heldUntil, k.heldBy = until, why
}

// Unhold lifts every Hold: the limits they came from no longer apply (the relay lost, or
// found again, the state it shares with others).
func (p *Pool) Unhold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.keys {
		k.heldUntil, k.heldBy = time.Time{}, ""
	}
}
