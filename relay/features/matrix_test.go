package features

import (
	"errors"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/google/go-cmp/cmp"
)

func TestProvidersMatchConfig(t *testing.T) {
	if diff := cmp.Diff(config.Types, Providers); diff != "" {
		t.Errorf("Providers differs from config.Types (-config +features):\n%s", diff)
	}
}

// TestMatrixComplete checks the table itself: every cell present, every action valid for its
// feature, unknown cells passing, known cells citing evidence, and every feature described.
func TestMatrixComplete(t *testing.T) {
	for _, f := range AllFeatures() {
		if f.Title() == "" || len(f.Actions()) == 0 {
			t.Errorf("%s: no title or actions", f)
		}
		if f.Valid(Strip) != (f.Strips() != "") {
			t.Errorf("%s: strip is valid=%v but its description is %q", f, f.Valid(Strip), f.Strips())
		}
		if f.Valid(Degrade) != (f.Degrades() != "") {
			t.Errorf("%s: degrade is valid=%v but its description is %q", f, f.Valid(Degrade), f.Degrades())
		}
		if len(matrix[f]) != len(Providers) {
			t.Errorf("%s: %d cells, want %d", f, len(matrix[f]), len(Providers))
		}
		for p := range matrix[f] {
			if !knownProvider(p) {
				t.Errorf("%s: cell for unknown provider %q", f, p)
			}
		}
		for _, p := range Providers {
			c := Lookup(p, f)
			switch c.Support {
			case Full, Partial, None, Unknown:
			default:
				t.Errorf("%s/%s: support %q", p, f, c.Support)
			}
			if !f.Valid(c.Action) {
				t.Errorf("%s/%s: default action %q is not valid for the feature (%s)", p, f, c.Action, joinActions(f.Actions()))
			}
			if c.Support == Unknown && c.Action != Pass {
				t.Errorf("%s/%s: unknown support must pass, not %s", p, f, c.Action)
			}
			if c.Evidence == "" {
				t.Errorf("%s/%s: no evidence", p, f)
			}
			if c.Support == Full && c.Action != Pass {
				t.Errorf("%s/%s: full support with action %s", p, f, c.Action)
			}
			if c.Support == None && c.Action == Pass {
				t.Errorf("%s/%s: no support must not pass silently", p, f)
			}
		}
	}
}

// TestMatrixOllamaFloor pins the seed's Ollama table ("기능 제한"): streaming yes, tool calling
// yes, extended thinking partial (budget_tokens accepted, not enforced), prompt caching no
// (cache_control ignored), PDF input no, image URL no (base64 only), token counting no,
// tool_choice no.
func TestMatrixOllamaFloor(t *testing.T) {
	want := map[Feature]Support{
		Streaming:       Full,
		Tools:           Full,
		ThinkingEnabled: Partial,
		ThinkingBudget:  None,
		CacheControl:    None,
		PDFBase64:       None,
		PDFURL:          None,
		ImageBase64:     Full,
		ImageURL:        None,
		CountTokens:     None,
		ToolChoiceAuto:  None,
		ToolChoiceAny:   None,
		ToolChoiceTool:  None,
		ToolChoiceNone:  None,
	}
	for f, s := range want {
		c := Lookup("ollama", f)
		if c.Support != s {
			t.Errorf("ollama/%s: support %s, want %s (seed)", f, c.Support, s)
		}
		if !strings.Contains(c.Evidence, "seed") && !strings.Contains(c.Evidence, "ollama/") {
			t.Errorf("ollama/%s: evidence %q cites neither the seed nor a recording", f, c.Evidence)
		}
		if (s == None) == (c.Action == Pass) {
			t.Errorf("ollama/%s: support %s with action %s", f, s, c.Action)
		}
	}
	if Lookup("ollama", CacheControl).Action != Strip || Lookup("ollama", ThinkingBudget).Action != Degrade {
		t.Error("ollama: cache_control must be stripped and the thinking budget degraded (noted)")
	}
}

func TestLookupUnknown(t *testing.T) {
	got := Lookup("nosuch", CacheControl)
	want := Cell{Support: Unknown, Action: Pass, Evidence: "conformance: nosuch/cache-control"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
	if got := Lookup("zai", CacheControl).Evidence; got != "conformance: zai/cache-control" {
		t.Errorf("zai evidence %q", got)
	}
	if got := CaseName("ollama", ToolChoiceAny); got != "ollama/tool-choice-any" {
		t.Errorf("CaseName = %q", got)
	}
}

func TestParseFeature(t *testing.T) {
	for _, f := range AllFeatures() {
		g, ok := ParseFeature(f.String())
		if !ok || g != f {
			t.Errorf("ParseFeature(%q) = %v, %v", f, g, ok)
		}
	}
	if _, ok := ParseFeature("tool_choice"); ok {
		t.Error("tool_choice is not a feature name (the four types are)")
	}
	if got := Feature(99).String(); got != "feature(99)" {
		t.Errorf("String of an invalid feature = %q", got)
	}
}

func TestValidateOverrides(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]string
		wantErr []string // substrings, in order
	}{
		{name: "nil", in: nil},
		{name: "valid", in: map[string]string{"tool_choice_any": "degrade", "cache_control": "pass", "image_url": "degrade", "count_tokens": "refuse"}},
		{name: "unknown feature", in: map[string]string{"tool_choice": "refuse"},
			wantErr: []string{`unknown feature "tool_choice" in features; valid features: streaming, tools, tool_choice_auto,`}},
		{name: "unknown action", in: map[string]string{"cache_control": "drop"},
			wantErr: []string{`unknown action "drop" for feature "cache_control"; valid actions: pass, strip, refuse`}},
		{name: "action not offered", in: map[string]string{"streaming": "strip"},
			wantErr: []string{`action "strip" is not available for feature "streaming"; valid actions: pass, refuse`}},
		{name: "all problems in key order", in: map[string]string{"zzz": "pass", "max_tokens": "refuse", "aaa": "x"},
			wantErr: []string{`unknown feature "aaa"`, `action "refuse" is not available for feature "max_tokens"; valid actions: pass, degrade`, `unknown feature "zzz"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateOverrides(tt.in)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg, at := err.Error(), 0
			for _, w := range tt.wantErr {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (in order)", msg, w)
				}
				at += i + len(w)
			}
		})
	}
}

func TestFilterBetas(t *testing.T) {
	cc := []string{"claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,per-turn-control-2026-07-01,mid-conversation-tool-changes-2026-07-01,thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20,effort-2025-11-24"}
	tests := []struct {
		provider      string
		in            []string
		keep, dropped []string
	}{
		{"anthropic", cc, strings.Split(cc[0], ","), nil},
		{"zai", []string{"a", "b"}, []string{"a", "b"}, nil},
		{"ollama", cc, nil, strings.Split(cc[0], ",")},
		{"bedrock", cc,
			[]string{"interleaved-thinking-2025-05-14", "mid-conversation-tool-changes-2026-07-01", "tool-search-tool-2025-10-19", "effort-2025-11-24"},
			[]string{"claude-code-20250219", "context-management-2025-06-27", "per-turn-control-2026-07-01", "thinking-token-count-2026-05-13"}},
		{"vertex", cc,
			[]string{"interleaved-thinking-2025-05-14", "context-management-2025-06-27", "per-turn-control-2026-07-01", "tool-search-tool-2025-10-19"},
			[]string{"claude-code-20250219", "mid-conversation-tool-changes-2026-07-01", "thinking-token-count-2026-05-13", "effort-2025-11-24"}},
		{"bedrock", []string{"advanced-tool-use-2025-11-20", " tool-search-tool-2025-10-19 ", ""},
			[]string{"tool-search-tool-2025-10-19"}, nil},
		{"bedrock", []string{"token-efficient-tools-2025-02-19"}, []string{"token-efficient-tools-2025-02-19"}, nil},
	}
	for _, tt := range tests {
		keep, dropped := FilterBetas(tt.provider, tt.in)
		if diff := cmp.Diff(tt.keep, keep); diff != "" {
			t.Errorf("%s keep (-want +got):\n%s", tt.provider, diff)
		}
		if diff := cmp.Diff(tt.dropped, dropped); diff != "" {
			t.Errorf("%s dropped (-want +got):\n%s", tt.provider, diff)
		}
	}
	if BetaAllowlist("anthropic") != nil || BetaAllowlist("ollama") == nil {
		t.Error("BetaAllowlist: anthropic has no list, ollama has an empty one")
	}
	l := BetaAllowlist("bedrock")
	l["x"] = "y"
	if _, ok := BetaAllowlist("bedrock")["x"]; ok {
		t.Error("BetaAllowlist returns the shared map")
	}
}

func TestMaxTokensCeiling(t *testing.T) {
	tests := []struct {
		provider, model string
		want            int
	}{
		{"anthropic", "claude-opus-4-6", 128000},
		{"anthropic", "claude-sonnet-4-5-20250929", 64000},
		{"anthropic", "claude-opus-4-20250514", 32000},
		{"anthropic", "claude-opus-4-1", 32000},
		{"anthropic", "claude-opus-4-7", 0}, // newer than the table: not clamped to claude-opus-4
		{"anthropic", "claude-opus-5-5", 0},
		{"anthropic", "claude-3-5-sonnet-latest", 8192},
		{"anthropic", "claude-3-haiku-20240307", 4096},
		{"bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", 8192},
		{"bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 64000},
		{"bedrock", "anthropic.claude-opus-4-6-v1", 128000},
		{"bedrock", "eu.anthropic.claude-haiku-4-5-20251001-v1:0", 64000},
		{"vertex", "claude-opus-4-1@20250805", 32000},
		{"vertex", "claude-3-5-sonnet-v2@20241022", 8192},
		{"azure", "claude-sonnet-4-5", 64000},
		{"azure", "my-deployment", 0},
		{"zai", "claude-sonnet-4-5", 0},
		{"ollama", "claude-sonnet-4-5", 0},
		{"minimax", "MiniMax-M2.5", 0},
	}
	for _, tt := range tests {
		if got := MaxTokensCeiling(tt.provider, tt.model); got != tt.want {
			t.Errorf("MaxTokensCeiling(%q, %q) = %d, want %d", tt.provider, tt.model, got, tt.want)
		}
	}
}

// TestValidateConfigLocatesTheProblem: a bad override is reported at its provider's features
// key, with the line of the file, once per provider; valid overrides pass.
func TestValidateConfigLocatesTheProblem(t *testing.T) {
	src := "providers:\n" +
		"- {name: a, type: ollama, features: {thinking_enabled: strip}}\n" +
		"- {name: b, type: ollama}\n" +
		"- name: c\n" +
		"  type: ollama\n" +
		"  features:\n" +
		"    thinking_enabled: drop\n"
	cfg, err := config.Parse([]byte(src), "c.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = ValidateConfig(cfg)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want a *config.Error, got %v", err)
	}
	want := `c.yaml:6: providers[2].features: unknown action "drop" for feature "thinking_enabled"; valid actions: pass, strip, refuse`
	if len(ce.Problems) != 1 || ce.Problems[0].String() != want {
		t.Errorf("problems %q, want [%q]", ce.Problems, want)
	}
	cfg.Providers[2].Features = nil
	if err := ValidateConfig(cfg); err != nil {
		t.Errorf("valid overrides: %v", err)
	}
}
