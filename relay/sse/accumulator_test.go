package sse

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tidwall/gjson"
)

func accumulate(t *testing.T, events []Event) Message {
	t.Helper()
	var a Accumulator
	for _, e := range events {
		if err := a.Feed(e); err != nil {
			t.Fatalf("Feed: %v", err)
		}
	}
	return a.Message()
}

func TestAccumulatorMessage(t *testing.T) {
	toolStart := func(index, input string) string {
		return `{"type":"content_block_start","index":` + index + `,"content_block":{"type":"tool_use","id":"toolu_1","name":"f"` + input + `}}`
	}
	jsonDelta := func(index, fragment string) string {
		b, _ := json.Marshal(fragment)
		return `{"type":"content_block_delta","index":` + index + `,"delta":{"type":"input_json_delta","partial_json":` + string(b) + `}}`
	}
	tests := []struct {
		name   string
		events []Event
		want   Message
	}{
		{
			name: "Text and tool input fragments are joined and the input is made compact",
			events: stream(dMessageStart, dTextStart0, dPing, dTextDelta0,
				`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there\n"}}`, dStop0,
				toolStart("1", `,"input":{}`), jsonDelta("1", ""), jsonDelta("1", `{"a": `), jsonDelta("1", `[1, 2],`),
				jsonDelta("1", ` "b": "x y"}`), dStop1, dDeltaToolUse, dMessageStop),
			want: Message{
				ID: "msg_1", Model: "m", Role: "assistant", StopReason: "tool_use",
				Content: []Block{
					{Type: "text", Text: "Hi there\n"},
					{Type: "tool_use", ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"a":[1,2],"b":"x y"}`)},
				},
				Usage: Usage{InputTokens: 10, OutputTokens: 9},
			},
		},
		{
			name:   "A tool input without fragments is an empty object",
			events: stream(dMessageStart, toolStart("0", ""), dStop0, dDeltaToolUse, dMessageStop),
			want: Message{
				ID: "msg_1", Model: "m", Role: "assistant", StopReason: "tool_use",
				Content: []Block{{Type: "tool_use", ID: "toolu_1", Name: "f", Input: json.RawMessage(`{}`)}},
				Usage:   Usage{InputTokens: 10, OutputTokens: 9},
			},
		},
		{
			name:   "A tool input of empty fragments only is an empty object",
			events: stream(dMessageStart, toolStart("0", `,"input":{}`), jsonDelta("0", ""), jsonDelta("0", " "), dStop0, dDeltaToolUse, dMessageStop),
			want: Message{
				ID: "msg_1", Model: "m", Role: "assistant", StopReason: "tool_use",
				Content: []Block{{Type: "tool_use", ID: "toolu_1", Name: "f", Input: json.RawMessage(`{}`)}},
				Usage:   Usage{InputTokens: 10, OutputTokens: 9},
			},
		},
		{
			name:   "A complete input in content_block_start is kept, compact, when no fragment follows",
			events: stream(dMessageStart, toolStart("0", `,"input":{ "q" : 1 }`), dStop0, dDeltaToolUse, dMessageStop),
			want: Message{
				ID: "msg_1", Model: "m", Role: "assistant", StopReason: "tool_use",
				Content: []Block{{Type: "tool_use", ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"q":1}`)}},
				Usage:   Usage{InputTokens: 10, OutputTokens: 9},
			},
		},
		{
			name: "An input cut by max_tokens in a block left open is returned as received",
			events: stream(dMessageStart, toolStart("0", `,"input":{}`), jsonDelta("0", `{"numbers": [1, `),
				dDeltaMax, dMessageStop),
			want: Message{
				ID: "msg_1", Model: "m", Role: "assistant", StopReason: "max_tokens",
				Content: []Block{{Type: "tool_use", ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"numbers": [1, `)}},
				Usage:   Usage{InputTokens: 10, OutputTokens: 32},
			},
		},
		{
			name: "Thinking, signature, redacted thinking and server tool results are assembled",
			events: stream(dMessageStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" think."}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}`,
				dStop0,
				`{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwK"}}`,
				dStop1,
				`{"type":"content_block_start","index":2,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]}}`,
				`{"type":"content_block_stop","index":2}`,
				dDeltaEndTurn, dMessageStop),
			want: Message{
				ID: "msg_1", Model: "m", Role: "assistant", StopReason: "end_turn",
				Content: []Block{
					{Type: "thinking", Thinking: "Let me think.", Signature: "c2ln"},
					{Type: "redacted_thinking", Data: "EmwK"},
					{Type: "web_search_tool_result"},
				},
				Usage: Usage{InputTokens: 10, OutputTokens: 5},
			},
		},
		{
			name: "message_delta usage overrides only the counts it carries, and the stop sequence is kept",
			events: stream(
				`{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":10,"cache_creation_input_tokens":3,"cache_read_input_tokens":4,"output_tokens":1}}}`,
				`{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"input_tokens":12,"output_tokens":7}}`,
				dMessageStop),
			want: Message{
				ID: "msg_2", Model: "m", Role: "assistant", StopReason: "stop_sequence", StopSequence: "END",
				Usage: Usage{InputTokens: 12, OutputTokens: 7, CacheCreationInputTokens: 3, CacheReadInputTokens: 4},
			},
		},
		{
			name: "Events without data are ignored and nameless events are taken by their type",
			events: append([]Event{{Raw: []byte(": hi\n\n")}, {Data: []byte(dMessageStart)}, {Data: []byte(dTextStart0)},
				{Data: []byte(dTextDelta0)}}, stream(dStop0, dDeltaEndTurn, dMessageStop)...),
			want: Message{
				ID: "msg_1", Model: "m", Role: "assistant", StopReason: "end_turn",
				Content: []Block{{Type: "text", Text: "Hi"}},
				Usage:   Usage{InputTokens: 10, OutputTokens: 5},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, accumulate(t, tt.events)); diff != "" {
				t.Errorf("Message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAccumulatorRejects(t *testing.T) {
	tests := []struct {
		name    string
		events  []Event
		wantErr string
	}{
		{
			name:    "Data must be valid JSON",
			events:  stream(`message_start={"type":`),
			wantErr: "sse: event 0 (message_start): data is not valid JSON",
		},
		{
			name:    "A delta needs a started block",
			events:  stream(dMessageStart, dTextDelta0),
			wantErr: "sse: event 1 (content_block_delta): index 0 but no such block was started",
		},
		{
			name:    "Blocks must start in index order",
			events:  stream(dMessageStart, dToolStart1),
			wantErr: "sse: event 1 (content_block_start): index 1 but 0 blocks were started",
		},
		{
			name:    "A closed tool input must be valid JSON",
			events:  stream(dMessageStart, dTextStart0, dStop0, dToolStart1, dToolDelta1, dStop1),
			wantErr: `sse: event 5 (content_block_stop): block input "{\"a\":" is not valid JSON`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Accumulator
			var err error
			for _, e := range tt.events {
				if err = a.Feed(e); err != nil {
					break
				}
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("error = %v, want %s", err, tt.wantErr)
			}
		})
	}
}

func TestFromJSON(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Message
		wantErr string
	}{
		{
			name: "A message with every block type is read",
			body: `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[
				{"type":"thinking","thinking":"Hm.","signature":"c2ln"},
				{"type":"redacted_thinking","data":"EmwK"},
				{"type":"text","text":"Hi","citations":null},
				{"type":"tool_use","id":"toolu_1","name":"f","input":{ "a" : [1, 2] }},
				{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"q"}},
				{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]}],
				"stop_reason":"tool_use","stop_sequence":null,
				"usage":{"input_tokens":5,"cache_creation_input_tokens":1,"cache_read_input_tokens":2,"output_tokens":3}}`,
			want: Message{
				ID: "msg_1", Model: "m", Role: "assistant", StopReason: "tool_use",
				Content: []Block{
					{Type: "thinking", Thinking: "Hm.", Signature: "c2ln"},
					{Type: "redacted_thinking", Data: "EmwK"},
					{Type: "text", Text: "Hi"},
					{Type: "tool_use", ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"a":[1,2]}`)},
					{Type: "server_tool_use", ID: "srvtoolu_1", Name: "web_search", Input: json.RawMessage(`{"query":"q"}`)},
					{Type: "web_search_tool_result"},
				},
				Usage: Usage{InputTokens: 5, OutputTokens: 3, CacheCreationInputTokens: 1, CacheReadInputTokens: 2},
			},
		},
		{
			name:    "An error body is an error",
			body:    `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			wantErr: "sse: response is an error: overloaded_error: Overloaded",
		},
		{
			name:    "A body that is not a message is an error",
			body:    `{"input_tokens":5}`,
			wantErr: `sse: response type is missing, want "message"`,
		},
		{
			name:    "A body that is not JSON is an error",
			body:    `{"type":"message"`,
			wantErr: "sse: response body is not valid JSON",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromJSON([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Message (-want +got):\n%s", diff)
			}
		})
	}
}

// Ollama's scripted model answers the same request the same way streamed or not, so the two
// recordings give the same Message but for the generated ids.
func TestAccumulatorMatchesFromJSONOnOllama(t *testing.T) {
	pairs := []struct{ nonStream, stream string }{
		{"01-text-nonstream", "02-text-stream"},
		{"04-max-tokens-nonstream", "05-max-tokens-stream"},
		{"06-stop-sequence-nonstream", "07-stop-sequence-stream"},
		{"08-tool-use-nonstream", "09-tool-use-stream"},
		{"10-tool-result-nonstream", "11-tool-result-stream"},
		{"13-thinking-enabled-nonstream", "14-thinking-enabled-stream"},
	}
	body := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(fixtureRoot, "ollama", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(gjson.GetBytes(b, "response.body").Str)
	}
	for _, p := range pairs {
		t.Run(p.stream+" matches "+p.nonStream, func(t *testing.T) {
			want, err := FromJSON(body(p.nonStream))
			if err != nil {
				t.Fatal(err)
			}
			events, err := Check(strings.NewReader(string(body(p.stream))))
			if err != nil {
				t.Fatal(err)
			}
			got := accumulate(t, events)
			if len(got.Content) == 0 {
				t.Fatal("streamed message has no content")
			}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Message{}, "ID"), cmpopts.IgnoreFields(Block{}, "ID")); diff != "" {
				t.Errorf("streamed message (-non-streaming +streaming):\n%s", diff)
			}
		})
	}
}

func TestAccumulatorOnRealStreams(t *testing.T) {
	tests := []struct {
		name string
		file string
		want Message
	}{
		{
			name: "Ollama thinking, text and tool_use stream",
			file: "ollama/16-thinking-tool-use-stream.json",
			want: Message{
				ID: "msg_ad73ac8b7995a12dceb26a0f", Model: "scripted-think", Role: "assistant", StopReason: "tool_use",
				Content: []Block{
					{Type: "thinking", Thinking: "A weather question: call get_weather for Paris.\n"},
					{Type: "text", Text: "Let me check the weather for you.\n"},
					{Type: "tool_use", ID: "call_uhtc04yj", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)},
				},
				Usage: Usage{InputTokens: 47, OutputTokens: 19},
			},
		},
		{
			name: "Anthropic code execution stream with padded JSON",
			file: "anthropic/pydantic-ai/test_anthropic_code_execution_tool_stream.0.json",
			want: Message{
				ID: "msg_01Js8aWE7YbmiaUPneGiCskE", Model: "claude-sonnet-4-6", Role: "assistant", StopReason: "end_turn",
				Content: []Block{
					{Type: "thinking", Thinking: "Let me calculate this mathematical expression."},
					{Type: "text", Text: "I'll calculate that expression for you right away!"},
					{Type: "server_tool_use", ID: "srvtoolu_01MwXaweAHve88x6s3Fc8x6Q", Name: "bash_code_execution",
						Input: json.RawMessage(`{"command":"echo \"65465-6544 * 65464-6+1.02255\" | bc -l"}`)},
					{Type: "bash_code_execution_tool_result"},
					{Type: "text"},
				},
				Usage: Usage{InputTokens: 4714, OutputTokens: 304},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(fixtureRoot, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			events, err := Check(strings.NewReader(gjson.GetBytes(b, "response.body").Str))
			if err != nil {
				t.Fatal(err)
			}
			got := accumulate(t, events)
			// Long signatures and answers are checked for presence only.
			opts := cmp.Options{
				cmp.FilterPath(func(p cmp.Path) bool {
					return p.Last().String() == ".Signature" || (p.Last().String() == ".Text" && strings.Contains(p.GoString(), "Content[4]"))
				}, cmp.Ignore()),
			}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("Message (-want +got):\n%s", diff)
			}
			if strings.HasPrefix(tt.file, "anthropic") {
				if got.Content[0].Signature == "" || !strings.HasPrefix(got.Content[4].Text, "Following the standard") ||
					!strings.HasSuffix(got.Content[4].Text, "**-428,330,955.97745**") {
					t.Errorf("signature or final text not assembled: %q, %q", got.Content[0].Signature, got.Content[4].Text)
				}
			}
		})
	}
}

func TestAccumulatorOnBedrockMaxTokensInOpenToolUse(t *testing.T) {
	fixtures := loadFixtures(t, "bedrock/aimock")
	var events []Event
	for _, f := range fixtures {
		if strings.HasSuffix(f.path, "k5_stream.json") {
			events = bedrockEvents(t, f)
		}
	}
	want := Message{
		ID: "msg_bdrk_011CfqEtSc7RGn9rcJMRsqWP", Model: "claude-sonnet-4-5-20250929", Role: "assistant", StopReason: "max_tokens",
		Content: []Block{{Type: "tool_use", ID: "toolu_bdrk_0173ctUSHAMeHcosVSXzrTXc", Name: "record_numbers", Input: json.RawMessage(`{}`)}},
		Usage:   Usage{InputTokens: 692, OutputTokens: 32},
	}
	if diff := cmp.Diff(want, accumulate(t, events)); diff != "" {
		t.Errorf("Message (-want +got):\n%s", diff)
	}
}

// Every recorded non-streaming message reads with FromJSON.
func TestFromJSONOnRealTraffic(t *testing.T) {
	n := 0
	for _, f := range loadFixtures(t, "anthropic", "vertex", "ollama", "bedrock") {
		r := f.Response
		if r == nil || r.Status == nil || *r.Status != 200 || r.Body == nil || gjson.Get(*r.Body, "type").Str != "message" {
			continue
		}
		n++
		t.Run(f.path, func(t *testing.T) {
			m, err := FromJSON([]byte(*r.Body))
			if err != nil {
				t.Fatal(err)
			}
			checkMessage(t, m)
			if len(m.Content) == 0 {
				t.Errorf("no content")
			}
		})
	}
	if n < 30 {
		t.Fatalf("found %d non-streaming messages, want at least 30", n)
	}
}
