package body

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStripThinkingKeepsEveryOtherByte(t *testing.T) {
	tests := []struct {
		name, in, want string
		n              int
	}{
		{
			"a thinking block before text goes, the text stays",
			`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"a"}]},{"role":"user","content":"next"}],  "model" : "m"}`,
			`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"text","text":"a"}]},{"role":"user","content":"next"}],  "model" : "m"}`,
			1,
		},
		{
			"an assistant turn of only thinking is removed rather than left empty",
			`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"redacted_thinking","data":"x"},{"type":"thinking","thinking":"t","signature":"s"}]},{"role":"user","content":"next"}]}`,
			`{"messages":[{"role":"user","content":"q"},{"role":"user","content":"next"}]}`,
			2,
		},
		{
			"user turns and string contents are untouched",
			`{"messages":[{"role":"user","content":[{"type":"thinking","thinking":"not really"}]},{"role":"assistant","content":"plain"}]}`,
			`{"messages":[{"role":"user","content":[{"type":"thinking","thinking":"not really"}]},{"role":"assistant","content":"plain"}]}`,
			0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			got, n, err := StripThinking(in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" || n != tt.n {
				t.Errorf("removed %d (want %d); body (-want +got):\n%s", n, tt.n, diff)
			}
			if string(in) != tt.in {
				t.Errorf("the input was modified in place")
			}
		})
	}
}

func TestHistoryFactsOfScenarios(t *testing.T) {
	webSearch := func(b []byte) bool { return DeclaresToolType(b, "web_search_") }
	img := `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}`
	cases := []struct {
		name string
		body string
		fn   func([]byte) bool
		want bool
	}{
		{"web search tool", `{"tools":[{"name":"Bash","input_schema":{}},{"type":"web_search_20260209","name":"web_search"}]}`, webSearch, true},
		{"the word in a message is not a tool", `{"messages":[{"role":"user","content":"\"web_search_x\""}],"tools":[{"name":"Bash"}]}`, webSearch, false},
		{"no tools", `{"messages":[]}`, webSearch, false},
		{"image at the top of the last user turn", `{"messages":[{"role":"user","content":[` + img + `]}]}`, LastUserTurnHasImage, true},
		{"image in a tool_result of the last user turn", `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[` + img + `]}]}]}`, LastUserTurnHasImage, true},
		{"image in an earlier user turn only", `{"messages":[{"role":"user","content":[` + img + `]},{"role":"assistant","content":"y"},{"role":"user","content":"z"}]}`, LastUserTurnHasImage, false},
		{"a text block that says image", `{"messages":[{"role":"user","content":[{"type":"text","text":"\"image\""}]}]}`, LastUserTurnHasImage, false},
	}
	for _, tc := range cases {
		if got := tc.fn([]byte(tc.body)); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
