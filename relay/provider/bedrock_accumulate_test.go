package provider

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/google/go-cmp/cmp"
)

// assembled is the client-visible result of a message: what the comparison looks at.
type assembled struct {
	Content      []assembledBlock
	StopReason   string
	InputTokens  int64
	OutputTokens int64
}

type assembledBlock struct {
	Type  string
	Text  string
	Name  string
	Input any
}

// parseInput normalises a tool input for comparison.
func parseInput(t *testing.T, raw []byte) any {
	t.Helper()
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("tool input %q: %v", raw, err)
	}
	return v
}

// accumulateWithSDK decodes SSE with the official Go SDK's ssestream decoder and accumulates
// it with anthropic.Message.Accumulate, as a Go client of the relay would.
func accumulateWithSDK(t *testing.T, sse []byte) assembled {
	t.Helper()
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(sse))}
	stream := ssestream.NewStream[anthropic.MessageStreamEventUnion](ssestream.NewDecoder(resp), nil)
	defer stream.Close()
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatalf("Accumulate: %v", err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("SDK stream: %v", err)
	}
	out := assembled{StopReason: string(msg.StopReason), InputTokens: msg.Usage.InputTokens, OutputTokens: msg.Usage.OutputTokens}
	for _, b := range msg.Content {
		ab := assembledBlock{Type: b.Type, Text: b.Text, Name: b.Name}
		if b.Type == "tool_use" {
			ab.Input = parseInput(t, b.Input)
		}
		out.Content = append(out.Content, ab)
	}
	return out
}

// assembleFromFrames builds the expected result directly from a fixture's decoded inner events,
// independently of the SDK.
func assembleFromFrames(t *testing.T, f *fixture) assembled {
	t.Helper()
	var out assembled
	var inputs []string
	for _, fr := range f.Response.Frames {
		var ev struct {
			Type    string `json:"type"`
			Index   int    `json:"index"`
			Message struct {
				Usage struct {
					InputTokens  int64 `json:"input_tokens"`
					OutputTokens int64 `json:"output_tokens"`
				} `json:"usage"`
			} `json:"message"`
			ContentBlock struct {
				Type string          `json:"type"`
				Text string          `json:"text"`
				Name string          `json:"name"`
				In   json.RawMessage `json:"input"`
			} `json:"content_block"`
			Delta struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
				StopReason  string `json:"stop_reason"`
			} `json:"delta"`
			Usage struct {
				OutputTokens int64 `json:"output_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(fr.BytesDecoded, &ev); err != nil {
			t.Fatal(err)
		}
		switch ev.Type {
		case "message_start":
			out.InputTokens, out.OutputTokens = ev.Message.Usage.InputTokens, ev.Message.Usage.OutputTokens
		case "content_block_start":
			out.Content = append(out.Content, assembledBlock{Type: ev.ContentBlock.Type, Text: ev.ContentBlock.Text, Name: ev.ContentBlock.Name})
			inputs = append(inputs, "")
		case "content_block_delta":
			switch ev.Delta.Type {
			case "text_delta":
				out.Content[ev.Index].Text += ev.Delta.Text
			case "input_json_delta":
				inputs[ev.Index] += ev.Delta.PartialJSON
			}
		case "message_delta":
			out.StopReason, out.OutputTokens = ev.Delta.StopReason, ev.Usage.OutputTokens
		}
	}
	for i := range out.Content {
		if out.Content[i].Type == "tool_use" {
			in := inputs[i]
			if in == "" {
				in = "{}"
			}
			out.Content[i].Input = parseInput(t, []byte(in))
		}
	}
	return out
}

// assembleNonStream reads a recorded non-stream response.
func assembleNonStream(t *testing.T, body []byte) assembled {
	t.Helper()
	var m struct {
		Content []struct {
			Type  string          `json:"type"`
			Text  string          `json:"text"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		} `json:"content"`
		StopReason string `json:"stop_reason"`
		Usage      struct {
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	out := assembled{StopReason: m.StopReason, InputTokens: m.Usage.InputTokens, OutputTokens: m.Usage.OutputTokens}
	for _, c := range m.Content {
		b := assembledBlock{Type: c.Type, Text: c.Text, Name: c.Name}
		if c.Type == "tool_use" {
			b.Input = parseInput(t, c.Input)
		}
		out.Content = append(out.Content, b)
	}
	return out
}

// TestBedrockSSEWithAnthropicSDK feeds the SSE converted from every recorded Bedrock stream to
// the official Go SDK's decoder and accumulator: text, tool_use, stop_reason and usage must come
// out as the inner events say, and, where the same prompt was also recorded without streaming and
// the model answered identically, equal to that non-stream message.
func TestBedrockSSEWithAnthropicSDK(t *testing.T) {
	// Stream fixtures whose non-stream sibling holds the same answer (checked by hand: the
	// other pairs are separate generations whose text differs).
	sameAnswer := map[string]string{
		"bedrock/aimock/bedrock-misbehavior-live.k5_stream.json":                      "bedrock/aimock/bedrock-misbehavior-live.k5_object.json",
		"bedrock/fantasy/basic-auth-claude-haiku-4-5.simple_streaming.0.json":         "bedrock/fantasy/basic-auth-claude-haiku-4-5.simple.0.json",
		"bedrock/fantasy/bedrock-anthropic-claude-3-haiku.simple_streaming.0.json":    "bedrock/fantasy/bedrock-anthropic-claude-3-haiku.simple.0.json",
		"bedrock/fantasy/bedrock-anthropic-claude-3-haiku.tool_streaming.0.json":      "bedrock/fantasy/bedrock-anthropic-claude-3-haiku.tool.0.json",
		"bedrock/fantasy/bedrock-anthropic-claude-haiku-4-5.simple_streaming.0.json":  "bedrock/fantasy/bedrock-anthropic-claude-haiku-4-5.simple.0.json",
		"bedrock/fantasy/bedrock-anthropic-claude-haiku-4-5.tool_streaming.0.json":    "bedrock/fantasy/bedrock-anthropic-claude-haiku-4-5.tool.0.json",
		"bedrock/fantasy/bedrock-anthropic-claude-opus-4-6.tool_streaming.0.json":     "bedrock/fantasy/bedrock-anthropic-claude-opus-4-6.tool.0.json",
		"bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.simple_streaming.0.json": "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.simple.0.json",
		"bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.tool_streaming.0.json":   "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.tool.0.json",
	}
	pairs := 0
	for _, f := range bedrockStreams(t) {
		t.Run(f.name, func(t *testing.T) {
			got := accumulateWithSDK(t, convertAll(t, f.wireBody(t)))
			if diff := cmp.Diff(assembleFromFrames(t, f), got); diff != "" {
				t.Errorf("SDK result differs from the inner events (-want +got):\n%s", diff)
			}
			if len(got.Content) == 0 || got.StopReason == "" || got.OutputTokens == 0 {
				t.Errorf("incomplete message: %+v", got)
			}
			sibling, ok := sameAnswer[f.name]
			if !ok {
				return
			}
			pairs++
			want := assembleNonStream(t, []byte(loadFixture(t, sibling).Response.Body))
			// Input tokens differ between the two calls' prompts (stream flag); compare the answer.
			want.InputTokens, got.InputTokens = 0, 0
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("streamed message differs from the recorded non-stream one %s (-want +got):\n%s", sibling, diff)
			}
		})
	}
	if pairs != len(sameAnswer) {
		t.Errorf("compared %d stream/non-stream pairs, want %d", pairs, len(sameAnswer))
	}
}

// TestBedrockSSEErrorWithAnthropicSDK checks that the SDK surfaces a converted exception frame
// as an API error of the mapped type.
func TestBedrockSSEErrorWithAnthropicSDK(t *testing.T) {
	body := append(chunkFrame(t, messageStart), encodeFrame(t, map[string]string{":message-type": "exception", ":exception-type": "throttlingException"},
		[]byte(`{"message":"Too many tokens"}`))...)
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(convertAll(t, body)))}
	stream := ssestream.NewStream[anthropic.MessageStreamEventUnion](ssestream.NewDecoder(resp), nil)
	for stream.Next() {
	}
	err := stream.Err()
	if err == nil || !strings.Contains(err.Error(), "rate_limit_error") || !strings.Contains(err.Error(), "Too many tokens") {
		t.Errorf("SDK error %v, want the rate_limit_error", err)
	}
}
