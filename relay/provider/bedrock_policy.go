package provider

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/tidwall/gjson"
)

// This file holds what Bedrock and Vertex share: the per-provider tables of accepted top-level
// request fields (kept as data, each with its evidence), and the helpers that apply them with
// relay/body's edits. Which anthropic-beta values each accepts is a fact of the feature matrix
// (relay/features/betas.go), applied by its one filter, features.FilterBetas.

// bodyPolicy is what one provider accepts at the top level of a Messages request.
type bodyPolicy struct {
	// name prefixes error messages.
	name string
	// fields lists the top-level keys forwarded; any other key is dropped and noted.
	fields []string
}

// bedrockPolicy is Bedrock InvokeModel's policy. Bedrock rejects any unknown top-level key with
// 400 "extraneous key [x] is not permitted" and an unknown beta with 400 "invalid beta flag".
//
// Evidence for the fields:
//   - AWS, "Anthropic Claude Messages API" request parameters
//     (docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html):
//     anthropic_version, anthropic_beta, max_tokens, messages, system, stop_sequences,
//     temperature, top_p, top_k, tools, tool_choice.
//   - LiteLLM's Bedrock Invoke allowlist (BerriAI/litellm litellm/types/llms/bedrock.py,
//     BedrockInvokeAnthropicMessagesRequest) adds thinking, metadata and output_config.
//   - metadata is also accepted in recorded traffic
//     (fixtures/real-traffic/bedrock/pydantic-ai/test_anthropic_bedrock_count_tokens_real_api.0.json).
//   - context_management is left out: Bedrock answers Claude Code's clear_thinking_20251015 edits
//     with "context_management: Extra inputs are not permitted" (anthropics/claude-code#49548,
//     BerriAI/litellm#27532). safeguards, service_tier, container, mcp_servers, speed and
//     inference_geo appear in no Bedrock source.
//
// The beta allowlist is the feature matrix's (relay/features/betas.go), the one source of truth
// shared with the matrix cell and `ccrelay matrix`, applied by features.FilterBetas. Its evidence: LiteLLM's per-provider beta
// table (BerriAI/litellm litellm/anthropic_beta_headers_config.json, "bedrock"), which also renames
// advanced-tool-use-2025-11-20 to tool-search-tool-2025-10-19 (the name Claude Code itself sends
// to Bedrock, anthropics/claude-code#49370); interleaved-thinking-2025-05-14 is the one beta even
// Opus 4.7 on Bedrock accepts (anthropics/claude-code#49370); token-efficient-tools-2025-02-19
// is accepted in the recorded count-tokens call above; output-128k-2025-02-19,
// computer-use-2024-10-22 and tool-examples-2025-10-29 are in the AWS parameter page.
// claude-code-20250219 is dropped (rejected by Opus 4.7, anthropics/claude-code#49648).
var bedrockPolicy = bodyPolicy{
	name: "bedrock",
	fields: []string{
		"anthropic_version", "anthropic_beta", "max_tokens", "messages", "system",
		"stop_sequences", "temperature", "top_p", "top_k", "tools", "tool_choice",
		"thinking", "metadata", "output_config",
	},
}

// vertexPolicy is Vertex AI's policy for publishers/anthropic models.
//
// Evidence for the fields: the Messages API fields documented for Claude on Vertex AI
// (platform.claude.com/docs/en/build-with-claude/claude-on-vertex-ai) plus the recorded requests
// in fixtures/real-traffic/vertex (anthropic_version, max_tokens, messages, system, stream,
// tool_choice, tools). context_management is kept because Vertex accepts the
// context-management-2025-06-27 beta (LiteLLM table below). model is only present in
// count-tokens bodies, where Vertex requires it. Keys of no known Vertex support (safeguards,
// service_tier, container, mcp_servers, speed, inference_geo) are dropped rather than risking
// a 400 for the whole request.
//
// The beta allowlist is the feature matrix's (relay/features/betas.go), applied by
// features.FilterBetas. Its evidence: LiteLLM's
// per-provider beta table (BerriAI/litellm litellm/anthropic_beta_headers_config.json,
// "vertex_ai"), including its rename of
// advanced-tool-use-2025-11-20 to tool-search-tool-2025-10-19.
var vertexPolicy = bodyPolicy{
	name: "vertex",
	fields: []string{
		"anthropic_version", "model", "max_tokens", "messages", "system", "stream",
		"stop_sequences", "temperature", "top_p", "top_k", "tools", "tool_choice",
		"thinking", "metadata", "output_config", "context_management",
	},
}

// checkObject reports an error unless body is one JSON object.
func (p *bodyPolicy) checkObject(body []byte) error {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return fmt.Errorf("%s: request body is not a JSON object", p.name)
	}
	return nil
}

// dropFields deletes every top-level key of doc that the policy does not list, except the keys
// in handled (which the caller edits itself), and notes each drop in c as "field=dropped:KEY".
func (p *bodyPolicy) dropFields(doc []byte, c *Call, handled ...string) ([]byte, error) {
	var drop []string
	gjson.ParseBytes(doc).ForEach(func(k, _ gjson.Result) bool {
		key := k.String()
		if !slices.Contains(p.fields, key) && !slices.Contains(handled, key) && !slices.Contains(drop, key) {
			drop = append(drop, key)
		}
		return true
	})
	for _, key := range drop {
		var err error
		if doc, err = body.DeleteTopLevel(doc, key); err != nil {
			return nil, fmt.Errorf("%s: drop field %q: %w", p.name, key, err)
		}
		addDegraded(c, "field=dropped:"+key)
	}
	return doc, nil
}

// filterBetas keeps the client's beta values the provider accepts, renamed where it spells them
// differently, in order and without duplicates: the feature matrix's one filter
// (features.FilterBetas). The values left out are noted as the matrix notes them:
// "anthropic_beta=stripped:N". The relay has filtered the header's values already (the matrix's
// anthropic_beta cell); what is left to drop here came in the body's anthropic_beta array.
func (p *bodyPolicy) filterBetas(betas []string, c *Call) []string {
	keep, dropped := features.FilterBetas(p.name, betas)
	if len(dropped) > 0 {
		addDegraded(c, "anthropic_beta=stripped:"+strconv.Itoa(len(dropped)))
	}
	return keep
}

// headerBetas returns the comma-separated values of every anthropic-beta header, trimmed,
// without empty or repeated ones.
func headerBetas(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Anthropic-Beta") {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" && !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
	}
	return out
}

// addDegraded appends a note to c.Degraded unless it is already there (a Call may be built
// into a request more than once).
func addDegraded(c *Call, note string) {
	if !slices.Contains(c.Degraded, note) {
		c.Degraded = append(c.Degraded, note)
	}
}

// getenvFunc returns env.Getenv, or os.Getenv when it is nil.
func getenvFunc(env Env) func(string) string {
	if env.Getenv != nil {
		return env.Getenv
	}
	return os.Getenv
}

// firstEnv returns the first non-empty value among the named variables.
func firstEnv(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// httpClient returns an http.Client that uses env.Transport (nil means the default transport).
func httpClient(env Env) *http.Client {
	if env.Transport == nil {
		return &http.Client{Transport: http.DefaultTransport}
	}
	return &http.Client{Transport: env.Transport}
}

// validHostLabel reports whether s may be used inside a host name (regions such as us-east-1).
func validHostLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
