package features

import "github.com/ccrelay/ccrelay/relay/body"

// The top-level keys Bedrock and Vertex accept live here, next to the matrix cell that uses
// them (unknown_fields: strip on bedrock and vertex), so that the matrix, the rendered table
// and the adapters agree. For a provider with a list, the unknown_fields feature is every
// top-level key outside it, null or not, that no other row removes (context_management on
// Bedrock is its own row's): Apply removes those keys (the one filter) and notes
// unknown_fields=stripped:KEY+KEY. Adapters do not filter keys: they only translate what is
// listed (model and stream into the URL, anthropic_version, Bedrock's anthropic_beta array).
// Providers without a list take every Messages API key; their unknown_fields cell covers the
// keys outside the Messages API only.
var fieldAllowlists = map[string][]string{
	// Bedrock InvokeModel rejects any unknown top-level key with 400 "extraneous key [x] is not
	// permitted" (fixtures/evidence/wire.md B.2).
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
	// model and stream are not Bedrock body keys: they are listed for the adapter, which moves
	// them into the URL (the model id; invoke or invoke-with-response-stream). The adapter also
	// sets anthropic_version and rebuilds anthropic_beta from the header's and the body's values.
	"bedrock": {
		"anthropic_version", "anthropic_beta", "max_tokens", "messages", "system",
		"stop_sequences", "temperature", "top_p", "top_k", "tools", "tool_choice",
		"thinking", "metadata", "output_config",
		"model", "stream",
	},
	// Vertex AI, publishers/anthropic models. Vertex answers a key it does not take with 400
	// "KEY: Extra inputs are not permitted" (anthropics/claude-code#37746, where the key was
	// output_config; it stays listed until a conformance case settles it).
	//
	// Evidence for the fields: the Messages API fields documented for Claude on Vertex AI
	// (platform.claude.com/docs/en/build-with-claude/claude-on-vertex-ai) plus the recorded requests
	// in fixtures/real-traffic/vertex (anthropic_version, max_tokens, messages, system, stream,
	// tool_choice, tools). context_management is kept because Vertex accepts the
	// context-management-2025-06-27 beta (LiteLLM's table, see betas.go). model is only present
	// in count-tokens bodies, where Vertex requires it (the adapter moves it into the path
	// otherwise). Keys of no known Vertex support (safeguards, service_tier, container,
	// mcp_servers, speed, inference_geo) are dropped rather than risking a 400 for the whole
	// request. anthropic_beta is not listed: the adapter sends the betas as a header.
	"vertex": {
		"anthropic_version", "model", "max_tokens", "messages", "system", "stream",
		"stop_sequences", "temperature", "top_p", "top_k", "tools", "tool_choice",
		"thinking", "metadata", "output_config", "context_management",
	},
}

// FieldAllowlist returns a copy of the top-level keys a provider type accepts, or nil for a
// provider without a list, which takes every key of the Messages API.
func FieldAllowlist(providerType string) []string {
	l, ok := fieldAllowlists[providerType]
	if !ok {
		return nil
	}
	return append([]string(nil), l...)
}

// fieldSet returns a provider type's list as a body.KeySet, and whether it has one. Every
// listed key is one body.KnownTopLevel knows (TestFieldAllowlistsAreKnownKeys).
func fieldSet(providerType string) (body.KeySet, bool) {
	l, ok := fieldAllowlists[providerType]
	var s body.KeySet
	for _, k := range l {
		s |= body.KeyOf(k)
	}
	return s, ok
}

// The keys whose own rows remove them whole when they strip (see Row.unaccepted).
var (
	contextManagementKey = body.KeyOf("context_management")
	cacheControlKey      = body.KeyOf("cache_control")
)
