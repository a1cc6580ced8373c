package body

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"
)

// Top is what a request body says at its top level, found by the one pass that validates it
// (see Request). Values are those of the key's last occurrence; the booleans that say a
// feature is in use are true when any occurrence uses it (a body with a repeated key is
// refused by the relay anyway, see Duplicate).
type Top struct {
	// Valid reports that the body is structurally valid JSON (see Valid), and Object that it
	// is a JSON object.
	Valid, Object bool
	// Duplicate is the first top-level key that the body has more than once, "" when none.
	// Such a body is ambiguous: the relay would route on one value and the provider read the
	// other, so the relay refuses it.
	Duplicate string
	// HasModel reports a model key and ModelIsString that its value is a string; Model is
	// that string.
	HasModel, ModelIsString bool
	Model                   string
	// HasMessages reports a messages key and MessagesArray that its value is an array.
	HasMessages, MessagesArray bool
	// Stream reports stream: true.
	Stream bool
	// HasMaxTokens reports a max_tokens that is not null, MaxTokens its value.
	HasMaxTokens bool
	MaxTokens    int64
	// HasTemperature reports a temperature that is not null, Temperature its value.
	HasTemperature bool
	Temperature    float64
	// TopK, TopP, Metadata and ContextManagement report those keys with a value that is not
	// null; StopSequences a non-empty stop_sequences array; Effort an output_config with an
	// effort; CacheControl a top-level cache_control that is not null.
	TopK, TopP, Metadata, ContextManagement, StopSequences, Effort, CacheControl bool
	// MetadataUserID is metadata.user_id.
	MetadataUserID string
	// ThinkingType is thinking.type ("" when absent). ThinkingEnabled and ThinkingAdaptive
	// report a thinking of that type; HasThinkingBudget an enabled thinking with a
	// budget_tokens, ThinkingBudget its value.
	ThinkingType                                         string
	ThinkingEnabled, ThinkingAdaptive, HasThinkingBudget bool
	ThinkingBudget                                       int64
	// ToolChoice is tool_choice.type ("" when absent), ToolChoiceTypes every type given (a
	// bit per ToolChoiceAuto... constant), and ToolChoiceJSON its compact JSON, cut to 120
	// bytes, for messages.
	ToolChoice      string
	ToolChoiceTypes uint8
	ToolChoiceJSON  string
	// Unknown are the top-level keys outside the Messages API (KnownTopLevel) whose value is
	// not null, in body order.
	Unknown []string
	// Keys is every top-level key the body has, null or not (OtherKeys for those outside
	// KnownTopLevel).
	Keys KeySet
}

// The bits of Top.ToolChoiceTypes.
const (
	ToolChoiceAuto uint8 = 1 << iota
	ToolChoiceAny
	ToolChoiceTool
	ToolChoiceNone
)

// knownTopLevel are the Messages API body keys (wire.md A) plus the keys the Bedrock and
// Vertex adapters add, each with its own index below 31 (its bit in a KeySet).
var knownTopLevel = map[string]uint8{
	"model": 0, "messages": 1, "system": 2, "max_tokens": 3, "stream": 4,
	"temperature": 5, "top_p": 6, "top_k": 7, "stop_sequences": 8, "tools": 9,
	"tool_choice": 10, "thinking": 11, "metadata": 12, "cache_control": 13,
	"service_tier": 14, "container": 15, "inference_geo": 16, "output_config": 17,
	"speed": 18, "context_management": 19, "mcp_servers": 20,
	"anthropic_version": 21, "anthropic_beta": 22,
}

// KnownTopLevel reports whether key is a Messages API body key (or one the Bedrock and Vertex
// adapters add).
func KnownTopLevel(key string) bool {
	_, ok := knownTopLevel[key]
	return ok
}

// KeySet is a set of top-level keys: one bit per key KnownTopLevel knows, and one bit,
// OtherKeys, for all the others.
type KeySet uint32

// OtherKeys is the bit of the keys outside KnownTopLevel.
const OtherKeys KeySet = 1 << 31

// KeyOf returns the set of key alone: its own bit, or OtherKeys.
func KeyOf(key string) KeySet {
	if i, ok := knownTopLevel[key]; ok {
		return 1 << i
	}
	return OtherKeys
}

// topLevelNames are the keys of knownTopLevel by index.
var topLevelNames = func() (n [31]string) {
	for k, i := range knownTopLevel {
		n[i] = k
	}
	return n
}()

// Names returns the known keys of s in a fixed order (model, messages, system, max_tokens,
// ...); OtherKeys names no key.
func (s KeySet) Names() []string {
	var out []string
	for i, k := range topLevelNames {
		if k != "" && s&(1<<i) != 0 {
			out = append(out, k)
		}
	}
	return out
}

// seen records a top-level key and notes the first one that repeats (Top.Duplicate).
func (t *Top) seen(key string) (known bool) {
	i, known := knownTopLevel[key]
	if known {
		if t.Keys&(1<<i) != 0 && t.Duplicate == "" {
			t.Duplicate = key
		}
		t.Keys |= 1 << i
		return true
	}
	t.Keys |= OtherKeys
	if t.Duplicate == "" {
		for _, k := range t.Unknown {
			if k == key {
				t.Duplicate = strings.Clone(key)
				break
			}
		}
	}
	return false
}

// member reads one member of the root object: k is the raw key with its quotes, val the raw
// value.
func (t *Top) member(k, val []byte) {
	key := String(k[1 : len(k)-1])
	if strings.IndexByte(key, '\\') >= 0 {
		key = gjson.ParseBytes(k).Str
	}
	t.read(key, res(String(val)))
	if key == "cache_control" && string(val) != "null" {
		t.CacheControl = true
	}
}

func (t *Top) read(key string, v gjson.Result) {
	known := t.seen(key)
	switch key {
	case "model":
		t.HasModel, t.ModelIsString = true, v.Type == gjson.String
	case "messages":
		t.HasMessages, t.MessagesArray = true, v.IsArray()
	}
	if v.Type == gjson.Null {
		return
	}
	switch key {
	case "model":
		t.Model = strings.Clone(v.Str)
	case "stream":
		if v.Type == gjson.True {
			t.Stream = true
		}
	case "max_tokens":
		t.MaxTokens, t.HasMaxTokens = v.Int(), true
	case "temperature":
		t.Temperature, t.HasTemperature = v.Float(), true
	case "top_k":
		t.TopK = true
	case "top_p":
		t.TopP = true
	case "stop_sequences":
		if nonEmptyArray(v) {
			t.StopSequences = true
		}
	case "metadata":
		t.Metadata = true
		t.MetadataUserID = strings.Clone(v.Get("user_id").Str)
	case "context_management":
		t.ContextManagement = true
	case "output_config":
		if v.Get("effort").Exists() {
			t.Effort = true
		}
	case "thinking":
		t.ThinkingType = strings.Clone(v.Get("type").Str)
		switch t.ThinkingType {
		case "enabled":
			t.ThinkingEnabled = true
			if b := v.Get("budget_tokens"); b.Exists() {
				t.ThinkingBudget, t.HasThinkingBudget = b.Int(), true
			}
		case "adaptive":
			t.ThinkingAdaptive = true
		}
	case "tool_choice":
		t.ToolChoice = strings.Clone(v.Get("type").Str)
		t.ToolChoiceJSON = compactJSON(v.Raw, 120)
		switch t.ToolChoice {
		case "auto":
			t.ToolChoiceTypes |= ToolChoiceAuto
		case "any":
			t.ToolChoiceTypes |= ToolChoiceAny
		case "tool":
			t.ToolChoiceTypes |= ToolChoiceTool
		case "none":
			t.ToolChoiceTypes |= ToolChoiceNone
		}
	default:
		if !known {
			key = strings.Clone(key) // a view of the body, whose buffer is reused once released
			t.Unknown = append(t.Unknown, key)
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
