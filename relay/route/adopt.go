package route

import "time"

// Adopt carries old's circuit breakers over to r for the providers both know, for a
// configuration reload: an open circuit stays open for the rest of its cooldown, a failure
// count keeps counting. The round-robin position and the weighted round-robin state are kept
// too. A probe in flight on old is not carried over: r may hand out its own.
func (r *Router) Adopt(old *Router) {
	if old == nil || old == r {
		return
	}
	old.mu.Lock()
	breakers := make(map[string]breaker, len(old.breakers))
	for n, b := range old.breakers {
		breakers[n] = *b
	}
	current := make(map[string]int, len(old.current))
	for n, c := range old.current {
		current[n] = c
	}
	rr := old.rr
	old.mu.Unlock()

	r.mu.Lock()
	defer r.mu.Unlock()
	r.rr = rr
	for n, b := range breakers {
		if _, ok := r.candidates[n]; !ok {
			continue
		}
		b.probeAt = time.Time{}
		nb := b
		r.breakers[n] = &nb
		if c, ok := current[n]; ok {
			r.current[n] = c
		}
	}
}
