package relay_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
)

// zaiBalance is Z.AI's answer when an account's balance is exhausted: a 429 with its own code
// 1113 (https://docs.z.ai/api-reference/api-code; the shape of its bare errors as in
// fixtures/vendor-docs/zai/error-example-401-1002.json).
const zaiBalance = `{"error":{"code":"1113","message":"Insufficient balance or no resource package. Please recharge."}}`

func TestABalanceErrorFailsOverAndTheKeyIsProbedOncePerRetryPeriod(t *testing.T) {
	zai := relaytest.NewUpstream(t, relaytest.Status(429, http.Header{"Content-Type": {"application/json"}}, zaiBalance))
	backup := relaytest.NewUpstream(t, relaytest.Instant(okMessage))
	clock := &fakeClock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	cfg := configWith(
		keyed(providerFor(config.TypeZAI, "zai", zai.URL), 2, "zai-key"),
		keyed(providerFor(config.TypeAnthropic, "anthropic", backup.URL), 1, "sk-ant"),
	)
	base, logs := startRelayLog(t, cfg, clock.Now)
	resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != "anthropic" {
		t.Fatalf("got %d from %q: %s", resp.StatusCode, resp.Header.Get("X-Ccrelay-Provider"), body)
	}
	if l := logs.lines("level=WARN", "provider=zai", "status=402", "billing", "out of rotation", `action="trying provider anthropic"`); len(l) != 1 {
		t.Errorf("no WARN line for zai's balance error:\n%s", logs)
	}
	// For the next minute zai is not asked again; after it, one request probes it, and a
	// failed probe doubles the wait.
	for _, step := range []struct {
		advance time.Duration
		want    int
	}{{0, 1}, {30 * time.Second, 1}, {31 * time.Second, 2}, {0, 2}, {time.Minute, 2}, {61 * time.Second, 3}} {
		clock.Advance(step.advance)
		for range 3 {
			resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("got %d: %s", resp.StatusCode, body)
			}
		}
		if n := len(zai.Requests()); n != step.want {
			t.Fatalf("after +%s zai was asked %d times, want %d", step.advance, n, step.want)
		}
	}
}

func TestVendorErrorsReachTheClientAsAnthropicErrors(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		status  int
		body    string
		want    int
		wantTyp string
		say     []string
	}{
		{"zai bare code", config.TypeZAI, 400, `{"error":{"code":"1214","message":"Input cannot be empty"}}`, 400, apierr.InvalidRequest, []string{"Input cannot be empty", "1214"}},
		{"zai numeric type in Anthropic's envelope", config.TypeZAI, 400, `{"type":"error","error":{"type":"1214","message":"Input cannot be empty"},"request_id":"20251205abc"}`, 400, apierr.InvalidRequest, []string{"Input cannot be empty", "1214"}},
		{"minimax own type", config.TypeMiniMax, 400, `{"type":"error","error":{"type":"bad_request_error","message":"invalid params, tool call id is invalid (2013)","http_code":"400"}}`, 400, apierr.InvalidRequest, []string{"tool call id is invalid", "bad_request_error"}},
		{"html from a proxy", config.TypeZAI, 400, `<html><body><h1>400 Bad Request</h1></body></html>`, 400, apierr.InvalidRequest, []string{`provider "p"`, "400 Bad Request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := relaytest.NewUpstream(t, relaytest.Status(tt.status, http.Header{"Content-Type": {"application/json"}}, tt.body))
			base, _ := startRelayLog(t, configWith(providerFor(tt.typ, "p", up.URL, "k")), nil)
			client := sdkClient(base)
			_, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
				Model: "glm-4.6", MaxTokens: 16,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
			})
			var apiErr *anthropic.Error
			if !asAPIError(err, &apiErr) {
				t.Fatalf("err = %v, want an API error", err)
			}
			raw := apiErr.RawJSON()
			if apiErr.StatusCode != tt.want || gjson.Get(raw, "error.type").Str != tt.wantTyp || gjson.Get(raw, "type").Str != "error" {
				t.Fatalf("got %d %s, want %d %s", apiErr.StatusCode, raw, tt.want, tt.wantTyp)
			}
			for _, s := range tt.say {
				if !strings.Contains(gjson.Get(raw, "error.message").Str, s) {
					t.Errorf("message %q does not keep %q", gjson.Get(raw, "error.message").Str, s)
				}
			}
			if d := apiErr.Response.Header.Get("X-Ccrelay-Degraded"); !strings.Contains(d, "error=normalized:") {
				t.Errorf("x-ccrelay-degraded = %q, want the normalization announced", d)
			}
		})
	}
}

func TestA404ThatIsNotAnAnthropicErrorNamesTheProviderAndURL(t *testing.T) {
	// An Ollama older than 0.14 has no /v1/messages: Go's mux answers "404 page not found".
	up := relaytest.NewUpstream(t, relaytest.Status(404, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "404 page not found\n"))
	base, _ := startRelayLog(t, configWith(providerFor(config.TypeOllama, "ollama", up.URL)), nil)
	resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
	wantAnthropicError(t, resp, body, 404, "not_found_error", `"ollama"`, up.URL+"/v1/messages",
		"not an Anthropic Messages endpoint", "check base_url", "Ollama needs 0.14 or newer")
}
