package features

// This file is the feature matrix: the only place where provider support and default actions
// are written down. Render prints it; Decide reads it; matrix_test.go checks that every cell
// is present, every action is valid for its feature, and the Ollama floor of the seed
// (providers.ko.txt, "기능 제한") holds.
//
// Evidence names a recorded interaction under fixtures/real-traffic/ (a path such as
// ollama/24-tool-choice-any-nonstream.json), a section of shared/spec/wire.md or
// claude-code.md, the seed, or a public source. Cells without any evidence are "unknown" and
// pass; their evidence is filled in by Lookup with the conformance case that settles them
// (CaseName, e.g. "conformance: zai/cache-control").

const (
	evSeed        = "fixtures/evidence/seed-ollama-limits.md"
	evOllamaSrc   = "https://github.com/ollama/ollama/blob/017eb8ae4895fc6aea58b62f3793baa478586b6d/anthropic/anthropic.go"
	evAWSSchema   = "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html"
	evLiteLLM     = "https://github.com/BerriAI/litellm/blob/030dd40a93c32960c90c2213d706a7b8a8614fb8/litellm/anthropic_beta_headers_config.json"
	evFirstParty  = "fixtures/evidence/wire.md B.4 (first-party body)"
	evVertexDoc   = "fixtures/evidence/wire.md B.3; https://platform.claude.com/docs/en/build-with-claude/claude-on-vertex-ai"
	evBedrockNoST = "bedrock/pydantic-ai/test_anthropic_bedrock_count_tokens_rejects_server_tools.0.json"
	evImgURL3P    = "https://github.com/pollinations/pollinations/issues/5862 (Bedrock and Vertex need base64)"
	evMinimaxDoc  = "https://platform.minimax.io/docs/api-reference/text-anthropic-api; fixtures/evidence/wire.md B.6"
	evOllamaWire  = "fixtures/evidence/wire.md B.7"
	evDocs        = "https://platform.claude.com/docs/en/api/messages"

	// Vendor documentation (fixtures/vendor-docs quotes the passages).
	evMinimaxMsgs = "https://platform.minimax.io/docs/api-reference/text-chat-anthropic"
	evFoundryMS   = "https://learn.microsoft.com/en-us/azure/ai-foundry/foundry-models/how-to/use-foundry-models-claude"
	evFoundryOver = "https://platform.claude.com/docs/en/build-with-claude/overview (Microsoft Foundry column)"
	evMidConvSys  = "https://platform.claude.com/docs/en/build-with-claude/mid-conversation-system-messages"
)

// row is one feature's cells by provider type.
type row map[string]Cell

var matrix = [numFeatures]row{
	Streaming: {
		"anthropic": {Full, Pass, "", "anthropic/fantasy/claude-sonnet-4.simple_streaming.0.json"},
		"zai":       {Full, Pass, "Z.AI documents Claude Code use", "fixtures/evidence/wire.md B.5"},
		"minimax":   {Full, Pass, "MiniMax documents Claude Code use", evMinimaxDoc},
		"ollama":    {Full, Pass, "no ping or signature_delta; a failed stream just ends", "ollama/02-text-stream.json; " + evSeed},
		"bedrock":   {Full, Pass, "AWS event-stream, converted by the adapter", "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.simple_streaming.0.json"},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", "vertex/fantasy/vertex-claude-3-7-sonnet.simple_streaming.0.json"},
	},
	Tools: {
		"anthropic": {Full, Pass, "", "anthropic/fantasy/claude-sonnet-4.tool.0.json"},
		"zai":       {Full, Pass, "Z.AI documents Claude Code use", "fixtures/evidence/wire.md B.5"},
		"minimax":   {Full, Pass, "MiniMax documents Claude Code use", evMinimaxDoc},
		"ollama":    {Full, Pass, "400 \"does not support tools\" on models without tool support", "ollama/08-tool-use-nonstream.json; " + evSeed},
		"bedrock":   {Full, Pass, "", "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.tool.0.json"},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", "vertex/fantasy/vertex-claude-3-7-sonnet.tool.0.json"},
	},
	ToolChoiceAuto: {
		"anthropic": {Full, Pass, "", "anthropic/pydantic-ai/test_anthropic_count_tokens_keeps_memory_tool.0.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Full, Pass, "tool_choice documented as fully supported", evMinimaxDoc},
		"ollama":    {None, Degrade, "ignored; auto is what Ollama does anyway", evSeed + "; " + evOllamaWire},
		"bedrock":   {Full, Pass, "", evAWSSchema},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	ToolChoiceAny: {
		"anthropic": {Full, Pass, "", "anthropic/pydantic-ai/test_anthropic_count_tokens_with_adaptive_thinking_and_output_tools.1.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Full, Pass, "tool_choice documented as fully supported", evMinimaxDoc},
		"ollama":    {None, Refuse, "accepted and ignored: the model may answer without a tool", "ollama/24-tool-choice-any-nonstream.json; " + evSeed},
		"bedrock":   {Full, Pass, "", evAWSSchema},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	ToolChoiceTool: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Full, Pass, "tool_choice documented as fully supported", evMinimaxDoc},
		"ollama":    {None, Refuse, "ignored: a specific tool cannot be forced", evSeed + "; " + evOllamaWire},
		"bedrock":   {Full, Pass, "", evAWSSchema},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	ToolChoiceNone: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Full, Pass, "tool_choice documented as fully supported", evMinimaxDoc},
		"ollama":    {None, Degrade, "ignored: the model may still call a tool", evSeed + "; fixtures/evidence/wire.md C"},
		"bedrock":   {Full, Pass, "", evAWSSchema},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	ThinkingEnabled: {
		"anthropic": {Full, Pass, "", "anthropic/fantasy/claude-sonnet-4.thinking.0.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Full, Pass, "documented as supported on M2.x (its notes also list thinking as ignored); thinking blocks carry signatures and must be echoed back whole; MiniMax-M3 reported to answer 400 to type enabled (allowed: adaptive, disabled)", evMinimaxDoc + "; https://github.com/HenriGrimm/Minnow/issues/364"},
		"ollama":    {Partial, Pass, "turns thinking on for thinking models, ignored by others; history signatures are discarded", "ollama/13-thinking-enabled-nonstream.json; ollama/17-thinking-on-non-thinking-model-nonstream.json"},
		"bedrock":   {Full, Pass, "", evAWSSchema},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	ThinkingAdaptive: {
		"anthropic": {Full, Pass, "newer models only", "anthropic/llm-anthropic/test_opus_46_adaptive_thinking.0.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Partial, Pass, "documented for MiniMax-M3 (its example request sends type adaptive); not documented for M2.x", evMinimaxMsgs},
		"ollama":    {Partial, Pass, "treated as absent: model default (newer Ollama maps output_config.effort to a think level)", evOllamaSrc},
		"bedrock":   {Unknown, Pass, "model-dependent", ""},
		"azure":     {Full, Pass, "newer models only", evFoundryOver},
		"vertex":    {Unknown, Pass, "model-dependent", ""},
	},
	ThinkingBudget: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {None, Degrade, "budget_tokens accepted, not enforced", evSeed + "; " + evOllamaWire},
		"bedrock":   {Full, Pass, "", evAWSSchema},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	Effort: {
		"anthropic": {Full, Pass, "validated per model", "anthropic/pydantic-ai/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.0.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {Partial, Pass, "newer Ollama maps it to a think level when thinking is not set", evOllamaSrc},
		"bedrock":   {Unknown, Pass, "the effort beta is forwarded by other gateways", evLiteLLM},
		"azure":     {Full, Pass, "validated per model", evFoundryOver},
		"vertex":    {Unknown, Pass, "", ""},
	},
	CacheControl: {
		"anthropic": {Full, Pass, "", "anthropic/pydantic-ai/test_anthropic_cache_count_tokens.1.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {None, Strip, "cache_control ignored", evSeed + "; " + evOllamaWire},
		"bedrock":   {Full, Pass, "cache reads reported", "bedrock/pydantic-ai/test_anthropic_cache_bedrock_real_api.1.json"},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	ImageBase64: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Partial, Refuse, "no image input on M2.x; set pass for image-capable models", evMinimaxDoc},
		"ollama":    {Full, Pass, "vision models only", evSeed + "; " + evOllamaSrc},
		"bedrock":   {Full, Pass, "", evAWSSchema},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	ImageURL: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Partial, Refuse, "M3 documents image URLs, M2.x takes no images; set pass for M3", evMinimaxDoc + "; " + evMinimaxMsgs},
		"ollama":    {None, Refuse, "400 \"Only base64 images are supported\"; degrade fetches and inlines", evSeed + "; " + evOllamaWire},
		"bedrock":   {None, Refuse, "base64 sources only; degrade fetches and inlines", evAWSSchema + "; " + evImgURL3P},
		"azure":     {Unknown, Pass, "", ""},
		"vertex":    {None, Refuse, "base64 sources only; degrade fetches and inlines", evImgURL3P},
	},
	PDFBase64: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {None, Refuse, "no document input on M2.x", evMinimaxDoc + "; fixtures/evidence/wire.md C"},
		"ollama":    {None, Refuse, "document blocks are silently dropped", evSeed + "; " + evOllamaWire},
		"bedrock":   {Full, Pass, "", "https://platform.claude.com/docs/en/build-with-claude/pdf-support (Amazon Bedrock)"},
		"azure":     {Full, Pass, "", evFoundryMS + "; " + evFoundryOver},
		"vertex":    {Full, Pass, "", "https://platform.claude.com/docs/en/build-with-claude/pdf-support (Vertex AI)"},
	},
	PDFURL: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {None, Refuse, "no document input on M2.x", evMinimaxDoc},
		"ollama":    {None, Refuse, "document blocks are silently dropped", evSeed + "; " + evOllamaWire},
		"bedrock":   {None, Refuse, "base64 sources only; degrade fetches and inlines", evAWSSchema},
		"azure":     {Unknown, Pass, "", ""},
		"vertex":    {Unknown, Pass, "", ""},
	},
	DocumentText: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {None, Degrade, "no document input on M2.x", evMinimaxDoc},
		"ollama":    {None, Degrade, "document blocks are silently dropped", evOllamaWire + "; " + evOllamaSrc},
		"bedrock":   {Unknown, Pass, "", ""},
		"azure":     {Full, Pass, "document blocks of Citations", evFoundryOver + "; " + evFoundryMS},
		"vertex":    {Unknown, Pass, "", ""},
	},
	FileSource: {
		"anthropic": {Full, Pass, "Files API beta", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {None, Refuse, "images must be base64; documents are dropped", evOllamaSrc},
		"bedrock":   {None, Refuse, "the Files API is Claude API only", evLiteLLM + " (files-api: null)"},
		"azure":     {Full, Pass, "Files API (beta)", evFoundryMS + "; " + evFoundryOver},
		"vertex":    {None, Refuse, "the Files API is Claude API only", evLiteLLM + " (files-api: null)"},
	},
	SystemMessages: {
		"anthropic": {Full, Pass, "Claude Code sends one on every request", "fixtures/evidence/claude-code.md; https://platform.claude.com/docs/en/build-with-claude/mid-conversation-system-messages"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {Partial, Pass, "passed to the chat template as a system turn (template-dependent)", evOllamaSrc},
		"bedrock":   {Full, Pass, "", "bedrock/pydantic-ai/test_mid_conversation_system_prompt_on_bedrock.0.json"},
		"azure":     {Unknown, Pass, "Anthropic documents them as not available on Foundry: expect 400; set degrade to send them as user messages (the default stays pass until a degrade case covers it)", evMidConvSys},
		"vertex":    {Unknown, Pass, "", ""},
	},
	ContextManagement: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {None, Strip, "documented as ignored", evMinimaxDoc},
		"ollama":    {None, Strip, "not read (unknown fields are ignored)", evOllamaWire + "; " + evOllamaSrc},
		"bedrock":   {None, Strip, "400 \"context_management: Extra inputs are not permitted\"; the beta is dropped too", "relay/features/fields.go (issue reports cited there); conformance: bedrock/claude-code-session"},
		"azure":     {Full, Pass, "context editing (beta)", evFoundryMS + "; " + evFoundryOver},
		"vertex":    {Unknown, Pass, "the context-management beta is forwarded by other gateways", evLiteLLM},
	},
	DeferLoading: {
		"anthropic": {Full, Pass, "with the advanced-tool-use beta", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {None, Strip, "not read: every tool is loaded up front", evOllamaSrc},
		"bedrock":   {Unknown, Pass, "needs tool-search-tool-2025-10-19, which the beta allowlist substitutes", evLiteLLM},
		"azure":     {Full, Pass, "tool search (beta)", evFoundryOver},
		"vertex":    {Unknown, Pass, "needs tool-search-tool-2025-10-19, which the beta allowlist substitutes", evLiteLLM},
	},
	WebSearch: {
		"anthropic": {Full, Pass, "", "anthropic/pydantic-ai/test_anthropic_model_web_search_tool_stream.0.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {Unknown, Pass, "newer Ollama maps it to its own cloud web_search", evOllamaSrc},
		"bedrock":   {None, Refuse, "400: tool type not allowed", evBedrockNoST},
		"azure":     {Full, Pass, "", evFoundryOver},
		"vertex":    {Unknown, Pass, "the web-search beta is forwarded by other gateways", evLiteLLM},
	},
	WebFetch: {
		"anthropic": {Full, Pass, "", "anthropic/pydantic-ai/test_anthropic_web_fetch_tool_stream.0.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {None, Refuse, "becomes a plain function tool that nobody runs", evOllamaSrc},
		"bedrock":   {None, Refuse, "400: tool type not allowed", evBedrockNoST},
		"azure":     {Full, Pass, "beta", evFoundryMS + "; " + evFoundryOver},
		"vertex":    {Unknown, Pass, "", ""},
	},
	CodeExecution: {
		"anthropic": {Full, Pass, "", "anthropic/pydantic-ai/test_anthropic_code_execution_tool_stream.0.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {None, Refuse, "becomes a plain function tool that nobody runs", evOllamaSrc},
		"bedrock":   {None, Refuse, "400: tool type not allowed", evBedrockNoST},
		"azure":     {Full, Pass, "beta", evFoundryOver},
		"vertex":    {Unknown, Pass, "", ""},
	},
	CountTokens: {
		"anthropic": {Full, Pass, "", "anthropic/pydantic-ai/test_anthropic_count_tokens_with_native_tools.0.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {None, Degrade, "/v1/messages/count_tokens answers 404", evSeed + "; " + evOllamaWire},
		"bedrock":   {Partial, Pass, "count-tokens route via the adapter; some regions and models only", "bedrock/pydantic-ai/test_anthropic_bedrock_count_tokens_real_api.0.json; bedrock/pydantic-ai/test_anthropic_bedrock_count_tokens_error.0.json"},
		"azure":     {Full, Pass, "Token Count API", evFoundryMS + "; " + evFoundryOver},
		"vertex":    {Full, Pass, "count-tokens:rawPredict", "fixtures/evidence/wire.md B.3"},
	},
	AnthropicBeta: {
		"anthropic": {Full, Pass, "", "anthropic/langchaingo/TestClient_WithAnthropicBetaHeader.0.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {None, Strip, "header ignored: no beta feature happens", evOllamaWire},
		"bedrock":   {Partial, Strip, "unknown values: 400 \"invalid beta flag\"; allowlist: BetaAllowlist", "fixtures/evidence/claude-code.md; https://github.com/coder/aibridge/issues/221; " + evLiteLLM},
		"azure":     {Unknown, Pass, "", ""},
		"vertex":    {Partial, Strip, "unknown values: 400; allowlist: BetaAllowlist", "fixtures/evidence/claude-code.md; " + evLiteLLM},
	},
	Temperature: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Partial, Degrade, "range (0, 1]", evMinimaxDoc},
		"ollama":    {Full, Pass, "", "ollama/23-temperature-topk-metadata-nonstream.json"},
		"bedrock":   {Full, Pass, "", evAWSSchema},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	TopK: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {None, Strip, "documented as ignored", evMinimaxDoc},
		"ollama":    {Full, Pass, "", "ollama/23-temperature-topk-metadata-nonstream.json"},
		"bedrock":   {Full, Pass, "", evAWSSchema},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	TopP: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Full, Pass, "documented as fully supported", evMinimaxDoc},
		"ollama":    {Full, Pass, "", "ollama/23-temperature-topk-metadata-nonstream.json"},
		"bedrock":   {Full, Pass, "", evAWSSchema},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	StopSequences: {
		"anthropic": {Full, Pass, "", "anthropic/llm-anthropic/test_prompt_with_prefill_and_stop_sequences.0.json"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {None, Strip, "documented as ignored", evMinimaxDoc},
		"ollama":    {Partial, Degrade, "output stops, but stop_reason is end_turn and stop_sequence is absent", "ollama/06-stop-sequence-nonstream.json"},
		"bedrock":   {Full, Pass, "", evAWSSchema},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	Metadata: {
		"anthropic": {Full, Pass, "", evDocs},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Full, Pass, "documented as fully supported", evMinimaxDoc},
		"ollama":    {None, Strip, "ignored", evOllamaWire + "; ollama/23-temperature-topk-metadata-nonstream.json"},
		"bedrock":   {Full, Pass, "", "bedrock/pydantic-ai/test_anthropic_bedrock_count_tokens_real_api.0.json"},
		"azure":     {Full, Pass, "", evFirstParty},
		"vertex":    {Full, Pass, "", evVertexDoc},
	},
	MaxTokens: {
		"anthropic": {None, Degrade, "above the ceiling: 400; clamped (MaxTokensCeiling; unknown model: no clamp)", "fixtures/evidence/claude-code.md (128000 on the newest models)"},
		"zai":       {Unknown, Pass, "ceilings of the mapped models are not known", ""},
		"minimax":   {Unknown, Pass, "ceilings of the mapped models are not known", ""},
		"ollama":    {Full, Pass, "no ceiling: becomes num_predict", "ollama/04-max-tokens-nonstream.json"},
		"bedrock":   {None, Degrade, "above the ceiling: 400; clamped (MaxTokensCeiling)", "fixtures/evidence/claude-code.md"},
		"azure":     {None, Degrade, "above the ceiling: 400; clamped (MaxTokensCeiling)", "fixtures/evidence/claude-code.md"},
		"vertex":    {None, Degrade, "above the ceiling: 400; clamped (MaxTokensCeiling)", "fixtures/evidence/claude-code.md"},
	},
	UnknownFields: {
		"anthropic": {Full, Pass, "interactive Claude Code sends safeguards", "fixtures/evidence/claude-code.md"},
		"zai":       {Unknown, Pass, "", ""},
		"minimax":   {Unknown, Pass, "", ""},
		"ollama":    {Partial, Pass, "ignored", evOllamaWire},
		"bedrock":   {None, Strip, "400 \"extraneous key [x] is not permitted\"; keys outside FieldAllowlist are removed", "fixtures/evidence/wire.md B.2; relay/features/fields.go"},
		"azure":     {Unknown, Pass, "", ""},
		"vertex":    {None, Strip, "400 \"KEY: Extra inputs are not permitted\"; keys outside FieldAllowlist are removed", "relay/features/fields.go (evidence cited there); https://github.com/anthropics/claude-code/issues/37746"},
	},
}
