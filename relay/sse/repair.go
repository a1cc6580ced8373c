package sse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/tidwall/gjson"
)

// RepairKind tells what Repairer.Event did with an event.
type RepairKind uint8

const (
	// RepairPass means the event goes out as received: the returned data is the given slice.
	RepairPass RepairKind = iota
	// RepairRepaired means the event goes out with the returned, edited copy of its data, so
	// its Raw bytes can no longer be forwarded: write it with AppendEvent. Notes says what was
	// repaired.
	RepairRepaired
	// RepairAborted means the event must not go out: the stream ends with the error event of
	// Abort (RepairAbort.Data) in its place, and nothing after it.
	RepairAborted
)

// String returns "pass", "repaired" or "abort".
func (k RepairKind) String() string {
	switch k {
	case RepairPass:
		return "pass"
	case RepairRepaired:
		return "repaired"
	case RepairAborted:
		return "abort"
	}
	return "RepairKind(" + strconv.Itoa(int(k)) + ")"
}

// RepairAction is what Repairer.Event did with one event, for the relay to announce (log,
// counter, degradation header or trailer). The zero RepairAction is a pass.
type RepairAction struct {
	// Kind is pass, repaired or abort.
	Kind RepairKind
	// Notes are short key=value notes, one per repair, such as "stream_usage=repaired",
	// "stop_reason=repaired:end_turn" or "tool_input=aborted:array". They are nil for a pass.
	Notes []string
	// Abort is the error to send instead of the event when Kind is RepairAborted.
	Abort *RepairAbort
}

// RepairAbort is an Anthropic error that replaces a response or the rest of a stream that must
// not reach the client as it is.
type RepairAbort struct {
	// Type is the Anthropic error type, e.g. "api_error".
	Type string
	// Message says what the provider did, for the client.
	Message string
}

// Error returns the type and message.
func (a *RepairAbort) Error() string { return a.Type + ": " + a.Message }

// Data returns the JSON data of the SSE error event (or the body of an error response, without
// request_id): {"type":"error","error":{"type":T,"message":M}}.
func (a *RepairAbort) Data() []byte {
	t, _ := json.Marshal(a.Type)
	m, _ := json.Marshal(a.Message)
	b := make([]byte, 0, 48+len(t)+len(m))
	b = append(b, `{"type":"error","error":{"type":`...)
	b = append(b, t...)
	b = append(b, `,"message":`...)
	b = append(b, m...)
	return append(b, "}}"...)
}

// Repair notes. A note names what was wrong and what the repair did.
const (
	NoteStreamUsage       = "stream_usage=repaired"        // message_delta without usage or output_tokens
	NoteMessageStartUsage = "message_start_usage=repaired" // message_start without a usage object
	NoteUsage             = "usage=repaired"               // non-streamed message without usage counts
	NoteToolInputEmpty    = "tool_input=repaired:{}"       // non-streamed tool_use without input
	noteStopReason        = "stop_reason=repaired:"        // + the stop reason put in
	noteToolInputAborted  = "tool_input=aborted:"          // + what the input was
)

// maxToolInput bounds the tool input a Repairer keeps to check at content_block_stop. A larger
// input is only checked to start with '{' and end with '}'.
const maxToolInput = 1 << 20

// toolUseReason is the stop reason given to a message whose last block is a client tool call.
const toolUseReason = "tool_use"

// counts are the token counts of a usage object.
type counts struct {
	input, output, cacheRead, cacheCreation int
}

// readCounts reads the counts of a usage object (its raw JSON) in one pass; missing counts
// are 0.
func readCounts(u string) counts {
	var c counts
	eachField(u, func(k, v string) {
		switch k {
		case "input_tokens":
			c.input = rawInt(v)
		case "output_tokens":
			c.output = rawInt(v)
		case "cache_read_input_tokens":
			c.cacheRead = rawInt(v)
		case "cache_creation_input_tokens":
			c.cacheCreation = rawInt(v)
		}
	})
	return c
}

// rawInt reads a count: an integer as written, or anything else as gjson reads it (a float is
// truncated, a numeric string parsed, other values are 0).
func rawInt(raw string) int {
	if n, err := strconv.Atoi(raw); err == nil {
		return n
	}
	return int(gjson.Parse(raw).Int())
}

// isObject reports whether raw JSON text is an object (by its first byte).
func isObject(raw string) bool {
	i := skipSpace(raw, 0)
	return i < len(raw) && raw[i] == '{'
}

// Repairer repairs, event by event, the faults of providers' Anthropic-compatible streams that
// break clients, and stops a stream whose tool call must not reach the client:
//
//   - A message_delta without usage (MiniMax), or whose usage has no output_tokens, gets one:
//     the count the upstream gave nowhere is estimated from the deltas relayed (see Usage).
//     The npm SDK otherwise throws "Cannot read properties of undefined (reading
//     'output_tokens')".
//   - A message_delta whose stop_reason is empty, missing, not a string or unknown gets
//     end_turn, or tool_use when the last content block was a tool_use (the Go SDK otherwise
//     returns an empty stop reason).
//   - A message_start without a usage object gets {"input_tokens":0,"output_tokens":0}.
//   - A tool_use, server_tool_use or mcp_tool_use block whose input is not a JSON object (a
//     Z.AI model produced an array) is checked at its content_block_stop: that event is
//     answered with RepairAborted and an api_error that the relay sends instead, ending the stream
//     without message_stop. The input is the block's input_json_delta fragments put together
//     ("{}" when they add up to nothing), or its content_block_start input when it had no
//     fragment. Fragments already relayed stay relayed, but the client never sees a complete
//     message carrying that input.
//
// Event never edits the data it is given and allocates nothing for an event it passes, once the
// Repairer's tool input buffer has grown to the stream's largest tool input (Reset keeps it). It
// reads events, it does not check the stream grammar (Checker does): events it cannot make sense
// of pass unchanged.
//
// The zero Repairer is ready to use, for one stream. A Repairer is not safe for concurrent use.
type Repairer struct {
	start, final counts
	// startUsage and finalUsage report that message_start and a message_delta carried a usage
	// object; finalOutput that a message_delta carried output_tokens.
	startUsage, finalUsage, finalOutput bool
	// relayed counts the bytes of text, thinking and partial_json relayed, for the estimate.
	relayed int

	blockOpen  bool
	open       int64  // index of the open block
	toolType   string // type of the open block when it carries a tool input, else ""
	lastTool   bool   // the last block started is a tool_use
	fragments  bool   // an input_json_delta was seen for the open block
	startInput string // what the open tool block's start input is when not an object, else ""
	input      []byte // the open tool block's input so far, unescaped, up to maxToolInput
	overflow   bool   // the input outgrew maxToolInput; only first and last are checked
	first      byte   // first non-space byte of the input, 0 before any
	last       byte   // last non-space byte of the input

	abort   *RepairAbort
	repairs []string
}

// Reset makes r ready for a new stream, keeping its memory.
func (r *Repairer) Reset() {
	*r = Repairer{input: r.input[:0], repairs: r.repairs[:0]}
}

// Repairs returns the notes of every repair and abort so far, in order.
func (r *Repairer) Repairs() []string { return r.repairs }

// Aborted returns the abort that ended the stream, or nil.
func (r *Repairer) Aborted() *RepairAbort { return r.abort }

// OutputEstimate returns the output tokens estimated from what was relayed: a quarter of the
// bytes of the text, thinking and partial_json deltas (as escaped in their JSON strings), rounded
// up. It is an estimate, used only where the provider reported no output count.
func (r *Repairer) OutputEstimate() int { return (r.relayed + 3) / 4 }

// Usage returns the token counts of the stream. Each count is the last message_delta's when it
// is not zero, else message_start's: Z.AI sends zeros in message_start and the real counts only
// in the final message_delta, Anthropic the other way round for input. When no message_delta
// reported output_tokens, output is the larger of message_start's and OutputEstimate. known
// reports whether the provider sent any usage object.
func (r *Repairer) Usage() (input, output, cacheRead, cacheCreation int, known bool) {
	pick := func(final, start int) int {
		if final != 0 {
			return final
		}
		return start
	}
	input = pick(r.final.input, r.start.input)
	cacheRead = pick(r.final.cacheRead, r.start.cacheRead)
	cacheCreation = pick(r.final.cacheCreation, r.start.cacheCreation)
	if r.finalOutput {
		output = pick(r.final.output, r.start.output)
	} else {
		output = max(r.start.output, r.OutputEstimate())
	}
	return input, output, cacheRead, cacheCreation, r.startUsage || r.finalUsage
}

// Event takes one event as relayed, its name (when empty, its data's "type" is used) and data,
// and returns the data to send and what was done. For a pass, out is data itself. For a repair,
// out is an edited copy. For an abort, out is nil; once a stream is aborted, every later event is
// answered with the same abort. Events without data pass.
func (r *Repairer) Event(name string, data []byte) (out []byte, action RepairAction) {
	if r.abort != nil {
		return nil, RepairAction{Kind: RepairAborted, Abort: r.abort}
	}
	if data == nil {
		return data, RepairAction{}
	}
	s := str(data)
	if name == "" {
		name = gjson.Get(s, "type").Str
	}
	switch name {
	case "content_block_delta":
		r.blockDelta(s)
	case "content_block_start":
		r.blockStart(s)
	case "content_block_stop":
		return r.blockStop(s, data)
	case "message_start":
		return r.messageStart(s, data)
	case "message_delta":
		return r.messageDelta(s, data)
	}
	return data, RepairAction{}
}

func (r *Repairer) messageStart(s string, data []byte) ([]byte, RepairAction) {
	m := rawField(s, "message")
	if u := rawField(m, "usage"); isObject(u) {
		r.start, r.startUsage = readCounts(u), true
		return data, RepairAction{}
	}
	if !isObject(m) || !gjson.Valid(s) {
		return data, RepairAction{}
	}
	out, err := body.SetRaw(data, "message.usage", []byte(`{"input_tokens":0,"output_tokens":0}`))
	if err != nil {
		return data, RepairAction{}
	}
	return out, r.repaired(NoteMessageStartUsage)
}

func (r *Repairer) blockStart(s string) {
	r.blockOpen = true
	r.open = gjson.Get(s, "index").Int()
	cb := gjson.Get(s, "content_block")
	typ := cb.Get("type").Str
	r.lastTool = typ == toolUseReason
	r.toolType = ""
	if kindOf(typ) != kindToolUse {
		return
	}
	r.toolType = toolTypeName(typ)
	r.fragments, r.overflow, r.first, r.last = false, false, 0, 0
	r.input = r.input[:0]
	r.startInput = ""
	if in := cb.Get("input"); in.Exists() && !in.IsObject() {
		r.startInput = jsonKind(in.Raw)
	}
}

// toolTypeName returns the constant for a tool block type, so that keeping it allocates nothing.
func toolTypeName(typ string) string {
	switch typ {
	case "tool_use":
		return "tool_use"
	case "server_tool_use":
		return "server_tool_use"
	case "mcp_tool_use":
		return "mcp_tool_use"
	}
	return "tool"
}

func (r *Repairer) blockDelta(s string) {
	// Nearly every event of a stream is a delta, so the fields are read raw, in one pass over
	// each object and without unescaping (gjson unescapes every string it returns, which
	// allocates for the escaped JSON of partial_json and for most text). Delta types are
	// compared as written: Anthropic's are plain ASCII.
	var typ, text, thinking, partial string
	eachField(rawField(s, "delta"), func(k, v string) {
		switch k {
		case "type":
			typ = v
		case "text":
			text = v
		case "thinking":
			thinking = v
		case "partial_json":
			partial = v
		}
	})
	var raw string
	switch typ {
	case `"text_delta"`:
		raw = text
	case `"thinking_delta"`:
		raw = thinking
	case `"input_json_delta"`:
		raw = partial
		if r.toolType != "" && r.blockOpen && gjson.Get(s, "index").Int() == r.open {
			r.addInput(raw)
		}
	default:
		return
	}
	if len(raw) >= 2 && raw[0] == '"' {
		r.relayed += len(raw) - 2
	}
}

// rawField returns the raw JSON text of the value of key in the JSON object obj, or "" when obj
// is not an object or has no such key (a repeated key: the last one). Unlike gjson, it never
// unescapes (nor allocates). Keys are compared as written, escapes included.
func rawField(obj, key string) string {
	found := ""
	eachField(obj, func(k, v string) {
		if k == key {
			found = v
		}
	})
	return found
}

// eachField calls f with each member of the JSON object obj, in order: its key as written
// (without the quotes, escapes left as they are) and the raw JSON text of its value. It stops
// at the first thing that is not a member; obj that is not an object has none.
func eachField(obj string, f func(key, value string)) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return
		}
		end := skipValue(obj, i)
		if end < 0 {
			return
		}
		k := obj[i+1 : end-1]
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		i = skipSpace(obj, i+1)
		end = skipValue(obj, i)
		if end < 0 {
			return
		}
		f(k, obj[i:end])
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ',' {
			return
		}
		i++
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value that starts at s[i], or -1 when it does not end.
// It checks the nesting of strings, objects and arrays only.
func skipValue(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '"':
			if i = stringEnd(s, i+1); i < 0 {
				return -1
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return i // the end of an enclosing value
			}
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i
			}
		}
	}
	if depth == 0 {
		return i
	}
	return -1
}

// stringEnd returns the index of the quote that ends the JSON string whose contents start at
// s[i], or -1 when it does not end. It jumps from quote to quote (strings.IndexByte is
// vectorized): text deltas are mostly plain text.
func stringEnd(s string, i int) int {
	for {
		q := strings.IndexByte(s[i:], '"')
		if q < 0 {
			return -1
		}
		q += i
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for j := q - 1; j >= i && s[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return q
		}
		i = q + 1
	}
}

// addInput adds a partial_json fragment, as its JSON string literal, to the open tool input.
func (r *Repairer) addInput(raw string) {
	r.fragments = true
	from := len(r.input)
	if r.overflow {
		from = 0
	}
	buf, ok := appendUnquoted(r.input[:from], raw)
	if !ok {
		// Not a JSON string: no input can be made of it.
		buf = append(r.input[:from], 0)
	}
	for _, c := range buf[from:] {
		if !isSpace(c) {
			if r.first == 0 {
				r.first = c
			}
			r.last = c
		}
	}
	r.input = buf
	if len(r.input) > maxToolInput {
		r.overflow = true
	}
	if r.overflow {
		r.input = r.input[:0]
	}
}

func (r *Repairer) blockStop(s string, data []byte) ([]byte, RepairAction) {
	tool := r.toolType
	open := r.blockOpen && gjson.Get(s, "index").Int() == r.open
	if open {
		r.blockOpen, r.toolType = false, ""
	}
	if !open || tool == "" {
		return data, RepairAction{}
	}
	got := ""
	switch {
	case !r.fragments:
		got = r.startInput
	case r.overflow:
		if r.first != '{' || r.last != '}' {
			got = "invalid JSON"
			if r.first != '{' {
				got = jsonKind(string(r.first))
			}
		}
	default:
		got = inputKind(r.input)
	}
	if got == "" {
		return data, RepairAction{}
	}
	r.abort = &RepairAbort{Type: "api_error", Message: fmt.Sprintf(
		"provider returned a %s block whose input is not a JSON object (got %s); the stream was stopped", tool, got)}
	note := noteToolInputAborted + strings.ReplaceAll(got, " ", "_")
	r.repairs = append(r.repairs, note)
	return nil, RepairAction{Kind: RepairAborted, Notes: []string{note}, Abort: r.abort}
}

// inputKind returns "" when the tool input text is a JSON object or blank (which stands for
// {}), else what it is: "array", "string", "number", "boolean", "null" or "invalid JSON".
func inputKind(in []byte) string {
	in = bytes.TrimLeft(in, " \t\r\n")
	if len(in) == 0 {
		return ""
	}
	if !gjson.ValidBytes(in) {
		return "invalid JSON"
	}
	if in[0] == '{' {
		return ""
	}
	return jsonKind(str(in))
}

// jsonKind names the kind of the JSON value raw starts with.
func jsonKind(raw string) string {
	raw = strings.TrimLeft(raw, " \t\r\n")
	if raw == "" {
		return "nothing"
	}
	switch c := raw[0]; {
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "number"
	}
	return "invalid JSON"
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func (r *Repairer) messageDelta(s string, data []byte) ([]byte, RepairAction) {
	u := gjson.Get(s, "usage")
	hasOutput := false
	if u.IsObject() {
		r.final, r.finalUsage = readCounts(u.Raw), true
		hasOutput = u.Get("output_tokens").Type == gjson.Number
		r.finalOutput = r.finalOutput || hasOutput
	}
	d := gjson.Get(s, "delta")
	sr := d.Get("stop_reason")
	stopOK := sr.Type == gjson.String && slices.Contains(knownStopReasons, sr.Str)
	if (hasOutput && stopOK) || !gjson.Valid(s) {
		return data, RepairAction{}
	}
	out := data
	var notes []string
	var err error
	if !stopOK {
		reason := "end_turn"
		if r.lastTool {
			reason = toolUseReason
		}
		if d.IsObject() {
			out, err = body.Set(out, "delta.stop_reason", reason)
		} else {
			out, err = body.SetRaw(out, "delta", []byte(`{"stop_reason":"`+reason+`","stop_sequence":null}`))
		}
		if err != nil {
			return data, RepairAction{}
		}
		notes = append(notes, noteStopReason+reason)
	}
	if !hasOutput {
		_, n, _, _, _ := r.Usage()
		if u.IsObject() {
			out, err = body.Set(out, "usage.output_tokens", n)
		} else {
			out, err = body.SetRaw(out, "usage", []byte(`{"output_tokens":`+strconv.Itoa(n)+`}`))
		}
		if err != nil {
			return data, RepairAction{}
		}
		notes = append(notes, NoteStreamUsage)
	}
	return out, r.repaired(notes...)
}

// repaired records notes and returns the action that announces them.
// Note records a change the caller made to the stream itself (a normalized error event), so
// that Repairs announces it with the repairs.
func (r *Repairer) Note(note string) { r.repairs = append(r.repairs, note) }

func (r *Repairer) repaired(notes ...string) RepairAction {
	r.repairs = append(r.repairs, notes...)
	return RepairAction{Kind: RepairRepaired, Notes: notes}
}

// RepairMessage does for a non-streamed response body what Repairer does for a stream: a
// message without usage gets one (output_tokens estimated as a quarter of the bytes of its text,
// thinking and tool inputs), missing input_tokens or output_tokens are added, an empty, missing
// or unknown stop_reason becomes end_turn (tool_use when the last block is a tool_use), and a
// tool_use block without input gets {}. A tool block whose input is not a JSON object makes it
// return a non-nil abort (and nil out): the relay must answer with that error instead.
//
// A body that is not a JSON message (an error, or not JSON) is returned as it is. When nothing
// is repaired, out is body itself and notes is nil.
func RepairMessage(msg []byte) (out []byte, notes []string, abort *RepairAbort) {
	s := str(msg)
	if !gjson.Valid(s) || gjson.Get(s, "type").Str != "message" {
		return msg, nil, nil
	}
	out = msg
	var err error
	text, lastTool := 0, false
	content := gjson.Get(s, "content")
	var paths []string // content.N.input to set to {}
	if content.IsArray() {
		i := 0
		var bad *RepairAbort
		content.ForEach(func(_, cb gjson.Result) bool {
			typ := cb.Get("type").Str
			lastTool = typ == toolUseReason
			for _, f := range [...]string{"text", "thinking"} {
				if v := cb.Get(f); v.Type == gjson.String {
					text += len(v.Raw) - 2
				}
			}
			if kindOf(typ) == kindToolUse {
				in := cb.Get("input")
				switch {
				case !in.Exists():
					paths = append(paths, "content."+strconv.Itoa(i)+".input")
				case !in.IsObject():
					bad = &RepairAbort{Type: "api_error", Message: fmt.Sprintf(
						"provider returned a %s block whose input is not a JSON object (got %s)", typ, jsonKind(in.Raw))}
					notes = append(notes, noteToolInputAborted+jsonKind(in.Raw))
					return false
				default:
					text += len(in.Raw)
				}
			}
			i++
			return true
		})
		if bad != nil {
			return nil, notes, bad
		}
	}
	for _, p := range paths {
		if out, err = body.SetRaw(out, p, []byte("{}")); err != nil {
			return msg, nil, nil
		}
		notes = append(notes, NoteToolInputEmpty)
	}
	if sr := gjson.Get(s, "stop_reason"); sr.Type != gjson.String || !slices.Contains(knownStopReasons, sr.Str) {
		reason := "end_turn"
		if lastTool {
			reason = toolUseReason
		}
		if out, err = body.Set(out, "stop_reason", reason); err != nil {
			return msg, nil, nil
		}
		notes = append(notes, noteStopReason+reason)
	}
	estimate := (text + 3) / 4
	u := gjson.Get(s, "usage")
	switch {
	case !u.IsObject():
		out, err = body.SetRaw(out, "usage",
			[]byte(`{"input_tokens":0,"output_tokens":`+strconv.Itoa(estimate)+`}`))
		notes = append(notes, NoteUsage)
	case u.Get("input_tokens").Type != gjson.Number || u.Get("output_tokens").Type != gjson.Number:
		if u.Get("input_tokens").Type != gjson.Number {
			out, err = body.Set(out, "usage.input_tokens", 0)
		}
		if err == nil && u.Get("output_tokens").Type != gjson.Number {
			out, err = body.Set(out, "usage.output_tokens", estimate)
		}
		notes = append(notes, NoteUsage)
	}
	if err != nil {
		return msg, nil, nil
	}
	return out, notes, nil
}

// appendUnquoted appends the value of the JSON string literal raw (quotes included) to dst. It
// reports false, with dst possibly extended, when raw is not a valid string literal. An escaped
// lone surrogate becomes U+FFFD, as in encoding/json.
func appendUnquoted(dst []byte, raw string) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return dst, false
	}
	s := raw[1 : len(raw)-1]
	for len(s) > 0 {
		i := strings.IndexByte(s, '\\')
		if i < 0 {
			return append(dst, s...), true
		}
		dst = append(dst, s[:i]...)
		s = s[i:]
		if len(s) < 2 {
			return dst, false
		}
		switch c := s[1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r1, ok := hex4(s[2:])
			if !ok {
				return dst, false
			}
			s = s[6:]
			if utf16.IsSurrogate(r1) {
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					if r2, ok := hex4(s[2:]); ok {
						if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
							dst = utf8.AppendRune(dst, r)
							s = s[6:]
							continue
						}
					}
				}
				r1 = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r1)
			continue
		default:
			return dst, false
		}
		s = s[2:]
	}
	return dst, true
}

// hex4 decodes the four hex digits s starts with.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[:4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
