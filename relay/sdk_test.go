package relay_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/google/go-cmp/cmp"
)

// The five Anthropic-compatible provider types all relay the same recorded traffic.
var compatibleTypes = []string{config.TypeAnthropic, config.TypeZAI, config.TypeMiniMax, config.TypeOllama, config.TypeAzure}

// Real recorded streams (fixtures/real-traffic): thinking with signatures, tool use with
// input_json_delta, a gzip-encoded stream, and Ollama's own streams.
var recordedStreams = []string{
	"anthropic/fantasy/claude-sonnet-4.thinking-streaming.0.json",
	"anthropic/anthropic-sdk-go/tool_runner_streaming_all.0.json",
	"anthropic/llm-anthropic/test_stream_events_tool_calls.0.json",
	"anthropic/pydantic-ai/test_anthropic_model_web_search_tool_stream.0.json",
	"ollama/02-text-stream.json",
	"ollama/09-tool-use-stream.json",
	"ollama/16-thinking-tool-use-stream.json",
}

var recordedMessages = []string{
	"anthropic/anthropic-sdk-go/tool_runner_basic.0.json",
	"anthropic/pydantic-ai/test_anthropic_model_thinking_part.0.json",
	"ollama/01-text-nonstream.json",
	"ollama/08-tool-use-nonstream.json",
	"ollama/13-thinking-enabled-nonstream.json",
}

// streamedMessage accumulates a streamed message with the official SDK.
func streamedMessage(t *testing.T, base, body string) (anthropic.Message, []string) {
	t.Helper()
	client := sdkClient(base)
	stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{}, rawBody(body))
	var msg anthropic.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("accumulate: %v", err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream from %s: %v", base, err)
	}
	return msg, types
}

// asJSON renders an SDK message through its raw JSON fields for a comparable view.
func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSDKAccumulatesTheSameStreamThroughTheRelayAsDirectly(t *testing.T) {
	for _, rel := range recordedStreams {
		for _, typ := range compatibleTypes {
			t.Run(typ+"/"+rel, func(t *testing.T) {
				ix := interaction(t, rel)
				direct := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ix))
				up := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ix))
				base := startRelay(t, configWith(providerFor(typ, "p-"+typ, up.URL, "upstream-key")))

				want, wantTypes := streamedMessage(t, direct.URL, ix.Request.Body)
				got, gotTypes := streamedMessage(t, base, ix.Request.Body)
				if diff := cmp.Diff(asJSON(t, want), asJSON(t, got)); diff != "" {
					t.Errorf("message through the relay differs from direct (-direct +relay):\n%s", diff)
				}
				if diff := cmp.Diff(wantTypes, gotTypes); diff != "" {
					t.Errorf("event types differ (-direct +relay):\n%s", diff)
				}
				reqs := up.Requests()
				if len(reqs) != 1 {
					t.Fatalf("upstream got %d requests, want 1", len(reqs))
				}
				checkUpstreamAuth(t, typ, reqs[0], "upstream-key")
				if reqs[0].Path != upstreamPath(typ) {
					t.Errorf("upstream path = %q, want %q", reqs[0].Path, upstreamPath(typ))
				}
			})
		}
	}
}

func TestSDKGetsTheSameMessageThroughTheRelayAsDirectly(t *testing.T) {
	for _, rel := range recordedMessages {
		for _, typ := range compatibleTypes {
			t.Run(typ+"/"+rel, func(t *testing.T) {
				ix := interaction(t, rel)
				direct := relaytest.NewUpstream(t, relaytest.Replay(ix))
				up := relaytest.NewUpstream(t, relaytest.Replay(ix))
				base := startRelay(t, configWith(providerFor(typ, "p-"+typ, up.URL, "upstream-key")))

				dc, rc := sdkClient(direct.URL), sdkClient(base)
				want, err := dc.Messages.New(context.Background(), anthropic.MessageNewParams{}, rawBody(ix.Request.Body))
				if err != nil {
					t.Fatalf("direct: %v", err)
				}
				got, err := rc.Messages.New(context.Background(), anthropic.MessageNewParams{}, rawBody(ix.Request.Body))
				if err != nil {
					t.Fatalf("through relay: %v", err)
				}
				if diff := cmp.Diff(asJSON(t, want), asJSON(t, got)); diff != "" {
					t.Errorf("message differs (-direct +relay):\n%s", diff)
				}
				checkUpstreamAuth(t, typ, up.Requests()[0], "upstream-key")
			})
		}
	}
}

// checkUpstreamAuth asserts the upstream saw the provider's own key in its type's header, and
// never the client's credential.
func checkUpstreamAuth(t *testing.T, typ string, r relaytest.Received, key string) {
	t.Helper()
	gotKey, gotAuth := r.Header.Get("X-Api-Key"), r.Header.Get("Authorization")
	switch typ {
	case config.TypeMiniMax:
		if gotAuth != "Bearer "+key || gotKey != "" {
			t.Errorf("%s upstream auth: x-api-key=%q authorization=%q, want Bearer %s only", typ, gotKey, gotAuth, key)
		}
	default:
		if gotKey != key || gotAuth != "" {
			t.Errorf("%s upstream auth: x-api-key=%q authorization=%q, want x-api-key %s only", typ, gotKey, gotAuth, key)
		}
	}
	for name, vs := range r.Header {
		for _, v := range vs {
			if strings.Contains(v, "client-key-never-forwarded") {
				t.Errorf("client credential reached the upstream in %s", name)
			}
		}
	}
}

func TestModelsListWithTheSDK(t *testing.T) {
	p := providerFor(config.TypeZAI, "zai", "http://127.0.0.1:1")
	p.ModelMapping = map[string]string{"claude-sonnet-4-5": "GLM-4.7", "claude-haiku-3-5": "GLM-4.5-Air"}
	p.Models = []string{"GLM-4.7", "GLM-4.5-Air"}
	q := providerFor(config.TypeOllama, "ollama", "http://127.0.0.1:1")
	q.Models = []string{"qwen3:8b", "GLM-4.7"}
	base := startRelay(t, configWith(p, q))

	client := sdkClient(base)
	page, err := client.Models.List(context.Background(), anthropic.ModelListParams{})
	if err != nil {
		t.Fatalf("list models: %v", err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		if m.DisplayName == "" || !m.JSON.CreatedAt.Valid() {
			t.Errorf("model %q lacks display_name or created_at", m.ID)
		}
	}
	want := []string{"claude-haiku-3-5", "claude-sonnet-4-5", "GLM-4.7", "GLM-4.5-Air", "qwen3:8b"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("model ids (-want +got):\n%s", diff)
	}
	if page.FirstID != "claude-haiku-3-5" || page.LastID != "qwen3:8b" || page.HasMore {
		t.Errorf("paging fields: first=%q last=%q has_more=%v", page.FirstID, page.LastID, page.HasMore)
	}

	one, err := client.Models.Get(context.Background(), "claude-sonnet-4-5", anthropic.ModelGetParams{})
	if err != nil || one.ID != "claude-sonnet-4-5" {
		t.Fatalf("get model: %v, %+v", err, one)
	}
	_, err = client.Models.Get(context.Background(), "gpt-4", anthropic.ModelGetParams{})
	var apiErr *anthropic.Error
	if !asAPIError(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Fatalf("get unknown model: err = %v, want a 404", err)
	}

	limited, err := client.Models.List(context.Background(), anthropic.ModelListParams{Limit: anthropic.Int(2)})
	if err != nil || len(limited.Data) != 2 || !limited.HasMore {
		t.Fatalf("limit 2: err=%v len=%d has_more=%v", err, len(limited.Data), limited.HasMore)
	}
}
