package body

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// The walker reads a Messages API body once and reports the nodes the feature matrix, the
// estimator and the fetcher care about, in document order. It never unmarshals the body and
// never copies it: the raw values it reports are substrings of the body.

// Area is the top-level part of a body a node belongs to.
type Area uint8

// Areas.
const (
	AreaTop Area = iota
	AreaSystem
	AreaMessages
	AreaTools
)

// Loc is where a node is: system[I], messages[I].content[J].content[K] or tools[I]. Indexes
// that do not apply are -1.
type Loc struct {
	Area    Area
	I, J, K int
}

// TopLoc is the location of the top level.
var TopLoc = Loc{Area: AreaTop, I: -1, J: -1, K: -1}

// Human returns the location as shown in error messages, e.g. "messages[1].content[0]",
// followed by "." and suffix when suffix is not empty.
func (l Loc) Human(suffix string) string { return l.format(suffix, true) }

// Path returns the location as an edit path (Edits), e.g. "messages.1.content.0", followed by
// "." and suffix when suffix is not empty.
func (l Loc) Path(suffix string) string { return l.format(suffix, false) }

func (l Loc) format(suffix string, human bool) string {
	if l.Area == AreaTop {
		return suffix
	}
	b := make([]byte, 0, 48)
	idx := func(name string, n int) {
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, name...)
		if human {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, ']')
		} else {
			b = append(b, '.')
			b = strconv.AppendInt(b, int64(n), 10)
		}
	}
	switch l.Area {
	case AreaSystem:
		idx("system", l.I)
	case AreaTools:
		idx("tools", l.I)
	case AreaMessages:
		idx("messages", l.I)
		if l.J >= 0 {
			idx("content", l.J)
		}
		if l.K >= 0 {
			idx("content", l.K)
		}
	}
	if suffix != "" {
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, suffix...)
	}
	return string(b)
}

// Kind is the kind of a Node.
type Kind uint8

// Node kinds.
const (
	TopKey     Kind = iota // a top-level key (Key, Value)
	Message                // a message (Role, Value), before its other keys and its blocks
	MessageKey             // a message key other than role and content (Key, Value, Role)
	Block                  // a content block of system, a message, or a tool_result
	Cache                  // a cache_control key of the node at Loc (top level, block, tool); not null
	Tool                   // a tool definition (Type = tool type)
)

// Node is one node of a body, as Walk reports it. Its strings are views of the body.
type Node struct {
	Kind  Kind
	Loc   Loc
	Key   string       // TopKey, MessageKey
	Raw   string       // the node's raw JSON
	Value gjson.Result // the node as a gjson result over Raw (long strings keep Str empty)
	Role  string       // Message, MessageKey
	// Type is a Block's type, or a Tool's type ("" for custom tools).
	Type string
	// SourceType and MediaType are a Block's source.type and source.media_type.
	SourceType, MediaType string
	// Raw values the estimator reads: Block text/thinking (Text), tool_use name and input
	// (Name, Input), tool_result content (Content); Message string content (Text); Tool
	// name, description (Text) and input_schema (Input).
	Text, Name, Input, Content string
	Deferred                   bool // Tool: has defer_loading
}

// walker holds the one node a walk reuses, so that reporting a node does not allocate.
type walker struct {
	visit func(*Node)
	e     Node
	ix    *structIndex
}

// iter starts iterating raw (a substring of the walked body) with the body's index.
func (w *walker) iter(raw string) iter {
	it := newIter(raw)
	it.ix = w.ix
	return it
}

// emit reports w.e.
func (w *walker) emit() { w.visit(&w.e) }

// Walk reports b's nodes to visit, in document order: every top-level key, system block,
// message, content block (with the content of tool_result blocks) and tool, and every
// cache_control. It returns whether b is structurally valid JSON (see Valid). A body that is
// not a JSON object reports nothing; an invalid body reports what could be read. The Node
// passed to visit is reused: visit must not keep it.
func Walk(b []byte, visit func(*Node)) (valid bool) {
	return walk(b, visit)
}

func walk(body []byte, visit func(*Node)) (valid bool) {
	ix, valid := buildIndex(body)
	defer putIndex(ix)
	w := &walker{visit: visit, ix: ix}
	root := w.iter(String(body))
	if !root.obj {
		return valid
	}
	for {
		k, v, ok := root.next()
		if !ok {
			return
		}
		w.e = Node{Kind: TopKey, Loc: TopLoc, Key: k, Raw: v, Value: res(v)}
		w.emit()
		switch k {
		case "cache_control":
			if v != "null" {
				w.e = Node{Kind: Cache, Loc: TopLoc}
				w.emit()
			}
		case "system":
			it := w.iter(v)
			for i := 0; ; i++ {
				_, b, ok := it.next()
				if !ok {
					break
				}
				w.block(b, Loc{Area: AreaSystem, I: i, J: -1, K: -1})
			}
		case "messages":
			it := w.iter(v)
			for i := 0; ; i++ {
				_, m, ok := it.next()
				if !ok {
					break
				}
				w.message(m, i)
			}
		case "tools":
			it := w.iter(v)
			for i := 0; ; i++ {
				_, t, ok := it.next()
				if !ok {
					break
				}
				w.tool(t, i)
			}
		}
	}
}

func (w *walker) message(m string, i int) {
	it := w.iter(m)
	if !it.obj {
		return
	}
	l := Loc{Area: AreaMessages, I: i, J: -1, K: -1}
	var role, content string
	// Other keys (output_config, ...) are reported after the role is known; a message rarely
	// has more than a few.
	type kv struct{ key, val string }
	var fixed [4]kv
	extra := fixed[:0]
	for {
		k, v, ok := it.next()
		if !ok {
			break
		}
		switch k {
		case "role":
			role = res(v).Str
		case "content":
			content = v
		default:
			extra = append(extra, kv{k, v})
		}
	}
	w.e = Node{Kind: Message, Loc: l, Role: role, Raw: m, Value: res(m)}
	if len(content) > 0 && content[0] == '"' {
		w.e.Text = content
	}
	w.emit()
	for _, x := range extra {
		w.e = Node{Kind: MessageKey, Loc: l, Role: role, Key: x.key, Raw: x.val, Value: res(x.val)}
		w.emit()
	}
	c := w.iter(content)
	for j := 0; ; j++ {
		_, b, ok := c.next()
		if !ok {
			break
		}
		w.block(b, Loc{Area: AreaMessages, I: i, J: j, K: -1})
	}
}

func (w *walker) block(b string, l Loc) {
	it := w.iter(b)
	if !it.obj {
		return
	}
	w.e = Node{Kind: Block, Loc: l, Raw: b, Value: res(b)}
	e := &w.e
	var src string
	cache := false
	for {
		k, v, ok := it.next()
		if !ok {
			break
		}
		switch k {
		case "type":
			e.Type = res(v).Str
		case "source":
			src = v
		case "content":
			e.Content = v
		case "cache_control":
			cache = v != "null"
		case "text", "thinking":
			e.Text = v
		case "name":
			e.Name = v
		case "input":
			e.Input = v
		}
	}
	if src != "" {
		si := w.iter(src)
		for {
			k, v, ok := si.next()
			if !ok {
				break
			}
			switch k {
			case "type":
				e.SourceType = res(v).Str
			case "media_type":
				e.MediaType = res(v).Str
			}
		}
	}
	w.emit()
	btype, content := e.Type, e.Content
	if cache {
		w.e = Node{Kind: Cache, Loc: l}
		w.emit()
	}
	if btype == "tool_result" && l.Area == AreaMessages && l.K < 0 {
		c := w.iter(content)
		for k := 0; ; k++ {
			_, nb, ok := c.next()
			if !ok {
				break
			}
			w.block(nb, Loc{Area: AreaMessages, I: l.I, J: l.J, K: k})
		}
	}
}

func (w *walker) tool(t string, i int) {
	it := w.iter(t)
	if !it.obj {
		return
	}
	l := Loc{Area: AreaTools, I: i, J: -1, K: -1}
	w.e = Node{Kind: Tool, Loc: l, Raw: t, Value: res(t)}
	e := &w.e
	cache := false
	for {
		k, v, ok := it.next()
		if !ok {
			break
		}
		switch k {
		case "type":
			e.Type = res(v).Str
		case "name":
			e.Name = v
		case "description":
			e.Text = v
		case "input_schema":
			e.Input = v
		case "defer_loading":
			e.Deferred = v != "null" && v != "false"
		case "cache_control":
			cache = v != "null"
		}
	}
	if e.Type == "custom" {
		e.Type = ""
	}
	w.emit()
	if cache {
		w.e = Node{Kind: Cache, Loc: l}
		w.emit()
	}
}

// DocumentTextOf returns the text of a text or content document block.
func DocumentTextOf(doc gjson.Result) string {
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
