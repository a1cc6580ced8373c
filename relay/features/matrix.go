package features

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ccrelay/ccrelay/relay/config"
)

// Providers lists the provider types of the matrix in documentation order; it is the same
// list as config.Types.
var Providers = []string{"anthropic", "zai", "minimax", "ollama", "bedrock", "azure", "vertex"}

// Cell is one provider type's support of one feature and what the relay does by default when
// a request uses it.
type Cell struct {
	Support Support
	Action  Action
	// Note is a short remark for users ("budget_tokens accepted, not enforced").
	Note string
	// Evidence says where the cell comes from: a recorded interaction under
	// fixtures/real-traffic/, a spec section, or the conformance case that settles it.
	Evidence string
}

// Lookup returns the cell of a provider type and a feature. An unknown provider type, or a
// cell the matrix does not fill, is Unknown support with the Pass action. The evidence of an
// unknown cell without other evidence names its conformance case.
func Lookup(providerType string, f Feature) Cell {
	if f < 0 || f >= numFeatures {
		return Cell{Support: Unknown, Action: Pass}
	}
	c, ok := matrix[f][providerType]
	if !ok {
		c = Cell{Support: Unknown, Action: Pass}
	}
	if c.Evidence == "" && c.Support == Unknown {
		c.Evidence = "conformance: " + CaseName(providerType, f)
	}
	return c
}

// CaseName returns the conformance case that checks a provider type's support of a feature,
// such as "ollama/tool-choice-any". The conformance suite names its cases this way so that the
// matrix can point at them.
func CaseName(providerType string, f Feature) string {
	if c, ok := caseNames[f]; ok {
		return providerType + "/" + c
	}
	return providerType + "/" + strings.ReplaceAll(f.String(), "_", "-")
}

// caseNames maps the features whose conformance case is named differently from the feature
// (fixtures/requests/<case>.json). The features of Claude Code's own requests are checked by
// the claude-code-session case.
var caseNames = map[Feature]string{
	Streaming:         "text-stream",
	Tools:             "tool-use",
	ThinkingEnabled:   "thinking-stream",
	ThinkingBudget:    "thinking-stream",
	PDFBase64:         "document-pdf",
	StopSequences:     "stop-sequence",
	MaxTokens:         "max-tokens-stop",
	ThinkingAdaptive:  "claude-code-session",
	Effort:            "claude-code-session",
	SystemMessages:    "claude-code-session",
	ContextManagement: "claude-code-session",
	DeferLoading:      "claude-code-session",
	AnthropicBeta:     "claude-code-session",
	Metadata:          "claude-code-session",
}

// knownProvider reports whether typ is one of Providers.
func knownProvider(typ string) bool {
	for _, p := range Providers {
		if p == typ {
			return true
		}
	}
	return false
}

// ValidateConfig checks every provider's `features:` overrides against the matrix
// (ValidateOverrides). It returns a *config.Error with one problem per provider with a bad
// override, at providers[i].features and, for a configuration loaded from a file, at that
// key's line; nil when every override is valid. Whoever loads a configuration calls it: the
// CLI's serve and `config validate`, and relay.New.
func ValidateConfig(cfg *config.Config) error {
	var problems []config.Problem
	for i, p := range cfg.Providers {
		if len(p.Features) == 0 {
			continue
		}
		if err := ValidateOverrides(p.Features); err != nil {
			problems = append(problems, cfg.Problem("providers["+strconv.Itoa(i)+"].features", err.Error()))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &config.Error{Problems: problems}
}

// ValidateOverrides checks a provider's `features:` configuration map (feature name → action).
// An unknown feature, an unknown action, or an action the feature does not offer is an error
// that lists the valid names. All problems are reported, in key order.
func ValidateOverrides(overrides map[string]string) error {
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		v := overrides[k]
		f, ok := ParseFeature(k)
		if !ok {
			errs = append(errs, fmt.Errorf("unknown feature %q in features; valid features: %s",
				k, strings.Join(FeatureNames(), ", ")))
			continue
		}
		a := Action(v)
		switch a {
		case Pass, Strip, Degrade, Refuse:
		default:
			errs = append(errs, fmt.Errorf("unknown action %q for feature %q; valid actions: %s",
				v, k, joinActions(f.Actions())))
			continue
		}
		if !f.Valid(a) {
			errs = append(errs, fmt.Errorf("action %q is not available for feature %q; valid actions: %s",
				v, k, joinActions(f.Actions())))
		}
	}
	return errors.Join(errs...)
}

// effectiveCell applies one override to a cell. Invalid overrides are ignored: configuration
// loading rejects them with ValidateOverrides.
func effectiveCell(providerType string, f Feature, overrides map[string]string) (Cell, bool) {
	c := Lookup(providerType, f)
	if v, ok := overrides[f.String()]; ok && f.Valid(Action(v)) {
		c.Action = Action(v)
		return c, true
	}
	return c, false
}
