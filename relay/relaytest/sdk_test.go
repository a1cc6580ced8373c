package relaytest_test

import (
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/ccrelay/ccrelay/relay/relaytest"
)

// sdkClient returns an official Go SDK client aimed at base, with retries off.
func sdkClient(t *testing.T, base string) anthropic.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return anthropic.NewClient(
		option.WithBaseURL(base),
		option.WithAPIKey("test-key"),
		option.WithMaxRetries(0),
		option.WithHTTPClient(&http.Client{Transport: tr}),
	)
}

var sdkParams = anthropic.MessageNewParams{
	Model:     "claude-sonnet-4-20250514",
	MaxTokens: 64,
	Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hi in Portuguese"))},
}

// TestSDKStreamsReplay checks that the official SDK, a real client, parses
// replayed streams, gzip included, into complete messages.
func TestSDKStreamsReplay(t *testing.T) {
	tests := []struct {
		rel, wantStop string
	}{
		{"anthropic/fantasy/claude-sonnet-4.simple_streaming.0.json", "end_turn"},
		{"anthropic/anthropic-sdk-go/tool_runner_next_streaming.0.json", "tool_use"},
		{"anthropic/llm-anthropic/test_stream_events_thinking.0.json", "end_turn"},
		{"vertex/fantasy/vertex-claude-3-7-sonnet.tool_streaming.0.json", "tool_use"},
		{"ollama/09-tool-use-stream.json", "tool_use"},
	}
	for _, tc := range tests {
		t.Run(tc.rel, func(t *testing.T) {
			ix := relaytest.MustLoad(t, relaytest.Fixture(t, tc.rel))
			up := relaytest.NewUpstream(t, relaytest.Replay(ix))
			c := sdkClient(t, up.URL)
			stream := c.Messages.NewStreaming(t.Context(), sdkParams)
			defer stream.Close()
			var msg anthropic.Message
			events := 0
			for stream.Next() {
				events++
				if err := msg.Accumulate(stream.Current()); err != nil {
					t.Fatalf("accumulate event %d: %v", events, err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream error after %d events: %v", events, err)
			}
			if string(msg.StopReason) != tc.wantStop || len(msg.Content) == 0 {
				t.Errorf("stop_reason = %q with %d blocks, want %q and content", msg.StopReason, len(msg.Content), tc.wantStop)
			}
		})
	}
}

// TestSDKSeesDrop checks that a client reading a dropped stream gets an
// error rather than a silent end.
func TestSDKSeesDrop(t *testing.T) {
	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/fantasy/claude-sonnet-4.simple_streaming.0.json"))
	up := relaytest.NewUpstream(t, relaytest.DropAfter(ix, 3))
	c := sdkClient(t, up.URL)
	stream := c.Messages.NewStreaming(t.Context(), sdkParams)
	defer stream.Close()
	events := 0
	for stream.Next() {
		events++
	}
	if err := stream.Err(); err == nil {
		t.Errorf("stream ended cleanly after %d events, want an error", events)
	}
	if events > 3 {
		t.Errorf("got %d events, want at most the 3 sent", events)
	}
}
