package sse

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/tidwall/gjson"
)

// ErrIncomplete is returned by Checker.End when the stream ended without message_stop or error:
// the relay must then end the stream itself with an error event.
var ErrIncomplete = errors.New("sse: stream ended without message_stop or error")

// GrammarError is a violation of the Anthropic stream grammar found by Checker, or an event that
// Accumulator cannot use. Its message names the event, e.g.
// "sse: event 7 (content_block_delta): index 2 but the open block is 1".
type GrammarError struct {
	// Index is the position of the event in the stream, counting from 0 the events that carry
	// data (blocks without a data line are not counted).
	Index int
	// Event is the event name.
	Event string
	// Msg says what was wrong or expected.
	Msg string
}

// Error returns the message with the event index and name.
func (e *GrammarError) Error() string {
	return fmt.Sprintf("sse: event %d (%s): %s", e.Index, e.Event, e.Msg)
}

// Checker phases.
const (
	phaseBeforeStart = iota // nothing but ping yet
	phaseBlocks             // after message_start: content blocks
	phaseDelta              // after message_delta: only message_stop may follow
	phaseStopped            // after message_stop
	phaseErrored            // after error
)

// blockKind tells which deltas a content block accepts.
type blockKind uint8

const (
	kindOther    blockKind = iota // start and stop only (server tool results and unknown types)
	kindText                      // text_delta, citations_delta
	kindToolUse                   // input_json_delta
	kindThinking                  // thinking_delta, then at most one signature_delta
	kindRedacted                  // no delta
)

func kindOf(blockType string) blockKind {
	switch blockType {
	case "text":
		return kindText
	case "tool_use", "server_tool_use", "mcp_tool_use":
		return kindToolUse
	case "thinking":
		return kindThinking
	case "redacted_thinking":
		return kindRedacted
	}
	return kindOther
}

// knownStopReasons are the stop reasons of the Messages API; others are accepted with a warning.
var knownStopReasons = []string{
	"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
	"model_context_window_exceeded",
}

// Checker validates that a sequence of events follows the Anthropic Messages stream grammar:
//
//	ping* message_start
//	( content_block_start content_block_delta* content_block_stop )*   indexes 0, 1, 2…
//	message_delta message_stop
//
// with ping allowed anywhere before the end, at most one block open at a time, deltas that fit
// the open block's type, and error (data {"type":"error","error":{"type","message"}}) accepted
// anywhere as the last event. Every event's data must be JSON whose "type" is the event name.
//
// Events with nil Data (comment-only blocks, see Event) are ignored. Unknown event names are
// accepted and recorded in Unknown. One real-traffic quirk is accepted with a note in Warnings:
// Bedrock may send message_delta with stop_reason "max_tokens" while a block is still open
// (no content_block_stop); the block is then treated as closed.
//
// The zero Checker is ready to use. After the first violation, Feed and End keep returning it.
type Checker struct {
	// Unknown lists the unknown event names seen, each once, in order of appearance.
	Unknown []string
	// Warnings lists accepted deviations from the grammar.
	Warnings []string

	n        int // index of the next event
	phase    int
	started  bool // a block is open
	open     int  // index of the open block
	kind     blockKind
	sigSeen  bool
	next     int    // index the next block must have
	openType []byte // type of the open block, for messages
	err      error
}

// Reset makes c ready for a new stream, keeping its memory.
func (c *Checker) Reset() {
	*c = Checker{Unknown: c.Unknown[:0], Warnings: c.Warnings[:0], openType: c.openType[:0]}
}

// Feed checks the next event. It returns a *GrammarError when the event breaks the grammar.
func (c *Checker) Feed(ev Event) error {
	if c.err != nil {
		return c.err
	}
	if ev.Data == nil {
		return nil
	}
	i := c.n
	c.n++
	if msg := c.feed(i, ev); msg != "" {
		c.err = &GrammarError{Index: i, Event: ev.Name, Msg: msg}
	}
	return c.err
}

// End reports whether the stream was complete: it returns ErrIncomplete unless message_stop or
// error was the last event, or the first violation Feed found.
func (c *Checker) End() error {
	if c.err != nil {
		return c.err
	}
	if c.phase == phaseStopped || c.phase == phaseErrored {
		return nil
	}
	return ErrIncomplete
}

// str views b as a string without copying. The string must not outlive b's contents, so
// results of gjson queries on it are never stored without a copy.
func str(b []byte) string { return body.String(b) }

// feed checks one event and returns what is wrong with it, or "".
func (c *Checker) feed(i int, ev Event) string {
	data := str(ev.Data)
	if !gjson.Valid(data) {
		return "data is not valid JSON"
	}
	typ := gjson.Get(data, "type")
	if ev.Name == "" {
		return fmt.Sprintf("no event name (data type %s)", typ.Raw)
	}
	if typ.Type != gjson.String || typ.Str != ev.Name {
		return fmt.Sprintf("data type %s does not match the event name", orMissing(typ))
	}
	switch c.phase {
	case phaseStopped:
		return "event after message_stop"
	case phaseErrored:
		return "event after error"
	}
	switch ev.Name {
	case "ping":
		return ""
	case "error":
		c.phase = phaseErrored
		e := gjson.Get(data, "error")
		if !e.IsObject() {
			return "error is not an object"
		}
		if t := e.Get("type"); t.Type != gjson.String || t.Str == "" {
			return "error.type is not a non-empty string"
		}
		if m := e.Get("message"); m.Type != gjson.String {
			return "error.message is not a string"
		}
		return ""
	case "message_start":
		if c.phase != phaseBeforeStart {
			return "second message_start"
		}
		c.phase = phaseBlocks
		return checkMessageStart(gjson.Get(data, "message"))
	}
	if c.phase == phaseBeforeStart {
		return "expected message_start first"
	}
	switch ev.Name {
	case "content_block_start":
		return c.blockStart(data)
	case "content_block_delta":
		return c.blockDelta(data)
	case "content_block_stop":
		idx, msg := blockIndex(data)
		if msg != "" {
			return msg
		}
		if !c.started {
			return fmt.Sprintf("index %d but no block is open", idx)
		}
		if idx != c.open {
			return fmt.Sprintf("index %d but the open block is %d", idx, c.open)
		}
		c.started = false
		c.next++
		return ""
	case "message_delta":
		return c.messageDelta(i, data)
	case "message_stop":
		if c.phase != phaseDelta {
			if c.started {
				return fmt.Sprintf("message_stop while block %d is open and before message_delta", c.open)
			}
			return "message_stop before message_delta"
		}
		c.phase = phaseStopped
		return ""
	}
	if !slices.Contains(c.Unknown, ev.Name) {
		c.Unknown = append(c.Unknown, ev.Name)
	}
	return ""
}

func checkMessageStart(m gjson.Result) string {
	if !m.IsObject() {
		return "message is not an object"
	}
	if id := m.Get("id"); id.Type != gjson.String || id.Str == "" {
		return "message.id is not a non-empty string"
	}
	if t := m.Get("type"); t.Str != "message" {
		return fmt.Sprintf(`message.type is %s, want "message"`, orMissing(t))
	}
	if r := m.Get("role"); r.Str != "assistant" {
		return fmt.Sprintf(`message.role is %s, want "assistant"`, orMissing(r))
	}
	if ct := m.Get("content"); !ct.IsArray() || !isEmptyArray(ct.Raw) {
		return fmt.Sprintf("message.content is %s, want []", orMissing(ct))
	}
	return ""
}

func (c *Checker) blockStart(data string) string {
	idx, msg := blockIndex(data)
	if msg != "" {
		return msg
	}
	if c.phase == phaseDelta {
		return fmt.Sprintf("block %d starts after message_delta", idx)
	}
	if c.started {
		return fmt.Sprintf("index %d starts while block %d is still open", idx, c.open)
	}
	if idx != c.next {
		return fmt.Sprintf("index %d but the next block index is %d", idx, c.next)
	}
	cb := gjson.Get(data, "content_block")
	if !cb.IsObject() {
		return "content_block is not an object"
	}
	t := cb.Get("type")
	if t.Type != gjson.String || t.Str == "" {
		return "content_block.type is not a non-empty string"
	}
	kind := kindOf(t.Str)
	switch kind {
	case kindText:
		if cb.Get("text").Type != gjson.String {
			return "text block without a text string"
		}
	case kindToolUse:
		if id := cb.Get("id"); id.Type != gjson.String || id.Str == "" {
			return fmt.Sprintf("%s block without an id", t.Str)
		}
		if n := cb.Get("name"); n.Type != gjson.String || n.Str == "" {
			return fmt.Sprintf("%s block without a name", t.Str)
		}
		if in := cb.Get("input"); in.Exists() && !in.IsObject() {
			return fmt.Sprintf("%s block input is not an object", t.Str)
		}
	case kindThinking:
		if cb.Get("thinking").Type != gjson.String {
			return "thinking block without a thinking string"
		}
	case kindRedacted:
		if d := cb.Get("data"); d.Type != gjson.String || d.Str == "" {
			return "redacted_thinking block without data"
		}
	}
	c.started, c.open, c.kind, c.sigSeen = true, idx, kind, false
	c.openType = append(c.openType[:0], t.Str...)
	return ""
}

func (c *Checker) blockDelta(data string) string {
	idx, msg := blockIndex(data)
	if msg != "" {
		return msg
	}
	if !c.started {
		return fmt.Sprintf("index %d but no block is open", idx)
	}
	if idx != c.open {
		return fmt.Sprintf("index %d but the open block is %d", idx, c.open)
	}
	d := gjson.Get(data, "delta")
	if !d.IsObject() {
		return "delta is not an object"
	}
	dt := d.Get("type")
	if dt.Type != gjson.String {
		return "delta.type is not a string"
	}
	field, fieldType := "", gjson.String
	ok := false
	switch dt.Str {
	case "text_delta":
		ok, field = c.kind == kindText, "text"
	case "citations_delta":
		ok, field, fieldType = c.kind == kindText, "citation", gjson.JSON
	case "input_json_delta":
		ok, field = c.kind == kindToolUse, "partial_json"
	case "thinking_delta":
		ok, field = c.kind == kindThinking, "thinking"
		if ok && c.sigSeen {
			return "thinking_delta after signature_delta"
		}
	case "signature_delta":
		ok, field = c.kind == kindThinking, "signature"
		if ok && c.sigSeen {
			return "second signature_delta"
		}
		c.sigSeen = true
	}
	if !ok {
		return fmt.Sprintf("%s does not fit block %d of type %s", orMissing(dt), idx, c.openType)
	}
	if v := d.Get(field); v.Type != fieldType || (fieldType == gjson.JSON && !v.IsObject()) {
		want := "string"
		if fieldType == gjson.JSON {
			want = "object"
		}
		return fmt.Sprintf("%s without a %s %s", dt.Str, field, want)
	}
	return ""
}

func (c *Checker) messageDelta(i int, data string) string {
	if c.phase == phaseDelta {
		return "second message_delta"
	}
	sr := gjson.Get(data, "delta.stop_reason")
	if sr.Type != gjson.String || sr.Str == "" {
		return fmt.Sprintf("delta.stop_reason is %s, want a stop reason", orMissing(sr))
	}
	if c.started {
		if sr.Str != "max_tokens" {
			return fmt.Sprintf("block %d is still open", c.open)
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf(
			"event %d (message_delta): stop_reason max_tokens while block %d (%s) is open; treated as closed",
			i, c.open, c.openType))
		c.started = false
		c.next++
	}
	if !slices.Contains(knownStopReasons, sr.Str) {
		c.Warnings = append(c.Warnings, fmt.Sprintf("event %d (message_delta): unknown stop_reason %q", i, sr.Str))
	}
	c.phase = phaseDelta
	return ""
}

// blockIndex returns the "index" of a content block event.
func blockIndex(data string) (int, string) {
	v := gjson.Get(data, "index")
	if v.Type != gjson.Number || v.Num < 0 || v.Num != float64(int(v.Num)) {
		return 0, fmt.Sprintf("index is %s, want a non-negative integer", orMissing(v))
	}
	return int(v.Num), ""
}

// orMissing returns the JSON text of v, or "missing".
func orMissing(v gjson.Result) string {
	if !v.Exists() {
		return "missing"
	}
	return v.Raw
}

// isEmptyArray reports whether raw is a JSON array with no elements.
func isEmptyArray(raw string) bool {
	n := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
		default:
			n++
			if n > 2 || (n == 1 && raw[i] != '[') || (n == 2 && raw[i] != ']') {
				return false
			}
		}
	}
	return n == 2
}

// Check reads the whole stream from r and checks it with a Checker. It returns the events read
// (copies, including blocks without data and a partial last event) and the first error: a read
// error, ErrTruncated, a *GrammarError, or ErrIncomplete.
func Check(r io.Reader) ([]Event, error) {
	rd := NewReader(r)
	var c Checker
	var events []Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return events, c.End()
		}
		if ev.Raw != nil {
			events = append(events, ev.Clone())
		}
		if err != nil {
			return events, err
		}
		if err := c.Feed(ev); err != nil {
			return events, err
		}
	}
}
