package conformance

import (
	"slices"

	"github.com/ccrelay/ccrelay/relay/features"
)

// Kind says what a case's answer is.
type Kind string

// Kinds of answers.
const (
	// KindMessage is a 200 assistant message, streamed or not.
	KindMessage Kind = "message"
	// KindCount is a 200 count_tokens answer: {"input_tokens": N}.
	KindCount Kind = "count"
	// KindError is an HTTP error in the Anthropic shape.
	KindError Kind = "error"
	// KindStreamError is a 200 stream that ends with an Anthropic error event.
	KindStreamError Kind = "stream-error"
)

// Case is one conformance case: a canonical client request (fixtures/requests/<Name>.json) and
// what must be observed when it goes through the relay to a provider.
type Case struct {
	// Name is the case's name, also the name of its request fixture and of its cassettes.
	Name string
	// Recording, when set, is the case's client request instead of fixtures/requests/<Name>.json:
	// a request real Claude Code sent, fixtures/claude-code/<version>/<scenario>-<n>.json
	// (the cc-<version>-<scenario> cases, claudecode.go).
	Recording string
	// Title says in a few words what the case checks.
	Title string
	// Kind is the kind of answer the client must get.
	Kind Kind
	// Stop lists the stop reasons a message may end with; empty means any valid one.
	Stop []string
	// Blocks lists content block types the message must contain.
	Blocks []string
	// Status and ErrorType are the error a KindError case must end with, unless ErrorBy
	// names another for the provider type (each with its evidence).
	Status    int
	ErrorType string
	ErrorBy   map[string]ErrorWant
	// Probes are the matrix features whose support this case measures. The matrix cites the
	// case as evidence for them (features.CaseName).
	Probes []features.Feature
	// KeepModel sends the model to the provider unmapped (the unknown-model case).
	KeepModel bool
	// Thinking marks cases that need a thinking-capable model when recording.
	Thinking bool
	// Provoked reports whether `--record` can bring the case about on demand. Rate limits and
	// broken streams cannot be: their cassettes stay derived.
	Provoked bool
	// NotApplicable maps a provider type to the reason the case does not apply to it.
	NotApplicable map[string]string

	// Dialect marks an error case whose upstream answer is in the provider's own dialect
	// (relay/features.NormalizeError): the relay must announce a normalization in
	// x-ccrelay-degraded ("error=normalized:RULE") exactly when ErrorWant.Normalized says so,
	// and a normalized message must name the provider type.
	Dialect bool
	// Repairs are the notes of the stream repair (relay/sse.Repairer) the relay must announce
	// for this case, in the X-Ccrelay-Degraded trailer of a stream (the header otherwise).
	Repairs []string
	// DeltaInput requires the client's message to end with a non-zero input_tokens: the
	// provider reports the input count only in message_delta (zero in message_start).
	DeltaInput bool
}

// ErrorWant is the status and Anthropic error type of an error case for one provider type,
// with where that mapping comes from.
type ErrorWant struct {
	Status   int
	Type     string
	Evidence string
	// Normalized says the relay rewrites the provider's answer (a Dialect case): false means
	// the answer is already Anthropic's and must pass unchanged, without the note.
	Normalized bool
}

// errorWant returns the error the case expects from a provider type.
func (c *Case) errorWant(providerType string) ErrorWant {
	if w, ok := c.ErrorBy[providerType]; ok {
		return w
	}
	return ErrorWant{Status: c.Status, Type: c.ErrorType, Evidence: "wire.md A.2", Normalized: c.Dialect}
}

// cases is the case table, in the order reports list them.
var cases = []Case{
	{Name: "text-basic", Title: "non-streaming text answer", Kind: KindMessage,
		Stop: []string{"end_turn"}, Blocks: []string{"text"}, Provoked: true},
	{Name: "text-stream", Title: "streaming text answer (text_delta)", Kind: KindMessage,
		Stop: []string{"end_turn"}, Blocks: []string{"text"}, Provoked: true,
		Probes: []features.Feature{features.Streaming}},
	{Name: "system-blocks", Title: "system as an array of text blocks, multi-turn history", Kind: KindMessage,
		Stop: []string{"end_turn"}, Blocks: []string{"text"}, Provoked: true},
	{Name: "max-tokens-stop", Title: "answer cut by max_tokens (stop_reason max_tokens)", Kind: KindMessage,
		Stop: []string{"max_tokens"}, Provoked: true},
	{Name: "stop-sequence", Title: "streamed answer ended by a stop sequence", Kind: KindMessage,
		Blocks: []string{"text"}, Provoked: true,
		Probes: []features.Feature{features.StopSequences}},
	{Name: "tool-use", Title: "non-streaming tool_use with parsed input", Kind: KindMessage,
		Stop: []string{"tool_use"}, Blocks: []string{"tool_use"}, Provoked: true,
		Probes: []features.Feature{features.Tools}},
	{Name: "tool-use-stream", Title: "streamed tool_use (input_json_delta)", Kind: KindMessage,
		Stop: []string{"tool_use"}, Blocks: []string{"tool_use"}, Provoked: true,
		Probes: []features.Feature{features.Tools}},
	{Name: "tool-result-followup", Title: "answer after a tool_result", Kind: KindMessage,
		Stop: []string{"end_turn"}, Blocks: []string{"text"}, Provoked: true},
	{Name: "thinking-stream", Title: "streamed thinking (thinking_delta, signature_delta)", Kind: KindMessage,
		Stop: []string{"end_turn", "tool_use"}, Blocks: []string{"thinking"}, Thinking: true, Provoked: true,
		Probes: []features.Feature{features.ThinkingEnabled}},
	{Name: "image-base64", Title: "user image, base64 source", Kind: KindMessage,
		Provoked: true, Probes: []features.Feature{features.ImageBase64}},
	{Name: "image-url", Title: "user image, url source", Kind: KindMessage,
		Provoked: true, Probes: []features.Feature{features.ImageURL}},
	{Name: "document-pdf", Title: "PDF document, base64 source", Kind: KindMessage,
		Provoked: true, Probes: []features.Feature{features.PDFBase64}},
	{Name: "cache-control", Title: "prompt caching (cache_control)", Kind: KindMessage,
		Stop: []string{"end_turn"}, Provoked: true, Probes: []features.Feature{features.CacheControl}},
	{Name: "tool-choice-any", Title: "tool_choice any: a tool call is forced", Kind: KindMessage,
		Provoked: true, Probes: []features.Feature{features.ToolChoiceAny}},
	{Name: "tool-choice-tool", Title: "tool_choice tool: a named tool is forced", Kind: KindMessage,
		Provoked: true, Probes: []features.Feature{features.ToolChoiceTool}},
	{Name: "count-tokens", Title: "POST /v1/messages/count_tokens", Kind: KindCount,
		Provoked: true, Probes: []features.Feature{features.CountTokens}},
	{Name: "error-unknown-model", Title: "unknown model: Anthropic-shaped error", Kind: KindError,
		Status: 404, ErrorType: "not_found_error", KeepModel: true, Provoked: true,
		ErrorBy: map[string]ErrorWant{
			"bedrock": {Status: 400, Type: "invalid_request_error", Evidence: "wire.md B.2: ValidationException (invalid model identifier) → 400"},
		}},
	{Name: "error-invalid-request", Title: "invalid request: 400 invalid_request_error", Kind: KindError,
		Status: 400, ErrorType: "invalid_request_error", Provoked: true},
	{Name: "error-rate-limited", Title: "rate limited: 429 rate_limit_error", Kind: KindError,
		Status: 429, ErrorType: "rate_limit_error",
		NotApplicable: map[string]string{
			"ollama": "Ollama has no rate limits; a full queue answers 503 (wire.md B.7), another condition",
		}},
	{Name: "error-midstream", Title: "stream broken after the first events ends with an error event", Kind: KindStreamError},
	{Name: "claude-code-session", Title: "a real Claude Code request (betas, system message, 12 tools)", Kind: KindMessage,
		Provoked: true,
		Probes: []features.Feature{features.SystemMessages, features.ContextManagement, features.DeferLoading,
			features.Effort, features.ThinkingAdaptive, features.AnthropicBeta}},
	// The cases below check the relay's handling of provider dialects (relay/features
	// NormalizeError, relay/sse Repairer). They cannot be provoked on demand, so their
	// cassettes stay documented or derived; each applies where a vendor is known to answer so.
	{Name: "error-billing", Title: "balance or quota exhausted: 402 billing_error, whatever the vendor sent", Kind: KindError,
		Status: 402, ErrorType: "billing_error", Dialect: true,
		ErrorBy: map[string]ErrorWant{
			"anthropic": {Status: 402, Type: "billing_error",
				Evidence: "Anthropic's own 402 billing_error passes unchanged (https://platform.claude.com/docs/en/api/errors)"},
			"zai": {Status: 402, Type: "billing_error", Normalized: true,
				Evidence: "Z.AI code 1113, answered as 429 (https://docs.z.ai/api-reference/api-code; https://github.com/zai-org/feedback/issues/789)"},
			"minimax": {Status: 402, Type: "billing_error", Normalized: true,
				Evidence: "MiniMax code 1008, answered as 500 api_error (https://github.com/MiniMax-AI/MiniMax-M2/issues/62)"},
		},
		NotApplicable: map[string]string{
			"ollama":  "a local server: no account, no balance, no quota",
			"bedrock": "AWS bills the account: no balance or quota error of Bedrock's Messages API is documented (wire.md B.2) or on record",
			"vertex":  "Google Cloud bills the project: no balance or quota error of Vertex AI's Claude endpoint is documented (wire.md B.3) or on record",
			"azure":   "Azure bills the subscription: no balance or quota error of Microsoft Foundry's Claude endpoint is documented (wire.md B.4) or on record",
		}},
	{Name: "error-vendor-type", Title: "an error in the vendor's own dialect (type, code, bare or text body) arrives Anthropic-shaped", Kind: KindError,
		Status: 400, ErrorType: "invalid_request_error", Dialect: true,
		ErrorBy: map[string]ErrorWant{
			"zai": {Status: 400, Type: "invalid_request_error", Normalized: true,
				Evidence: "the bare {\"error\":{\"code\":\"1214\",…}} of https://docs.z.ai/api-reference/api-code"},
			"minimax": {Status: 400, Type: "invalid_request_error", Normalized: true,
				Evidence: "MiniMax's bad_request_error (https://github.com/BigPizzaV3/CodexPlusPlus/issues/267)"},
			"ollama": {Status: 404, Type: "not_found_error", Normalized: true,
				Evidence: "Go's text/plain \"404 page not found\" of an Ollama without /v1/messages (wire.md B.7)"},
		},
		NotApplicable: map[string]string{
			"anthropic": "Anthropic's error types are the ones the others are normalized to (error-unknown-model, error-invalid-request)",
			"azure":     "Microsoft Foundry answers errors in Anthropic's own shape (wire.md B.4); no other dialect of it is on record",
			"bedrock":   "Bedrock's own error format is covered by error-unknown-model, error-invalid-request and error-rate-limited (wire.md B.2)",
			"vertex":    "Google's error shape is covered by error-unknown-model and error-rate-limited (wire.md B.3)",
		}},
	{Name: "stream-missing-usage", Title: "message_delta without usage (and an empty stop_reason) is repaired and announced", Kind: KindMessage,
		Stop: []string{"end_turn"}, Blocks: []string{"text"},
		Repairs: []string{"stream_usage=repaired", "stop_reason=repaired:end_turn"},
		NotApplicable: map[string]string{
			"anthropic": "Anthropic's message_delta carries usage (wire.md A.1)",
			"zai":       "Z.AI's message_delta carries the counts (its zero usage in message_start is stream-zero-start-usage)",
			"ollama":    "Ollama's message_delta carries usage (fixtures/real-traffic/ollama)",
			"bedrock":   "a first-party Anthropic stream in event-stream frames, whose message_delta carries usage (wire.md B.2)",
			"vertex":    "a first-party Anthropic stream, whose message_delta carries usage (wire.md B.3)",
			"azure":     "a first-party Anthropic stream, whose message_delta carries usage (wire.md B.4)",
		}},
	{Name: "stream-zero-start-usage", Title: "zero usage in message_start, the counts only in message_delta, reach the client", Kind: KindMessage,
		Stop: []string{"end_turn"}, Blocks: []string{"text"}, DeltaInput: true,
		NotApplicable: map[string]string{
			"anthropic": "Anthropic reports the input count in message_start (wire.md A.1)",
			"minimax":   "MiniMax's fault is a message_delta without usage (stream-missing-usage)",
			"ollama":    "Ollama reports the input count in message_start (fixtures/real-traffic/ollama)",
			"bedrock":   "a first-party Anthropic stream (wire.md B.2)",
			"vertex":    "a first-party Anthropic stream (wire.md B.3)",
			"azure":     "a first-party Anthropic stream (wire.md B.4)",
		}},
	{Name: "tool-input-not-object", Title: "a streamed tool_use whose input is not a JSON object ends with an error event", Kind: KindStreamError,
		Repairs: []string{"tool_input=aborted:array"},
		NotApplicable: map[string]string{
			"anthropic": "no public report of a non-object tool input from Anthropic",
			"minimax":   "no public report of a non-object tool input from MiniMax",
			"ollama":    "no public report of a non-object tool input from Ollama",
			"bedrock":   "no public report of a non-object tool input from Bedrock",
			"vertex":    "no public report of a non-object tool input from Vertex AI",
			"azure":     "no public report of a non-object tool input from Microsoft Foundry",
		}},
}

// Cases returns the conformance cases in report order.
func Cases() []Case {
	out := make([]Case, len(cases))
	for i, c := range cases {
		out[i] = c
		out[i].Stop = slices.Clone(c.Stop)
		out[i].Blocks = slices.Clone(c.Blocks)
		out[i].Probes = slices.Clone(c.Probes)
		out[i].Repairs = slices.Clone(c.Repairs)
	}
	return out
}

// caseByName returns the case with the given name.
func caseByName(name string) (*Case, bool) {
	for i := range cases {
		if cases[i].Name == name {
			return &cases[i], true
		}
	}
	return nil, false
}

// caseNames returns the names of all cases.
func caseNames() []string {
	out := make([]string, len(cases))
	for i := range cases {
		out[i] = cases[i].Name
	}
	return out
}
