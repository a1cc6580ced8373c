package relay_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
)

func TestABodyWithADuplicatedTopLevelKeyIsRefusedNamingTheKey(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Instant(`{}`))
	base := startRelay(t, configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "k")))
	tests := []struct {
		name, body, key string
	}{
		{"two models", `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"model":"claude-opus-5-5"}`, "model"},
		{"two streams", `{"model":"claude-sonnet-4-5","stream":false,"max_tokens":16,"messages":[{"role":"user","content":"hi"}],"stream":true}`, "stream"},
		{"two max_tokens", `{"model":"claude-sonnet-4-5","max_tokens":16,"max_tokens":99999,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, base+"/v1/messages", []byte(tt.body), nil)
			wantAnthropicError(t, resp, body, 400, "invalid_request_error", tt.key+":", "more than once")
		})
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("the upstream was asked %d times; an ambiguous body must not be sent", n)
	}
}

// startRelayServer is startRelay with the http.Server settings serve uses.
func startRelayServer(t *testing.T, cfg *config.Config) string {
	t.Helper()
	r, err := relay.New(context.Background(), relay.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(r)
	srv.Config.MaxHeaderBytes = r.ServerMaxHeaderBytes()
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestHeadersOverTheLimitGetAnAnthropicShaped431(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Instant(`{}`))
	cfg := configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "k"))
	cfg.Server.MaxHeaderBytes = 8 << 10
	base := startRelayServer(t, cfg)
	for _, size := range []int{9 << 10, 30 << 10} {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", strings.NewReader(okBody))
		req.Header.Set("X-Padding", strings.Repeat("a", size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantAnthropicError(t, resp, body, 431, "invalid_request_error", "server.max_header_bytes", "8192")
	}
	// Under the limit, the request goes through.
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", strings.NewReader(okBody))
	req.Header.Set("X-Padding", strings.Repeat("a", 4<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("a request under the header limit got %d", resp.StatusCode)
	}
}
