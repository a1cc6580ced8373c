// Package route orders the providers that may serve a request, keeps a circuit breaker per
// provider, and remembers which provider a session (and a thinking signature) belongs to.
//
// The relay asks Order for the candidates of a request, tries them in turn (asking Allow right
// before each attempt, so that a half-open provider gets exactly one probe), and reports each
// attempt's result with Report. Every strategy returns a full ordered list, so every strategy
// fails over.
package route

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
)

// Defaults of the circuit breaker.
const (
	DefaultFailureThreshold = 5
	DefaultCooldown         = 30 * time.Second
	// ProbeTimeout is how long a half-open probe may go unreported before another caller may
	// probe instead (the relay reports at the response headers, which have their own timeout).
	ProbeTimeout = 2 * time.Minute
)

// Candidate is what the router knows of a configured provider.
type Candidate struct {
	Name string
	// Priority orders failover, higher first (config.Provider.EffectivePriority).
	Priority int
	// Weight is used by weighted_round_robin; 0 means 1.
	Weight int
	// InFlight returns the provider's current number of requests, for least_loaded; nil means 0.
	// It is called without the router's lock held.
	InFlight func() int
}

// Router orders candidates and keeps the circuit breakers. It is safe for concurrent use.
type Router struct {
	strategy   string
	threshold  int
	cooldown   time.Duration
	prefixes   []prefixRoute // model_based, longest prefix first
	defaultTo  string
	candidates map[string]*Candidate // read-only after NewRouter
	names      []string              // configuration order
	now        func() time.Time

	mu       sync.Mutex
	rnd      *rand.Rand
	rr       uint64
	current  map[string]int // smooth weighted round-robin state
	breakers map[string]*breaker

	// onReport is told of every reported attempt (OnReport); nil for none.
	onReport func(Reported)
}

type prefixRoute struct {
	prefix    string
	providers []string
}

// NewRouter returns a router for the candidates, in configuration order. cfg.Strategy is one
// of config.Strategies; "" and unknown names mean failover (config validation rejects unknown
// ones). now is the clock (nil: time.Now) and rnd the
// source of shuffle (nil: a randomly seeded one); the router guards rnd with its lock.
func NewRouter(cfg config.Routing, candidates []Candidate, now func() time.Time, rnd *rand.Rand) *Router {
	if now == nil {
		now = time.Now
	}
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	r := &Router{
		strategy:   cfg.Strategy,
		threshold:  cfg.CircuitBreaker.FailureThreshold,
		cooldown:   cfg.CircuitBreaker.Cooldown.Or(DefaultCooldown),
		defaultTo:  cfg.DefaultProvider,
		candidates: make(map[string]*Candidate, len(candidates)),
		now:        now,
		rnd:        rnd,
		current:    make(map[string]int),
		breakers:   make(map[string]*breaker),
	}
	if !slices.Contains(config.Strategies, r.strategy) {
		r.strategy = config.StrategyFailover
	}
	if r.threshold <= 0 {
		r.threshold = DefaultFailureThreshold
	}
	for i := range candidates {
		c := candidates[i]
		if _, dup := r.candidates[c.Name]; dup {
			continue
		}
		r.candidates[c.Name] = &c
		r.names = append(r.names, c.Name)
	}
	for p, names := range cfg.ModelBased {
		r.prefixes = append(r.prefixes, prefixRoute{prefix: p, providers: names})
	}
	slices.SortFunc(r.prefixes, func(a, b prefixRoute) int {
		return cmp.Or(len(b.prefix)-len(a.prefix), strings.Compare(a.prefix, b.prefix))
	})
	return r
}

// Strategy returns the strategy in effect.
func (r *Router) Strategy() string { return r.strategy }

// Order returns the providers to try for a request of model, best first. allowed is the
// providers that can serve the request, in configuration order; only they are returned, each
// once. preferred, when not empty, is the session's provider: it goes first if it is allowed
// and its circuit is closed.
//
// By strategy:
//   - failover: priority, highest first; configuration order between equals.
//   - round_robin: configuration order, starting one further on each call.
//   - weighted_round_robin: the first is picked by smooth weighted round robin (nginx's), so
//     that over time each provider leads in proportion to its weight, evenly interleaved; the
//     rest follow in the order the next picks would take.
//   - shuffle: a uniformly random permutation.
//   - least_loaded: fewest requests in flight first; configuration order between equals.
//   - model_based: the providers model_based lists for the longest prefix of model, in the
//     listed order; then default_provider; then every other allowed provider by priority. The
//     tail keeps failover working: allowed already holds only providers that can serve the
//     model, and max_attempts bounds how far down the list a request goes. To pin a model to
//     some providers, restrict the others' models instead.
//
// Providers whose circuit is open are left out, and so is a half-open provider whose single
// probe is taken. When that leaves nothing, Order returns the least recently failed allowed
// provider alone, and waives the rest of its cooldown so that Allow lets one probe through:
// with every provider failing, a request still gets tried, one at a time. (If that provider's
// probe is already taken, Allow refuses it and the request has nowhere to go.)
func (r *Router) Order(model string, allowed []string, preferred string) []string {
	names := make([]string, 0, len(allowed))
	for _, n := range allowed {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return names
	}
	var loads map[string]int
	if r.strategy == config.StrategyLeastLoaded {
		loads = make(map[string]int, len(names))
		for _, n := range names {
			if c := r.candidates[n]; c != nil && c.InFlight != nil {
				loads[n] = c.InFlight()
			}
		}
	}

	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	healthy := names[:0:0]
	for _, n := range names {
		if r.breakerLocked(n).usable(now, r.cooldown) {
			healthy = append(healthy, n)
		}
	}
	if len(healthy) == 0 {
		return []string{r.fallbackLocked(now, names)}
	}

	var out []string
	switch r.strategy {
	case config.StrategyRoundRobin:
		start := int(r.rr % uint64(len(healthy)))
		r.rr++
		out = make([]string, 0, len(healthy))
		out = append(append(out, healthy[start:]...), healthy[:start]...)
	case config.StrategyWeightedRoundRobin:
		out = r.weightedLocked(healthy)
	case config.StrategyShuffle:
		out = healthy
		r.rnd.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	case config.StrategyLeastLoaded:
		out = healthy
		slices.SortStableFunc(out, func(a, b string) int { return loads[a] - loads[b] })
	case config.StrategyModelBased:
		out = r.modelBasedOrder(model, healthy)
	default:
		out = r.byPriority(healthy)
	}

	if preferred != "" && r.breakerLocked(preferred).state(now, r.cooldown) == Closed {
		if i := slices.Index(out, preferred); i > 0 {
			copy(out[1:i+1], out[:i])
			out[0] = preferred
		}
	}
	return out
}

// byPriority sorts names by priority, highest first; ties keep their order.
func (r *Router) byPriority(names []string) []string {
	slices.SortStableFunc(names, func(a, b string) int { return r.priority(b) - r.priority(a) })
	return names
}

func (r *Router) priority(name string) int {
	if c := r.candidates[name]; c != nil {
		return c.Priority
	}
	return 0
}

func (r *Router) weight(name string) int {
	if c := r.candidates[name]; c != nil && c.Weight > 0 {
		return c.Weight
	}
	return 1
}

// weightedLocked is one step of smooth weighted round robin over names: every provider's
// current weight grows by its weight, the highest leads and pays back the total. The others
// follow by current weight.
func (r *Router) weightedLocked(names []string) []string {
	total := 0
	for _, n := range names {
		w := r.weight(n)
		r.current[n] += w
		total += w
	}
	slices.SortStableFunc(names, func(a, b string) int { return r.current[b] - r.current[a] })
	r.current[names[0]] -= total
	return names
}

// modelBasedOrder orders names for model_based (see Order).
func (r *Router) modelBasedOrder(model string, names []string) []string {
	out := make([]string, 0, len(names))
	take := func(n string) {
		if slices.Contains(names, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, p := range r.prefixes {
		if strings.HasPrefix(model, p.prefix) {
			for _, n := range p.providers {
				take(n)
			}
			break
		}
	}
	if r.defaultTo != "" {
		take(r.defaultTo)
	}
	for _, n := range r.byPriority(slices.Clone(names)) {
		take(n)
	}
	return out
}
