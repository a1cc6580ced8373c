package relay_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
)

const minimaxStreamBody = `{"model":"MiniMax-M2","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`

func TestAStreamWithoutUsageIsRepairedAndAnnounced(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.MiniMax(relaytest.MiniMaxNoUsage))
	base, logs := startRelayLog(t, configWith(providerFor(config.TypeMiniMax, "minimax", up.URL, "k")), nil)

	// The Go SDK assembles the message with a stop reason and usage.
	client := sdkClient(base)
	stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{}, rawBody(minimaxStreamBody))
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatalf("accumulate: %v", err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.OutputTokens <= 0 {
		t.Errorf("stop_reason %q, output_tokens %d; want end_turn and an estimate", msg.StopReason, msg.Usage.OutputTokens)
	}

	// The repair is announced in the trailer, the log and /v1/providers.
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", strings.NewReader(minimaxStreamBody))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if tr := resp.Trailer.Get("X-Ccrelay-Degraded"); !strings.Contains(tr, "stream_usage=repaired") || !strings.Contains(tr, "stop_reason=repaired:end_turn") {
		t.Errorf("trailer X-Ccrelay-Degraded = %q", tr)
	}
	if l := logs.lines("msg=repaired", "provider=minimax", "stream_usage=repaired"); len(l) != 2 {
		t.Errorf("want a repaired log line per request:\n%s", logs)
	}
	_, pb := get(t, base+"/v1/providers")
	if n := gjson.GetBytes(pb, `data.#(name=="minimax").features.stream_usage=repaired`).Int(); n != 2 {
		t.Errorf("/v1/providers counts %d stream_usage repairs, want 2: %s", n, pb)
	}

	// The npm SDK, which throws on the raw stream, assembles the repaired one.
	m := relaytest.NPMAccumulate(t, base, []byte(minimaxStreamBody))
	if gjson.GetBytes(m, "stop_reason").Str != "end_turn" || gjson.GetBytes(m, "usage.output_tokens").Int() <= 0 {
		t.Errorf("npm SDK message: %s", m)
	}
}

func TestANonStreamedAnswerWithoutUsageIsRepairedInTheHeader(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.MiniMax(relaytest.MiniMaxNoUsage))
	base, _ := startRelayLog(t, configWith(providerFor(config.TypeMiniMax, "minimax", up.URL, "k")), nil)
	resp, body := post(t, base+"/v1/messages", []byte(strings.Replace(minimaxStreamBody, `"stream":true`, `"stream":false`, 1)), nil)
	if resp.StatusCode != 200 || gjson.GetBytes(body, "stop_reason").Str != "end_turn" || !gjson.GetBytes(body, "usage.output_tokens").Exists() {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if d := resp.Header.Get("X-Ccrelay-Degraded"); !strings.Contains(d, "stop_reason=repaired") {
		t.Errorf("x-ccrelay-degraded = %q", d)
	}
}

func TestAToolCallWhoseInputIsNotAnObjectNeverReachesTheClientSilently(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.ZAI(relaytest.ZAIToolArrayInput))
	base, _ := startRelayLog(t, configWith(providerFor(config.TypeZAI, "zai", up.URL, "k")), nil)
	body := `{"model":"glm-4.6","max_tokens":64,"stream":true,"tools":[{"name":"Bash","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"run ls"}]}`
	_, raw := post(t, base+"/v1/messages", []byte(body), nil)
	evs, err := readEvents(t, strings.NewReader(string(raw)))
	if err != nil {
		t.Logf("stream %s: %v", raw, err)
	}
	names := eventNames(evs)
	if len(names) == 0 || names[len(names)-1] != "error" || strings.Contains(strings.Join(names, ","), "message_stop") {
		t.Fatalf("events %v: want the stream to end with an error event and no message_stop", names)
	}
	last := evs[len(evs)-1]
	if msg := gjson.GetBytes(last.Data, "error.message").Str; !strings.Contains(msg, `provider "zai"`) || !strings.Contains(msg, "not a JSON object") {
		t.Errorf("error event message %q", msg)
	}
	client := sdkClient(base)
	stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{}, rawBody(body))
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Error("the Go SDK saw no error")
	}
}

func TestAVendorErrorEventMidStreamReachesTheClientAsAnAnthropicError(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.SSE([]string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"glm-4.6\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}\n\n",
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"1113\",\"message\":\"Insufficient balance or no resource package. Please recharge.\"}}\n\n",
	}, 0))
	base, _ := startRelayLog(t, configWith(providerFor(config.TypeZAI, "zai", up.URL, "k")), nil)
	resp, raw := post(t, base+"/v1/messages", []byte(`{"model":"glm-4.6","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}`), nil)
	evs, _ := readEvents(t, strings.NewReader(string(raw)))
	if len(evs) != 2 || evs[1].Name != "error" {
		t.Fatalf("events %v", eventNames(evs))
	}
	if typ := gjson.GetBytes(evs[1].Data, "error.type").Str; typ != "billing_error" {
		t.Errorf("error event type %q, want billing_error: %s", typ, evs[1].Data)
	}
	if !strings.Contains(gjson.GetBytes(evs[1].Data, "error.message").Str, "Insufficient balance") {
		t.Errorf("the vendor's message is lost: %s", evs[1].Data)
	}
	if tr := resp.Trailer.Get("X-Ccrelay-Degraded"); !strings.Contains(tr, "error=normalized:") {
		t.Errorf("trailer %q does not announce the normalization", tr)
	}
}

func TestANonStreamedToolCallWhoseInputIsNotAnObjectIsA502(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.ZAI(relaytest.ZAIToolArrayInput))
	base, _ := startRelayLog(t, configWith(providerFor(config.TypeZAI, "zai", up.URL, "k")), nil)
	body := `{"model":"glm-4.6","max_tokens":64,"tools":[{"name":"Read","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"read /etc/hosts"}]}`
	resp, raw := post(t, base+"/v1/messages", []byte(body), nil)
	wantAnthropicError(t, resp, raw, 502, "api_error", `provider "zai"`, "not a JSON object")
}
