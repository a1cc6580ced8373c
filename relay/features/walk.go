package features

import (
	"strconv"
	"unsafe"

	"github.com/tidwall/gjson"
)

// The walker reads a Messages API body once with gjson and reports the nodes Detect, Apply and
// Estimate care about as events, in document order. It never unmarshals the body and never
// copies it: gjson results are substrings of the body.

// area is the top-level array a node belongs to.
type area uint8

const (
	areaTop area = iota
	areaSystem
	areaMessages
	areaTools
)

// loc is where a node is: system[i], messages[i].content[j].content[k] or tools[i]. Indexes
// that do not apply are -1.
type loc struct {
	area    area
	i, j, k int
}

var topLoc = loc{area: areaTop, i: -1, j: -1, k: -1}

// human returns the location as shown in error messages, e.g. "messages[1].content[0]",
// followed by "." and suffix when suffix is not empty.
func (l loc) human(suffix string) string { return l.format(suffix, true) }

// path returns the location as an sjson path, e.g. "messages.1.content.0".
func (l loc) path(suffix string) string { return l.format(suffix, false) }

func (l loc) format(suffix string, human bool) string {
	if l.area == areaTop {
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
	switch l.area {
	case areaSystem:
		idx("system", l.i)
	case areaTools:
		idx("tools", l.i)
	case areaMessages:
		idx("messages", l.i)
		if l.j >= 0 {
			idx("content", l.j)
		}
		if l.k >= 0 {
			idx("content", l.k)
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

type evKind uint8

const (
	evTopKey     evKind = iota // a top-level key (key, value)
	evMessage                  // a message (role, value), before its other keys and its blocks
	evMessageKey               // a message key other than role and content (key, value, role)
	evBlock                    // a content block of system, a message, or a tool_result
	evCache                    // a cache_control key of the node at loc (top level, block, tool)
	evTool                     // a tool definition (btype = tool type)
)

type event struct {
	kind  evKind
	loc   loc
	key   string       // evTopKey, evMessageKey
	raw   string       // the node's raw JSON
	value gjson.Result // the node as a gjson result over raw (long strings keep Str empty)
	role  string       // evMessage, evMessageKey
	btype string       // evBlock: block type; evTool: tool type ("" for custom tools)
	stype string       // evBlock: source.type
	mtype string       // evBlock: source.media_type
	// Raw values the estimator reads: evBlock text/thinking (text), tool_use name and input
	// (name, input), tool_result content (content); evMessage string content (text); evTool
	// name, description (text) and input_schema (input).
	text, name, input, content string
	deferred                   bool // evTool: has defer_loading
}

// bytesToString views body as a string without copying, as gjson.GetBytes does. Strings kept
// after the walk (model name, unknown keys) are cloned.
func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// walker holds the one event a walk reuses, so that reporting a node does not allocate.
type walker struct {
	visit func(*event)
	e     event
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

// walk reports body's nodes to visit, in document order, and whether body is structurally
// valid JSON (see validStructure). A body that is not a JSON object reports nothing; an
// invalid body reports what could be read. The event passed to visit is reused: visit must not
// keep it.
func walk(body []byte, visit func(*event)) (valid bool) {
	ix, valid := buildIndex(body)
	defer putIndex(ix)
	w := &walker{visit: visit, ix: ix}
	root := w.iter(bytesToString(body))
	if !root.obj {
		return valid
	}
	for {
		k, v, ok := root.next()
		if !ok {
			return
		}
		w.e = event{kind: evTopKey, loc: topLoc, key: k, raw: v, value: res(v)}
		w.emit()
		switch k {
		case "cache_control":
			if v != "null" {
				w.e = event{kind: evCache, loc: topLoc}
				w.emit()
			}
		case "system":
			it := w.iter(v)
			for i := 0; ; i++ {
				_, b, ok := it.next()
				if !ok {
					break
				}
				w.block(b, loc{area: areaSystem, i: i, j: -1, k: -1})
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
	l := loc{area: areaMessages, i: i, j: -1, k: -1}
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
	w.e = event{kind: evMessage, loc: l, role: role, raw: m, value: res(m)}
	if len(content) > 0 && content[0] == '"' {
		w.e.text = content
	}
	w.emit()
	for _, x := range extra {
		w.e = event{kind: evMessageKey, loc: l, role: role, key: x.key, raw: x.val, value: res(x.val)}
		w.emit()
	}
	c := w.iter(content)
	for j := 0; ; j++ {
		_, b, ok := c.next()
		if !ok {
			break
		}
		w.block(b, loc{area: areaMessages, i: i, j: j, k: -1})
	}
}

func (w *walker) block(b string, l loc) {
	it := w.iter(b)
	if !it.obj {
		return
	}
	w.e = event{kind: evBlock, loc: l, raw: b, value: res(b)}
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
			e.btype = res(v).Str
		case "source":
			src = v
		case "content":
			e.content = v
		case "cache_control":
			cache = v != "null"
		case "text", "thinking":
			e.text = v
		case "name":
			e.name = v
		case "input":
			e.input = v
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
				e.stype = res(v).Str
			case "media_type":
				e.mtype = res(v).Str
			}
		}
	}
	w.emit()
	btype, content := e.btype, e.content
	if cache {
		w.e = event{kind: evCache, loc: l}
		w.emit()
	}
	if btype == "tool_result" && l.area == areaMessages && l.k < 0 {
		c := w.iter(content)
		for k := 0; ; k++ {
			_, nb, ok := c.next()
			if !ok {
				break
			}
			w.block(nb, loc{area: areaMessages, i: l.i, j: l.j, k: k})
		}
	}
}

func (w *walker) tool(t string, i int) {
	it := w.iter(t)
	if !it.obj {
		return
	}
	l := loc{area: areaTools, i: i, j: -1, k: -1}
	w.e = event{kind: evTool, loc: l, raw: t, value: res(t)}
	e := &w.e
	cache := false
	for {
		k, v, ok := it.next()
		if !ok {
			break
		}
		switch k {
		case "type":
			e.btype = res(v).Str
		case "name":
			e.name = v
		case "description":
			e.text = v
		case "input_schema":
			e.input = v
		case "defer_loading":
			e.deferred = v != "null" && v != "false"
		case "cache_control":
			cache = v != "null"
		}
	}
	if e.btype == "custom" {
		e.btype = ""
	}
	w.emit()
	if cache {
		w.e = event{kind: evCache, loc: l}
		w.emit()
	}
}

// serverTool returns the server-tool feature of a tool type, if it is one.
func serverTool(typ string) (Feature, bool) {
	switch {
	case hasPrefix(typ, "web_search_"):
		return WebSearch, true
	case hasPrefix(typ, "web_fetch_"):
		return WebFetch, true
	case hasPrefix(typ, "code_execution_"):
		return CodeExecution, true
	}
	return 0, false
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
