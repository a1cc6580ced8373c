package relay_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
)

// scenarioConfig is the two-rule setup and more: subagents and background models to
// the cheap provider (zai), the rest to anthropic; a web search rule whose first provider's
// matrix row refuses web search.
func scenarioConfig(anth, zai string) *config.Config {
	a := providerFor(config.TypeAnthropic, "anthropic", anth, "a-key")
	z := providerFor(config.TypeZAI, "zai", zai, "z-key")
	z.ModelMapping = map[string]string{"claude-*": "glm-4.6", "glm-4.5-air": "glm-4.5-air"}
	z.Features = map[string]string{"web_search": "refuse"}
	cfg := configWith(a, z)
	cfg.Routing.Scenarios = []config.Scenario{
		{When: "subagent", Providers: []string{"zai"}},
		{When: "background", Providers: []string{"zai"}, Model: "glm-4.5-air"},
		{When: "web_search", Providers: []string{"zai", "anthropic"}},
		{When: "image", Providers: []string{"anthropic"}},
		{When: "long_context", Providers: []string{"anthropic"}},
		{When: "thinking", Providers: []string{"zai", "anthropic"}},
	}
	cfg.Routing.LongContextTokens = 2000
	return cfg
}

func TestScenarioRouting(t *testing.T) {
	long := strings.Repeat("lorem ipsum dolor sit amet ", 2000) // ~54 KB of text: > 2000 tokens
	cases := []struct {
		name     string
		body     string
		header   http.Header
		provider string // that served
		scenario string // x-ccrelay-scenario ("" when no rule matched)
		model    string // the model the provider received
	}{
		{name: "main turn", provider: "anthropic", model: "claude-sonnet-5-5",
			body: `{"model":"claude-sonnet-5-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`},
		{name: "subagent", provider: "zai", scenario: "subagent", model: "glm-4.6",
			header: http.Header{"X-Claude-Code-Agent-Id": {"agent-7"}},
			body:   `{"model":"claude-sonnet-5-5","max_tokens":64,"messages":[{"role":"user","content":"find files"}]}`},
		{name: "background haiku routed as the rule's model", provider: "zai", scenario: "background", model: "glm-4.5-air",
			body: `{"model":"claude-haiku-5-5","max_tokens":64,"messages":[{"role":"user","content":"title this"}]}`},
		{name: "web search skips the provider whose row refuses it", provider: "anthropic", scenario: "web_search", model: "claude-sonnet-5-5",
			body: `{"model":"claude-sonnet-5-5","max_tokens":64,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"news?"}]}`},
		{name: "image in the last user turn", provider: "anthropic", scenario: "image", model: "claude-sonnet-5-5",
			body: `{"model":"claude-sonnet-5-5","max_tokens":64,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"text","text":"what is it"}]}]}`},
		{name: "image only in an earlier turn is not the image scenario", provider: "anthropic", model: "claude-sonnet-5-5",
			body: `{"model":"claude-sonnet-5-5","max_tokens":64,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},{"role":"assistant","content":"a cat"},{"role":"user","content":"thanks"}]}`},
		{name: "long context", provider: "anthropic", scenario: "long_context", model: "claude-sonnet-5-5",
			body: `{"model":"claude-sonnet-5-5","max_tokens":64,"messages":[{"role":"user","content":"` + long + `"}]}`},
		{name: "thinking", provider: "zai", scenario: "thinking", model: "glm-4.6",
			body: `{"model":"claude-sonnet-5-5","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"think"}]}`},
		{name: "the first matching rule wins: a background subagent is a subagent", provider: "zai", scenario: "subagent", model: "glm-4.6",
			header: http.Header{"X-Claude-Code-Agent-Id": {"agent-7"}},
			body:   `{"model":"claude-haiku-5-5","max_tokens":64,"messages":[{"role":"user","content":"x"}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			anth := relaytest.NewUpstream(t, relaytest.ZAI()) // an Anthropic-shaped fake that checks the body
			zai := relaytest.NewUpstream(t, relaytest.ZAI())
			base, logs := startRelayLog(t, scenarioConfig(anth.URL, zai.URL), nil)
			var resp *http.Response
			opts := []option.RequestOption{rawBody(tc.body), option.WithResponseInto(&resp)}
			for k, v := range tc.header {
				opts = append(opts, option.WithHeader(k, v[0]))
			}
			c := sdkClient(base)
			msg, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{}, opts...)
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			if got := resp.Header.Get("X-Ccrelay-Provider"); got != tc.provider {
				t.Errorf("served by %q, want %q", got, tc.provider)
			}
			if got := resp.Header.Get("X-Ccrelay-Scenario"); got != tc.scenario {
				t.Errorf("x-ccrelay-scenario = %q, want %q", got, tc.scenario)
			}
			up := anth
			if tc.provider == "zai" {
				up = zai
			}
			reqs := up.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%s received %d requests, want 1", tc.provider, len(reqs))
			}
			if got := gjson.GetBytes(reqs[0].Body, "model").Str; got != tc.model {
				t.Errorf("upstream model = %q, want %q", got, tc.model)
			}
			if string(msg.Model) != tc.model {
				t.Errorf("answer's model = %q, want %q", msg.Model, tc.model)
			}
			lines := logs.lines("msg=request")
			if len(lines) != 1 {
				t.Fatalf("%d access lines, want 1:\n%s", len(lines), logs)
			}
			line := lines[0] + " "
			if tc.scenario != "" && !strings.Contains(line, " scenario="+tc.scenario+" ") {
				t.Errorf("access line has no scenario=%s: %s", tc.scenario, line)
			}
			if tc.scenario == "" && strings.Contains(line, "scenario=") {
				t.Errorf("access line names a scenario though no rule matched: %s", line)
			}
		})
	}
}

func TestScenarioRuleWhoseProvidersServeNothing(t *testing.T) {
	anth := relaytest.NewUpstream(t, relaytest.ZAI())
	zai := relaytest.NewUpstream(t, relaytest.ZAI())
	cfg := scenarioConfig(anth.URL, zai.URL)
	cfg.Routing.Scenarios = []config.Scenario{{When: "background", Providers: []string{"zai"}, Model: "gpt-5"}}
	base := startRelay(t, cfg)
	resp, body := post(t, base+"/v1/messages", []byte(`{"model":"claude-haiku-5-5","max_tokens":64,"messages":[{"role":"user","content":"x"}]}`), nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404: %s", resp.StatusCode, body)
	}
	want := `routing.scenarios[0] (background) sends this request to zai, but none of them serves model "gpt-5"; add the model to one of them (model_mapping or models) or set the rule's model`
	if got := gjson.GetBytes(body, "error.message").Str; got != want {
		t.Errorf("message = %q\nwant      %q", got, want)
	}
	if got := gjson.GetBytes(body, "error.type").Str; got != "not_found_error" {
		t.Errorf("type = %q", got)
	}
	if resp.Header.Get("X-Ccrelay-Scenario") != "background" {
		t.Errorf("x-ccrelay-scenario = %q", resp.Header.Get("X-Ccrelay-Scenario"))
	}
	if n := len(anth.Requests()) + len(zai.Requests()); n != 0 {
		t.Errorf("%d upstream requests, want none", n)
	}
}

func TestScenarioRuleProvidersAllRefuse(t *testing.T) {
	// A web_search rule whose only provider refuses web search: the matrix's refusal, not a
	// silent fall back to a provider outside the rule.
	anth := relaytest.NewUpstream(t, relaytest.ZAI())
	zai := relaytest.NewUpstream(t, relaytest.ZAI())
	cfg := scenarioConfig(anth.URL, zai.URL)
	cfg.Routing.Scenarios = []config.Scenario{{When: "web_search", Providers: []string{"zai"}}}
	base := startRelay(t, cfg)
	resp, body := post(t, base+"/v1/messages", []byte(`{"model":"claude-sonnet-5-5","max_tokens":64,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"x"}]}`), nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(gjson.GetBytes(body, "error.message").Str, "web") {
		t.Fatalf("status %d, want the matrix's 400 refusal: %s", resp.StatusCode, body)
	}
	if n := len(anth.Requests()) + len(zai.Requests()); n != 0 {
		t.Errorf("%d upstream requests, want none", n)
	}
}

func TestScenarioRequestsDoNotPinTheSession(t *testing.T) {
	// Claude Code's subagents share the main agent's session id. A subagent served by the
	// cheap provider must not pull the session's next main turn there (found with real Claude
	// Code: TestClaudeCodeScenarioRouting).
	anth := relaytest.NewUpstream(t, relaytest.ZAI())
	zai := relaytest.NewUpstream(t, relaytest.ZAI())
	base := startRelay(t, scenarioConfig(anth.URL, zai.URL))
	session := map[string]string{"X-Claude-Code-Session-Id": "0b7c9a52-5d0e-4c8e-9d1a-3f1e2b4c5d6e"}
	body := []byte(`{"model":"claude-sonnet-5-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`)
	sub := map[string]string{"X-Claude-Code-Agent-Id": "agent-1", "X-Claude-Code-Session-Id": session["X-Claude-Code-Session-Id"]}
	for i, h := range []map[string]string{session, sub, session, sub} {
		resp, b := post(t, base+"/v1/messages", body, h)
		want := "anthropic"
		if h["X-Claude-Code-Agent-Id"] != "" {
			want = "zai"
		}
		if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != want {
			t.Errorf("request %d: %d served by %q, want %s: %s", i, resp.StatusCode, resp.Header.Get("X-Ccrelay-Provider"), want, b)
		}
	}
}
