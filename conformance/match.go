package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/dnaeon/go-vcr.v2/cassette"
)

// matcher compares the request the relay sends upstream with a cassette's recorded request:
// method, scheme, host and path (the query is ignored: Claude Code's ?beta=true is not part
// of a provider's wire), the headers that carry meaning (anthropic-version, anthropic-beta as
// a set, content-type, and which credential header is used), and the JSON body semantically
// (key order and spacing do not matter; a Bedrock count-tokens body is compared after
// decoding its base64 inner body).
//
// Features the matrix strips or degrades are removed from both bodies before the comparison
// (neutral): a cassette recorded with the feature forced through still matches, and separate
// checks make sure the relay really removed it.
type matcher struct {
	// neutral lists the features whose fields are left out of the body comparison.
	neutral []features.Feature
	// unknown lists the top-level keys counted as unknown fields.
	unknown []string

	mu  sync.Mutex
	why string // why the last request did not match
}

// Match implements cassette.Matcher. It reads r.Body and puts it back.
func (m *matcher) Match(r *http.Request, rec cassette.Request) bool {
	body, err := readAndRestore(r)
	var why []string
	if err != nil {
		why = append(why, "read body: "+err.Error())
	}
	why = append(why, m.compareLine(r, rec)...)
	why = append(why, m.compareHeaders(r.Header, rec.Headers)...)
	if d := m.compareBodies(body, []byte(rec.Body)); d != "" {
		why = append(why, d)
	}
	m.mu.Lock()
	m.why = strings.Join(why, "; ")
	m.mu.Unlock()
	return len(why) == 0
}

// lastMismatch returns why the last request did not match ("" when it did).
func (m *matcher) lastMismatch() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.why
}

// compareLine compares method, scheme, host and decoded path.
func (m *matcher) compareLine(r *http.Request, rec cassette.Request) []string {
	var why []string
	if r.Method != rec.Method {
		why = append(why, fmt.Sprintf("method %s, recorded %s", r.Method, rec.Method))
	}
	ru, err := url.Parse(rec.URL)
	if err != nil {
		return append(why, fmt.Sprintf("recorded url %q: %v", rec.URL, err))
	}
	if ru.Host != "" && (!strings.EqualFold(r.URL.Scheme, ru.Scheme) || !strings.EqualFold(r.URL.Host, ru.Host)) {
		why = append(why, fmt.Sprintf("host %s://%s, recorded %s://%s", r.URL.Scheme, r.URL.Host, ru.Scheme, ru.Host))
	}
	if r.URL.Path != ru.Path {
		why = append(why, fmt.Sprintf("path %s, recorded %s", r.URL.Path, ru.Path))
	}
	return why
}

// compareHeaders compares the meaningful headers present in the recording. Recorders of public
// traffic often dropped headers, so a header absent from the recording is not checked.
func (m *matcher) compareHeaders(sent, rec http.Header) []string {
	var why []string
	if v := rec.Get("Anthropic-Version"); v != "" && sent.Get("Anthropic-Version") != v {
		why = append(why, fmt.Sprintf("anthropic-version %q, recorded %q", sent.Get("Anthropic-Version"), v))
	}
	if rec.Get("Anthropic-Beta") != "" && !slices.Contains(m.neutral, features.AnthropicBeta) {
		s, r := betaSet(sent), betaSet(rec)
		if !slices.Equal(s, r) {
			why = append(why, fmt.Sprintf("anthropic-beta %v, recorded %v", s, r))
		}
	}
	if v := rec.Get("Content-Type"); v != "" && mediaType(sent.Get("Content-Type")) != mediaType(v) {
		why = append(why, fmt.Sprintf("content-type %q, recorded %q", sent.Get("Content-Type"), v))
	}
	for _, h := range []string{"Authorization", "X-Api-Key"} {
		if len(rec.Values(h)) > 0 && len(sent.Values(h)) == 0 {
			why = append(why, fmt.Sprintf("no %s header: the recorded request authenticated with it", h))
		}
	}
	return why
}

// betaSet returns the sorted anthropic-beta values of h.
func betaSet(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Anthropic-Beta") {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" && !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
	}
	slices.Sort(out)
	return out
}

// mediaType returns the media type of a Content-Type value, lower case.
func mediaType(v string) string {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(v))
	}
	return mt
}

// compareBodies compares two bodies: semantically when both are JSON, byte for byte otherwise.
// It returns a description of the difference, or "".
func (m *matcher) compareBodies(sent, rec []byte) string {
	sv, serr := decodeJSON(sent)
	rv, rerr := decodeJSON(rec)
	if serr != nil || rerr != nil {
		if bytes.Equal(bytes.TrimSpace(sent), bytes.TrimSpace(rec)) {
			return ""
		}
		return fmt.Sprintf("body differs (not JSON): sent %d bytes, recorded %d bytes", len(sent), len(rec))
	}
	sv = m.normalise(sv)
	rv = m.normalise(rv)
	if d := cmp.Diff(rv, sv); d != "" {
		return "body differs (-recorded +sent):\n" + clip(d, 3000)
	}
	return ""
}

// decodeJSON decodes a JSON document, keeping numbers exact.
func decodeJSON(b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("empty")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

// normalise decodes a Bedrock count-tokens wrapper and removes the neutral features.
func (m *matcher) normalise(v any) any {
	obj, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if in, ok := lookup(obj, "input", "invokeModel", "body").(string); ok {
		if raw, err := base64.StdEncoding.DecodeString(in); err == nil {
			if inner, err := decodeJSON(raw); err == nil {
				obj["input"].(map[string]any)["invokeModel"].(map[string]any)["body"] = m.normalise(inner)
			}
		}
		return obj
	}
	for _, f := range m.neutral {
		neutralise(obj, f, m.unknown)
	}
	return obj
}

// lookup returns the value at a path of object keys, or nil.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[k]
	}
	return v
}

// neutralise removes what the matrix's strip or degrade action of f may change in a body.
func neutralise(obj map[string]any, f features.Feature, unknown []string) {
	switch f {
	case features.CacheControl:
		deleteEverywhere(obj, "cache_control")
	case features.Metadata:
		delete(obj, "metadata")
	case features.ContextManagement:
		delete(obj, "context_management")
	case features.TopK:
		delete(obj, "top_k")
	case features.TopP:
		delete(obj, "top_p")
	case features.Temperature:
		delete(obj, "temperature")
	case features.StopSequences:
		delete(obj, "stop_sequences")
	case features.MaxTokens:
		delete(obj, "max_tokens")
	case features.AnthropicBeta:
		delete(obj, "anthropic_beta")
	case features.ToolChoiceAuto, features.ToolChoiceAny, features.ToolChoiceTool:
		delete(obj, "tool_choice")
	case features.ToolChoiceNone, features.Tools:
		delete(obj, "tool_choice")
		delete(obj, "tools")
	case features.ThinkingEnabled, features.ThinkingAdaptive, features.ThinkingBudget:
		delete(obj, "thinking")
	case features.DeferLoading:
		for _, t := range asSlice(obj["tools"]) {
			if tm, ok := t.(map[string]any); ok {
				delete(tm, "defer_loading")
			}
		}
	case features.Effort:
		dropEffort(obj)
		for _, msg := range asSlice(obj["messages"]) {
			if mm, ok := msg.(map[string]any); ok {
				dropEffort(mm)
			}
		}
	case features.SystemMessages:
		for _, msg := range asSlice(obj["messages"]) {
			if mm, ok := msg.(map[string]any); ok && mm["role"] == "system" {
				mm["role"] = "user"
				delete(mm, "output_config")
			}
		}
	case features.UnknownFields:
		for _, k := range unknown {
			delete(obj, k)
		}
	}
}

// dropEffort removes output_config.effort, and output_config when nothing else is left.
func dropEffort(obj map[string]any) {
	oc, ok := obj["output_config"].(map[string]any)
	if !ok {
		return
	}
	delete(oc, "effort")
	if len(oc) == 0 {
		delete(obj, "output_config")
	}
}

// deleteEverywhere removes every key named key at any depth.
func deleteEverywhere(v any, key string) {
	switch x := v.(type) {
	case map[string]any:
		delete(x, key)
		for _, e := range x {
			deleteEverywhere(e, key)
		}
	case []any:
		for _, e := range x {
			deleteEverywhere(e, key)
		}
	}
}

// asSlice returns v as a JSON array, or nil.
func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// readAndRestore reads a request body and puts an identical one back.
func readAndRestore(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, err
}

// clip cuts s to at most n bytes.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n…(cut)"
}
