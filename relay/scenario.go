package relay

import (
	"net/http"
	"slices"
	"strings"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/estimate"
	"github.com/ccrelay/ccrelay/relay/features"
)

// Scenario routing (routing.scenarios): a request of a kind — a subagent's, a background
// model's, a long context, thinking, web search, an image — goes to the providers its rule
// names, as the rule's model when it sets one. The first rule whose scenario the request is in
// wins; a request in none is routed as without rules. A rule's providers are still filtered by
// the feature matrix (the planner skips one whose row refuses the request).
//
// Each scenario is decided without unmarshalling the body, and only when a rule asks for it, in
// rule order: a header, the model name and the top-level parameters inspect already read cost
// nothing; web_search and image first look for a word in the bytes and read the tools or the
// last message with gjson only when it is there; long_context bounds the estimate by the body's
// size and walks the body (estimate.Tokens) only between the bounds.

// scenario is the rule a request matched.
type scenario struct {
	index int // in routing.scenarios
	rule  config.Scenario
}

// pinKey is the session affinity's key of the request: its session, apart for each scenario,
// so that a subagent's or a background request served by a rule's provider does not pull the
// session's main turns there (they share Claude Code's session id).
func (in *inbound) pinKey() string {
	if in.scenario == nil || in.session == "" {
		return in.session
	}
	return in.session + "\x00" + in.scenario.rule.When
}

// hdrScenario tells the client which rule routed its request.
const hdrScenario = "X-Ccrelay-Scenario"

// matchScenario returns the first rule the request is in, or nil.
func (r *Relay) matchScenario(in *inbound) *scenario {
	rules := r.cfg.Routing.Scenarios
	if len(rules) == 0 {
		return nil
	}
	for i, rule := range rules {
		if r.inScenario(in, rule.When) {
			return &scenario{index: i, rule: rule}
		}
	}
	return nil
}

// inScenario reports whether the request is in the named scenario.
func (r *Relay) inScenario(in *inbound, when string) bool {
	switch when {
	case config.ScenarioSubagent:
		return in.header.Get("X-Claude-Code-Agent-Id") != ""
	case config.ScenarioBackground:
		patterns := r.cfg.Routing.BackgroundModels
		if len(patterns) == 0 {
			patterns = []string{config.DefaultBackgroundModel}
		}
		return config.MatchModel(patterns, in.model)
	case config.ScenarioThinking:
		return in.uses.Uses(features.ThinkingEnabled) || in.uses.Uses(features.ThinkingAdaptive)
	case config.ScenarioWebSearch:
		return body.DeclaresToolType(in.body, "web_search_")
	case config.ScenarioImage:
		return body.LastUserTurnHasImage(in.body)
	case config.ScenarioLongContext:
		limit := r.cfg.Routing.LongContextTokens
		if limit == 0 {
			limit = config.DefaultLongContextTokens
		}
		return longContext(in.body, limit)
	}
	return false
}

// Bounds of the long_context decision: JSON spends at least estCharsPerToken bytes of body on
// each token of text the estimator counts, so a body under limit×4 bytes is short; and a body
// of more than limit×16 bytes is long without counting (the estimator's ratio over recorded
// Claude Code bodies is about 5 bytes per token; base64 images are the exception, and a long
// context of images is still a long context).
const (
	shortBytesPerToken = 4
	longBytesPerToken  = 16
)

// longContext reports whether the body's estimated input tokens exceed limit.
func longContext(body []byte, limit int) bool {
	switch n := len(body); {
	case n <= limit*shortBytesPerToken:
		return false
	case n > limit*longBytesPerToken:
		return true
	}
	return estimate.Tokens(body) > limit
}

// applyScenario keeps the candidates of the rule's providers, in the rule's order. With no
// candidate left the answer names the rule and how to fix it.
func (sc *scenario) apply(cands []candidate, model string) ([]candidate, *apierr.Error) {
	out := make([]candidate, 0, len(sc.rule.Providers))
	for _, name := range sc.rule.Providers {
		for _, c := range cands {
			if c.u.cfg.Name == name {
				out = append(out, c)
			}
		}
	}
	if len(out) == 0 {
		return nil, errorf(http.StatusNotFound, "routing.scenarios[%d] (%s) sends this request to %s, but none of them serves model %q; add the model to one of them (model_mapping or models) or set the rule's model",
			sc.index, sc.rule.When, strings.Join(sc.rule.Providers, ", "), model)
	}
	return out, nil
}

// rank is the rule's order of provider names, for sorting the router's order by it.
func (sc *scenario) rank(name string) int {
	if sc == nil {
		return 0
	}
	return slices.Index(sc.rule.Providers, name)
}
