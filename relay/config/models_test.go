package config

import "testing"

func TestMapModelPrefersExactThenLongestPrefix(t *testing.T) {
	mapping := map[string]string{
		"claude-haiku-4-5-20251001": "exact-haiku",
		"claude-haiku-*":            "qwen3:8b",
		"claude-*":                  "qwen3-coder:30b",
		"*":                         "default-model",
	}
	tests := []struct {
		model, want, key string
	}{
		{"claude-haiku-4-5-20251001", "exact-haiku", "claude-haiku-4-5-20251001"},
		{"claude-haiku-5-5", "qwen3:8b", "claude-haiku-*"},
		{"claude-opus-5-5", "qwen3-coder:30b", "claude-*"},
		{"gpt-4o", "default-model", "*"},
		{"claude-", "qwen3-coder:30b", "claude-*"},
	}
	for _, tt := range tests {
		got, key, ok := MapModel(mapping, tt.model)
		if !ok || got != tt.want || key != tt.key {
			t.Errorf("MapModel(%q) = %q, %q, %v; want %q, %q, true", tt.model, got, key, ok, tt.want, tt.key)
		}
	}
	if _, _, ok := MapModel(map[string]string{"claude-*": "x"}, "gpt-4o"); ok {
		t.Error("a model no key matches was mapped")
	}
	if _, _, ok := MapModel(nil, "claude-opus-5-5"); ok {
		t.Error("an empty mapping mapped a model")
	}
}

func TestProviderServesOnlyWhatItsListsMatch(t *testing.T) {
	tests := []struct {
		name    string
		p       Provider
		model   string
		want    string
		serving bool
	}{
		{"no lists serves anything as is", Provider{}, "claude-opus-5-5", "claude-opus-5-5", true},
		{"a mapping pattern maps", Provider{ModelMapping: map[string]string{"claude-*": "glm-4.6"}}, "claude-opus-5-5", "glm-4.6", true},
		{"a mapping alone does not serve other names", Provider{ModelMapping: map[string]string{"claude-*": "glm-4.6"}}, "gpt-4o", "gpt-4o", false},
		{"a listed model is sent as is", Provider{Models: []string{"qwen3:8b"}}, "qwen3:8b", "qwen3:8b", true},
		{"a models list alone does not serve other names", Provider{Models: []string{"qwen3:8b"}}, "claude-opus-5-5", "claude-opus-5-5", false},
		{"a default serves everything", Provider{Models: []string{"qwen3:8b"}, ModelMapping: map[string]string{"*": "qwen3:8b"}}, "claude-opus-5-5", "qwen3:8b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.p.Serves(tt.model)
			if got != tt.want || ok != tt.serving {
				t.Errorf("Serves(%q) = %q, %v; want %q, %v", tt.model, got, ok, tt.want, tt.serving)
			}
		})
	}
}
