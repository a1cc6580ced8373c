package relay

import (
	"strings"
	"testing"
)

func TestScenarioDetectors(t *testing.T) {
	img := `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}`
	cases := []struct {
		name string
		body string
		fn   func([]byte) bool
		want bool
	}{
		{"web search tool", `{"tools":[{"name":"Bash","input_schema":{}},{"type":"web_search_20260209","name":"web_search"}]}`, usesWebSearch, true},
		{"the word in a message is not a tool", `{"messages":[{"role":"user","content":"\"web_search_x\""}],"tools":[{"name":"Bash"}]}`, usesWebSearch, false},
		{"no tools", `{"messages":[]}`, usesWebSearch, false},
		{"image at the top of the last user turn", `{"messages":[{"role":"user","content":[` + img + `]}]}`, lastUserTurnHasImage, true},
		{"image in a tool_result of the last user turn", `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[` + img + `]}]}]}`, lastUserTurnHasImage, true},
		{"image in an earlier user turn only", `{"messages":[{"role":"user","content":[` + img + `]},{"role":"assistant","content":"y"},{"role":"user","content":"z"}]}`, lastUserTurnHasImage, false},
		{"a text block that says image", `{"messages":[{"role":"user","content":[{"type":"text","text":"\"image\""}]}]}`, lastUserTurnHasImage, false},
	}
	for _, tc := range cases {
		if got := tc.fn([]byte(tc.body)); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

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
