package relay_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
)

// Requests that use one feature each (hand-made, in the shape of the Messages API).
const (
	cacheControlBody = `{"model":"m","max_tokens":32,"system":[{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"5m"}}]}]}`
	toolChoiceAny    = `{"model":"m","max_tokens":32,"tools":[{"name":"get_weather","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"weather?"}]}`
	toolChoiceAuto   = `{"model":"m","max_tokens":32,"tools":[{"name":"get_weather","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"},"messages":[{"role":"user","content":"weather?"}]}`
	imageURLBody     = `{"model":"m","max_tokens":32,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/cat.png"}},{"type":"text","text":"what is it?"}]}]}`
	pdfBody          = `{"model":"m","max_tokens":32,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0xLjQK"}},{"type":"text","text":"summarise"}]}]}`
	temperatureBody  = `{"model":"m","max_tokens":32,"temperature":0,"messages":[{"role":"user","content":"hi"}]}`
	countBody        = `{"model":"m","messages":[{"role":"user","content":"how many tokens is this?"}]}`
)

func TestTheFeatureMatrixActsThroughTheRelay(t *testing.T) {
	ok := interaction(t, "ollama/01-text-nonstream.json")
	tests := []struct {
		name      string
		typ       string
		overrides map[string]string
		path      string
		body      string
		// status is what the client sees; 200 means the upstream was asked.
		status   int
		degraded string
		// absent must not appear in what reached the upstream.
		absent    []string
		fragments []string
	}{
		{name: "ollama strips cache_control everywhere and says so", typ: config.TypeOllama, body: cacheControlBody,
			status: 200, degraded: "cache_control=stripped", absent: []string{"cache_control"}},
		{name: "ollama refuses tool_choice any with the override that would change it", typ: config.TypeOllama, body: toolChoiceAny,
			status: 400, fragments: []string{`"p"`, "ollama", "tool_choice", "features"}},
		{name: "ollama drops tool_choice auto", typ: config.TypeOllama, body: toolChoiceAuto,
			status: 200, degraded: "tool_choice=dropped", absent: []string{"tool_choice"}},
		{name: "an override turns the refusal of tool_choice any into a drop", typ: config.TypeOllama, overrides: map[string]string{"tool_choice_any": "degrade"}, body: toolChoiceAny,
			status: 200, degraded: "tool_choice=dropped", absent: []string{"tool_choice"}},
		{name: "ollama refuses image URLs", typ: config.TypeOllama, body: imageURLBody,
			status: 400, fragments: []string{"image", "messages[0].content[0]", "image_url: degrade"}},
		{name: "ollama refuses PDF documents", typ: config.TypeOllama, body: pdfBody,
			status: 400, fragments: []string{"PDF"}},
		{name: "minimax clamps temperature 0 into (0, 1]", typ: config.TypeMiniMax, body: temperatureBody,
			status: 200, degraded: "temperature=clamped", absent: []string{`"temperature":0,`}},
		{name: "ollama count_tokens is estimated locally", typ: config.TypeOllama, path: "/v1/messages/count_tokens", body: countBody,
			status: 200, degraded: "count_tokens=estimated"},
		{name: "anthropic passes everything untouched", typ: config.TypeAnthropic, body: cacheControlBody, status: 200},
		{name: "an unknown key whose removal would break the JSON is refused, by name", typ: config.TypeOllama,
			overrides: map[string]string{"unknown_fields": "strip"},
			body:      `{"model":"m","max_tokens":32,"messages":[{"role":"user","content":"hi"}],"\"":0}`,
			status:    400, fragments: []string{"ollama", `top-level key "\""`, "remove it from the request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := relaytest.NewUpstream(t, relaytest.Replay(ok))
			p := providerFor(tt.typ, "p", up.URL, "k")
			p.Features = tt.overrides
			base := startRelay(t, configWith(p))
			path := tt.path
			if path == "" {
				path = "/v1/messages"
			}
			resp, body := post(t, base+path, []byte(tt.body), nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				wantAnthropicError(t, resp, body, tt.status, "invalid_request_error", tt.fragments...)
				if n := len(up.Requests()); n != 0 {
					t.Errorf("a refused request reached the upstream")
				}
				return
			}
			if d := resp.Header.Get("X-Ccrelay-Degraded"); !strings.Contains(d, tt.degraded) || (tt.degraded == "" && d != "") {
				t.Errorf("x-ccrelay-degraded = %q, want %q", d, tt.degraded)
			}
			if tt.degraded != "" {
				pr, err := http.Get(base + "/v1/providers")
				if err != nil {
					t.Fatal(err)
				}
				var st struct {
					Data []struct{ Features map[string]int64 }
				}
				json.NewDecoder(pr.Body).Decode(&st)
				pr.Body.Close()
				key, _, _ := strings.Cut(tt.degraded, ":")
				var n int64
				for k, v := range st.Data[0].Features {
					if strings.HasPrefix(k, key) {
						n += v
					}
				}
				if n != 1 {
					t.Errorf("/v1/providers feature counters = %v, want %s counted once", st.Data[0].Features, key)
				}
			}
			if strings.Contains(tt.degraded, "count_tokens") {
				if !gjson.GetBytes(body, "input_tokens").Exists() || len(up.Requests()) != 0 {
					t.Errorf("estimate: body %s, upstream requests %d", body, len(up.Requests()))
				}
				return
			}
			sent := up.Requests()[0].Body
			for _, a := range tt.absent {
				if strings.Contains(string(sent), a) {
					t.Errorf("%q reached the upstream: %s", a, sent)
				}
			}
			if tt.degraded == "" && string(sent) != tt.body {
				t.Errorf("the body changed on its way to %s: %s", tt.typ, sent)
			}
		})
	}
}

func TestAPDFRequestInAFailoverChainGoesToTheProviderThatReadsPDFs(t *testing.T) {
	ok := interaction(t, "ollama/01-text-nonstream.json")
	local := relaytest.NewUpstream(t, relaytest.Replay(ok))
	cloud := relaytest.NewUpstream(t, relaytest.Replay(ok))
	cfg := configWith(
		keyed(providerFor(config.TypeOllama, "local", local.URL), 5, "ollama"),
		keyed(providerFor(config.TypeAnthropic, "cloud", cloud.URL), 1, "k"),
	)
	base := startRelay(t, cfg)
	resp, body := post(t, base+"/v1/messages", []byte(pdfBody), nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != "cloud" {
		t.Fatalf("status %d provider %q: %s", resp.StatusCode, resp.Header.Get("X-Ccrelay-Provider"), body)
	}
	if resp.Header.Get("X-Ccrelay-Attempts") != "1" || len(local.Requests()) != 0 {
		t.Errorf("the provider that would refuse was attempted: attempts %q, local got %d", resp.Header.Get("X-Ccrelay-Attempts"), len(local.Requests()))
	}
	// A plain request still prefers the local provider.
	resp, _ = post(t, base+"/v1/messages", []byte(okBody), nil)
	if resp.Header.Get("X-Ccrelay-Provider") != "local" {
		t.Errorf("plain request served by %q, want local", resp.Header.Get("X-Ccrelay-Provider"))
	}
}

func TestCountTokensCanBeAskedOfAnotherProvider(t *testing.T) {
	counter := relaytest.NewUpstream(t, relaytest.Status(200, nil, `{"input_tokens":1234}`))
	local := relaytest.NewUpstream(t, relaytest.Status(500, nil, `should not be asked`))
	a := keyed(providerFor(config.TypeAnthropic, "anthropic", counter.URL), 0, "k")
	a.Models = []string{"claude-counter"} // serves count_tokens only for its own models
	cfg := configWith(keyed(providerFor(config.TypeOllama, "local", local.URL), 5, "ollama"), a)
	cfg.Routing.CountTokens = "provider:anthropic"
	base := startRelay(t, cfg)
	resp, body := post(t, base+"/v1/messages/count_tokens", []byte(countBody), nil)
	if resp.StatusCode != 200 || gjson.GetBytes(body, "input_tokens").Int() != 1234 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Ccrelay-Provider") != "anthropic" || !strings.Contains(resp.Header.Get("X-Ccrelay-Degraded"), "count_tokens=provider:anthropic") {
		t.Errorf("headers: provider %q degraded %q", resp.Header.Get("X-Ccrelay-Provider"), resp.Header.Get("X-Ccrelay-Degraded"))
	}
	if len(local.Requests()) != 0 || counter.Requests()[0].Path != "/v1/messages/count_tokens" {
		t.Errorf("wrong upstream asked")
	}

	cfg2 := configWith(providerFor(config.TypeOllama, "local", local.URL))
	cfg2.Routing.CountTokens = "refuse"
	base2 := startRelay(t, cfg2)
	resp, body = post(t, base2+"/v1/messages/count_tokens", []byte(countBody), nil)
	wantAnthropicError(t, resp, body, 404, "not_found_error", "count tokens")
}

// TestUnknownFeatureOverridesFailValidation: the overrides are checked against the matrix by
// features.ValidateConfig, which whoever loads a configuration file calls (the CLI does).
func TestUnknownFeatureOverridesFailValidation(t *testing.T) {
	cfg, err := config.Parse([]byte(`providers:
  - name: local
    type: ollama
    features:
      tool_choise: refuse
      cache_control: explode
`), "bad.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = features.ValidateConfig(cfg)
	if err == nil {
		t.Fatal("an unknown feature and action were accepted")
	}
	if !strings.Contains(err.Error(), "bad.yaml:4: providers[0].features: ") {
		t.Errorf("validation error is not located at the key:\n%v", err)
	}
	for _, want := range []string{"tool_choise", "explode", "tool_choice_any"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validation error does not mention %q:\n%v", want, err)
		}
	}
}

// The real Claude Code requests go to every Anthropic-compatible provider type: none is
// refused, and whatever a type cannot take is announced.
func TestClaudeCodeRequestsReachEveryProviderType(t *testing.T) {
	ok := interaction(t, "ollama/01-text-nonstream.json")
	for _, name := range []string{"claude-code-2.1.332__01-p-say-hi.messages.json", "claude-code-2.1.332__03-tool-roundtrip-req2-tool_result.messages.json", "claude-code-2.1.332__06-interactive-say-hi.messages.json"} {
		body, hdr := claudeCodeRequest(t, name)
		noStream := strings.Replace(string(body), `"stream": true`, `"stream": false`, 1)
		for _, typ := range compatibleTypes {
			t.Run(typ+"/"+name, func(t *testing.T) {
				up := relaytest.NewUpstream(t, relaytest.Replay(ok))
				base := startRelay(t, configWith(providerFor(typ, "p", up.URL, "k")))
				resp, out := post(t, base+"/v1/messages?beta=true", []byte(noStream), hdr)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, out)
				}
				sent := up.Requests()[0].Body
				if !json.Valid(sent) {
					t.Fatalf("invalid JSON upstream")
				}
				degraded := resp.Header.Get("X-Ccrelay-Degraded")
				switch typ {
				case config.TypeOllama:
					if strings.Contains(string(sent), "cache_control") || !strings.Contains(degraded, "cache_control=stripped") {
						t.Errorf("ollama: cache_control reached it or was not announced (%q)", degraded)
					}
				case config.TypeAnthropic:
					if string(sent) != noStream || degraded != "" {
						t.Errorf("anthropic: the body changed (degraded %q)", degraded)
					}
				}
				if gjson.GetBytes(sent, "messages.#").Int() != gjson.Get(noStream, "messages.#").Int() {
					t.Errorf("%s: messages were lost", typ)
				}
				if http.Header(canon(hdr)).Get("Anthropic-Beta") != "" && typ == config.TypeAnthropic && up.Requests()[0].Header.Get("Anthropic-Beta") == "" {
					t.Errorf("anthropic lost the betas")
				}
			})
		}
	}
}
