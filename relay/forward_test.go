package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// claudeCodeRequest loads a real Claude Code request (fixtures/real-traffic/claude-code): the
// body bytes exactly as the fixture file holds them, and the client's headers.
func claudeCodeRequest(t *testing.T, name string) ([]byte, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(relaytest.Fixture(t, "claude-code/"+name))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Headers map[string][]string `json:"headers"`
		Body    json.RawMessage     `json:"body"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for k, v := range f.Headers {
		switch strings.ToLower(k) {
		case "content-length", "host", "connection":
			continue
		}
		h[k] = v[0]
	}
	return f.Body, h
}

func TestModelMappingChangesOnlyTheModel(t *testing.T) {
	body, hdr := claudeCodeRequest(t, "claude-code-2.1.332__02-tool-roundtrip-req1.messages.json")
	model := gjson.GetBytes(body, "model").String()
	ix := interaction(t, "ollama/09-tool-use-stream.json")
	up := relaytest.NewUpstream(t, relaytest.Replay(ix))
	p := providerFor(config.TypeZAI, "zai", up.URL, "zai-key")
	p.ModelMapping = map[string]string{model: "GLM-4.7"}
	base := startRelay(t, configWith(p))

	hdr["X-Api-Key"] = "client-key-never-forwarded"
	resp, out := post(t, base+"/v1/messages?beta=true", body, hdr)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	got := up.Requests()[0]
	want, err := sjson.SetBytes(body, "model", "GLM-4.7")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Body, want) {
		t.Errorf("upstream body is not the client's bytes with only the model changed (len %d vs %d)", len(got.Body), len(want))
	}
	if n := gjson.GetBytes(got.Body, `messages.#(role=="system")#`).Array(); len(n) == 0 {
		t.Errorf("the role:system message was lost")
	}

	forwarded := []string{"Anthropic-Beta", "Anthropic-Version", "X-Claude-Code-Session-Id", "X-Stainless-Os", "User-Agent", "X-App", "Anthropic-Dangerous-Direct-Browser-Access"}
	for _, h := range forwarded {
		if got.Header.Get(h) == "" || got.Header.Get(h) != http.Header(canon(hdr)).Get(h) {
			t.Errorf("header %s = %q, want the client's %q", h, got.Header.Get(h), http.Header(canon(hdr)).Get(h))
		}
	}
	if ae := got.Header.Get("Accept-Encoding"); strings.Contains(ae, "zstd") {
		t.Errorf("the client's accept-encoding %q was forwarded", ae)
	}
	if got.Header.Get("X-Api-Key") != "zai-key" {
		t.Errorf("x-api-key upstream = %q, want the provider's key", got.Header.Get("X-Api-Key"))
	}
}

func canon(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

func TestRequestHeadersThatMustNotLeaveTheRelay(t *testing.T) {
	ix := interaction(t, "ollama/01-text-nonstream.json")
	up := relaytest.NewUpstream(t, relaytest.Replay(ix))
	base := startRelay(t, configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "provider-key")))
	post(t, base+"/v1/messages", []byte(okBody), map[string]string{
		"Authorization":       "Bearer client-token",
		"Cookie":              "session=abc",
		"X-Forwarded-For":     "10.0.0.1",
		"Forwarded":           "for=10.0.0.1",
		"Proxy-Authorization": "Basic abc",
		"X-Custom":            "private",
	})
	got := up.Requests()[0].Header
	for _, h := range []string{"Authorization", "Cookie", "X-Forwarded-For", "Forwarded", "Proxy-Authorization", "X-Custom"} {
		if v := got.Get(h); v != "" {
			t.Errorf("%s reached the upstream: %q", h, v)
		}
	}
}

func TestUpstreamRateLimitAndRequestHeadersComeBack(t *testing.T) {
	ix := interaction(t, "anthropic/anthropic-sdk-go/tool_runner_basic.0.json")
	up := relaytest.NewUpstream(t, relaytest.Replay(ix))
	base := startRelay(t, configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "k")))
	resp, _ := post(t, base+"/v1/messages", []byte(ix.Request.Body), nil)
	rec := http.Header(ix.Response.Headers)
	for _, h := range []string{"Request-Id", "Anthropic-Ratelimit-Requests-Remaining", "Anthropic-Ratelimit-Tokens-Reset"} {
		if want := rec.Get(h); want == "" || resp.Header.Get(h) != want {
			t.Errorf("%s = %q, want the upstream's %q", h, resp.Header.Get(h), want)
		}
	}
	if resp.Header.Get("X-Ccrelay-Provider") != "anthropic" || resp.Header.Get("X-Ccrelay-Attempts") != "1" {
		t.Errorf("x-ccrelay headers: provider=%q attempts=%q", resp.Header.Get("X-Ccrelay-Provider"), resp.Header.Get("X-Ccrelay-Attempts"))
	}
	if resp.Header.Get("X-Ccrelay-Request-Id") == "" {
		t.Errorf("no x-ccrelay-request-id")
	}
}

func TestASubscriptionTokenNeverReachesANonAnthropicUpstream(t *testing.T) {
	const token = "sk-ant-oat01-subscription-token"
	ok := interaction(t, "ollama/01-text-nonstream.json")
	anth := relaytest.NewUpstream(t, relaytest.Status(529, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	zai := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ok))
	mm := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ok))
	a := providerFor(config.TypeAnthropic, "anthropic", anth.URL)
	a.Keys = []config.Key{{Key: "anthropic-key", Priority: 3}}
	z := providerFor(config.TypeZAI, "zai", zai.URL)
	z.Keys = []config.Key{{Key: "zai-key", Priority: 2}}
	m := providerFor(config.TypeMiniMax, "minimax", mm.URL)
	m.Keys = []config.Key{{Key: "minimax-key", Priority: 1}}
	cfg := configWith(a, z, m)
	cfg.Server.Auth.AllowSubscription = true
	base := startRelay(t, cfg)

	// Anthropic is overloaded, so the request fails over to Z.AI.
	resp, body := post(t, base+"/v1/messages", []byte(okBody), map[string]string{"Authorization": "Bearer " + token})
	if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != "zai" {
		t.Fatalf("status %d provider %q: %s", resp.StatusCode, resp.Header.Get("X-Ccrelay-Provider"), body)
	}
	if got := anth.Requests()[0].Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("anthropic got authorization %q, want the subscription token passed through", got)
	}
	if got := anth.Requests()[0].Header.Get("X-Api-Key"); got != "" {
		t.Errorf("anthropic got x-api-key %q next to the subscription token", got)
	}
	if got := zai.Requests()[0].Header.Get("X-Api-Key"); got != "zai-key" {
		t.Errorf("zai got x-api-key %q, want its own key", got)
	}

	// Z.AI alone first: still its own key. MiniMax uses Bearer, with its own key.
	cfg2 := configWith(m)
	cfg2.Server.Auth.AllowSubscription = true
	base2 := startRelay(t, cfg2)
	post(t, base2+"/v1/messages", []byte(okBody), map[string]string{"Authorization": "Bearer " + token})
	if got := mm.Requests()[0].Header.Get("Authorization"); got != "Bearer minimax-key" {
		t.Errorf("minimax got authorization %q, want its own key", got)
	}

	for _, up := range []*relaytest.Upstream{zai, mm} {
		for _, r := range up.Requests() {
			for name, vs := range r.Header {
				for _, v := range vs {
					if strings.Contains(v, token) {
						t.Errorf("the subscription token reached a non-Anthropic upstream in %s", name)
					}
				}
			}
			if bytes.Contains(r.Body, []byte(token)) {
				t.Errorf("the subscription token reached a non-Anthropic upstream in the body")
			}
		}
	}
}

func TestWithoutAllowSubscriptionTheClientTokenIsDropped(t *testing.T) {
	ok := interaction(t, "ollama/01-text-nonstream.json")
	anth := relaytest.NewUpstream(t, relaytest.Replay(ok))
	base := startRelay(t, configWith(providerFor(config.TypeAnthropic, "anthropic", anth.URL, "anthropic-key")))
	post(t, base+"/v1/messages", []byte(okBody), map[string]string{"Authorization": "Bearer sk-ant-oat01-x"})
	h := anth.Requests()[0].Header
	if h.Get("Authorization") != "" || h.Get("X-Api-Key") != "anthropic-key" {
		t.Errorf("authorization=%q x-api-key=%q, want only the provider's key", h.Get("Authorization"), h.Get("X-Api-Key"))
	}
}

func TestFailoverOnRetryableStatusesBeforeTheFirstByte(t *testing.T) {
	ok := interaction(t, "ollama/01-text-nonstream.json")
	for _, status := range []int{429, 500, 502, 503, 504, 529} {
		first := relaytest.NewUpstream(t, relaytest.Status(status, http.Header{"Retry-After": {"1"}}, `{"type":"error","error":{"type":"api_error","message":"x"}}`))
		second := relaytest.NewUpstream(t, relaytest.Replay(ok))
		a := providerFor(config.TypeAnthropic, "first", first.URL)
		a.Keys = []config.Key{{Key: "k1", Priority: 2}}
		b := providerFor(config.TypeOllama, "second", second.URL)
		base := startRelay(t, configWith(a, b))
		resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != "second" || resp.Header.Get("X-Ccrelay-Attempts") != "2" {
			t.Errorf("after %d: status %d provider %q attempts %q: %s", status, resp.StatusCode,
				resp.Header.Get("X-Ccrelay-Provider"), resp.Header.Get("X-Ccrelay-Attempts"), body)
		}
	}
	// A client error is the client's problem: no failover.
	first := relaytest.NewUpstream(t, relaytest.Status(400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}`))
	second := relaytest.NewUpstream(t, relaytest.Replay(ok))
	a := providerFor(config.TypeAnthropic, "first", first.URL)
	a.Keys = []config.Key{{Key: "k1", Priority: 2}}
	base := startRelay(t, configWith(a, providerFor(config.TypeOllama, "second", second.URL)))
	resp, _ := post(t, base+"/v1/messages", []byte(okBody), nil)
	if resp.StatusCode != 400 || len(second.Requests()) != 0 {
		t.Errorf("a 400 failed over: status %d, second got %d requests", resp.StatusCode, len(second.Requests()))
	}
}

// TestOneAccessLinePerRequest: one access line per request, with what the client got and
// without any credential, through slog or through Options.AccessLog (as serve does).
func TestOneAccessLinePerRequest(t *testing.T) {
	ix := interaction(t, "anthropic/anthropic-sdk-go/tool_runner_basic.0.json")
	for _, viaWriter := range []bool{false, true} {
		up := relaytest.NewUpstream(t, relaytest.Replay(ix))
		var out logBuffer
		opts := relay.Options{
			Config: configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "sk-ant-upstream-secret")),
			Logger: slog.New(slog.NewTextHandler(&out, nil)),
		}
		if viaWriter {
			opts.AccessLog = &out
		}
		r, err := relay.New(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(r)
		resp, _ := post(t, srv.URL+"/v1/messages", []byte(ix.Request.Body), map[string]string{"X-Api-Key": "sk-ant-client-secret"})
		srv.Close()
		id := resp.Header.Get("X-Ccrelay-Request-Id")
		log := out.String()
		for _, want := range []string{"level=INFO msg=request", "id=" + id, "method=POST", "path=/v1/messages", "status=200", "provider=anthropic", "attempts=1", `degraded=""`, "bytes="} {
			if !strings.Contains(log, want) {
				t.Errorf("AccessLog=%v: access line lacks %q:\n%s", viaWriter, want, log)
			}
		}
		if strings.Count(log, "msg=request") != 1 {
			t.Errorf("AccessLog=%v: want one access line:\n%s", viaWriter, log)
		}
		if strings.Contains(log, "secret") {
			t.Errorf("AccessLog=%v: a credential was logged:\n%s", viaWriter, log)
		}
	}
}
