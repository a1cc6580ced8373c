// Package keys leases a provider's upstream credentials.
//
// A Pool holds one provider's keys. Lease picks a usable key: keys of the highest priority come
// first, and within one priority the pool's strategy decides. A key is usable when it is not
// disabled, not cooling down after a 429, has room in its rpm and tpm token buckets, and has
// budget left by the upstream's own anthropic-ratelimit-* headers. Release gives the key back
// with the response, so that limits and cooldowns learn from retry-after and from real usage.
//
// Nothing in this package ever prints a key; use Masked when a log line must identify one.
package keys

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
)

// Defaults of the pool's options.
const (
	DefaultBackoff     = 10 * time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	DefaultMaxCooldown = time.Hour
)

// Unavailable is the error of Lease when no key is usable now.
type Unavailable struct {
	Provider string
	// RetryAfter is the soonest moment, from now, at which some key becomes usable. Zero means
	// that waiting will not help: every key is disabled.
	RetryAfter time.Duration
	// Reason says what holds back the key that frees up first, or that all keys are disabled.
	Reason string
}

// Error describes the shortage without naming any key.
func (u *Unavailable) Error() string {
	if u.RetryAfter <= 0 {
		return fmt.Sprintf("keys: %s: no usable key: %s", u.Provider, u.Reason)
	}
	return fmt.Sprintf("keys: %s: no usable key: %s (retry after %s)", u.Provider, u.Reason, u.RetryAfter)
}

// KeyState describes one key for status pages. It never contains the key itself.
type KeyState struct {
	Index    int `json:"index"`
	Priority int `json:"priority"`
	InFlight int `json:"in_flight"`
	// Available reports whether the key could be leased now for a request of zero tokens.
	Available bool `json:"available"`
	// CoolingUntil is when an unavailable key becomes usable again (cooldown, rate limit or
	// upstream budget, whichever is last); zero when it is available or disabled.
	CoolingUntil time.Time `json:"cooling_until,omitzero"`
	Disabled     bool      `json:"disabled"`
	// Reason says why the key is unavailable or disabled; empty when it is available.
	Reason string `json:"reason,omitempty"`
}

// Option configures a Pool.
type Option func(*Pool)

// WithBackoff sets the cooldown after a 429 that carries no retry hint, and the bound it
// doubles up to on consecutive 429s. Zero values keep the defaults (10 s and 5 min).
func WithBackoff(base, maxBackoff time.Duration) Option {
	return func(p *Pool) {
		if base > 0 {
			p.backoff = base
		}
		if maxBackoff > 0 {
			p.maxBackoff = maxBackoff
		}
	}
}

// WithMaxCooldown bounds a cooldown asked for by a retry hint (default one hour), so that a
// far-off HTTP-date does not bench a key for days.
func WithMaxCooldown(d time.Duration) Option {
	return func(p *Pool) {
		if d > 0 {
			p.maxCooldown = d
		}
	}
}

// WithRand sets the random source of the random strategy. The pool guards it with its mutex.
func WithRand(r *rand.Rand) Option {
	return func(p *Pool) {
		if r != nil {
			p.rnd = r
		}
	}
}

// WithSleep replaces how LeaseWait waits: sleep returns after d, or earlier with ctx's error.
// Tests pass a sleep that advances a fake clock.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(p *Pool) {
		if sleep != nil {
			p.sleep = sleep
		}
	}
}

// Pool is one provider's set of keys. It is safe for concurrent use.
type Pool struct {
	provider    string
	strategy    string
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
	backoff     time.Duration
	maxBackoff  time.Duration
	maxCooldown time.Duration

	mu      sync.Mutex
	rnd     *rand.Rand
	keys    []*key
	tiers   []tier
	keyless int // in-flight leases of a pool without keys
}

// tier is the keys of one priority, highest priority first in Pool.tiers.
type tier struct {
	priority int
	members  []int // indexes into Pool.keys
	next     int   // round-robin cursor into members
}

// key is the state of one key.
type key struct {
	secret   string
	priority int
	weight   int
	current  int // smooth weighted round-robin state

	rpm, tpm *bucket // nil when unlimited
	budgets  [numFamilies]budget

	inFlight   int
	coolUntil  time.Time
	strikes    int // consecutive 429s, for the default backoff
	disabled   bool
	disabledBy string
}

// NewPool returns the pool of a provider's keys. strategy is one of config.KeyStrategies ("" and
// unknown names mean round_robin; config validation rejects unknown ones). now is the clock
// (nil: time.Now).
//
// A pool without keys leases successfully with an empty key and no limits: it serves providers
// that need no key, or that pass the client's own credential through.
func NewPool(provider string, keys []config.Key, strategy string, now func() time.Time, opts ...Option) *Pool {
	if now == nil {
		now = time.Now
	}
	if !slices.Contains(config.KeyStrategies, strategy) {
		strategy = config.KeyStrategyRoundRobin
	}
	p := &Pool{
		provider:    provider,
		strategy:    strategy,
		now:         now,
		sleep:       sleepTimer,
		backoff:     DefaultBackoff,
		maxBackoff:  DefaultMaxBackoff,
		maxCooldown: DefaultMaxCooldown,
		rnd:         rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	for _, o := range opts {
		o(p)
	}
	t := now()
	for _, c := range keys {
		k := &key{secret: c.Key, priority: c.Priority, weight: max(c.Weight, 1)}
		if c.RPMLimit > 0 {
			k.rpm = newBucket(c.RPMLimit, t)
		}
		if c.TPMLimit > 0 {
			k.tpm = newBucket(c.TPMLimit, t)
		}
		p.keys = append(p.keys, k)
	}
	order := make([]int, len(p.keys))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return p.keys[b].priority - p.keys[a].priority })
	for _, i := range order {
		if n := len(p.tiers); n == 0 || p.tiers[n-1].priority != p.keys[i].priority {
			p.tiers = append(p.tiers, tier{priority: p.keys[i].priority})
		}
		p.tiers[len(p.tiers)-1].members = append(p.tiers[len(p.tiers)-1].members, i)
	}
	return p
}

func sleepTimer(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Lease takes a usable key for a request estimated at estTokens tokens (for example the body
// size / 4), charging the key's rpm bucket one request and its tpm bucket the estimate (at
// most the whole bucket). When no key is usable it returns an *Unavailable error.
func (p *Pool) Lease(estTokens int) (*Lease, error) { return p.lease(estTokens, -1) }

// LeasePrefer is Lease, except that it takes the key at index prefer (a session's previous
// key, whose upstream prompt cache is warm) when that key is usable and of the highest usable
// priority. Preference never overrides priority.
func (p *Pool) LeasePrefer(estTokens, prefer int) (*Lease, error) { return p.lease(estTokens, prefer) }

func (p *Pool) lease(estTokens, prefer int) (*Lease, error) {
	est := float64(max(estTokens, 0))
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) == 0 {
		p.keyless++
		return &Lease{pool: p, index: -1}, nil
	}
	var buf [16]int
	for ti := range p.tiers {
		t := &p.tiers[ti]
		usable := buf[:0]
		for _, i := range t.members {
			if d, _ := p.keys[i].wait(now, est); d == 0 {
				usable = append(usable, i)
			}
		}
		if len(usable) == 0 {
			continue
		}
		i := prefer
		if !slices.Contains(usable, i) {
			i = p.pick(t, usable)
		}
		k := p.keys[i]
		l := &Lease{pool: p, index: i, key: k.secret}
		if k.rpm != nil {
			k.rpm.take(now, 1)
		}
		if k.tpm != nil {
			l.charged = k.tpm.take(now, est)
		}
		k.budgets[famRequests].take(now, 1)
		k.budgets[famTokens].take(now, est)
		k.budgets[famInputTokens].take(now, est)
		k.inFlight++
		return l, nil
	}
	return nil, p.unavailable(now, est)
}

// pick chooses among the usable members of a tier by the pool's strategy.
func (p *Pool) pick(t *tier, usable []int) int {
	switch p.strategy {
	case config.KeyStrategyRandom:
		return usable[p.rnd.IntN(len(usable))]
	case config.KeyStrategyWeighted:
		// Smooth weighted round robin (nginx): deterministic and evenly interleaved.
		total, best := 0, -1
		for _, i := range usable {
			k := p.keys[i]
			k.current += k.weight
			total += k.weight
			if best < 0 || k.current > p.keys[best].current {
				best = i
			}
		}
		p.keys[best].current -= total
		return best
	case config.KeyStrategyLeastLoaded:
		// Fewest in flight; ties go round robin so that idle keys share the work.
		best, bestPos := -1, 0
		for off := range len(t.members) {
			pos := (t.next + off) % len(t.members)
			i := t.members[pos]
			if !slices.Contains(usable, i) {
				continue
			}
			if best < 0 || p.keys[i].inFlight < p.keys[best].inFlight {
				best, bestPos = i, pos
			}
		}
		t.next = (bestPos + 1) % len(t.members)
		return best
	default:
		for off := range len(t.members) {
			pos := (t.next + off) % len(t.members)
			if i := t.members[pos]; slices.Contains(usable, i) {
				t.next = (pos + 1) % len(t.members)
				return i
			}
		}
		return usable[0]
	}
}

// unavailable builds the error for when no key is usable: the soonest wait among keys that
// are not disabled, and its reason.
func (p *Pool) unavailable(now time.Time, est float64) *Unavailable {
	u := &Unavailable{Provider: p.provider, Reason: "all keys disabled"}
	found := false
	for _, k := range p.keys {
		d, why := k.wait(now, est)
		if d < 0 {
			continue
		}
		if !found || d < u.RetryAfter {
			u.RetryAfter, u.Reason, found = d, why, true
		}
	}
	return u
}

// wait returns how long until the key can take a request of est tokens, and what holds it
// back; -1 when it is disabled. Zero means usable now.
func (k *key) wait(now time.Time, est float64) (time.Duration, string) {
	if k.disabled {
		return -1, k.disabledBy
	}
	var d time.Duration
	why := ""
	later := func(w time.Duration, reason string) {
		if w > d {
			d, why = w, reason
		}
	}
	if k.coolUntil.After(now) {
		later(k.coolUntil.Sub(now), "cooling down after 429")
	}
	if k.rpm != nil {
		later(k.rpm.wait(now, 1), "rpm_limit reached")
	}
	if k.tpm != nil {
		later(k.tpm.wait(now, est), "tpm_limit reached")
	}
	needs := [numFamilies]float64{1, est, est, 1}
	for f := range numFamilies {
		later(k.budgets[f].wait(now, needs[f]), budgetReasons[f])
	}
	return d, why
}

// LeaseWait is Lease, except that when no key is usable now but one will be within maxWait,
// it waits for it (until ctx is done) and leases then. It never waits past maxWait: when the
// soonest key is further away it returns the *Unavailable error at once.
func (p *Pool) LeaseWait(ctx context.Context, estTokens int, maxWait time.Duration) (*Lease, error) {
	deadline := p.now().Add(maxWait)
	for {
		l, err := p.Lease(estTokens)
		if err == nil {
			return l, nil
		}
		u, ok := err.(*Unavailable)
		if !ok || u.RetryAfter <= 0 || u.RetryAfter > deadline.Sub(p.now()) {
			return nil, err
		}
		if err := p.sleep(ctx, u.RetryAfter); err != nil {
			return nil, err
		}
	}
}

// InFlight returns the number of leases not yet released, over all keys (and keyless leases).
func (p *Pool) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.keyless
	for _, k := range p.keys {
		n += k.inFlight
	}
	return n
}

// Len returns the number of keys in the pool.
func (p *Pool) Len() int { return len(p.keys) }

// Snapshot describes every key, in configuration order, without the keys themselves.
func (p *Pool) Snapshot() []KeyState {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]KeyState, len(p.keys))
	for i, k := range p.keys {
		s := KeyState{Index: i, Priority: k.priority, InFlight: k.inFlight, Disabled: k.disabled}
		d, why := k.wait(now, 0)
		switch {
		case d < 0:
			s.Reason = why
		case d == 0:
			s.Available = true
		default:
			s.Reason = why
			if d < math.MaxInt64 {
				s.CoolingUntil = now.Add(d)
			}
		}
		out[i] = s
	}
	return out
}
