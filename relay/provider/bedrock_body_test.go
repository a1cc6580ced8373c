package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
)

// claudeCodeRequest is one request of fixtures/real-traffic/claude-code.
type claudeCodeRequest struct {
	Path    string              `json:"path"`
	Headers map[string][]string `json:"headers"`
	Body    json.RawMessage     `json:"body"`
}

// claudeCodeCall turns a recorded Claude Code request into a Call for model.
func claudeCodeCall(t *testing.T, name, model string) *Call {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(realTraffic, "claude-code", name))
	if err != nil {
		t.Fatal(err)
	}
	var r claudeCodeRequest
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	c := &Call{Op: OpMessages, Model: model, Body: r.Body, Header: http.Header{}}
	if strings.HasSuffix(r.Path, "/count_tokens") {
		c.Op = OpCountTokens
	}
	c.Stream = gjson.GetBytes(r.Body, "stream").Bool()
	for k, vs := range r.Headers {
		if k == "x-api-key" || k == "host" || k == "content-length" || k == "connection" {
			continue
		}
		for _, v := range vs {
			c.Header.Add(k, v)
		}
	}
	return c
}

// mustURL parses a URL or fails the test.
func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestBedrockClaudeCodeRequests builds the Bedrock request for every real Claude Code request
// and checks that only accepted top-level keys and betas remain, that the conversation itself
// is untouched, and what was dropped.
func TestBedrockClaudeCodeRequests(t *testing.T) {
	const model = "us.anthropic.claude-opus-4-6-v1"
	// Dropped betas are noted as the feature matrix notes them (anthropic_beta=stripped:N):
	// claude-code, context-management, per-turn-control and thinking-token-count here;
	// advanced-tool-use is renamed to tool-search-tool silently, as the matrix renames it.
	messagesDropped := []string{
		"anthropic_beta=stripped:4",
		"field=dropped:context_management",
	}
	countDropped := []string{
		"anthropic_beta=stripped:3", // claude-code, context-management, token-counting
	}
	tests := []struct {
		file      string
		wantBetas []string
		degraded  []string
	}{
		{"claude-code-2.1.332__01-p-say-hi.messages.json",
			[]string{"interleaved-thinking-2025-05-14", "mid-conversation-tool-changes-2026-07-01", "tool-search-tool-2025-10-19", "effort-2025-11-24"}, messagesDropped},
		{"claude-code-2.1.332__02-tool-roundtrip-req1.messages.json",
			[]string{"interleaved-thinking-2025-05-14", "mid-conversation-tool-changes-2026-07-01", "tool-search-tool-2025-10-19", "effort-2025-11-24"}, messagesDropped},
		{"claude-code-2.1.332__03-tool-roundtrip-req2-tool_result.messages.json",
			[]string{"interleaved-thinking-2025-05-14", "mid-conversation-tool-changes-2026-07-01", "tool-search-tool-2025-10-19", "effort-2025-11-24"}, messagesDropped},
		{"claude-code-2.1.332__04-context-count_tokens-small.json", []string{"interleaved-thinking-2025-05-14"}, countDropped},
		{"claude-code-2.1.332__05-context-count_tokens-tools.json", []string{"interleaved-thinking-2025-05-14"}, countDropped},
		{"claude-code-2.1.332__06-interactive-say-hi.messages.json",
			[]string{"interleaved-thinking-2025-05-14", "mid-conversation-tool-changes-2026-07-01", "tool-search-tool-2025-10-19", "effort-2025-11-24", "dangerous-tool-use-2026-09-03", "thinking-display-updates-2026-08-18"},
			[]string{"anthropic_beta=stripped:5", "field=dropped:context_management", "field=dropped:safeguards"}}, // and afk-mode
		{"sdks__go-v2.15.0-stream.messages.json", nil, nil},
		{"sdks__go-v2.15.0.count_tokens.json", nil, nil},
		{"sdks__npm-1.14.0-stream.messages.json", nil, nil},
		{"sdks__npm-1.14.0.count_tokens.json", nil, nil},
	}
	fb := newFakeBedrock(t)
	p := newTestProvider(t, fb.config(), noEnv())
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := claudeCodeCall(t, tt.file, model)
			client := c.Body
			resp := do(t, p, c)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("fake upstream refused the request: %d %s", resp.StatusCode, readAll(t, resp))
			}
			got := fb.last()
			body := got.Body
			if c.Op == OpCountTokens {
				if len(gjson.GetBytes(body, "input").Map()) != 1 || len(gjson.GetBytes(body, "@this").Map()) != 1 {
					t.Errorf("count body %s: want only input.invokeModel", body)
				}
				body, _ = base64.StdEncoding.DecodeString(gjson.GetBytes(body, "input.invokeModel.body").String())
				if mt := gjson.GetBytes(body, "max_tokens"); mt.Int() != 1 {
					t.Errorf("count body max_tokens %s, want 1 added", mt.Raw)
				}
			}
			gjson.ParseBytes(body).ForEach(func(k, _ gjson.Result) bool {
				if !slices.Contains(bedrockPolicy.fields, k.String()) {
					t.Errorf("top-level key %q is not accepted by Bedrock", k.String())
				}
				return true
			})
			if v := gjson.GetBytes(body, "anthropic_version").String(); v != bedrockAnthropicVersion {
				t.Errorf("anthropic_version %q", v)
			}
			var betas []string
			for _, b := range gjson.GetBytes(body, "anthropic_beta").Array() {
				betas = append(betas, b.String())
			}
			if diff := cmp.Diff(tt.wantBetas, betas); diff != "" {
				t.Errorf("anthropic_beta (-want +got):\n%s", diff)
			}
			for _, k := range []string{"messages", "system", "tools", "thinking", "metadata", "output_config"} {
				if a, b := gjson.GetBytes(client, k).Raw, gjson.GetBytes(body, k).Raw; a != b {
					t.Errorf("%s changed", k)
				}
			}
			want, gotDeg := slices.Clone(tt.degraded), slices.Clone(c.Degraded)
			sort.Strings(want)
			sort.Strings(gotDeg)
			if diff := cmp.Diff(want, gotDeg); diff != "" {
				t.Errorf("degraded (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBedrockBodyEdits covers the sjson edits on hand-made bodies.
func TestBedrockBodyEdits(t *testing.T) {
	tests := []struct {
		name     string
		op       Op
		body     string
		betas    []string
		want     string
		degraded []string
	}{
		{
			name: "minimal",
			body: `{"model":"m","max_tokens":5,"messages":[]}`,
			want: `{"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31"}`,
		},
		{
			name: "stream removed, existing anthropic_version replaced",
			body: `{"anthropic_version":"x","stream":true,"max_tokens":5,"messages":[],"model":"m"}`,
			want: `{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[]}`,
		},
		{
			name:     "header and body betas merged, deduplicated, filtered",
			body:     `{"anthropic_beta":["token-efficient-tools-2025-02-19","bogus-1"],"max_tokens":5,"messages":[]}`,
			betas:    []string{" interleaved-thinking-2025-05-14 ,token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14,,"},
			want:     `{"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14","token-efficient-tools-2025-02-19"]}`,
			degraded: []string{"anthropic_beta=stripped:1"},
		},
		{
			name:  "renamed beta",
			body:  `{"max_tokens":5,"messages":[]}`,
			betas: []string{"advanced-tool-use-2025-11-20,tool-search-tool-2025-10-19"},
			want:  `{"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["tool-search-tool-2025-10-19"]}`,
		},
		{
			name:     "unknown keys with path characters are dropped literally",
			body:     `{"a.b":1,"max_tokens":5,"c*":{"x":1},"messages":[],"service_tier":"auto","a":{"b":2}}`,
			want:     `{"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31"}`,
			degraded: []string{"field=dropped:a.b", "field=dropped:c*", "field=dropped:service_tier", "field=dropped:a"},
		},
		{
			name:     "duplicated unknown key",
			body:     `{"speed":"fast","max_tokens":5,"speed":"slow","messages":[]}`,
			want:     `{"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31"}`,
			degraded: []string{"field=dropped:speed"},
		},
		{
			name: "count: max_tokens added",
			op:   OpCountTokens,
			body: `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			want: `{"messages":[{"role":"user","content":"hi"}],"anthropic_version":"bedrock-2023-05-31","max_tokens":1}`,
		},
		{
			name: "count: max_tokens above the thinking budget",
			op:   OpCountTokens,
			body: `{"model":"m","messages":[],"thinking":{"type":"enabled","budget_tokens":2048}}`,
			want: `{"messages":[],"thinking":{"type":"enabled","budget_tokens":2048},"anthropic_version":"bedrock-2023-05-31","max_tokens":2049}`,
		},
		{
			name: "count: client max_tokens kept",
			op:   OpCountTokens,
			body: `{"model":"m","max_tokens":7,"messages":[]}`,
			want: `{"max_tokens":7,"messages":[],"anthropic_version":"bedrock-2023-05-31"}`,
		},
	}
	b := &bedrock{base: mustURL(t, "https://bedrock-runtime.us-east-1.amazonaws.com"), region: "us-east-1"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := tt.op
			if op == "" {
				op = OpMessages
			}
			c := &Call{Op: op, Model: "anthropic.claude-3-haiku-20240307-v1:0", Body: []byte(tt.body), Header: http.Header{"Anthropic-Beta": tt.betas}}
			orig := string(c.Body)
			_, body, err := b.Request(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if op == OpCountTokens {
				body, _ = base64.StdEncoding.DecodeString(gjson.GetBytes(body, "input.invokeModel.body").String())
			}
			if string(body) != tt.want {
				t.Errorf("body\n%s\nwant\n%s", body, tt.want)
			}
			if diff := cmp.Diff(tt.degraded, c.Degraded); diff != "" {
				t.Errorf("degraded (-want +got):\n%s", diff)
			}
			if string(c.Body) != orig {
				t.Errorf("Call.Body was modified in place")
			}
			if _, _, err := b.Request(context.Background(), c); err != nil || len(c.Degraded) != len(tt.degraded) {
				t.Errorf("second Request: err %v, degraded %v (notes must not repeat)", err, c.Degraded)
			}
		})
	}
}

// TestBedrockRequestErrors checks the refusals of Request and of the constructor.
func TestBedrockRequestErrors(t *testing.T) {
	b := &bedrock{base: mustURL(t, "https://bedrock-runtime.us-east-1.amazonaws.com"), region: "us-east-1"}
	for _, tt := range []struct {
		name string
		c    *Call
		want string
	}{
		{"no model", &Call{Body: []byte(`{}`)}, "bedrock: no model"},
		{"not an object", &Call{Model: "m", Body: []byte(`[1]`)}, "bedrock: request body is not a JSON object"},
		{"not JSON", &Call{Model: "m", Body: []byte(`{"a":`)}, "bedrock: request body is not a JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := b.Request(context.Background(), tt.c); err == nil || err.Error() != tt.want {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name string
		cfg  config.Provider
		want string
	}{
		{"no region", config.Provider{Name: "b", Type: config.TypeBedrock}, `provider "b": bedrock needs aws_region`},
		{"bad region", config.Provider{Name: "b", Type: config.TypeBedrock, AWSRegion: "us-east-1.evil.com/"}, `provider "b": bedrock: invalid aws_region "us-east-1.evil.com/"`},
		{"half a key", config.Provider{Name: "b", Type: config.TypeBedrock, AWSRegion: "us-east-1", AWSAccessKeyID: "AKID"}, `provider "b": bedrock: aws_access_key_id and aws_secret_access_key go together`},
		{"bad base_url", config.Provider{Name: "b", Type: config.TypeBedrock, AWSRegion: "us-east-1", BaseURL: "ftp://x"}, `provider "b": base_url "ftp://x": want an absolute http or https URL`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(context.Background(), tt.cfg, noEnv()); err == nil || err.Error() != tt.want {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// TestBedrockDefaultEndpoint checks the endpoint derived from the region (also from AWS_REGION).
func TestBedrockDefaultEndpoint(t *testing.T) {
	env := Env{Getenv: func(k string) string {
		return map[string]string{"AWS_REGION": "eu-central-1", "AWS_BEARER_TOKEN_BEDROCK": "tok"}[k]
	}}
	p := newTestProvider(t, config.Provider{Name: "b", Type: config.TypeBedrock}, env)
	if p.Address != "https://bedrock-runtime.eu-central-1.amazonaws.com" {
		t.Errorf("address %q", p.Address)
	}
	req, _, err := p.Adapter.Request(context.Background(), &Call{Model: "anthropic.claude-opus-4-6-v1", Stream: true, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got := req.URL.String(); got != "https://bedrock-runtime.eu-central-1.amazonaws.com/model/anthropic.claude-opus-4-6-v1/invoke-with-response-stream" {
		t.Errorf("url %s", got)
	}
	if got := req.Header.Get("Accept"); got != "application/vnd.amazon.eventstream" {
		t.Errorf("accept %q", got)
	}
}
