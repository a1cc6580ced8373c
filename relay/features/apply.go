package features

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/tidwall/gjson"
)

// Apply carries out a decision on a request body and returns the body to forward and the
// notes for the x-ccrelay-degraded response header ("cache_control=stripped",
// "tool_choice=dropped", "thinking_budget=not_enforced", "max_tokens=clamped:32000", ...), in
// matrix order.
//
// Edits are asked of relay/body (body.Edits), which makes them one path at a time, from the end
// of the body backwards, as sjson makes them but in a single copy of body: every byte that is not edited (key order, spacing,
// escapes, number spelling) stays as it was, and body itself is never modified. Content
// blocks are replaced, never removed, so no content array becomes empty and no text block is
// empty. When nothing needs editing, body is returned as is.
//
// maxTokensCeiling is the mapped model's max_tokens ceiling (MaxTokensCeiling); 0 means unknown
// and disables the clamp. A decision with a refusal returns the *Refusal as the error. With
// image_url or pdf_url set to degrade, run fetch.Inliner.Inline (relay/fetch) first: a URL
// source left in the body is an error.
func Apply(b []byte, d Decision, maxTokensCeiling int) ([]byte, []string, error) {
	if r := d.Refusal(); r != nil {
		return b, nil, r
	}
	a := applier{d: &d, body: b}
	for _, it := range d.Items {
		a.act[it.Feature] = it.Action
	}
	a.plan(maxTokensCeiling)
	if a.needWalk {
		body.Walk(b, a.visit)
		if a.err != nil {
			return b, nil, a.err
		}
		a.finishTools()
	}
	out, err := a.run()
	if err != nil {
		return b, nil, err
	}
	if a.strips(UnknownFields) {
		k, left := a.d.leftover(out)
		// sjson cannot address every key spelling: a key it misreads is left in place, or
		// (a key that is only an escaped quote) its removal breaks the JSON. Either way the
		// client is told, and nothing broken is sent.
		if !left && a.unknownNoted > 0 && a.d.usage.Valid && !body.Valid(out) {
			k, left = a.firstUnknown, true
		}
		if left {
			return b, nil, &Refusal{Feature: UnknownFields, Path: k, Status: 400, Type: "invalid_request_error",
				Message: fmt.Sprintf("provider (%s) does not accept the top-level key %q and the relay cannot remove it; remove it from the request", a.d.ProviderType, k)}
		}
	}
	return out, a.notes(), nil
}

// Inert reports that Apply would change nothing: every feature passes, and a max_tokens
// degrade (the clamp) finds the request within maxTokensCeiling. A caller can then skip Apply.
func (d *Decision) Inert(maxTokensCeiling int) bool {
	for _, it := range d.Items {
		switch {
		case it.Action == Pass:
		case it.Feature == MaxTokens && it.Action == Degrade && !overCeiling(d.usage, maxTokensCeiling):
		default:
			return false
		}
	}
	return true
}

// overCeiling reports whether the request's max_tokens is above a known ceiling (the clamp).
func overCeiling(u *Usage, ceiling int) bool {
	return ceiling > 0 && u.MaxTokens > int64(ceiling)
}

// leftover returns a top-level key the provider does not accept still in body (sjson cannot
// address every key spelling).
func (d *Decision) leftover(b []byte) (string, bool) {
	k := ""
	body.Keys(b, func(key string) bool {
		if !d.accepts(key) {
			k = key
			return false
		}
		return true
	})
	return k, k != ""
}

// accepts reports whether the provider takes a top-level key: one of its field list
// (FieldAllowlist) or, without a list, one of the Messages API.
func (d *Decision) accepts(key string) bool {
	if d.listed {
		return d.fields&body.KeyOf(key) != 0
	}
	return body.KnownTopLevel(key)
}

type applier struct {
	d    *Decision
	body []byte
	act  [numFeatures]Action

	needWalk       bool
	removeTools    bool  // delete tools and tool_choice
	dropToolChoice bool  // delete tool_choice
	newMax         int64 // clamped max_tokens, 0 when not clamped
	newBudget      int64 // clamped thinking budget, 0 when not clamped
	adaptiveBudget int64 // budget for thinking_adaptive=degrade, 0 when stripped instead
	newTemp        float64
	clampTemp      bool

	toolCount, toolsRemoved int
	unknownNoted            int    // keys removed by unknown_fields
	firstUnknown            string // the first of them
	removedToolNames        []string
	toolChoiceName          string

	edits body.Edits
	done  [numFeatures]string // note value per feature ("" = no note)
	extra []string            // notes that are not named after their feature (tools=removed)
	err   error
}

// plan decides which edits are needed before walking, from the decision alone.
func (a *applier) plan(ceiling int) {
	u := a.d.usage
	for _, it := range a.d.Items {
		f, act := it.Feature, it.Action
		switch act {
		case Strip:
			if f != AnthropicBeta {
				a.needWalk = true
			}
		case Degrade:
			switch f {
			case ThinkingBudget:
				if a.d.Action(ThinkingEnabled) != Strip {
					a.done[f] = "not_enforced"
				}
			case StopSequences:
				a.done[f] = "no_stop_reason"
			case CountTokens:
				a.done[f] = "estimated"
			case ImageURL, PDFURL:
				// fetch.Inliner.Inline has replaced the URL sources; the walk checks that none is left.
				a.needWalk, a.done[f] = true, "inlined"
			case MaxTokens:
				if overCeiling(u, ceiling) {
					a.needWalk, a.newMax = true, int64(ceiling)
				}
			case Temperature:
				if r, ok := temperatureRanges[a.d.ProviderType]; ok && !r.contains(u.Temperature) {
					a.needWalk, a.clampTemp = true, true
					a.newTemp = r.clamp(u.Temperature)
				}
			default:
				a.needWalk = true
			}
		}
	}
	if a.act[AnthropicBeta] == Strip && len(a.d.DroppedBetas) > 0 {
		a.done[AnthropicBeta] = "stripped:" + strconv.Itoa(len(a.d.DroppedBetas))
	}
	a.removeTools = a.act[Tools] == Strip || a.act[ToolChoiceNone] == Degrade
	a.dropToolChoice = a.removeTools || a.act[ToolChoiceAuto] == Degrade ||
		a.act[ToolChoiceAny] == Degrade || a.act[ToolChoiceTool] == Degrade
	maxT := u.MaxTokens
	if a.newMax > 0 {
		maxT = a.newMax
		if u.ThinkingType == "enabled" && u.ThinkingBudget >= a.newMax && a.newMax > 1024 {
			a.newBudget = a.newMax - 1
		}
	}
	if a.act[ThinkingAdaptive] == Degrade {
		a.adaptiveBudget = min(maxT-1, 31999)
		if a.adaptiveBudget < 1024 {
			a.adaptiveBudget = 0
		}
	}
}

func (a *applier) del(path string)                 { a.edits.Delete(path) }
func (a *applier) set(path string, raw []byte)     { a.edits.SetRaw(path, raw) }
func (a *applier) note(f Feature, v string)        { a.done[f] = v }
func (a *applier) strips(f Feature) bool           { return a.act[f] == Strip }
func (a *applier) degrades(f Feature) bool         { return a.act[f] == Degrade }
func (a *applier) fail(format string, args ...any) { a.err = fmt.Errorf(format, args...) }

func (a *applier) visit(e *body.Node) {
	if a.err != nil {
		return
	}
	switch e.Kind {
	case body.TopKey:
		a.top(e.Key, e.Value)
	case body.Cache:
		if a.strips(CacheControl) {
			a.del(e.Loc.Path("cache_control"))
			a.note(CacheControl, "stripped")
		}
	case body.Message:
		if e.Role == "system" && a.degrades(SystemMessages) {
			a.set(e.Loc.Path("role"), []byte(`"user"`))
			a.note(SystemMessages, "as_user")
		}
	case body.MessageKey:
		if e.Key == "output_config" {
			if e.Role == "system" && a.degrades(SystemMessages) {
				a.del(e.Loc.Path("output_config"))
			} else if a.strips(Effort) {
				a.stripEffort(e.Loc, e.Value)
			}
		}
	case body.Block:
		a.block(e)
	case body.Tool:
		a.toolCount++
		if f, ok := serverTool(e.Type); ok && a.strips(f) {
			a.del(e.Loc.Path(""))
			a.toolsRemoved++
			a.removedToolNames = append(a.removedToolNames, e.Value.Get("name").Str)
			a.note(f, "stripped")
		} else if e.Deferred && a.strips(DeferLoading) {
			a.del(e.Loc.Path("defer_loading"))
			a.note(DeferLoading, "stripped")
		}
	}
}

func (a *applier) top(key string, v gjson.Result) {
	if a.strips(UnknownFields) && !a.d.accepts(key) && !a.ownRowRemoves(key, v) {
		a.stripUnknown(key)
		return
	}
	switch key {
	case "tools":
		if a.removeTools {
			a.del("tools")
		}
	case "tool_choice":
		a.toolChoiceName = v.Get("name").Str
		if a.dropToolChoice {
			a.del("tool_choice")
		}
	case "thinking":
		typ := v.Get("type").Str
		switch {
		case typ == "enabled" && a.strips(ThinkingEnabled):
			a.del("thinking")
			a.note(ThinkingEnabled, "stripped")
		case typ == "adaptive" && a.strips(ThinkingAdaptive):
			a.del("thinking")
			a.note(ThinkingAdaptive, "stripped")
		case typ == "adaptive" && a.degrades(ThinkingAdaptive):
			if a.adaptiveBudget == 0 {
				a.del("thinking")
				a.note(ThinkingAdaptive, "stripped")
				break
			}
			a.set("thinking", []byte(`{"type":"enabled","budget_tokens":`+strconv.FormatInt(a.adaptiveBudget, 10)+`}`))
			a.note(ThinkingAdaptive, "as_enabled:"+strconv.FormatInt(a.adaptiveBudget, 10))
		case typ == "enabled" && a.newBudget > 0:
			a.set("thinking.budget_tokens", []byte(strconv.FormatInt(a.newBudget, 10)))
			a.note(ThinkingBudget, "clamped:"+strconv.FormatInt(a.newBudget, 10))
		}
	case "output_config":
		if a.strips(Effort) {
			a.stripEffort(body.TopLoc, v)
		}
	case "max_tokens":
		if a.newMax > 0 {
			a.set("max_tokens", []byte(strconv.FormatInt(a.newMax, 10)))
			a.note(MaxTokens, "clamped:"+strconv.FormatInt(a.newMax, 10))
		}
	case "temperature":
		if a.strips(Temperature) {
			a.del(key)
			a.note(Temperature, "stripped")
		} else if a.clampTemp {
			s := strconv.FormatFloat(a.newTemp, 'g', -1, 64)
			a.set(key, []byte(s))
			a.note(Temperature, "clamped:"+s)
		}
	case "context_management", "metadata", "top_k", "top_p", "stop_sequences":
		f := topKeyFeature(key)
		if a.strips(f) && v.Type != gjson.Null {
			a.del(key)
			a.note(f, "stripped")
		}
	}
}

// ownRowRemoves reports whether a top-level key outside the provider's list is removed by its
// own row instead (whose note it then gets): context_management and cache_control that are not
// null, when their rows strip. Row.unaccepted leaves the same keys out.
func (a *applier) ownRowRemoves(key string, v gjson.Result) bool {
	switch key {
	case "context_management":
		return a.strips(ContextManagement) && v.Type != gjson.Null
	case "cache_control":
		return a.strips(CacheControl) && v.Type != gjson.Null
	}
	return false
}

// stripUnknown removes a top-level key the provider does not accept, and notes it:
// unknown_fields=stripped:KEY+KEY, five keys at most, then +more.
func (a *applier) stripUnknown(key string) {
	a.del(body.PathKey(key))
	switch a.unknownNoted++; {
	case a.unknownNoted == 1:
		a.firstUnknown = key
		a.done[UnknownFields] = "stripped:" + noteKey(key)
	case a.unknownNoted <= 5:
		a.done[UnknownFields] += "+" + noteKey(key)
	case a.unknownNoted == 6:
		a.done[UnknownFields] += "+more"
	}
}

func topKeyFeature(key string) Feature {
	switch key {
	case "context_management":
		return ContextManagement
	case "metadata":
		return Metadata
	case "top_k":
		return TopK
	case "top_p":
		return TopP
	}
	return StopSequences
}

// stripEffort removes effort from an output_config, or the whole output_config when effort
// is all it holds.
func (a *applier) stripEffort(l body.Loc, oc gjson.Result) {
	if !oc.Get("effort").Exists() {
		return
	}
	n := 0
	oc.ForEach(func(_, _ gjson.Result) bool { n++; return true })
	if n == 1 {
		a.del(l.Path("output_config"))
	} else {
		a.del(l.Path("output_config.effort"))
	}
	a.note(Effort, "stripped")
}

func (a *applier) block(e *body.Node) {
	var f Feature
	switch {
	case e.Type == "image" && e.SourceType == "base64":
		f = ImageBase64
	case e.Type == "image" && e.SourceType == "url":
		f = ImageURL
	case e.Type == "document" && e.SourceType == "base64":
		f = PDFBase64
	case e.Type == "document" && e.SourceType == "url":
		f = PDFURL
	case e.Type == "document" && (e.SourceType == "text" || e.SourceType == "content"):
		f = DocumentText
	case (e.Type == "image" || e.Type == "document") && e.SourceType == "file":
		f = FileSource
	default:
		return
	}
	switch a.act[f] {
	case Strip:
		a.set(e.Loc.Path(""), a.textBlock(e.Value, "[ccrelay: "+blockNoun(f)+" left out: not supported by "+a.d.ProviderType+"]"))
		a.note(f, "stripped")
	case Degrade:
		switch f {
		case ImageURL, PDFURL:
			a.fail("the URL source at %s was not inlined: call Inliner.Inline before Apply", e.Loc.Human(""))
		case DocumentText:
			a.set(e.Loc.Path(""), a.textBlock(e.Value, body.DocumentTextOf(e.Value)))
			a.note(f, "as_text")
		}
	}
}

// blockNoun names a replaced block in its placeholder text.
func blockNoun(f Feature) string {
	switch f {
	case ImageBase64, ImageURL:
		return "image"
	case PDFBase64, PDFURL:
		return "PDF document"
	case DocumentText:
		return "document"
	}
	return "file"
}

// textBlock builds the text block that replaces orig, keeping its cache_control unless
// cache_control is being stripped. An empty text says so instead of being empty.
func (a *applier) textBlock(orig gjson.Result, text string) []byte {
	if strings.TrimSpace(text) == "" {
		text = "[ccrelay: empty document left out]"
	}
	var b bytes.Buffer
	b.WriteString(`{"type":"text","text":`)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(text)
	b.Truncate(b.Len() - 1) // Encode adds a newline
	if cc := orig.Get("cache_control"); cc.Exists() && !a.strips(CacheControl) {
		b.WriteString(`,"cache_control":`)
		b.WriteString(cc.Raw)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// finishTools removes tools and tool_choice when stripping server tools left no tool, and
// tool_choice when it named a removed tool.
func (a *applier) finishTools() {
	if a.toolsRemoved == 0 || a.removeTools {
		return
	}
	if a.toolsRemoved == a.toolCount {
		a.del("tools")
		if a.d.usage.ToolChoice != "" {
			a.del("tool_choice")
		}
		return
	}
	if a.d.usage.ToolChoice == "tool" && contains(a.removedToolNames, a.toolChoiceName) && !a.dropToolChoice {
		a.del("tool_choice")
	}
}

// run makes the edits asked for in one copy of the body (body.Edits.Apply).
func (a *applier) run() ([]byte, error) {
	out, err := a.edits.Apply(a.body)
	if err != nil {
		return nil, err
	}
	if a.removeTools {
		if a.act[Tools] == Strip {
			a.note(Tools, "stripped")
		} else {
			a.extra = append(a.extra, "tools=removed")
		}
	}
	return out, nil
}

// notes returns the header notes in matrix order.
func (a *applier) notes() []string {
	var out []string
	toolChoice := false
	for f := Feature(0); f < numFeatures; f++ {
		switch f {
		case ToolChoiceAuto, ToolChoiceAny, ToolChoiceTool, ToolChoiceNone:
			if a.act[f] == Degrade && !toolChoice {
				out = append(out, "tool_choice=dropped")
				toolChoice = true
			}
			continue
		}
		if a.done[f] != "" {
			out = append(out, f.String()+"="+a.done[f])
		}
		if f == Tools {
			out = append(out, a.extra...)
		}
	}
	return out
}

// noteKey makes a client's key safe for a response header note: at most 40 bytes of
// [A-Za-z0-9_.-], anything else as "_".
func noteKey(k string) string {
	b := []byte(k[:min(len(k), 40)])
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// serverTool returns the server-tool feature of a tool type, if it is one.
func serverTool(typ string) (Feature, bool) {
	switch f, ok := body.ServerTool(typ); {
	case !ok:
		return 0, false
	case f == body.WebSearchTool:
		return WebSearch, true
	case f == body.WebFetchTool:
		return WebFetch, true
	}
	return CodeExecution, true
}
