package config

import "strings"

// MapModel resolves a client-side model name through a model_mapping. A key is an exact name,
// a prefix ending in "*" ("claude-haiku-*"), or "*" alone, the provider's default. An exact key
// beats a pattern, and the longest matching prefix beats a shorter one ("*" is the shortest).
// It returns the upstream model id, the key that matched, and whether one did.
func MapModel(mapping map[string]string, model string) (upstream, key string, ok bool) {
	if m, found := mapping[model]; found {
		return m, model, true
	}
	best := -1
	for k, m := range mapping {
		prefix, isPattern := strings.CutSuffix(k, "*")
		if !isPattern || len(prefix) <= best || !strings.HasPrefix(model, prefix) {
			continue
		}
		best, upstream, key = len(prefix), m, k
	}
	return upstream, key, best >= 0
}

// IsModelPattern reports whether a model_mapping key is a pattern (it ends in "*").
func IsModelPattern(key string) bool { return strings.HasSuffix(key, "*") }

// Serves reports whether the provider serves the client-side model, and the upstream id to
// send. A mapped name (exact or by pattern) is sent as mapped; a listed model as is. A provider
// with neither a models list nor a mapping serves any model under its own name; one with either
// serves only what they match.
func (p *Provider) Serves(model string) (string, bool) {
	if m, _, ok := MapModel(p.ModelMapping, model); ok {
		return m, true
	}
	for _, m := range p.Models {
		if m == model {
			return model, true
		}
	}
	return model, len(p.Models) == 0 && len(p.ModelMapping) == 0
}

// MatchModel reports whether model matches one of patterns, each an exact name, a prefix
// ending in "*" ("claude-haiku-*") or "*" alone, as model_mapping keys are written.
func MatchModel(patterns []string, model string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(model, prefix) {
				return true
			}
		} else if p == model {
			return true
		}
	}
	return false
}
