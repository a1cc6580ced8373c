package features

import "strings"

// The anthropic-beta allowlists live here, next to the matrix cell that uses them
// (anthropic_beta: strip on bedrock, vertex and ollama), so that the matrix, the rendered
// table and the adapters agree. Adapters do not filter betas themselves: they send
// Decision.Betas (the bedrock adapter moves them into the body's anthropic_beta array).
//
// An allowlist maps the value a client sends to the value the provider accepts; the two
// differ for tool search, which Bedrock and Vertex spell tool-search-tool-2025-10-19 (Claude
// Code's own constants say so, and so does LiteLLM's table). Sources: BerriAI/litellm
// litellm/anthropic_beta_headers_config.json (MIT), the AWS Bedrock request schema
// (anthropic_beta), bedrock/pydantic-ai/test_anthropic_bedrock_count_tokens_real_api.0.json
// (token-efficient-tools-2025-02-19 accepted), the AWS Claude parameter page
// (output-128k-2025-02-19, computer-use-2024-10-22, tool-examples-2025-10-29),
// coder/aibridge#221 ("invalid beta flag"). On Bedrock, interleaved-thinking-2025-05-14 is
// the one beta even Opus 4.7 accepts, and tool-search-tool-2025-10-19 is the name Claude Code
// itself sends there (anthropics/claude-code#49370); claude-code-20250219 is dropped (rejected
// by Opus 4.7, anthropics/claude-code#49648).
// Values not listed are dropped; the conformance suite widens the lists.
var betaAllowlists = map[string]map[string]string{
	"bedrock": {
		"computer-use-2024-10-22":                "computer-use-2024-10-22",
		"computer-use-2025-01-24":                "computer-use-2025-01-24",
		"computer-use-2025-11-24":                "computer-use-2025-11-24",
		"token-efficient-tools-2025-02-19":       "token-efficient-tools-2025-02-19",
		"interleaved-thinking-2025-05-14":        "interleaved-thinking-2025-05-14",
		"output-128k-2025-02-19":                 "output-128k-2025-02-19",
		"fine-grained-tool-streaming-2025-05-14": "fine-grained-tool-streaming-2025-05-14",
		"context-1m-2025-08-07":                  "context-1m-2025-08-07",
		// context-management-2025-06-27 is left out: Bedrock rejects the context_management
		// body key it goes with (see fields.go for the evidence).
		"effort-2025-11-24":                         "effort-2025-11-24",
		"compact-2026-01-12":                        "compact-2026-01-12",
		"dangerous-tool-use-2026-09-03":             "dangerous-tool-use-2026-09-03",
		"mid-conversation-tool-changes-2026-07-01":  "mid-conversation-tool-changes-2026-07-01",
		"mid-conversation-output-config-2026-07-01": "mid-conversation-output-config-2026-07-01",
		"thinking-binding-controls-2026-08-01":      "thinking-binding-controls-2026-08-01",
		"thinking-display-updates-2026-08-18":       "thinking-display-updates-2026-08-18",
		"tool-examples-2025-10-29":                  "tool-examples-2025-10-29",
		"tool-search-tool-2025-10-19":               "tool-search-tool-2025-10-19",
		"advanced-tool-use-2025-11-20":              "tool-search-tool-2025-10-19",
	},
	"vertex": {
		"computer-use-2025-01-24":              "computer-use-2025-01-24",
		"computer-use-2025-11-24":              "computer-use-2025-11-24",
		"interleaved-thinking-2025-05-14":      "interleaved-thinking-2025-05-14",
		"context-1m-2025-08-07":                "context-1m-2025-08-07",
		"context-management-2025-06-27":        "context-management-2025-06-27",
		"compact-2026-01-12":                   "compact-2026-01-12",
		"compact-2026-09-04":                   "compact-2026-09-04",
		"dangerous-tool-use-2026-09-03":        "dangerous-tool-use-2026-09-03",
		"per-turn-control-2026-07-01":          "per-turn-control-2026-07-01",
		"thinking-binding-controls-2026-08-01": "thinking-binding-controls-2026-08-01",
		"thinking-display-updates-2026-08-18":  "thinking-display-updates-2026-08-18",
		"web-search-2025-03-05":                "web-search-2025-03-05",
		"tool-search-tool-2025-10-19":          "tool-search-tool-2025-10-19",
		"advanced-tool-use-2025-11-20":         "tool-search-tool-2025-10-19",
	},
	// Ollama ignores the header: nothing is forwarded.
	"ollama": {},
}

// BetaAllowlist returns a copy of a provider type's anthropic-beta allowlist, mapping each
// accepted client value to the value sent upstream. It returns nil for providers without a
// list, whose matrix cell passes every value.
func BetaAllowlist(providerType string) map[string]string {
	l, ok := betaAllowlists[providerType]
	if !ok {
		return nil
	}
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

// FilterBetas splits betas by a provider type's allowlist: keep holds the values to send
// (renamed where the provider spells them differently, without duplicates, in client order)
// and dropped the values that are not allowed. Without an allowlist every value is kept.
// Values may be comma lists, as in the header; blanks are ignored.
func FilterBetas(providerType string, betas []string) (keep, dropped []string) {
	l, ok := betaAllowlists[providerType]
	for _, b := range splitBetas(betas) {
		send := b
		if ok {
			v, allowed := l[b]
			if !allowed {
				dropped = append(dropped, b)
				continue
			}
			send = v
		}
		if !contains(keep, send) {
			keep = append(keep, send)
		}
	}
	return keep, dropped
}

// splitBetas flattens header values ("a,b", " c") into single, trimmed values.
func splitBetas(in []string) []string {
	simple := true
	for _, b := range in {
		if b == "" || strings.ContainsAny(b, ", \t") {
			simple = false
			break
		}
	}
	if simple {
		return in
	}
	var out []string
	for _, b := range in {
		for _, p := range strings.Split(b, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
