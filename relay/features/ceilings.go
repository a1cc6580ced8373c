package features

import "strings"

// ModelCeiling is the largest max_tokens a model accepts.
type ModelCeiling struct {
	// Model is the canonical name prefix, such as "claude-sonnet-4-5".
	Model     string `json:"model"`
	MaxTokens int    `json:"max_tokens"`
	Note      string `json:"note,omitempty"`
}

// modelCeilings are the documented output limits of Claude models (Anthropic models overview).
// A name matches an entry when it is the entry followed by nothing, a date, a version suffix
// or both: "claude-opus-4" matches "claude-opus-4-20250514" but not "claude-opus-4-7", so a
// newer model is never clamped to an older model's limit.
var modelCeilings = []ModelCeiling{
	{"claude-3-haiku", 4096, ""},
	{"claude-3-sonnet", 4096, ""},
	{"claude-3-opus", 4096, ""},
	{"claude-3-5-haiku", 8192, ""},
	{"claude-3-5-sonnet", 8192, ""},
	{"claude-3-7-sonnet", 64000, "128000 with the output-128k-2025-02-19 beta, which this table does not see"},
	{"claude-sonnet-4", 64000, ""},
	{"claude-opus-4", 32000, ""},
	{"claude-opus-4-1", 32000, ""},
	{"claude-sonnet-4-5", 64000, ""},
	{"claude-haiku-4-5", 64000, ""},
	{"claude-opus-4-5", 64000, ""},
	{"claude-sonnet-4-6", 64000, ""},
	{"claude-opus-4-6", 128000, ""},
}

// ceilingProviders serve real Claude models, so the table applies to their model ids. The
// others (zai, minimax, ollama) run other models even under Claude names.
var ceilingProviders = map[string]bool{"anthropic": true, "bedrock": true, "vertex": true, "azure": true}

// ModelCeilings returns the table of known max_tokens ceilings.
func ModelCeilings() []ModelCeiling { return append([]ModelCeiling(nil), modelCeilings...) }

// MaxTokensCeiling returns the max_tokens ceiling of an upstream model id (after
// model_mapping) on a provider type, or 0 when it is not known (then Apply does not clamp).
// It understands Bedrock ids ("us.anthropic.claude-sonnet-4-5-20250929-v1:0") and Vertex ids
// ("claude-opus-4-1@20250805"). Only anthropic, bedrock, vertex and azure have ceilings.
func MaxTokensCeiling(providerType, model string) int {
	if !ceilingProviders[providerType] {
		return 0
	}
	name := strings.ToLower(model)
	if i := strings.Index(name, "anthropic."); i >= 0 {
		name = name[i+len("anthropic."):]
	}
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	best, bestLen := 0, 0
	for _, c := range modelCeilings {
		if len(c.Model) > bestLen && strings.HasPrefix(name, c.Model) && versionSuffix(name[len(c.Model):]) {
			best, bestLen = c.MaxTokens, len(c.Model)
		}
	}
	return best
}

// versionSuffix reports whether s is what may follow a model name: nothing, "-latest", a
// "-vN" variant, a "-YYYYMMDD" date, and a Bedrock "-vN:M" version, in that order.
func versionSuffix(s string) bool {
	if s == "" || s == "-latest" {
		return true
	}
	s = skipVersion(s)
	if len(s) >= 9 && s[0] == '-' && allDigits(s[1:9]) {
		s = s[9:]
	}
	s = skipVersion(s)
	return s == ""
}

// skipVersion removes a leading "-vN" or "-vN:M".
func skipVersion(s string) string {
	if len(s) < 3 || s[0] != '-' || s[1] != 'v' {
		return s
	}
	i := 2
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == ':') {
		i++
	}
	if i == 2 {
		return s
	}
	return s[i:]
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
