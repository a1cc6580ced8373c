package keys

// Adopt carries the state of old's keys over to p's keys with the same secret, for a
// configuration reload: each such key keeps its rate buckets, upstream budgets, 429 cooldown
// and backoff, and its rejection (with its re-probe time). A bucket is kept only when its
// limit is unchanged; a key new to the pool starts fresh. Leases taken from old stay old's: a
// request in flight across the reload gives its key back to the pool it came from.
func (p *Pool) Adopt(old *Pool) {
	if old == nil || old == p {
		return
	}
	old.mu.Lock()
	byKey := make(map[string]key, len(old.keys))
	for _, k := range old.keys {
		if _, dup := byKey[k.secret]; !dup {
			byKey[k.secret] = *k
		}
	}
	old.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.keys {
		o, ok := byKey[k.secret]
		if !ok {
			continue
		}
		if sameLimit(k.rpm, o.rpm) {
			k.rpm = o.rpm.clone()
		}
		if sameLimit(k.tpm, o.tpm) {
			k.tpm = o.tpm.clone()
		}
		k.budgets = o.budgets
		k.coolUntil, k.strikes = o.coolUntil, o.strikes
		k.disabled, k.disabledBy = o.disabled, o.disabledBy
		k.disabledUntil, k.retry = o.disabledUntil, o.retry
		// A probe in flight belongs to the old pool; here the key may be probed again.
	}
}

// sameLimit reports whether two buckets have the same limit (both nil: both unlimited).
func sameLimit(a, b *bucket) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.capacity == b.capacity
}

// clone copies a bucket; nil stays nil.
func (b *bucket) clone() *bucket {
	if b == nil {
		return nil
	}
	c := *b
	return &c
}
