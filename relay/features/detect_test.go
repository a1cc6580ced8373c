package features

import (
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/relaytest/claudecode"

	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/google/go-cmp/cmp"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		betas []string
		want  map[Feature]string // feature → path of first use
	}{
		{
			name: "plain text",
			body: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			want: map[Feature]string{MaxTokens: "max_tokens"},
		},
		{
			name: "stream false is not streaming",
			body: `{"stream":false,"messages":[]}`,
			want: map[Feature]string{},
		},
		{
			name: "top-level parameters",
			body: `{"stream":true,"temperature":0,"top_k":5,"top_p":0.9,"stop_sequences":["x"],"metadata":{"user_id":"u"},"context_management":{"edits":[]},"output_config":{"effort":"low"},"cache_control":{"type":"ephemeral"}}`,
			want: map[Feature]string{Streaming: "stream", Temperature: "temperature", TopK: "top_k", TopP: "top_p",
				StopSequences: "stop_sequences", Metadata: "metadata", ContextManagement: "context_management",
				Effort: "output_config.effort", CacheControl: "cache_control"},
		},
		{
			name: "null and empty values are not uses",
			body: `{"temperature":null,"stop_sequences":[],"metadata":null,"output_config":{"format":{}},"tools":[]}`,
			want: map[Feature]string{},
		},
		{
			name: "tool_choice any",
			body: `{"tools":[{"name":"a","input_schema":{}}],"tool_choice":{"type":"any"}}`,
			want: map[Feature]string{Tools: "tools[0]", ToolChoiceAny: "tool_choice"},
		},
		{
			name: "tool_choice auto, tool, none",
			body: `{"tool_choice":{"type":"tool","name":"a"}}`,
			want: map[Feature]string{ToolChoiceTool: "tool_choice"},
		},
		{
			name: "thinking enabled with budget",
			body: `{"thinking":{"type":"enabled","budget_tokens":2048}}`,
			want: map[Feature]string{ThinkingEnabled: "thinking", ThinkingBudget: "thinking.budget_tokens"},
		},
		{
			name: "thinking adaptive",
			body: `{"thinking":{"type":"adaptive","display":"omitted"}}`,
			want: map[Feature]string{ThinkingAdaptive: "thinking"},
		},
		{
			name: "cache_control in system, content, tool_result content and tools",
			body: `{"system":[{"type":"text","text":"a"},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}],
				"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral"}}]}]}],
				"tools":[{"name":"x","input_schema":{},"cache_control":{"type":"ephemeral"}}]}`,
			want: map[Feature]string{CacheControl: "system[1].cache_control", Tools: "tools[0]"},
		},
		{
			name: "cache_control only inside tool_result content",
			body: `{"messages":[{"role":"user","content":[{"type":"text","text":"q"}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral"}}]}]}]}`,
			want: map[Feature]string{CacheControl: "messages[1].content[0].content[0].cache_control"},
		},
		{
			name: "images and documents in messages and tool results",
			body: `{"messages":[{"role":"user","content":[
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}},
				{"type":"image","source":{"type":"url","url":"https://x/y.png"}},
				{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}},
				{"type":"document","source":{"type":"url","url":"https://x/y.pdf"}},
				{"type":"document","source":{"type":"text","media_type":"text/plain","data":"t"}},
				{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`,
			want: map[Feature]string{ImageBase64: "messages[0].content[0]", ImageURL: "messages[0].content[1]",
				PDFBase64: "messages[0].content[2]", PDFURL: "messages[0].content[3]",
				DocumentText: "messages[0].content[4]", FileSource: "messages[0].content[5]"},
		},
		{
			name: "image url inside tool_result content, source keys in any order",
			body: `{"messages":[{"content":[{"content":[{"source":{"url":"https://x","type":"url"},"type":"image"}],"type":"tool_result","tool_use_id":"t"}],"role":"user"}]}`,
			want: map[Feature]string{ImageURL: "messages[0].content[0].content[0]"},
		},
		{
			name: "document with content source",
			body: `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"content","content":[{"type":"text","text":"a"}]}}]}]}`,
			want: map[Feature]string{DocumentText: "messages[0].content[0]"},
		},
		{
			name: "system message with its own output_config",
			body: `{"messages":[{"role":"user","content":"a"},{"content":"b","output_config":{"effort":"medium"},"role":"system"}]}`,
			want: map[Feature]string{SystemMessages: "messages[1].role", Effort: "messages[1].output_config.effort"},
		},
		{
			name: "server tools and defer_loading",
			body: `{"tools":[{"type":"web_search_20250305","name":"web_search"},{"type":"web_fetch_20250910","name":"web_fetch"},{"type":"code_execution_20250825","name":"code_execution"},{"name":"d","input_schema":{},"defer_loading":true},{"type":"custom","name":"c","input_schema":{},"defer_loading":false}]}`,
			want: map[Feature]string{WebSearch: "tools[0]", WebFetch: "tools[1]", CodeExecution: "tools[2]",
				Tools: "tools[3]", DeferLoading: "tools[3].defer_loading"},
		},
		{
			name: "unknown top-level keys",
			body: `{"model":"m","safeguards":[],"speed":"fast","x.y":1}`,
			want: map[Feature]string{UnknownFields: "safeguards"},
		},
		{
			name:  "betas from the header, comma lists split",
			body:  `{}`,
			betas: []string{"a-1, b-2", "c-3"},
			want:  map[Feature]string{AnthropicBeta: "anthropic-beta header"},
		},
		{
			name: "not an object",
			body: `[1,2]`,
			want: map[Feature]string{},
		},
		{
			name: "invalid JSON does not panic",
			body: `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url"`,
			want: map[Feature]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := Detect([]byte(tt.body), tt.betas)
			got := map[Feature]string{}
			for _, f := range u.Features() {
				got[f] = u.Path(f)
			}
			if strings.Contains(tt.name, "invalid JSON") {
				return // only checks for panics; gjson reports what it could read
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("features (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDetectValues(t *testing.T) {
	body := `{"model":"claude-x","max_tokens":4096,"temperature":1.5,"thinking":{"type":"enabled","budget_tokens":1024},
		"tool_choice": {"type": "tool", "name": "get_weather"},"safeguards":[1],"speed":"fast","bogus":true,
		"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":{}}]}]}`
	u := Detect([]byte(body), []string{"x-1,y-2"})
	got := struct {
		Model, ToolChoice, ToolChoiceJSON, ThinkingType, ToolHistory string
		MaxTokens, ThinkingBudget                                    int64
		Temperature                                                  float64
		HasTemperature                                               bool
		UnknownFields, Betas                                         []string
	}{u.Model, u.ToolChoice, u.ToolChoiceJSON, u.ThinkingType, u.ToolHistory, u.MaxTokens, u.ThinkingBudget,
		u.Temperature, u.HasTemperature, u.UnknownFields, u.Betas}
	want := got
	want.Model, want.ToolChoice, want.ToolChoiceJSON = "claude-x", "tool", `{"type":"tool","name":"get_weather"}`
	want.ThinkingType, want.ToolHistory = "enabled", "messages[1].content[0]"
	want.MaxTokens, want.ThinkingBudget, want.Temperature, want.HasTemperature = 4096, 1024, 1.5, true
	want.UnknownFields, want.Betas = []string{"safeguards", "bogus"}, []string{"x-1", "y-2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if u.Uses(CountTokens) {
		t.Error("CountTokens used without the caller setting it")
	}
	u.CountTokens = true
	if !u.Uses(CountTokens) || u.Path(CountTokens) == "" {
		t.Error("CountTokens not used after the caller set it")
	}
}

// TestDetectClaudeCode runs Detect on every request recorded from real clients and keeps what
// it finds in a golden file: cache_control, adaptive thinking, the role:system message with
// its output_config, context_management, defer_loading, metadata, safeguards, betas.
func TestDetectClaudeCode(t *testing.T) {
	var b strings.Builder
	for _, r := range claudecode.Requests(t) {
		u := Detect(r.Body, r.Betas)
		u.CountTokens = r.CountTokens
		// The compact wire form must give the same answer.
		c := Detect(r.Compact, r.Betas)
		c.CountTokens = r.CountTokens
		if diff := cmp.Diff(usageSummary(u), usageSummary(c)); diff != "" {
			t.Errorf("%s: indented and compact bodies differ:\n%s", r.Name, diff)
		}
		b.WriteString("== " + r.Name + "\n" + usageSummary(u))
		var caches []string
		body.Walk(r.Body, func(e *body.Node) {
			if e.Kind == body.Cache {
				caches = append(caches, e.Loc.Human(""))
			}
		})
		if len(caches) > 0 {
			b.WriteString("every cache_control: " + strings.Join(caches, ", ") + "\n")
		}
		b.WriteString("\n")
	}
	golden(t, "detect_claude_code.golden", []byte(b.String()))
}
