package relay_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
)

// thinkingPause streams a thinking answer with a silence after the first event: the model is
// thinking and the provider sends nothing (hand-made from the wire format, wire.md A.2).
func thinkingPause(pause time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		send := func(name, data string) {
			w.Write([]byte("event: " + name + "\ndata: " + data + "\n\n"))
			w.(http.Flusher).Flush()
		}
		send("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}`)
		select {
		case <-time.After(pause):
		case <-r.Context().Done():
			return
		}
		send("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Done thinking."}}`)
		send("content_block_stop", `{"type":"content_block_stop","index":0}`)
		send("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`)
		send("message_stop", `{"type":"message_stop"}`)
	})
}

const pauseBody = `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"think"}]}`

func keepaliveConfig(url string, keepalive, idle time.Duration) *config.Config {
	cfg := configWith(providerFor(config.TypeAnthropic, "anthropic", url, "k"))
	ka := config.Duration(keepalive)
	cfg.Server.StreamKeepalive = &ka
	cfg.Server.Timeouts.StreamIdle = config.Duration(idle)
	return cfg
}

func TestASilentUpstreamGetsPingsAndBothSDKsStillAssembleTheMessage(t *testing.T) {
	up := relaytest.NewUpstream(t, thinkingPause(450*time.Millisecond))
	base, _ := startRelayLog(t, keepaliveConfig(up.URL, 100*time.Millisecond, 5*time.Second), nil)

	_, raw := post(t, base+"/v1/messages", []byte(pauseBody), nil)
	evs, err := readEvents(t, strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	names := eventNames(evs)
	pings := strings.Count(strings.Join(names, ","), "ping")
	if names[0] != "message_start" || names[1] != "ping" || pings < 2 || pings > 6 || names[len(names)-1] != "message_stop" {
		t.Errorf("events %v: want pings (about every 100 ms of a 450 ms silence) after message_start", names)
	}
	if !strings.Contains(string(raw), "event: ping\ndata: {\"type\": \"ping\"}\n\n") {
		t.Error("the ping is not Anthropic's")
	}

	client := sdkClient(base)
	stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{}, rawBody(pauseBody))
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil || len(msg.Content) != 1 || msg.Content[0].Text != "Done thinking." {
		t.Errorf("Go SDK: %v, %+v", err, msg.Content)
	}
	m := relaytest.NPMAccumulate(t, base, []byte(pauseBody))
	if gjson.GetBytes(m, "content.0.text").Str != "Done thinking." {
		t.Errorf("npm SDK message: %s", m)
	}
}

func TestNoPingBeforeTheFirstEventAndPingsDoNotHoldOffTheIdleTimeout(t *testing.T) {
	// The first event comes after 300 ms: nothing may be sent before it (a ping would commit
	// the 200 and forbid failover).
	slow := relaytest.NewUpstream(t, relaytest.SlowHeaders(300*time.Millisecond, thinkingPause(0)))
	base, _ := startRelayLog(t, keepaliveConfig(slow.URL, 50*time.Millisecond, 5*time.Second), nil)
	_, raw := post(t, base+"/v1/messages", []byte(pauseBody), nil)
	if strings.Contains(string(raw), "ping") {
		t.Errorf("a ping before the first event: %s", raw)
	}
	// The upstream stays silent past stream_idle: pings go out, and the stream still ends
	// with the idle timeout's error event (pings are the relay's, not the upstream's).
	silent := relaytest.NewUpstream(t, thinkingPause(5*time.Second))
	base, _ = startRelayLog(t, keepaliveConfig(silent.URL, 50*time.Millisecond, 400*time.Millisecond), nil)
	_, raw = post(t, base+"/v1/messages", []byte(pauseBody), nil)
	evs, _ := readEvents(t, strings.NewReader(string(raw)))
	names := eventNames(evs)
	if last := evs[len(evs)-1]; last.Name != "error" || gjson.GetBytes(last.Data, "error.type").Str != "timeout_error" || !strings.Contains(strings.Join(names, ","), "ping") {
		t.Errorf("events %v: want pings, then the idle timeout's error", names)
	}
}
