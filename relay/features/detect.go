package features

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"
)

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
	// Valid reports that the body is structurally valid JSON (see validStructure), found by
	// the same pass.
	Valid           bool
	MetadataUserID  string
	ThinkingHistory bool
	lastRole        string
	// Shallow marks a Usage from DetectTop: only the top-level parameters were looked at.
	Shallow bool
	// Duplicate is the first top-level key that the body has more than once, "" when none.
	// Such a body is ambiguous: the relay would route on one value and the provider read the
	// other, so the relay refuses it.
	Duplicate string
	seenTop   uint32 // bit i: the known top-level key of index i was seen
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

func (u *Usage) mark(f Feature, l loc, suffix string) {
	if !u.found[f] {
		u.found[f] = true
		u.paths[f] = l.human(suffix)
	}
}

// knownTopLevel are the Messages API body keys (wire.md A) plus the keys the Bedrock and
// Vertex adapters add, each with its own index below 32 (for Usage.seenTop).
var knownTopLevel = map[string]uint8{
	"model": 0, "messages": 1, "system": 2, "max_tokens": 3, "stream": 4,
	"temperature": 5, "top_p": 6, "top_k": 7, "stop_sequences": 8, "tools": 9,
	"tool_choice": 10, "thinking": 11, "metadata": 12, "cache_control": 13,
	"service_tier": 14, "container": 15, "inference_geo": 16, "output_config": 17,
	"speed": 18, "context_management": 19, "mcp_servers": 20,
	"anthropic_version": 21, "anthropic_beta": 22,
}

// seen records a top-level key and notes the first one that repeats (Usage.Duplicate).
func (u *Usage) seen(key string) (known bool) {
	i, known := knownTopLevel[key]
	switch {
	case known:
		if u.seenTop&(1<<i) != 0 && u.Duplicate == "" {
			u.Duplicate = key
		}
		u.seenTop |= 1 << i
	case u.Duplicate == "":
		for _, k := range u.UnknownFields {
			if k == key {
				u.Duplicate = strings.Clone(key)
				break
			}
		}
	}
	return known
}

// Detect finds every feature a Messages API request body uses, in one pass over the body (no
// unmarshalling; see walk.go): top-level parameters, every system block, message and content block
// (including the content of tool_result blocks) and every tool. betas are the anthropic-beta
// header values (comma lists are split). The path of each feature's first use is kept for error
// messages. A body that is not a JSON object uses nothing but its betas.
func Detect(body []byte, betas []string) Usage {
	var u Usage
	u.betas(betas)
	u.Valid = walk(body, func(e *event) {
		switch e.kind {
		case evTopKey:
			u.top(e.key, e.value)
		case evMessage:
			u.lastRole = e.role
			if e.role == "system" {
				u.mark(SystemMessages, e.loc, "role")
			}
		case evMessageKey:
			if e.key == "output_config" && e.value.Get("effort").Exists() {
				u.mark(Effort, e.loc, "output_config.effort")
			}
		case evBlock:
			u.block(e)
			if e.loc.area == areaMessages && u.lastRole == "assistant" && (e.btype == "thinking" || e.btype == "redacted_thinking") {
				u.ThinkingHistory = true
			}
		case evCache:
			u.mark(CacheControl, e.loc, "cache_control")
		case evTool:
			if f, ok := serverTool(e.btype); ok {
				u.mark(f, e.loc, "")
			} else {
				u.mark(Tools, e.loc, "")
			}
			if e.deferred {
				u.mark(DeferLoading, e.loc, "defer_loading")
			}
		}
	})
	return u
}

// DetectTop is Detect for the top-level parameters only: it validates the whole body as Detect
// does, in one pass without the structural index, but reads no system block, message, content
// block or tool. The Usage it returns is Shallow: the features of the nested nodes (DeepFeature)
// and ThinkingHistory and ToolHistory are not known. A relay uses it when no provider it may
// send to does anything but pass those features (see NeedsDeep): it is about 40% cheaper.
func DetectTop(body []byte, betas []string) Usage {
	u := Usage{Shallow: true}
	u.betas(betas)
	v := validator{b: body, top: &u}
	v.ws()
	u.Valid = v.value(0)
	v.ws()
	u.Valid = u.Valid && v.i == len(v.b)
	return u
}

// topMember reads one member of the root object for DetectTop: k is the raw key with its
// quotes, val the raw value.
func (u *Usage) topMember(k, val []byte) {
	key := bytesToString(k[1 : len(k)-1])
	if strings.IndexByte(key, '\\') >= 0 {
		key = gjson.ParseBytes(k).Str
	}
	u.top(key, res(bytesToString(val)))
	if key == "cache_control" && string(val) != "null" {
		u.mark(CacheControl, topLoc, "cache_control") // as the walk's evCache
	}
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

func (u *Usage) top(key string, v gjson.Result) {
	known := u.seen(key)
	switch key {
	case "model":
		u.HasModel, u.ModelIsString = true, v.Type == gjson.String
	case "messages":
		u.HasMessages, u.MessagesArray = true, v.IsArray()
	}
	if v.Type == gjson.Null {
		return
	}
	switch key {
	case "model":
		u.Model = strings.Clone(v.Str)
	case "stream":
		if v.Type == gjson.True {
			u.mark(Streaming, topLoc, "stream")
		}
	case "max_tokens":
		u.MaxTokens = v.Int()
		u.mark(MaxTokens, topLoc, "max_tokens")
	case "temperature":
		u.Temperature, u.HasTemperature = v.Float(), true
		u.mark(Temperature, topLoc, "temperature")
	case "top_k":
		u.mark(TopK, topLoc, "top_k")
	case "top_p":
		u.mark(TopP, topLoc, "top_p")
	case "stop_sequences":
		if nonEmptyArray(v) {
			u.mark(StopSequences, topLoc, "stop_sequences")
		}
	case "metadata":
		u.mark(Metadata, topLoc, "metadata")
		u.MetadataUserID = strings.Clone(v.Get("user_id").Str)
	case "context_management":
		u.mark(ContextManagement, topLoc, "context_management")
	case "output_config":
		if v.Get("effort").Exists() {
			u.mark(Effort, topLoc, "output_config.effort")
		}
	case "thinking":
		u.ThinkingType = strings.Clone(v.Get("type").Str)
		switch u.ThinkingType {
		case "enabled":
			u.mark(ThinkingEnabled, topLoc, "thinking")
			if b := v.Get("budget_tokens"); b.Exists() {
				u.ThinkingBudget = b.Int()
				u.mark(ThinkingBudget, topLoc, "thinking.budget_tokens")
			}
		case "adaptive":
			u.mark(ThinkingAdaptive, topLoc, "thinking")
		}
	case "tool_choice":
		u.ToolChoice = strings.Clone(v.Get("type").Str)
		u.ToolChoiceJSON = compactJSON(v.Raw, 120)
		switch u.ToolChoice {
		case "auto":
			u.mark(ToolChoiceAuto, topLoc, "tool_choice")
		case "any":
			u.mark(ToolChoiceAny, topLoc, "tool_choice")
		case "tool":
			u.mark(ToolChoiceTool, topLoc, "tool_choice")
		case "none":
			u.mark(ToolChoiceNone, topLoc, "tool_choice")
		}
	default:
		if !known {
			key = strings.Clone(key) // a view of the body, which the relay reuses once released
			u.UnknownFields = append(u.UnknownFields, key)
			u.mark(UnknownFields, topLoc, key)
		}
	}
}

func (u *Usage) block(e *event) {
	switch e.btype {
	case "image":
		switch e.stype {
		case "base64":
			u.mark(ImageBase64, e.loc, "")
		case "url":
			u.mark(ImageURL, e.loc, "")
		case "file":
			u.mark(FileSource, e.loc, "")
		}
	case "document":
		switch e.stype {
		case "base64":
			u.mark(PDFBase64, e.loc, "")
		case "url":
			u.mark(PDFURL, e.loc, "")
		case "text", "content":
			u.mark(DocumentText, e.loc, "")
		case "file":
			u.mark(FileSource, e.loc, "")
		}
	case "tool_use", "tool_result":
		if u.ToolHistory == "" && e.loc.area == areaMessages {
			u.ToolHistory = e.loc.human("")
		}
	}
}

func nonEmptyArray(v gjson.Result) bool {
	n := false
	v.ForEach(func(_, _ gjson.Result) bool {
		n = true
		return false
	})
	return n && v.IsArray()
}

// compactJSON returns raw without insignificant whitespace, cut to max bytes.
func compactJSON(raw string, max int) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(raw)) != nil {
		b.Reset()
		b.WriteString(raw)
	}
	s := b.String()
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
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

// isKnownTop reports whether key is a Messages API body key (knownTopLevel).
func isKnownTop(key string) bool {
	_, ok := knownTopLevel[key]
	return ok
}
