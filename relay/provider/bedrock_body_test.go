package provider

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
)

// mustURL parses a URL or fails the test.
func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
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
			// The relay removes the keys Bedrock does not accept before the adapter (features.Apply):
			// the adapter only translates.
			name: "other keys are not the adapter's to filter",
			body: `{"service_tier":"auto","max_tokens":5,"a.b":1,"messages":[]}`,
			want: `{"service_tier":"auto","max_tokens":5,"a.b":1,"messages":[],"anthropic_version":"bedrock-2023-05-31"}`,
		},
		{
			name: "every model and stream removed",
			body: `{"stream":true,"model":"m","max_tokens":5,"stream":false,"messages":[],"model":"n"}`,
			want: `{"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31"}`,
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
