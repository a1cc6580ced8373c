package relay_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
)

const okBody = `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`

// wantAnthropicError asserts an Anthropic error body of the given status and type whose
// message contains every fragment, and a request-id header that matches the body.
func wantAnthropicError(t *testing.T, resp *http.Response, body []byte, status int, typ string, fragments ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content-type = %q, want application/json", ct)
	}
	r := gjson.ParseBytes(body)
	if r.Get("type").String() != "error" || r.Get("error.type").String() != typ {
		t.Errorf("body = %s, want an Anthropic error of type %s", body, typ)
	}
	msg := r.Get("error.message").String()
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("error message %q does not mention %q", msg, f)
		}
	}
	id := resp.Header.Get("Request-Id")
	if id == "" {
		t.Errorf("no request-id header")
	}
	if bid := r.Get("request_id"); bid.Exists() && bid.String() != id {
		t.Errorf("request-id header %q vs body request_id %q", id, bid.String())
	}
}

func TestBadInputGetsAClearAnthropicError(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Status(200, nil, `{}`))
	p := providerFor(config.TypeAnthropic, "anthropic", up.URL, "k")
	p.Models = []string{"claude-sonnet-4-5"}
	cfg := configWith(p)
	cfg.Server.MaxBodyBytes = 32 << 20
	base := startRelay(t, cfg)

	big := bytes.Repeat([]byte("a"), 40<<20)
	tests := []struct {
		name      string
		path      string
		body      []byte
		status    int
		typ       string
		fragments []string
	}{
		{"malformed JSON is a 400 that says where", "/v1/messages", []byte(`{"model": "x",`), 400, "invalid_request_error", []string{"not valid JSON"}},
		{"an empty body is a 400", "/v1/messages", nil, 400, "invalid_request_error", []string{"empty"}},
		{"a JSON array is a 400", "/v1/messages", []byte(`[1,2]`), 400, "invalid_request_error", []string{"JSON object"}},
		{"a missing model is a 400", "/v1/messages", []byte(`{"max_tokens":1,"messages":[]}`), 400, "invalid_request_error", []string{"model"}},
		{"missing messages is a 400", "/v1/messages", []byte(`{"model":"claude-sonnet-4-5","max_tokens":1}`), 400, "invalid_request_error", []string{"messages"}},
		{"a 40 MB body is a 413", "/v1/messages", big, 413, "request_too_large", []string{"max_body_bytes"}},
		{"an unknown model is a 404 that lists the known ones", "/v1/messages", []byte(`{"model":"gpt-5","max_tokens":1,"messages":[]}`), 404, "not_found_error", []string{`"gpt-5"`, "claude-sonnet-4-5"}},
		{"count_tokens checks its body too", "/v1/messages/count_tokens", []byte(`{"messages":[]}`), 400, "invalid_request_error", []string{"model"}},
		{"an unknown route is a 404", "/v1/complete", []byte(okBody), 404, "not_found_error", []string{"/v1/complete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, base+tt.path, tt.body, nil)
			wantAnthropicError(t, resp, body, tt.status, tt.typ, tt.fragments...)
			if !gjson.GetBytes(body, "request_id").Exists() {
				t.Errorf("the relay's own error has no request_id in its body: %s", body)
			}
		})
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("bad input reached the upstream %d times", n)
	}

	t.Run("a wrong method is a 405 with Allow", func(t *testing.T) {
		resp, err := http.Get(base + "/v1/messages")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		wantAnthropicError(t, resp, b.Bytes(), 405, "invalid_request_error", "GET")
		if resp.Header.Get("Allow") != "POST" {
			t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
		}
	})
}

func TestWrongClientKeyIsA401AndTheRelayKeyIsNeverForwarded(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Replay(interaction(t, "ollama/01-text-nonstream.json"), interaction(t, "ollama/01-text-nonstream.json")))
	cfg := configWith(providerFor(config.TypeOllama, "ollama", up.URL))
	cfg.Server.Auth.APIKey = "relay-secret"
	base := startRelay(t, cfg)

	for _, h := range []map[string]string{nil, {"X-Api-Key": "wrong"}, {"Authorization": "Bearer wrong"}} {
		resp, body := post(t, base+"/v1/messages", []byte(okBody), h)
		wantAnthropicError(t, resp, body, 401, "authentication_error", "server.auth.api_key")
	}
	for _, h := range []map[string]string{{"X-Api-Key": "relay-secret"}, {"Authorization": "Bearer relay-secret"}} {
		resp, body := post(t, base+"/v1/messages", []byte(okBody), h)
		if resp.StatusCode != 200 {
			t.Fatalf("with %v: status %d: %s", h, resp.StatusCode, body)
		}
	}
	reqs := up.Requests()
	if len(reqs) != 2 {
		t.Fatalf("upstream got %d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		for name, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, "relay-secret") {
					t.Errorf("the relay's own key reached the upstream in %s", name)
				}
			}
		}
	}
}

func TestUpstreamFailuresNameTheProvider(t *testing.T) {
	t.Run("a refused connection is a 502 naming the provider, the address and how to start ollama", func(t *testing.T) {
		url := relaytest.RefusedURL(t)
		base := startRelay(t, configWith(providerFor(config.TypeOllama, "local", url)))
		resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
		wantAnthropicError(t, resp, body, 502, "api_error", `"local"`, strings.TrimPrefix(url, "http://"), "ollama serve")
	})
	t.Run("an upstream that never answers is a 504", func(t *testing.T) {
		up := relaytest.NewUpstream(t, relaytest.Hang())
		cfg := configWith(providerFor(config.TypeAnthropic, "slow", up.URL, "k"))
		cfg.Server.Timeouts.ResponseHeader = config.Duration(300 * time.Millisecond)
		base := startRelay(t, cfg)
		start := time.Now()
		resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
		wantAnthropicError(t, resp, body, 504, "timeout_error", `"slow"`)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("504 took %s", d)
		}
	})
	t.Run("upstream errors pass through unchanged", func(t *testing.T) {
		ix := interaction(t, "ollama/18-error-unknown-model.json")
		up := relaytest.NewUpstream(t, relaytest.Replay(ix))
		base := startRelay(t, configWith(providerFor(config.TypeOllama, "ollama", up.URL)))
		resp, body := post(t, base+"/v1/messages", []byte(ix.Request.Body), nil)
		if resp.StatusCode != ix.Response.Status || !bytes.Equal(body, ix.Response.Body) {
			t.Errorf("got %d %s, want the recorded %d %s", resp.StatusCode, body, ix.Response.Status, ix.Response.Body)
		}
	})
	t.Run("a non-JSON upstream error becomes an Anthropic error with the upstream text", func(t *testing.T) {
		up := relaytest.NewUpstream(t, relaytest.Status(404, http.Header{"Content-Type": {"text/plain"}}, "404 page not found"))
		base := startRelay(t, configWith(providerFor(config.TypeOllama, "ollama", up.URL)))
		resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
		wantAnthropicError(t, resp, body, 404, "not_found_error", "404 page not found")
	})
}

func TestRoutesIgnoreTheQueryAndAcceptAPathPrefix(t *testing.T) {
	ix := interaction(t, "ollama/01-text-nonstream.json")
	up := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ix))
	base := startRelay(t, configWith(providerFor(config.TypeOllama, "ollama", up.URL)))
	for _, path := range []string{"/v1/messages?beta=true", "/prefix/v1/messages?beta=true"} {
		resp, body := post(t, base+path, []byte(ix.Request.Body), nil)
		if resp.StatusCode != 200 {
			t.Errorf("POST %s: %d %s", path, resp.StatusCode, body)
		}
	}
	for _, r := range up.Requests() {
		if r.Path != "/v1/messages" {
			t.Errorf("upstream path %q", r.Path)
		}
	}
}

func TestHealthAndProviders(t *testing.T) {
	base := startRelay(t, configWith(providerFor(config.TypeOllama, "ollama", "http://127.0.0.1:1")))
	for _, path := range []string{"/health", "/v1/providers"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), `"name":"ollama"`) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, b.String())
		}
	}
	empty := startRelay(t, &config.Config{})
	resp, err := http.Get(empty + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/health with no provider = %d, want 503", resp.StatusCode)
	}
}
