package features

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/relaytest/claudecode"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
)

// kitchenSink uses nearly every feature at once, to check the invariants on every provider
// beyond what Claude Code sends.
const kitchenSink = `{
  "model": "claude-sonnet-4-5",
  "max_tokens": 128000,
  "stream": true,
  "temperature": 0,
  "top_k": 5,
  "top_p": 0.5,
  "stop_sequences": ["END"],
  "metadata": {"user_id": "u"},
  "cache_control": {"type": "ephemeral"},
  "context_management": {"edits": []},
  "output_config": {"effort": "low"},
  "thinking": {"type": "enabled", "budget_tokens": 31999},
  "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
  "messages": [
    {"role": "user", "content": [
      {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}},
      {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}}
    ]},
    {"role": "system", "content": "be brief", "output_config": {"effort": "medium"}}
  ],
  "tools": [
    {"name": "a", "description": "d", "input_schema": {"type": "object"}, "defer_loading": true, "cache_control": {"type": "ephemeral"}}
  ],
  "tool_choice": {"type": "auto"},
  "safeguards": []
}`

type ccResult struct {
	in, out []byte
	u       Usage
	d       Decision
	notes   []string
	err     error
	ceiling int
}

func runProvider(provider string, body []byte, betas []string, countTokens bool) ccResult {
	u := Detect(body, betas)
	u.CountTokens = countTokens
	d := Decide(provider, nil, u)
	ceiling := MaxTokensCeiling(provider, u.Model)
	out, notes, err := Apply(body, d, ceiling)
	return ccResult{in: body, out: out, u: u, d: d, notes: notes, err: err, ceiling: ceiling}
}

// checkInvariants asserts that nothing the provider does not support gets through
// unannounced, and that nothing it supports is lost.
func checkInvariants(t *testing.T, provider string, r ccResult) {
	t.Helper()
	if r.err != nil {
		return
	}
	after := Detect(r.out, r.d.Betas)
	after.CountTokens = r.u.CountTokens
	announced := func(f Feature) bool {
		key := f.String() + "="
		if strings.HasPrefix(f.String(), "tool_choice_") {
			key = "tool_choice="
		}
		for _, n := range r.notes {
			if strings.HasPrefix(n, key) {
				return true
			}
		}
		return false
	}
	for _, f := range r.u.Features() {
		c := Lookup(provider, f)
		switch {
		case f == MaxTokens:
			if r.ceiling > 0 && gjson.GetBytes(r.out, "max_tokens").Int() > int64(r.ceiling) {
				t.Errorf("%s: max_tokens above the ceiling %d got through", provider, r.ceiling)
			}
		case c.Support == None:
			if after.Uses(f) && !announced(f) {
				t.Errorf("%s: unsupported %s got through unannounced (notes %v)", provider, f, r.notes)
			}
		case c.Support == Full:
			if !after.Uses(f) {
				t.Errorf("%s: supported %s was lost", provider, f)
			}
		}
	}
	if !gjson.ValidBytes(r.out) {
		t.Errorf("%s: output is not valid JSON", provider)
	}
	if l := FieldAllowlist(provider); l != nil {
		gjson.ParseBytes(r.out).ForEach(func(k, _ gjson.Result) bool {
			if !slices.Contains(l, k.Str) {
				t.Errorf("%s: top-level key %q is not in the provider's list but got through", provider, k.Str)
			}
			return true
		})
	}
}

// TestClaudeCodeByProvider sends every real Claude Code request through every provider type's
// defaults: none is refused, nothing a provider does not support gets through unannounced
// (cache_control on ollama is stripped with a note), nothing it supports is lost, deletions
// keep every other byte, and anthropic forwards the body unchanged. The notes, betas and byte
// counts per provider are kept in a golden file.
func TestClaudeCodeByProvider(t *testing.T) {
	var g strings.Builder
	for _, req := range claudecode.Requests(t) {
		g.WriteString("== " + req.Name + "\n")
		for _, p := range Providers {
			r := runProvider(p, req.Body, req.Betas, req.CountTokens)
			if r.err != nil {
				t.Errorf("%s on %s: refused: %v", req.Name, p, r.err)
				continue
			}
			checkInvariants(t, p, r)
			if !isSubsequence(r.out, r.in) {
				t.Errorf("%s on %s: output is not the input with bytes deleted", req.Name, p)
			}
			if p == "anthropic" && (string(r.out) != string(r.in) || len(r.notes) != 0 || !cmp.Equal(r.d.Betas, r.u.Betas)) {
				t.Errorf("%s on anthropic: body, notes or betas changed: %v", req.Name, r.notes)
			}
			if p == "ollama" && strings.Contains(string(r.out), `"cache_control"`) {
				t.Errorf("%s on ollama: cache_control left in the body", req.Name)
			}
			fmt.Fprintf(&g, "%-9s removed %4d bytes; notes: %s\n", p, len(r.in)-len(r.out), strings.Join(r.notes, ", "))
			if len(r.d.DroppedBetas) > 0 {
				fmt.Fprintf(&g, "          betas sent: %s\n          betas dropped: %s\n",
					strings.Join(r.d.Betas, ", "), strings.Join(r.d.DroppedBetas, ", "))
			}
		}
		g.WriteString("\n")
	}
	golden(t, "claude_code_by_provider.golden", []byte(g.String()))
}

func TestKitchenSinkInvariants(t *testing.T) {
	var g strings.Builder
	for _, p := range Providers {
		r := runProvider(p, []byte(kitchenSink), []string{"interleaved-thinking-2025-05-14,claude-code-20250219"}, false)
		checkInvariants(t, p, r)
		if r.err != nil {
			fmt.Fprintf(&g, "%s: refused: %v\n", p, r.err)
			continue
		}
		fmt.Fprintf(&g, "%s: %s\n", p, strings.Join(r.notes, ", "))
	}
	// Every provider with the documented workarounds allowed: nothing is refused.
	lenient := map[string]string{"image_base64": "strip", "pdf_base64": "strip", "tool_choice_any": "degrade"}
	for _, p := range Providers {
		u := Detect([]byte(kitchenSink), nil)
		d := Decide(p, lenient, u)
		if _, _, err := Apply([]byte(kitchenSink), d, MaxTokensCeiling(p, u.Model)); err != nil {
			t.Errorf("%s with lenient overrides: %v", p, err)
		}
	}
	golden(t, "kitchen_sink_by_provider.golden", []byte(g.String()))
}
