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
