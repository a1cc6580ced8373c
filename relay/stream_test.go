package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
)

// streamBody is a streaming request body.
const streamBody = `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`

// openStream posts a streaming request and returns the response without reading the body.
func openStream(t *testing.T, ctx context.Context, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestEventsArriveAsTheUpstreamSendsThem(t *testing.T) {
	// A real recorded stream, replayed with its events 100 ms apart.
	ix := interaction(t, "anthropic/anthropic-sdk-go/tool_runner_streaming_all.1.json")
	const gap = 100 * time.Millisecond
	up := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{EventDelay: gap}, ix))
	base := startRelay(t, configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "k")))

	resp := openStream(t, context.Background(), base+"/v1/messages", ix.Request.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content-type %q", ct)
	}
	evs, err := readEvents(t, resp.Body)
	if err != nil {
		t.Fatalf("stream: %v (events %v)", err, eventNames(evs))
	}
	want := len(relaytest.SplitSSE(ix.Response.Body))
	if len(evs) != want {
		t.Fatalf("got %d events, want %d", len(evs), want)
	}
	// Each event arrives on the upstream's schedule: never earlier than i gaps after the first
	// (which a buffering relay would violate by delivering them together at the end), and not
	// much later either (which shows they flow while the stream is still open).
	for i := 1; i < len(evs); i++ {
		since := evs[i].at.Sub(evs[0].at)
		lo, hi := time.Duration(i)*gap-30*time.Millisecond, time.Duration(i)*gap+400*time.Millisecond
		if since < lo || since > hi {
			t.Errorf("event %d (%s) arrived %s after the first, want about %s", i, evs[i].Name, since, time.Duration(i)*gap)
		}
	}
	// Byte faithfulness: the client gets the upstream's event bytes, padding and all.
	var got bytes.Buffer
	for _, e := range evs {
		got.Write(e.Raw)
	}
	if !bytes.Equal(got.Bytes(), ix.Response.Body) {
		t.Errorf("relayed stream differs from the recorded bytes")
	}
}

func TestAThousandSequentialStreamsAreNeverCutShort(t *testing.T) {
	// Regression test for golang/go#40747: a proxy that hands the transport the client's body
	// loses 3-9% of sequential streams from an instant upstream.
	ix := interaction(t, "ollama/02-text-stream.json")
	up := relaytest.NewUpstream(t, relaytest.Instant(string(ix.Response.Body)))
	base := startRelay(t, configWith(providerFor(config.TypeOllama, "ollama", up.URL)))
	n := 1000
	if testing.Short() {
		n = 100
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	truncated := 0
	for i := 0; i < n; i++ {
		resp, err := client.Post(base+"/v1/messages", "application/json", strings.NewReader(streamBody))
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(b, ix.Response.Body) {
			truncated++
		}
	}
	if truncated != 0 {
		t.Errorf("%d of %d streams were cut short or changed", truncated, n)
	}
}

func TestAStreamTheUpstreamBreaksOffEndsWithAnErrorEvent(t *testing.T) {
	ix := interaction(t, "anthropic/fantasy/claude-sonnet-4.thinking-streaming.0.json")
	up := relaytest.NewUpstream(t, relaytest.DropAfter(ix, 4))
	base := startRelay(t, configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "k")))

	resp := openStream(t, context.Background(), base+"/v1/messages", ix.Request.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	evs, err := readEvents(t, resp.Body)
	if err != nil {
		t.Fatalf("the client must see a valid stream ending in error: %v (events %v)", err, eventNames(evs))
	}
	last := evs[len(evs)-1]
	if last.Name != "error" || gjson.GetBytes(last.Data, "error.type").String() != "api_error" {
		t.Fatalf("last event = %s %s, want an api_error event", last.Name, last.Data)
	}
	if !strings.Contains(gjson.GetBytes(last.Data, "error.message").String(), `"anthropic"`) {
		t.Errorf("error event does not name the provider: %s", last.Data)
	}
	if len(evs) != 5 {
		t.Errorf("got %d events (%v), want the 4 relayed ones and the error", len(evs), eventNames(evs))
	}
}

func TestAStreamThatEndsWithoutMessageStopGetsAnErrorEvent(t *testing.T) {
	// Hand-made: Ollama ends a failing stream by closing it cleanly without message_stop
	// (shared/spec/wire.md B.7). The relay must not pass that silence on.
	events := []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n",
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
	}
	up := relaytest.NewUpstream(t, relaytest.SSE(events, 0))
	base := startRelay(t, configWith(providerFor(config.TypeOllama, "ollama", up.URL)))
	resp := openStream(t, context.Background(), base+"/v1/messages", streamBody)
	evs, err := readEvents(t, resp.Body)
	if err != nil {
		t.Fatalf("stream: %v (%v)", err, eventNames(evs))
	}
	if got := eventNames(evs); strings.Join(got, ",") != "message_start,content_block_start,error" {
		t.Errorf("events = %v", got)
	}
}

func TestAnIdleStreamEndsWithATimeoutError(t *testing.T) {
	events := []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n",
		"event: ping\ndata: {\"type\": \"ping\"}\n\n",
	}
	// Hand-made: two events, then silence far longer than the idle timeout.
	up := relaytest.NewUpstream(t, relaytest.SSE(events, 5*time.Second))
	cfg := configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "k"))
	cfg.Server.Timeouts.StreamIdle = config.Duration(300 * time.Millisecond)
	base := startRelay(t, cfg)
	start := time.Now()
	resp := openStream(t, context.Background(), base+"/v1/messages", streamBody)
	evs, err := readEvents(t, resp.Body)
	if err != nil {
		t.Fatalf("stream: %v (%v)", err, eventNames(evs))
	}
	last := evs[len(evs)-1]
	if last.Name != "error" || gjson.GetBytes(last.Data, "error.type").String() != "timeout_error" {
		t.Errorf("last event = %s %s, want timeout_error", last.Name, last.Data)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle stream took %s to end", d)
	}
}

func TestAClientThatDisconnectsCancelsTheUpstream(t *testing.T) {
	var cancelled atomic.Bool
	done := make(chan struct{})
	up := relaytest.NewUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: ping\ndata: {\"type\":\"ping\"}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		cancelled.Store(true)
		close(done)
	}))
	base := startRelay(t, configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "k")))
	ctx, cancel := context.WithCancel(context.Background())
	resp := openStream(t, ctx, base+"/v1/messages", streamBody)
	buf := make([]byte, 10)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatalf("first read: %v", err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the upstream request was not cancelled within 2s of the client leaving")
	}
}
