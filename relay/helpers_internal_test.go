package relay

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
)

// Hand-written events of a minimal Anthropic stream, for the internal tests.
const (
	evStart = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-test\",\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n"
	evStop  = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
)

// startInternal serves a relay with one Anthropic provider at upstream on 127.0.0.1.
func startInternal(t *testing.T, upstream string) string {
	t.Helper()
	cfg := &config.Config{Providers: []config.Provider{{Name: "a", Type: config.TypeAnthropic, BaseURL: upstream, Keys: []config.Key{{Key: "k"}}}}}
	r, err := New(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(r)
	t.Cleanup(front.Close)
	return front.URL
}
