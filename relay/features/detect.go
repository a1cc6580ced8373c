package features

import "github.com/ccrelay/ccrelay/relay/body"

// Usage is what one request uses, as found by Detect.
type Usage struct {
	found [numFeatures]bool
	paths [numFeatures]string

	// Model is the body's model.
	Model string
	// MaxTokens is the body's max_tokens, 0 when absent.
	MaxTokens int64
	// ToolChoice is tool_choice.type ("" when absent) and ToolChoiceJSON its compact JSON,
	// cut to 120 bytes, for messages.
	ToolChoice     string
	ToolChoiceJSON string
	// ThinkingType is thinking.type ("" when absent) and ThinkingBudget its budget_tokens.
	ThinkingType   string
	ThinkingBudget int64
	// Temperature is the body's temperature when HasTemperature.
	Temperature    float64
	HasTemperature bool
	// Betas are the anthropic-beta values given to Detect, one per entry.
	Betas []string
	// UnknownFields are the top-level keys outside the Messages API, in body order.
	UnknownFields []string
	// ToolHistory is the path of the first tool_use or tool_result block, "" when none.
	ToolHistory string
	// CountTokens marks a /v1/messages/count_tokens call. Detect cannot see the route: the
	// caller sets it, and the count_tokens feature is then in use.
	CountTokens bool

	// What the relay routes on, found in the same pass so that it never scans the body again:
	// HasModel reports a model key and ModelIsString that its value is a string; HasMessages a
	// messages key and MessagesArray that it is an array; MetadataUserID is metadata.user_id;
	// ThinkingHistory reports a thinking or redacted_thinking block in an assistant message.
	HasModel, ModelIsString    bool
	HasMessages, MessagesArray bool
	// Valid reports that the body is structurally valid JSON (see body.Valid), found by the
	// same pass.
	Valid           bool
	MetadataUserID  string
	ThinkingHistory bool
	// Shallow marks a Usage from DetectTop: only the top-level parameters were looked at.
	Shallow bool
	// Duplicate is the first top-level key that the body has more than once, "" when none.
	// Such a body is ambiguous: the relay would route on one value and the provider read the
	// other, so the relay refuses it.
	Duplicate string

	// keys are the body's top-level keys, null or not, and topCacheControl reports a top-level
	// cache_control that is not null: what a provider's field list is checked against
	// (Row.unaccepted).
	keys            body.KeySet
	topCacheControl bool
}

// Uses reports whether the request uses f.
func (u *Usage) Uses(f Feature) bool {
	if f == CountTokens {
		return u.CountTokens
	}
	return f >= 0 && f < numFeatures && u.found[f]
}

// Path returns where the request first uses f, as a JSON path such as
// "messages[1].content[0].cache_control", or "" when it does not.
func (u *Usage) Path(f Feature) string {
	if f == CountTokens {
		if u.CountTokens {
			return "POST /v1/messages/count_tokens"
		}
		return ""
	}
	if !u.Uses(f) {
		return ""
	}
	return u.paths[f]
}

// Features returns the features the request uses, in matrix order.
func (u *Usage) Features() []Feature {
	var out []Feature
	for f := Feature(0); f < numFeatures; f++ {
		if u.Uses(f) {
			out = append(out, f)
		}
	}
	return out
}

// mark records that the request uses f, first at path.
func (u *Usage) mark(f Feature, path string) {
	if !u.found[f] {
		u.found[f] = true
		u.paths[f] = path
	}
}

// Detect finds every feature a Messages API request body uses (no unmarshalling; see
// relay/body): top-level parameters, every system block, message and content block (including
// the content of tool_result blocks) and every tool. betas are the anthropic-beta header values
// (comma lists are split). The path of each feature's first use is kept for error messages. A
// body that is not a JSON object uses nothing but its betas.
func Detect(b []byte, betas []string) Usage {
	return UsageOf(body.Parse(b), betas, true)
}

// DetectTop is Detect for the top-level parameters only: it validates the whole body as Detect
// does, but reads no system block, message, content block or tool. The Usage it returns is
// Shallow: the features of the nested nodes (DeepFeature) and ThinkingHistory and ToolHistory
// are not known. A relay uses it when no provider it may send to does anything but pass those
// features (see NeedsDeep).
func DetectTop(b []byte, betas []string) Usage {
	return UsageOf(body.Parse(b), betas, false)
}

// UsageOf returns what the request r uses, with the anthropic-beta header values betas: its
// top-level parameters and, when deep, what it holds below the top level (r walks its body
// then, the first time only). Without deep the Usage is Shallow.
func UsageOf(r *body.Request, betas []string, deep bool) Usage {
	u := Usage{Shallow: !deep}
	u.betas(betas)
	if deep {
		u.nested(r.Nested())
	}
	u.top(r.Top())
	return u
}

// nestedFeatures are the features the body's nested facts stand for.
var nestedFeatures = [...]Feature{
	body.SystemMessage:     SystemMessages,
	body.Effort:            Effort,
	body.CacheControl:      CacheControl,
	body.ImageBase64:       ImageBase64,
	body.ImageURL:          ImageURL,
	body.DocumentBase64:    PDFBase64,
	body.DocumentURL:       PDFURL,
	body.DocumentText:      DocumentText,
	body.FileSource:        FileSource,
	body.ClientTool:        Tools,
	body.WebSearchTool:     WebSearch,
	body.WebFetchTool:      WebFetch,
	body.CodeExecutionTool: CodeExecution,
	body.DeferLoading:      DeferLoading,
}

// nested marks the features found below the top level. It runs before top: the nested facts
// of cache_control and effort include their top-level uses, in document order.
func (u *Usage) nested(n *body.Nested) {
	for fact, f := range nestedFeatures {
		if p, ok := n.First(body.Fact(fact)); ok {
			u.mark(f, p)
		}
	}
	u.ToolHistory, _ = n.First(body.ToolHistory)
	u.ThinkingHistory = n.ThinkingHistory
}

// betas records the anthropic-beta header values (comma lists are split).
func (u *Usage) betas(betas []string) {
	if b := splitBetas(betas); len(b) > 0 {
		if len(b) == len(betas) && &b[0] == &betas[0] {
			b = append([]string(nil), b...) // the caller's header slice is not kept
		}
		u.Betas = b
		u.found[AnthropicBeta] = true
		u.paths[AnthropicBeta] = "anthropic-beta header"
	}
}

// top marks the features of the top-level parameters.
func (u *Usage) top(t *body.Top) {
	u.Valid, u.Duplicate = t.Valid, t.Duplicate
	u.HasModel, u.ModelIsString, u.Model = t.HasModel, t.ModelIsString, t.Model
	u.HasMessages, u.MessagesArray = t.HasMessages, t.MessagesArray
	u.MetadataUserID = t.MetadataUserID
	u.MaxTokens = t.MaxTokens
	u.Temperature, u.HasTemperature = t.Temperature, t.HasTemperature
	u.ThinkingType, u.ThinkingBudget = t.ThinkingType, t.ThinkingBudget
	u.ToolChoice, u.ToolChoiceJSON = t.ToolChoice, t.ToolChoiceJSON
	u.UnknownFields = t.Unknown
	u.keys, u.topCacheControl = t.Keys, t.CacheControl
	for _, m := range []struct {
		f    Feature
		on   bool
		path string
	}{
		{Streaming, t.Stream, "stream"},
		{MaxTokens, t.HasMaxTokens, "max_tokens"},
		{Temperature, t.HasTemperature, "temperature"},
		{TopK, t.TopK, "top_k"},
		{TopP, t.TopP, "top_p"},
		{StopSequences, t.StopSequences, "stop_sequences"},
		{Metadata, t.Metadata, "metadata"},
		{ContextManagement, t.ContextManagement, "context_management"},
		{Effort, t.Effort, "output_config.effort"},
		{ThinkingEnabled, t.ThinkingEnabled, "thinking"},
		{ThinkingBudget, t.HasThinkingBudget, "thinking.budget_tokens"},
		{ThinkingAdaptive, t.ThinkingAdaptive, "thinking"},
		{ToolChoiceAuto, t.ToolChoiceTypes&body.ToolChoiceAuto != 0, "tool_choice"},
		{ToolChoiceAny, t.ToolChoiceTypes&body.ToolChoiceAny != 0, "tool_choice"},
		{ToolChoiceTool, t.ToolChoiceTypes&body.ToolChoiceTool != 0, "tool_choice"},
		{ToolChoiceNone, t.ToolChoiceTypes&body.ToolChoiceNone != 0, "tool_choice"},
		{CacheControl, t.CacheControl, "cache_control"},
	} {
		if m.on {
			u.mark(m.f, m.path)
		}
	}
	if len(t.Unknown) > 0 {
		u.mark(UnknownFields, t.Unknown[0])
	}
}

// DeepFeature reports whether f can be used below the top level of a body (in a system block,
// a message, a content block or a tool), or whether its decision depends on what is there
// (removing tools, or tool_choice none, is refused when the history holds tool blocks):
// DetectTop does not see it.
func DeepFeature(f Feature) bool {
	switch f {
	case Tools, ToolChoiceNone, Effort, CacheControl, ImageBase64, ImageURL, PDFBase64, PDFURL,
		DocumentText, FileSource, SystemMessages, DeferLoading, WebSearch, WebFetch, CodeExecution:
		return true
	}
	return false
}

// NeedsDeep reports whether requests for a provider of this type, with these overrides, need
// the full Detect: whether any deep feature's action is something other than pass. When it is
// false for every provider a request may go to, DetectTop decides the same.
func NeedsDeep(providerType string, overrides map[string]string) bool {
	return NewRow(providerType, overrides).NeedsDeep()
}
