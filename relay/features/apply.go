package features

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Apply carries out a decision on a request body and returns the body to forward and the
// notes for the x-ccrelay-degraded response header ("cache_control=stripped",
// "tool_choice=dropped", "thinking_budget=not_enforced", "max_tokens=clamped:32000", ...), in
// matrix order.
//
// Edits are made one path at a time, from the end of the body backwards, as sjson makes them
// but in a single copy of body (see run): every byte that is not edited (key order, spacing,
// escapes, number spelling) stays as it was, and body itself is never modified. Content
// blocks are replaced, never removed, so no content array becomes empty and no text block is
// empty. When nothing needs editing, body is returned as is.
//
// maxTokensCeiling is the mapped model's max_tokens ceiling (MaxTokensCeiling); 0 means unknown
// and disables the clamp. A decision with a refusal returns the *Refusal as the error. With
// image_url or pdf_url set to degrade, run Inliner.Inline first: a URL source left in the body
// is an error.
func Apply(body []byte, d Decision, maxTokensCeiling int) ([]byte, []string, error) {
	if r := d.Refusal(); r != nil {
		return body, nil, r
	}
	a := applier{d: &d, body: body}
	for _, it := range d.Items {
		a.act[it.Feature] = it.Action
	}
	a.plan(maxTokensCeiling)
	if a.needWalk {
		walk(body, a.visit)
		if a.err != nil {
			return body, nil, a.err
		}
		a.finishTools()
	}
	out, err := a.run()
	if err != nil {
		return body, nil, err
	}
	u := a.d.usage
	if a.strips(UnknownFields) {
		k, left := leftover(out)
		// sjson cannot address every key spelling: a key it misreads is left in place, or
		// (a key that is only an escaped quote) its removal breaks the JSON. Either way the
		// client is told, and nothing broken is sent.
		if !left && len(u.UnknownFields) > 0 && u.Valid && !ValidStructure(out) {
			k, left = u.UnknownFields[0], true
		}
		if left {
			return body, nil, &Refusal{Feature: UnknownFields, Path: k, Status: 400, Type: "invalid_request_error",
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

// leftover returns a top-level key outside the Messages API still in body (sjson cannot
// address every key spelling).
func leftover(body []byte) (string, bool) {
	it := newIter(bytesToString(body))
	for {
		k, _, ok := it.next()
		if !ok {
			return "", false
		}
		if !isKnownTop(k) {
			return k, true
		}
	}
}

type editOp uint8

const (
	opDelete editOp = iota
	opSetRaw
)

type edit struct {
	op   editOp
	path string
	raw  []byte
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
	unknownNoted            int
	removedToolNames        []string
	toolChoiceName          string

	edits []edit
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
				// Inliner.Inline has replaced the URL sources; the walk checks that none is left.
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

func (a *applier) del(path string)                 { a.edits = append(a.edits, edit{op: opDelete, path: path}) }
func (a *applier) set(path string, raw []byte)     { a.edits = append(a.edits, edit{opSetRaw, path, raw}) }
func (a *applier) note(f Feature, v string)        { a.done[f] = v }
func (a *applier) strips(f Feature) bool           { return a.act[f] == Strip }
func (a *applier) degrades(f Feature) bool         { return a.act[f] == Degrade }
func (a *applier) fail(format string, args ...any) { a.err = fmt.Errorf(format, args...) }

func (a *applier) visit(e *event) {
	if a.err != nil {
		return
	}
	switch e.kind {
	case evTopKey:
		a.top(e.key, e.value)
	case evCache:
		if a.strips(CacheControl) {
			a.del(e.loc.path("cache_control"))
			a.note(CacheControl, "stripped")
		}
	case evMessage:
		if e.role == "system" && a.degrades(SystemMessages) {
			a.set(e.loc.path("role"), []byte(`"user"`))
			a.note(SystemMessages, "as_user")
		}
	case evMessageKey:
		if e.key == "output_config" {
			if e.role == "system" && a.degrades(SystemMessages) {
				a.del(e.loc.path("output_config"))
			} else if a.strips(Effort) {
				a.stripEffort(e.loc, e.value)
			}
		}
	case evBlock:
		a.block(e)
	case evTool:
		a.toolCount++
		if f, ok := serverTool(e.btype); ok && a.strips(f) {
			a.del(e.loc.path(""))
			a.toolsRemoved++
			a.removedToolNames = append(a.removedToolNames, e.value.Get("name").Str)
			a.note(f, "stripped")
		} else if e.deferred && a.strips(DeferLoading) {
			a.del(e.loc.path("defer_loading"))
			a.note(DeferLoading, "stripped")
		}
	}
}

func (a *applier) top(key string, v gjson.Result) {
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
			a.stripEffort(topLoc, v)
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
	default:
		if !isKnownTop(key) && a.strips(UnknownFields) {
			a.del(escapePathKey(key))
			switch a.unknownNoted++; {
			case a.unknownNoted == 1:
				a.done[UnknownFields] = "stripped:" + noteKey(key)
			case a.unknownNoted <= 5:
				a.done[UnknownFields] += "+" + noteKey(key)
			case a.unknownNoted == 6:
				a.done[UnknownFields] += "+more"
			}
		}
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
func (a *applier) stripEffort(l loc, oc gjson.Result) {
	if !oc.Get("effort").Exists() {
		return
	}
	n := 0
	oc.ForEach(func(_, _ gjson.Result) bool { n++; return true })
	if n == 1 {
		a.del(l.path("output_config"))
	} else {
		a.del(l.path("output_config.effort"))
	}
	a.note(Effort, "stripped")
}

func (a *applier) block(e *event) {
	var f Feature
	switch {
	case e.btype == "image" && e.stype == "base64":
		f = ImageBase64
	case e.btype == "image" && e.stype == "url":
		f = ImageURL
	case e.btype == "document" && e.stype == "base64":
		f = PDFBase64
	case e.btype == "document" && e.stype == "url":
		f = PDFURL
	case e.btype == "document" && (e.stype == "text" || e.stype == "content"):
		f = DocumentText
	case (e.btype == "image" || e.btype == "document") && e.stype == "file":
		f = FileSource
	default:
		return
	}
	switch a.act[f] {
	case Strip:
		a.set(e.loc.path(""), a.textBlock(e.value, "[ccrelay: "+blockNoun(f)+" left out: not supported by "+a.d.ProviderType+"]"))
		a.note(f, "stripped")
	case Degrade:
		switch f {
		case ImageURL, PDFURL:
			a.fail("the URL source at %s was not inlined: call Inliner.Inline before Apply", e.loc.human(""))
		case DocumentText:
			a.set(e.loc.path(""), a.textBlock(e.value, documentText(e.value)))
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

// documentText returns the text of a text or content document.
func documentText(doc gjson.Result) string {
	src := doc.Get("source")
	if src.Get("type").Str == "text" {
		return src.Get("data").Str
	}
	c := src.Get("content")
	if c.Type == gjson.String {
		return c.Str
	}
	var parts []string
	c.ForEach(func(_, b gjson.Result) bool {
		if t := b.Get("text").Str; t != "" {
			parts = append(parts, t)
		}
		return true
	})
	return strings.Join(parts, "\n\n")
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

// run applies the edits from the last to the first, skipping edits under a deleted path. It
// copies the body once and makes the edits in that copy (spliceEdit): an sjson call per edit
// would copy the whole body again for every edit.
func (a *applier) run() ([]byte, error) {
	if len(a.edits) == 0 {
		return a.body, nil
	}
	var deleted []string
	grow := 0 // the most the edits can lengthen the body by
	for _, e := range a.edits {
		if e.op == opDelete {
			deleted = append(deleted, e.path)
		}
		grow += len(e.raw)
	}
	out := make([]byte, len(a.body), len(a.body)+grow)
	copy(out, a.body)
	for i := len(a.edits) - 1; i >= 0; i-- {
		e := a.edits[i]
		if under(e.path, deleted) {
			continue
		}
		var ok bool
		if out, ok = spliceEdit(out, e); ok {
			continue
		}
		var err error
		switch e.op {
		case opDelete:
			out, err = sjson.DeleteBytes(out, e.path)
		case opSetRaw:
			out, err = sjson.SetRawBytes(out, e.path, e.raw)
		}
		if err != nil {
			return nil, fmt.Errorf("edit %s: %w", e.path, err)
		}
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

// spliceEdit makes e in doc, in place, giving the bytes sjson.DeleteBytes or
// sjson.SetRawBytes would give, and reports whether it did. It takes the paths Apply nearly
// always has: parts of [A-Za-z0-9_-] (but not "-1", which sjson's delete reads as the last
// element) that all resolve. sjson looks each part up with gjson.Get in the value the
// previous part found, then replaces the last value found, or removes it with what
// deleteTailItem cuts before it or, when that is nothing, the comma after it within the
// enclosing value; spliceEdit makes the same lookups and cuts. With any other path, a part
// that does not resolve, a value gjson does not place at its index or no room to grow, it
// leaves doc as it is and returns false, and the caller has sjson make the edit.
func spliceEdit(doc []byte, e edit) ([]byte, bool) {
	for i := 0; i < len(e.path); i++ {
		c := e.path[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return doc, false
		}
	}
	s := bytesToString(doc)
	lo, hi := 0, len(s) // the value the lookup is in, as sjson recurses into it
	path := e.path
	for {
		part, rest, more := strings.Cut(path, ".")
		if part == "-1" {
			return doc, false
		}
		r := gjson.Get(s[lo:hi], part)
		if r.Index <= 0 || r.Index+len(r.Raw) > hi-lo || s[lo+r.Index:lo+r.Index+len(r.Raw)] != r.Raw {
			return doc, false
		}
		if !more {
			if len(doc)-len(r.Raw)+len(e.raw) > cap(doc) {
				return doc, false
			}
			return splice(doc, lo+r.Index, lo+r.Index+len(r.Raw), hi, e), true
		}
		lo, hi, path = lo+r.Index, lo+r.Index+len(r.Raw), rest
	}
}

// splice replaces doc[start:end] with e.raw, or for a delete removes it as sjson does; hi is
// the end of the enclosing value. doc must have the capacity for e.raw.
func splice(doc []byte, start, end, hi int, e edit) []byte {
	if e.op == opDelete {
		head, delNextComma := deleteTailItem(doc[:start])
		if delNextComma {
			for i := end; i < hi; i++ {
				if doc[i] <= ' ' {
					continue
				}
				if doc[i] == ',' {
					end = i + 1
				}
				break
			}
		}
		n := copy(doc[len(head):], doc[end:])
		return doc[:len(head)+n]
	}
	old := doc
	doc = doc[:len(doc)-(end-start)+len(e.raw)]
	copy(doc[start+len(e.raw):], old[end:])
	copy(doc[start:], e.raw)
	return doc
}

// deleteTailItem returns what stays of buf, the body before a deleted value, and whether the
// comma after the value must go instead. It follows the rules of sjson v1.2.9's delete (MIT
// licence), quirks included, so that the bytes are the ones sjson would give: scanning back,
// '[' means the value was the first of its array (the comma after it goes); ',' is cut with
// everything after it; ':' means an object member, whose key is found (see deleteKey).
func deleteTailItem(buf []byte) ([]byte, bool) {
	for i := len(buf) - 1; i >= 0; i-- {
		switch buf[i] {
		case '[':
			return buf, true
		case ',':
			return buf[:i], false
		case ':':
			return deleteKey(buf, i)
		}
	}
	return buf, false
}

// deleteKey cuts the key before buf[colon]: back to the key's closing quote, then to its
// opening quote (a quote right after a backslash is taken as escaped, and the byte before the
// backslash is not looked at, as in sjson), then to the '{' (kept; the comma after the value
// goes) or ',' (cut) before it. Without them nothing is cut.
func deleteKey(buf []byte, colon int) ([]byte, bool) {
	i := colon - 1
	for i >= 0 && buf[i] != '"' {
		i--
	}
	if i < 0 {
		return buf, false
	}
	for i--; i >= 0; i-- {
		if buf[i] != '"' {
			continue
		}
		if i > 0 && buf[i-1] == '\\' {
			i -= 2 // with the loop's i--: the scan goes on three bytes before the quote
			continue
		}
		for i--; i >= 0; i-- {
			switch buf[i] {
			case '{':
				return buf[:i+1], true
			case ',':
				return buf[:i], false
			}
		}
		return buf, false
	}
	return buf, false
}

// under reports whether path lies strictly inside one of the deleted paths.
func under(path string, deleted []string) bool {
	for _, p := range deleted {
		if len(path) > len(p) && path[len(p)] == '.' && path[:len(p)] == p {
			return true
		}
	}
	return false
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

// pathSpecial are the characters sjson and gjson give a meaning in paths.
const pathSpecial = `.*?|#@\!=<>%":`

// escapePathKey escapes a key for use as an sjson path.
func escapePathKey(k string) string {
	if !strings.ContainsAny(k, pathSpecial) {
		return k
	}
	var b strings.Builder
	for _, r := range k {
		if strings.ContainsRune(pathSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
