package relay_test

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/ccrelay/ccrelay/relay/sse"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// followUp builds the next turn of a conversation: the recorded request, the assistant's
// answer (thinking with its real signature, then text) and a new user message.
func followUp(t *testing.T, ix *relaytest.Interaction) string {
	t.Helper()
	var acc sse.Accumulator
	rd := sse.NewReader(strings.NewReader(string(ix.Response.Body)))
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		acc.Feed(ev)
	}
	msg := acc.Message()
	body := ix.Request.Body
	var err error
	n := len(gjson.Get(body, "messages").Array())
	for i, b := range msg.Content {
		path := "messages." + itoa(n) + ".content." + itoa(i)
		switch b.Type {
		case "thinking":
			body, err = sjson.Set(body, path, map[string]any{"type": "thinking", "thinking": b.Thinking, "signature": b.Signature})
		case "text":
			body, err = sjson.Set(body, path, map[string]any{"type": "text", "text": b.Text})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	body, _ = sjson.Set(body, "messages."+itoa(n)+".role", "assistant")
	body, _ = sjson.SetRaw(body, "messages."+itoa(n+1), `{"role":"user","content":"and then?"}`)
	if !strings.Contains(body, `"signature"`) {
		t.Fatal("the follow-up carries no signature")
	}
	return body
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestSignedThinkingSticksToItsProviderAndIsStrippedWhenItMustMove(t *testing.T) {
	ix := interaction(t, "anthropic/llm-anthropic/test_thinking_prompt.0.json")
	ok := interaction(t, "ollama/01-text-nonstream.json")
	a := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ix))
	b := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ok))
	cfg := configWith(
		keyed(providerFor(config.TypeAnthropic, "a", a.URL), 0, "ka"),
		keyed(providerFor(config.TypeAnthropic, "b", b.URL), 0, "kb"),
	)
	cfg.Routing.Strategy = "round_robin"
	base := startRelay(t, cfg)

	// Turn 1 goes to a (round robin starts there) and produces a signed thinking block.
	resp := openStream(t, context.Background(), base+"/v1/messages", ix.Request.Body)
	if _, err := readEvents(t, resp.Body); err != nil || resp.Header.Get("X-Ccrelay-Provider") != "a" {
		t.Fatalf("turn 1: %v, provider %q", err, resp.Header.Get("X-Ccrelay-Provider"))
	}
	next := followUp(t, ix)
	// Turn 2 would be b's turn under round robin; the signature keeps it on a.
	for i := 0; i < 3; i++ {
		resp := openStream(t, context.Background(), base+"/v1/messages", next)
		readEvents(t, resp.Body)
		if p := resp.Header.Get("X-Ccrelay-Provider"); p != "a" {
			t.Fatalf("follow-up %d went to %q, want a (the provider that signed the thinking)", i, p)
		}
	}

	// When a is gone, the conversation moves to b without the foreign thinking block.
	a.Close()
	noStream, _ := sjson.Delete(next, "stream")
	r, body := post(t, base+"/v1/messages", []byte(noStream), nil)
	if r.StatusCode != 200 || r.Header.Get("X-Ccrelay-Provider") != "b" {
		t.Fatalf("after a closed: %d %q %s", r.StatusCode, r.Header.Get("X-Ccrelay-Provider"), body)
	}
	if d := r.Header.Get("X-Ccrelay-Degraded"); !strings.Contains(d, "thinking_history=stripped:1") {
		t.Errorf("x-ccrelay-degraded = %q, want thinking_history=stripped:1", d)
	}
	sent := b.Requests()[0].Body
	if strings.Contains(string(sent), `"signature"`) {
		t.Errorf("b received a thinking block: %s", sent)
	}
	want, _ := sjson.Delete(noStream, "messages.1.content.0")
	if string(sent) != want {
		t.Errorf("b's body is not the client's with only the thinking block removed:\n got %s\nwant %s", sent, want)
	}
}
