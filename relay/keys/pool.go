// Package keys leases a provider's upstream credentials.
//
// A Pool holds one provider's keys. Lease picks a usable key: keys of the highest priority come
// first, and within one priority the pool's strategy decides. A key is usable when it is not
// disabled, not cooling down after a 429, has room in its rpm and tpm token buckets, and has
// budget left by the upstream's own anthropic-ratelimit-* headers. Release gives the key back
// with the response, so that limits and cooldowns learn from retry-after and from real usage.
//
// A key the provider rejects (401, 403, or an Outcome marked Rejected: billing or quota) is
// disabled, but not for ever: after the pool's key retry (WithKeyRetry) one lease may take it as
// a probe. A probe the provider accepts re-enables the key; a probe it rejects disables the key
// again for twice as long, up to MaxKeyRetry.
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
	// DefaultKeyRetry is how long a rejected key stays out of rotation before its first probe.
	DefaultKeyRetry = time.Minute
	// MaxKeyRetry bounds the doubling of the key retry after failed probes.
	MaxKeyRetry = 30 * time.Minute
)

// Unavailable is the error of Lease when no key is usable now.
type Unavailable struct {
	Provider string
	// RetryAfter is the soonest moment, from now, at which some key becomes usable, counting a
	// rejected key as usable when it may be probed. Zero means that no such moment is known:
	// every key is rejected and a probe of each is in flight.
	RetryAfter time.Duration
	// Reason says what holds back the key that frees up first, or that all keys are rejected.
	Reason string
	// Rejected reports that every key is out of rotation because the provider rejected it;
	// RetryAfter is then the time until the first of them may be probed.
	Rejected bool
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
	// Available reports whether the key could be leased now for a request of zero tokens. A
	// disabled key is available when it may be probed now.
	Available bool `json:"available"`
	// CoolingUntil is when an unavailable key becomes usable again (cooldown, rate limit or
	// upstream budget, whichever is last); zero when it is available or disabled.
	CoolingUntil time.Time `json:"cooling_until,omitzero"`
	// Disabled reports that the provider rejected the key and that it is out of rotation until
	// a probe succeeds.
	Disabled bool `json:"disabled"`
	// DisabledUntil is when a disabled key may be probed; it stays set, in the past, while the
	// key awaits or undergoes its probe. Nil when the key is not disabled.
	DisabledUntil *time.Time `json:"disabled_until,omitempty"`
	// Reason says why the key is unavailable or disabled; empty when it is available and not
	// disabled. A disabled key's reason names the rejection, followed by "; may be probed now"
	// or "; a probe is in flight" once its DisabledUntil has passed, or by "; its probe waits: "
	// and the limit that holds it back longer than DisabledUntil.
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

// WithKeyRetry sets how long a key the provider rejected stays out of rotation before one
// lease may probe it (zero or less: DefaultKeyRetry). Each rejected probe doubles the time, up
// to MaxKeyRetry; a base above MaxKeyRetry is used as is and does not double.
func WithKeyRetry(base time.Duration) Option {
	return func(p *Pool) {
		if base > 0 {
			p.keyRetry = base
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
	keyRetry    time.Duration

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

	// A disabled key may be probed from disabledUntil on; probing is set while the one lease
	// that probes it is out. retry is the current retry interval, doubled by a failed probe.
	disabledUntil time.Time
	retry         time.Duration
	probing       bool

	// heldUntil keeps the key out of leases, for heldBy: a limit that holds across relays
	// sharing their state (Hold). Zero without shared state.
	heldUntil time.Time
	heldBy    string
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
		keyRetry:    DefaultKeyRetry,
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
//
// A rejected key whose retry time has passed is usable like any other, but by one lease at a
// time: that lease is its probe, and its Release decides whether the key is enabled again.
func (p *Pool) Lease(estTokens int) (*Lease, error) { return p.lease(estTokens, -1) }

// LeasePrefer is Lease, except that it takes the key at index prefer (a session's previous
// key, whose upstream prompt cache is warm) when that key is usable and of the highest usable
// priority. Preference never overrides priority.
func (p *Pool) LeasePrefer(estTokens, prefer int) (*Lease, error) { return p.lease(estTokens, prefer) }

func (p *Pool) lease(estTokens, prefer int) (*Lease, error) {
	l, u, _ := p.tryLease(estTokens, prefer)
	if l == nil {
		return nil, u
	}
	return l, nil
}

// tryLease is lease. When no key is usable it returns the *Unavailable error and how long
// until a key that is not rejected becomes usable (zero when every key is rejected), which is
// what LeaseWait may wait for.
func (p *Pool) tryLease(estTokens, prefer int) (*Lease, *Unavailable, time.Duration) {
	est := float64(max(estTokens, 0))
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) == 0 {
		p.keyless++
		return &Lease{pool: p, index: -1}, nil, 0
	}
	var buf [16]int
	for ti := range p.tiers {
		t := &p.tiers[ti]
		usable := buf[:0]
		for _, i := range t.members {
			if d, _, _ := p.keys[i].wait(now, est); d == 0 {
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
		if k.disabled {
			k.probing, l.probe = true, true
		}
		return l, nil, 0
	}
	u, wait := p.unavailable(now, est)
	return nil, u, wait
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

// unavailable builds the error for when no key is usable: the soonest wait among all keys,
// a rejected key counting until it may be probed, and its reason. wait is the soonest among
// keys that are not rejected; zero when every key is.
func (p *Pool) unavailable(now time.Time, est float64) (u *Unavailable, wait time.Duration) {
	u = &Unavailable{Provider: p.provider, Rejected: true}
	found := false
	for _, k := range p.keys {
		d, why, rejected := k.wait(now, est)
		if !rejected {
			u.Rejected = false
			if wait == 0 || d < wait {
				wait = d
			}
		}
		if d < 0 {
			continue
		}
		if !found || d < u.RetryAfter {
			u.RetryAfter, u.Reason, found = d, why, true
			if rejected && why == k.disabledBy {
				u.Reason = why + "; next probe in " + roundUp(d).String()
			}
		}
	}
	switch {
	case u.Rejected && found:
		u.Reason = "all keys rejected by the provider; next probe in " + roundUp(u.RetryAfter).String()
	case u.Rejected:
		u.Reason = "all keys rejected by the provider; a probe is in flight"
	}
	return u, wait
}

// roundUp rounds d up to a whole second, for messages.
func roundUp(d time.Duration) time.Duration {
	if r := d.Truncate(time.Second); r < d {
		return r + time.Second
	}
	return d
}

// wait returns how long until the key can take a request of est tokens, and what holds it
// back. Zero means usable now; -1 means that no wait is known: the key is rejected and its
// probe is in flight. rejected reports that the key is disabled; a rejected key waits at least
// until it may be probed, with its disabledBy as the reason.
func (k *key) wait(now time.Time, est float64) (d time.Duration, why string, rejected bool) {
	if k.disabled {
		if k.probing {
			return -1, k.disabledBy, true
		}
		if k.disabledUntil.After(now) {
			d, why = k.disabledUntil.Sub(now), k.disabledBy
		}
	}
	later := func(w time.Duration, reason string) {
		if w > d {
			d, why = w, reason
		}
	}
	if k.coolUntil.After(now) {
		later(k.coolUntil.Sub(now), "cooling down after 429")
	}
	if k.heldUntil.After(now) {
		later(k.heldUntil.Sub(now), k.heldBy)
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
	return d, why, k.disabled
}

// LeaseWait is Lease, except that when no key is usable now but one will be within maxWait,
// it waits for it (until ctx is done) and leases then. It never waits past maxWait: when the
// soonest key is further away it returns the *Unavailable error at once. It does not wait for
// a rejected key's probe: a key the provider rejected is unlikely to work, so waiting for it
// would only delay the error.
func (p *Pool) LeaseWait(ctx context.Context, estTokens int, maxWait time.Duration) (*Lease, error) {
	deadline := p.now().Add(maxWait)
	for {
		l, u, wait := p.tryLease(estTokens, -1)
		if l != nil {
			return l, nil
		}
		if wait <= 0 || wait > deadline.Sub(p.now()) {
			return nil, u
		}
		if err := p.sleep(ctx, wait); err != nil {
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
		d, why, _ := k.wait(now, 0)
		switch {
		case k.disabled:
			until := k.disabledUntil
			s.DisabledUntil = &until
			s.Available = d == 0
			switch {
			case k.probing:
				s.Reason = k.disabledBy + "; a probe is in flight"
			case d == 0:
				s.Reason = k.disabledBy + "; may be probed now"
			case why != k.disabledBy:
				s.Reason = k.disabledBy + "; its probe waits: " + why
			default:
				s.Reason = k.disabledBy
			}
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
