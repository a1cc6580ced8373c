package relay

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/body"
)

// candidates returns the providers that serve model, in configuration order. A provider serves a model it maps or lists; one that declares no
// models serves any model under its own name.
func (r *Relay) candidates(model string) ([]candidate, *apierr.Error) {
	var out []candidate
	for _, u := range r.upstreams {
		if m, ok := serves(u, model); ok {
			out = append(out, candidate{u: u, model: m})
		}
	}
	if len(out) == 0 {
		if len(r.upstreams) == 0 {
			return nil, errorf(http.StatusServiceUnavailable, "no provider is enabled in the configuration")
		}
		return nil, errorf(http.StatusNotFound, "model %q is not served by any provider; known models: %s",
			model, strings.Join(r.knownModels(), ", "))
	}
	return out, nil
}

// serves reports whether the candidate u serves the client model, and the upstream id to send:
// the configured model_mapping (exact names, then patterns) and models list first, then what
// the relay discovered from the provider itself (discovered.go).
func serves(u *upstream, model string) (string, bool) {
	if len(u.cfg.Models) > 0 || len(u.cfg.ModelMapping) > 0 || !u.hasDiscovery() {
		return u.cfg.Serves(model)
	}
	return u.discoveredServes(model)
}

// knownModels lists what the enabled providers serve as configured, for an answer that names
// them: each model_mapping key (patterns as written, "claude-*") and each listed model, in
// provider order, without duplicates.
func (r *Relay) knownModels() []string {
	var out []string
	for _, u := range r.upstreams {
		mapping, models := u.cfg.ModelMapping, u.cfg.Models
		if d := u.discovered.p.Load(); d != nil && len(mapping) == 0 && len(models) == 0 {
			mapping, models = d.mapping, d.installed
		}
		for _, k := range slices.Sorted(maps.Keys(mapping)) {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
		for _, m := range models {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// findCandidates is candidates for the request path, with discovery's part: when a discoverable
// Ollama has no model discovered yet (it was down at start, or had nothing installed) it is asked
// again first, at most once every few seconds and for at most a couple of seconds (see
// ollamaState.rediscover); and a model no provider serves because Ollama has no model installed
// gets an error saying so and how to pull one.
func (r *Relay) findCandidates(ctx context.Context, model string) ([]candidate, *apierr.Error) {
	r.rediscoverLazily(ctx)
	cands, e := r.candidates(model)
	if e != nil && e.Status == http.StatusNotFound {
		for _, u := range r.upstreams {
			o := u.discovered.ollama.Load()
			if d := u.discovered.p.Load(); o != nil && d != nil && len(d.installed) == 0 {
				return nil, errorf(http.StatusNotFound, "model %q is not served by any provider: %s (Ollama at %s) has no model installed; pull one, for example \"ollama pull %s\", and ccrelay serves %s with it without a restart",
					model, u.cfg.Name, o.api.base, suggestedPull, discoveredPattern)
			}
		}
	}
	return cands, e
}

// route finds where the request may go: the routing.scenarios rule it is in (scenario.go),
// which decides the client-side name it is routed as and the providers allowed; the providers
// that serve that name; and their order (routing strategy, affinity, reachability). The planner
// it returns makes each ready only when the attempt loop reaches it (prepare.go).
func (r *Relay) route(ctx context.Context, w *recorder, in *inbound) (*planner, []*upstream, *apierr.Error) {
	in.routeModel = in.model
	if sc := r.matchScenario(in); sc != nil {
		in.scenario, w.scenario = sc, sc.rule.When
		w.Header().Set(hdrScenario, sc.rule.When)
		if sc.rule.Model != "" {
			in.routeModel = sc.rule.Model
		}
	}
	cands, e := r.findCandidates(ctx, in.routeModel)
	if e == nil && in.scenario != nil {
		cands, e = in.scenario.apply(cands, in.routeModel)
	}
	if e != nil {
		return nil, nil, e
	}
	pn, skipped := r.order(ctx, in, cands)
	return pn, skipped, nil
}

// order orders the candidates with the routing strategy, with session and thinking affinity.
// skipped are the candidates the router left out because their circuit is open, so that the
// answer can say why they were not tried.
func (r *Relay) order(ctx context.Context, in *inbound, cands []candidate) (*planner, []*upstream) {
	// Candidates are few (the configured providers): slices and linear searches, no maps.
	allowed := make([]string, 0, len(cands))
	for _, c := range cands {
		allowed = append(allowed, c.u.cfg.Name)
	}
	pn := &planner{r: r, ctx: ctx, in: in}
	// Affinity: a history with signed thinking sticks to the provider that signed it; otherwise
	// a session sticks to the provider that served it, so its prompt cache stays warm. The
	// history is looked at only when it can hold thinking blocks (one fast scan of the bytes).
	preferred := ""
	if (len(cands) > 1 || !claudePlatform(cands[0].u.cfg.Type)) && body.MayHoldThinking(in.body) {
		pn.origin, pn.hasThinking = r.thinkingOrigin(in.body)
		if slices.Contains(allowed, pn.origin) {
			preferred = pn.origin
		}
	}
	if r.sticky && preferred == "" && in.session != "" {
		if b, ok := r.binding(in.pinKey()); ok {
			preferred = b.Provider
		}
	}
	order := r.router.Order(in.routeModel, allowed, preferred)
	var skipped []*upstream
	pn.order = make([]candidate, 0, len(order))
	for _, c := range cands {
		if !slices.Contains(order, c.u.cfg.Name) {
			skipped = append(skipped, c.u)
		}
	}
	for _, name := range order {
		for _, c := range cands {
			if c.u.cfg.Name == name {
				pn.order = append(pn.order, c)
			}
		}
	}
	// A scenario rule's providers go in the rule's order: it is the user's failover order for
	// the scenario, ahead of session affinity.
	if in.scenario != nil {
		slices.SortStableFunc(pn.order, func(a, b candidate) int { return in.scenario.rank(a.u.cfg.Name) - in.scenario.rank(b.u.cfg.Name) })
	}
	// A provider the last health probe could not reach goes last: it is still tried (the
	// probe may be stale), but only after those that may answer.
	slices.SortStableFunc(pn.order, func(a, b candidate) int { return b2i(a.u.unreachable()) - b2i(b.u.unreachable()) })
	return pn, skipped
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
