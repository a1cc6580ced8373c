package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ccrelay/ccrelay/relay/config"
)

// servedNames describes, one line per entry, which client-side model names each provider
// serves and what it sends upstream for them, in the order config.MapModel matches them:
// exact names, then patterns longest first, then "*"; then the models list, served under
// their own names. A provider with neither serves any model under its own name.
func servedNames(cfg *config.Config) []string {
	out := []string{"model names each provider serves (an exact name wins, then the longest pattern, then *):"}
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		head := "  " + p.Name
		if !p.IsEnabled() {
			head += " (disabled)"
		}
		if len(p.ModelMapping) == 0 && len(p.Models) == 0 {
			out = append(out, head+": any model under its own name")
			continue
		}
		out = append(out, head+":")
		keys := mappingOrder(p.ModelMapping)
		width := 0
		for _, k := range keys {
			width = max(width, len(k))
		}
		for _, k := range keys {
			out = append(out, fmt.Sprintf("    %-*s → %s", width, k, p.ModelMapping[k]))
		}
		if len(p.Models) > 0 {
			out = append(out, "    "+strings.Join(p.Models, ", ")+" (listed: sent under their own name)")
		}
	}
	return append(out, scenarioLines(cfg)...)
}

// scenarioLines describes routing.scenarios: which requests go where, in the order the rules
// are tried, and what happens warning-worthy: a rule's model that none of its providers serves
// by configuration (an Ollama's discovered models are not known here).
func scenarioLines(cfg *config.Config) []string {
	r := cfg.Routing
	if len(r.Scenarios) == 0 {
		return nil
	}
	bg := r.BackgroundModels
	if len(bg) == 0 {
		bg = []string{config.DefaultBackgroundModel}
	}
	long := r.LongContextTokens
	if long == 0 {
		long = config.DefaultLongContextTokens
	}
	out := []string{"scenario rules (the first the request is in wins; other requests are routed without them):"}
	for i, sc := range r.Scenarios {
		what := map[string]string{
			config.ScenarioSubagent:    "requests with x-claude-code-agent-id",
			config.ScenarioBackground:  "models " + strings.Join(bg, ", "),
			config.ScenarioLongContext: fmt.Sprintf("over %d estimated input tokens", long),
			config.ScenarioThinking:    "thinking enabled or adaptive",
			config.ScenarioWebSearch:   "a web search server tool",
			config.ScenarioImage:       "an image in the last user turn",
		}[sc.When]
		line := fmt.Sprintf("  %d. %s (%s) → %s", i+1, sc.When, what, strings.Join(sc.Providers, ", "))
		if sc.Model != "" {
			line += " as " + sc.Model
			served := false
			for _, name := range sc.Providers {
				for j := range cfg.Providers {
					if p := &cfg.Providers[j]; p.Name == name {
						_, ok := p.Serves(sc.Model)
						served = served || ok
					}
				}
			}
			if !served {
				line += fmt.Sprintf(" (warning: none of %s serves %s)", strings.Join(sc.Providers, ", "), sc.Model)
			}
		}
		out = append(out, line)
	}
	return out
}

// mappingOrder sorts model_mapping keys as they are matched: exact names alphabetically, then
// patterns by prefix length, longest first (alphabetically among equals), then "*".
func mappingOrder(mapping map[string]string) []string {
	return slices.SortedFunc(maps.Keys(mapping), func(a, b string) int {
		pa, pb := config.IsModelPattern(a), config.IsModelPattern(b)
		switch {
		case pa != pb:
			if pa {
				return 1
			}
			return -1
		case pa && len(a) != len(b):
			return cmp.Compare(len(b), len(a))
		}
		return strings.Compare(a, b)
	})
}
