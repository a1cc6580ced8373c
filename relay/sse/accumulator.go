package sse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// Message is an assistant message, as assembled from a stream by Accumulator or read from a
// non-streaming response by FromJSON, in a form meant for comparisons.
type Message struct {
	ID, Model, Role, StopReason, StopSequence string
	Content                                   []Block
	Usage                                     Usage
}

// Block is one content block of a Message. Only the fields of its type are set; server tool
// result blocks (web_search_tool_result and the like) keep only their Type.
type Block struct {
	Type, Text, ID, Name string
	// Input is the compact JSON input of a tool_use, server_tool_use or mcp_tool_use block: in a
	// stream, the concatenated input_json_delta fragments (empty fragments allowed; "{}" when
	// they add up to nothing), or the content_block_start input when there was no fragment.
	Input               json.RawMessage
	Thinking, Signature string
	Data                string
}

// Usage holds the token counts of a Message.
type Usage struct {
	InputTokens, OutputTokens, CacheCreationInputTokens, CacheReadInputTokens int
}

// accBlock is a block being assembled.
type accBlock struct {
	typ, id, name, data string
	text, thinking, sig []byte
	hasInput            bool   // the block carries a tool input
	input               []byte // concatenated partial_json fragments
	fragments           bool   // at least one input_json_delta was seen
	startInput          []byte // compact content_block_start input
}

// Accumulator assembles the Message a stream describes. It is lenient: it does not check the
// grammar (Checker does) and fails only on events it cannot use, such as invalid JSON or a
// delta for a block that was never started. Events with nil Data, ping and error events are
// ignored, and an event without a name is taken by its data's "type". Feed copies what it
// keeps, so events may come straight from Reader.Next.
//
// The zero Accumulator is ready to use.
type Accumulator struct {
	msg    Message
	blocks []accBlock
	n      int
}

// Feed adds one event to the message. It returns a *GrammarError for an event it cannot use.
func (a *Accumulator) Feed(ev Event) error {
	if ev.Data == nil {
		return nil
	}
	i := a.n
	a.n++
	if msg := a.feed(ev); msg != "" {
		return &GrammarError{Index: i, Event: ev.Name, Msg: msg}
	}
	return nil
}

func (a *Accumulator) feed(ev Event) string {
	data := str(ev.Data)
	if !gjson.Valid(data) {
		return "data is not valid JSON"
	}
	name := ev.Name
	if name == "" {
		name = gjson.Get(data, "type").Str
	}
	switch name {
	case "message_start":
		m := gjson.Get(data, "message")
		a.msg = Message{
			ID: clone(m.Get("id")), Model: clone(m.Get("model")), Role: clone(m.Get("role")),
			StopReason: clone(m.Get("stop_reason")), StopSequence: clone(m.Get("stop_sequence")),
		}
		setUsage(&a.msg.Usage, m.Get("usage"))
		a.blocks = a.blocks[:0]
		for _, b := range m.Get("content").Array() {
			a.blocks = append(a.blocks, startBlock(b))
		}
	case "content_block_start":
		idx, msg := blockIndex(data)
		if msg != "" {
			return msg
		}
		if idx != len(a.blocks) {
			return fmt.Sprintf("index %d but %d blocks were started", idx, len(a.blocks))
		}
		a.blocks = append(a.blocks, startBlock(gjson.Get(data, "content_block")))
	case "content_block_delta":
		b, msg := a.block(data)
		if msg != "" {
			return msg
		}
		d := gjson.Get(data, "delta")
		switch d.Get("type").Str {
		case "text_delta":
			b.text = append(b.text, d.Get("text").Str...)
		case "thinking_delta":
			b.thinking = append(b.thinking, d.Get("thinking").Str...)
		case "signature_delta":
			b.sig = append(b.sig, d.Get("signature").Str...)
		case "input_json_delta":
			b.input = append(b.input, d.Get("partial_json").Str...)
			b.fragments, b.hasInput = true, true
		}
	case "content_block_stop":
		b, msg := a.block(data)
		if msg != "" {
			return msg
		}
		if b.fragments && len(bytes.TrimSpace(b.input)) > 0 && !json.Valid(b.input) {
			return fmt.Sprintf("block input %q is not valid JSON", b.input)
		}
	case "message_delta":
		d := gjson.Get(data, "delta")
		if sr := d.Get("stop_reason"); sr.Exists() {
			a.msg.StopReason = clone(sr)
		}
		if ss := d.Get("stop_sequence"); ss.Exists() {
			a.msg.StopSequence = clone(ss)
		}
		setUsage(&a.msg.Usage, gjson.Get(data, "usage"))
	}
	return ""
}

// block returns the block an event's "index" designates.
func (a *Accumulator) block(data string) (*accBlock, string) {
	idx, msg := blockIndex(data)
	if msg != "" {
		return nil, msg
	}
	if idx >= len(a.blocks) {
		return nil, fmt.Sprintf("index %d but no such block was started", idx)
	}
	return &a.blocks[idx], ""
}

// startBlock returns a block holding the fields of a content block object.
func startBlock(cb gjson.Result) accBlock {
	typ := clone(cb.Get("type"))
	in := cb.Get("input")
	ab := accBlock{
		typ: typ, id: clone(cb.Get("id")), name: clone(cb.Get("name")), data: clone(cb.Get("data")),
		hasInput: in.Exists() || kindOf(typ) == kindToolUse,
		text:     []byte(cb.Get("text").Str),
		thinking: []byte(cb.Get("thinking").Str),
		sig:      []byte(cb.Get("signature").Str),
	}
	if in.Exists() {
		ab.startInput = compactOrRaw(nil, in.Raw)
	}
	return ab
}

// Message returns the message assembled so far. Blocks still open have what arrived; a tool
// input whose fragments do not (yet) form valid JSON is returned as received.
func (a *Accumulator) Message() Message {
	m := a.msg
	m.Content = nil
	for i := range a.blocks {
		b := &a.blocks[i]
		out := Block{
			Type: b.typ, ID: b.id, Name: b.name, Data: b.data,
			Text: string(b.text), Thinking: string(b.thinking), Signature: string(b.sig),
		}
		if b.hasInput {
			switch {
			case b.fragments:
				out.Input = normaliseInput(b.input)
			case b.startInput != nil:
				out.Input = bytes.Clone(b.startInput)
			default:
				out.Input = json.RawMessage("{}")
			}
		}
		m.Content = append(m.Content, out)
	}
	return m
}

// FromJSON reads a non-streaming Messages API response body into a Message, filled in the same
// way as Accumulator's, so that the two can be compared. An error body is an error.
func FromJSON(body []byte) (Message, error) {
	s := str(body)
	if !gjson.Valid(s) {
		return Message{}, fmt.Errorf("sse: response body is not valid JSON")
	}
	switch t := gjson.Get(s, "type"); t.Str {
	case "message":
	case "error":
		return Message{}, fmt.Errorf("sse: response is an error: %s: %s",
			gjson.Get(s, "error.type").Str, gjson.Get(s, "error.message").Str)
	default:
		return Message{}, fmt.Errorf("sse: response type is %s, want \"message\"", orMissing(t))
	}
	r := gjson.Parse(s)
	m := Message{
		ID: clone(r.Get("id")), Model: clone(r.Get("model")), Role: clone(r.Get("role")),
		StopReason: clone(r.Get("stop_reason")), StopSequence: clone(r.Get("stop_sequence")),
	}
	setUsage(&m.Usage, r.Get("usage"))
	for _, cb := range r.Get("content").Array() {
		b := Block{
			Type: clone(cb.Get("type")), Text: clone(cb.Get("text")), ID: clone(cb.Get("id")),
			Name: clone(cb.Get("name")), Thinking: clone(cb.Get("thinking")),
			Signature: clone(cb.Get("signature")), Data: clone(cb.Get("data")),
		}
		if in := cb.Get("input"); in.Exists() {
			b.Input = normaliseInput([]byte(in.Raw))
		} else if kindOf(b.Type) == kindToolUse {
			b.Input = json.RawMessage("{}")
		}
		m.Content = append(m.Content, b)
	}
	return m, nil
}

// normaliseInput returns the compact form of a tool input, "{}" for an empty one, or a copy of
// raw when it is not valid JSON.
func normaliseInput(raw []byte) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage("{}")
	}
	return compactOrRaw(nil, string(raw))
}

// compactOrRaw appends the compact form of the JSON text raw to dst, or raw itself when it is
// not valid JSON.
func compactOrRaw(dst []byte, raw string) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(raw)); err != nil {
		return append(dst, raw...)
	}
	return append(dst, buf.Bytes()...)
}

// setUsage overrides the counts present in a usage object.
func setUsage(u *Usage, v gjson.Result) {
	if !v.IsObject() {
		return
	}
	for _, f := range [...]struct {
		key string
		dst *int
	}{
		{"input_tokens", &u.InputTokens},
		{"output_tokens", &u.OutputTokens},
		{"cache_creation_input_tokens", &u.CacheCreationInputTokens},
		{"cache_read_input_tokens", &u.CacheReadInputTokens},
	} {
		if n := v.Get(f.key); n.Type == gjson.Number {
			*f.dst = int(n.Int())
		}
	}
}

// clone returns a copy of a string result, or "" for any other result.
func clone(v gjson.Result) string {
	if v.Type != gjson.String {
		return ""
	}
	return strings.Clone(v.Str)
}
