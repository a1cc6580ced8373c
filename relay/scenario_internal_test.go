package relay

import (
	"strings"
	"testing"
)

func TestLongContextBounds(t *testing.T) {
	msg := func(text string) []byte {
		return []byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"` + text + `"}]}`)
	}
	cases := []struct {
		name  string
		body  []byte
		limit int
		want  bool
	}{
		{"under limit×4 bytes: short without counting", msg(strings.Repeat("a ", 1000)), 1000, false},
		{"over limit×16 bytes: long without counting", msg(strings.Repeat("a ", 9000)), 1000, true},
		{"between the bounds: counted, and long", msg(strings.Repeat("word ", 1500)), 1000, true},
		{"between the bounds: counted, and short (JSON that is mostly structure)", []byte(`{"model":"m","messages":[` + strings.Repeat(`{"role":"user","content":"a"},`, 300) + `{"role":"user","content":"a"}]}`), 1000, false},
	}
	for _, tc := range cases {
		if got := longContext(tc.body, tc.limit); got != tc.want {
			t.Errorf("%s (%d bytes): got %v, want %v", tc.name, len(tc.body), got, tc.want)
		}
	}
}

func TestModelDisplayName(t *testing.T) {
	for id, want := range map[string]string{
		"claude-sonnet-4-5":          "Claude Sonnet 4.5",
		"claude-opus-5-5":            "Claude Opus 5.5",
		"claude-opus-5":              "Claude Opus 5",
		"claude-3-5-haiku":           "Claude 3.5 Haiku",
		"claude-sonnet-4-5-20250929": "Claude Sonnet 4.5",
		"glm-4.6":                    "glm-4.6",
		"claude-":                    "Claude ",
	} {
		if got := modelDisplayName(id); got != want {
			t.Errorf("modelDisplayName(%q) = %q, want %q", id, got, want)
		}
	}
}
