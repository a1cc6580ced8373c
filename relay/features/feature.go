package features

import (
	"fmt"
	"strings"
)

// Feature is one capability a Messages API request can use. Its String form is the name used
// as a key of a provider's `features:` configuration map.
type Feature int

// Features, in the order the matrix is printed.
const (
	Streaming Feature = iota
	Tools
	ToolChoiceAuto
	ToolChoiceAny
	ToolChoiceTool
	ToolChoiceNone
	ThinkingEnabled
	ThinkingAdaptive
	ThinkingBudget
	Effort
	CacheControl
	ImageBase64
	ImageURL
	PDFBase64
	PDFURL
	DocumentText
	FileSource
	SystemMessages
	ContextManagement
	DeferLoading
	WebSearch
	WebFetch
	CodeExecution
	CountTokens
	AnthropicBeta
	Temperature
	TopK
	TopP
	StopSequences
	Metadata
	MaxTokens
	UnknownFields

	numFeatures
)

// Support says how well a provider implements a feature.
type Support string

// Support levels. Unknown means no public source says; the conformance suite finds out.
const (
	Full    Support = "full"
	Partial Support = "partial"
	None    Support = "none"
	Unknown Support = "unknown"
)

// Action is what the relay does with a used feature before forwarding a request.
type Action string

// Actions. Pass forwards the request as it is; Strip removes the feature from the request;
// Degrade replaces it with the closest honest behaviour (documented per feature, see
// Feature.Degrades); Refuse answers 400 without calling the provider.
const (
	Pass    Action = "pass"
	Strip   Action = "strip"
	Degrade Action = "degrade"
	Refuse  Action = "refuse"
)

// featureSpec describes a feature independently of any provider.
type featureSpec struct {
	name    string
	title   string   // what it is, for the rendered table (markdown)
	what    string   // what it is, in plain words, for refusal messages
	actions []Action // valid actions, in the order they are listed to users
	strips  string   // what Strip does ("" when Strip is not valid)
	degrade string   // what Degrade does ("" when Degrade is not valid)
	effect  string   // how the refusal message describes Degrade (or Strip): "to drop it"
}

var (
	pdr  = []Action{Pass, Degrade, Refuse}
	psr  = []Action{Pass, Strip, Refuse}
	psdr = []Action{Pass, Strip, Degrade, Refuse}
	pr   = []Action{Pass, Refuse}
	pd   = []Action{Pass, Degrade}
)

const placeholder = "replace the block by a short text block saying what was left out (content arrays never become empty)"

var specs = [numFeatures]featureSpec{
	Streaming: {name: "streaming", title: "SSE streaming (`stream: true`)", what: "streaming", actions: pr},
	Tools: {name: "tools", title: "client tools (`tools[]` with `input_schema`)", what: "tools", actions: psr,
		strips: "remove `tools` and `tool_choice`; refused instead when messages hold tool_use/tool_result blocks",
		effect: "to remove the tools"},
	ToolChoiceAuto: {name: "tool_choice_auto", title: "`tool_choice: {type: auto}`", actions: pdr,
		degrade: "drop `tool_choice` (auto is the default; `disable_parallel_tool_use` is lost)",
		effect:  "to drop it"},
	ToolChoiceAny: {name: "tool_choice_any", title: "`tool_choice: {type: any}`", actions: pdr,
		degrade: "drop `tool_choice`: the model may answer without calling a tool",
		effect:  "to drop it"},
	ToolChoiceTool: {name: "tool_choice_tool", title: "`tool_choice: {type: tool, name}`", actions: pdr,
		degrade: "drop `tool_choice`: the model may call another tool or none",
		effect:  "to drop it"},
	ToolChoiceNone: {name: "tool_choice_none", title: "`tool_choice: {type: none}`", actions: pdr,
		degrade: "remove `tools` and `tool_choice` so no tool can be called; refused instead when messages hold tool_use/tool_result blocks (removing the tools would break them)",
		effect:  "to remove the tools instead"},
	ThinkingEnabled: {name: "thinking_enabled", title: "`thinking: {type: enabled, budget_tokens}`", what: "extended thinking (type enabled)", actions: psr,
		strips: "remove `thinking`", effect: "to remove it"},
	ThinkingAdaptive: {name: "thinking_adaptive", title: "`thinking: {type: adaptive}`", what: "adaptive thinking", actions: psdr,
		strips:  "remove `thinking`",
		degrade: "rewrite to `{type: enabled, budget_tokens: min(max_tokens-1, 31999)}`",
		effect:  "to send enabled thinking with a budget instead"},
	ThinkingBudget: {name: "thinking_budget", title: "`budget_tokens` enforced as a limit", what: "enforced thinking budgets", actions: pdr,
		degrade: "forward unchanged and note that the budget is not enforced",
		effect:  "to send it unenforced"},
	Effort: {name: "effort", title: "`output_config.effort` (top level and in system messages)", what: "output_config.effort", actions: psr,
		strips: "remove `effort` (and `output_config` when it held nothing else)", effect: "to remove it"},
	CacheControl: {name: "cache_control", title: "prompt caching (`cache_control` on any block, tool or top level)", what: "prompt caching (cache_control)", actions: psr,
		strips: "remove every `cache_control` key", effect: "to remove it"},
	ImageBase64: {name: "image_base64", title: "image block, `source.type: base64`", what: "base64 images", actions: psr,
		strips: placeholder, effect: "to leave the image out"},
	ImageURL: {name: "image_url", title: "image block, `source.type: url`", what: "image URLs", actions: psdr,
		strips:  placeholder,
		degrade: "fetch the image (Inliner: size cap, timeout, host allowlist, public addresses only) and send it as base64",
		effect:  "to fetch it and send it inline"},
	PDFBase64: {name: "pdf_base64", title: "PDF document, `source.type: base64`", what: "PDF documents", actions: psr,
		strips: placeholder, effect: "to leave the document out"},
	PDFURL: {name: "pdf_url", title: "PDF document, `source.type: url`", what: "PDF documents by URL", actions: psdr,
		strips:  placeholder,
		degrade: "fetch the PDF (Inliner) and send it as base64",
		effect:  "to fetch it and send it inline"},
	DocumentText: {name: "document_text", title: "text document (`source.type: text` or `content`)", what: "text documents", actions: psdr,
		strips:  placeholder,
		degrade: "replace the document by a text block holding its text (title and citations are lost)",
		effect:  "to send it as a text block"},
	FileSource: {name: "file_source", title: "Files API reference (`source.type: file`)", what: "Files API sources (source.type file)", actions: psr,
		strips: placeholder, effect: "to leave the file out"},
	SystemMessages: {name: "system_messages", title: "`role: system` messages inside `messages`", what: "system messages inside messages", actions: pdr,
		degrade: "send them as `role: user` messages and drop their `output_config`",
		effect:  "to send them as user messages"},
	ContextManagement: {name: "context_management", title: "`context_management` (server-side context editing)", what: "context_management", actions: psr,
		strips: "remove `context_management`", effect: "to remove it"},
	DeferLoading: {name: "defer_loading", title: "`defer_loading` on tools (tool search)", what: "deferred tool loading (defer_loading)", actions: psr,
		strips: "remove `defer_loading` from every tool (the tools are then loaded up front)", effect: "to load the tools up front"},
	WebSearch: {name: "web_search", title: "server tool `web_search_*`", what: "the web search server tool", actions: psr,
		strips: "remove the tool from `tools` (and `tools`/`tool_choice` when nothing is left)", effect: "to remove the tool"},
	WebFetch: {name: "web_fetch", title: "server tool `web_fetch_*`", what: "the web fetch server tool", actions: psr,
		strips: "remove the tool from `tools` (and `tools`/`tool_choice` when nothing is left)", effect: "to remove the tool"},
	CodeExecution: {name: "code_execution", title: "server tool `code_execution_*`", what: "the code execution server tool", actions: psr,
		strips: "remove the tool from `tools` (and `tools`/`tool_choice` when nothing is left)", effect: "to remove the tool"},
	CountTokens: {name: "count_tokens", title: "`POST /v1/messages/count_tokens`", what: "token counting (/v1/messages/count_tokens)", actions: pdr,
		degrade: "answer locally with Estimate (header says `count_tokens=estimated`)",
		effect:  "to answer with a local estimate"},
	AnthropicBeta: {name: "anthropic_beta", title: "`anthropic-beta` header values", actions: psr,
		strips: "forward only the values in the provider's allowlist (BetaAllowlist), renamed where the provider spells them differently",
		effect: "to drop the unknown values"},
	Temperature: {name: "temperature", title: "`temperature` within the provider's range", actions: psdr,
		strips:  "remove `temperature`",
		degrade: "clamp into the provider's range (minimax: (0, 1], 0 becomes 0.01)",
		effect:  "to clamp it"},
	TopK: {name: "top_k", title: "`top_k`", what: "top_k", actions: psr, strips: "remove `top_k`", effect: "to remove it"},
	TopP: {name: "top_p", title: "`top_p`", what: "top_p", actions: psr, strips: "remove `top_p`", effect: "to remove it"},
	StopSequences: {name: "stop_sequences", title: "`stop_sequences` (and `stop_reason: stop_sequence`)", what: "stop_sequences", actions: psdr,
		strips:  "remove `stop_sequences`",
		degrade: "forward unchanged and note that the stop is not reported as `stop_sequence`",
		effect:  "to send it anyway"},
	Metadata: {name: "metadata", title: "`metadata.user_id`", what: "metadata", actions: psr, strips: "remove `metadata`", effect: "to remove it"},
	MaxTokens: {name: "max_tokens", title: "`max_tokens` above the mapped model's output ceiling", what: "max_tokens above the model ceiling", actions: pd,
		degrade: "clamp to the ceiling given to Apply (MaxTokensCeiling; unknown model: no clamp), and a thinking budget to ceiling-1"},
	UnknownFields: {name: "unknown_fields", title: "top-level keys the provider does not accept: outside the Messages API (e.g. `safeguards`), or on bedrock and vertex outside their FieldAllowlist", actions: psr,
		strips: "remove those keys", effect: "to remove them"},
}

// String returns the feature's configuration name, such as "tool_choice_any".
func (f Feature) String() string {
	if f < 0 || f >= numFeatures {
		return fmt.Sprintf("feature(%d)", int(f))
	}
	return specs[f].name
}

// Title returns a short description of the feature for tables.
func (f Feature) Title() string { return specs[f].title }

// Actions returns the actions a configuration may choose for the feature.
func (f Feature) Actions() []Action { return append([]Action(nil), specs[f].actions...) }

// Strips returns what the Strip action does to a request, or "" when Strip is not valid.
func (f Feature) Strips() string { return specs[f].strips }

// Degrades returns what the Degrade action does to a request, or "" when Degrade is not valid.
func (f Feature) Degrades() string { return specs[f].degrade }

// Valid reports whether a is a valid action for the feature.
func (f Feature) Valid(a Action) bool {
	for _, x := range specs[f].actions {
		if x == a {
			return true
		}
	}
	return false
}

// AllFeatures returns every feature in matrix order.
func AllFeatures() []Feature {
	out := make([]Feature, numFeatures)
	for i := range out {
		out[i] = Feature(i)
	}
	return out
}

// FeatureNames returns every feature's configuration name in matrix order.
func FeatureNames() []string {
	out := make([]string, numFeatures)
	for i := range out {
		out[i] = specs[i].name
	}
	return out
}

// ParseFeature returns the feature with the given configuration name.
func ParseFeature(name string) (Feature, bool) {
	for i := range specs {
		if specs[i].name == name {
			return Feature(i), true
		}
	}
	return 0, false
}

func joinActions(as []Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
