package body

import (
	"bytes"
	"sync"
	"unsafe"
)

// A structural index lets the walker skip any string, object or array in constant time.
//
// The walker descends level by level (messages, then each message, then its content blocks),
// and without an index every level scans again the bytes the level above has just skipped: the
// text of a content block is read about five times. Building the index is one validating pass
// over the body (the JSON grammar, strings skipped with IndexByte, their contents not checked),
// which also tells the relay whether the body is structurally valid JSON; after it, each skip
// is a lookup.

// maxIndexed is the largest body indexed; a larger one is validated and walked without an
// index (its index would take 4 bytes per body byte).
const maxIndexed = 1 << 20

// structIndex maps the offset of every string, object and array start to its end offset.
// Entries at other offsets are meaningless (the buffer is reused without clearing); the walker
// only asks at token starts, which the indexing pass has all written.
type structIndex struct {
	base uintptr // address of the body's first byte
	n    int     // body length
	end  []int32
}

// noIndex turns the index off, for tests that compare walks with and without it.
var noIndex bool

var indexPool = sync.Pool{New: func() any { return new([]int32) }}

// buildIndex validates body's structure and indexes it. It returns a nil index (and the
// validity) when body is too large to index; release the index with putIndex.
func buildIndex(body []byte) (*structIndex, bool) {
	if len(body) > maxIndexed || noIndex {
		return nil, validStructure(body, nil)
	}
	buf := indexPool.Get().(*[]int32)
	if cap(*buf) < len(body)+1 {
		*buf = make([]int32, len(body)+1)
	}
	ix := &structIndex{n: len(body), end: (*buf)[:len(body)+1]}
	if len(body) > 0 {
		ix.base = uintptr(unsafe.Pointer(unsafe.SliceData(body)))
	}
	if !validStructure(body, ix.end) {
		putIndex(ix)
		return nil, false
	}
	return ix, true
}

func putIndex(ix *structIndex) {
	if ix == nil {
		return
	}
	b := ix.end[:cap(ix.end)]
	ix.end = nil
	indexPool.Put(&b)
}

// skip returns the index just past the string, object or array starting at s[i], and
// whether the index knew it. s must be a substring of the indexed body.
func (ix *structIndex) skip(s string, i int) (int, bool) {
	if ix == nil || i >= len(s) {
		return 0, false
	}
	switch s[i] {
	case '"', '{', '[':
		// Only these token starts are recorded; a number or literal is not, and its entry
		// may hold a stale value from an earlier body.
	default:
		return 0, false
	}
	abs := int(uintptr(unsafe.Pointer(unsafe.StringData(s)))-ix.base) + i
	if abs < 0 || abs >= ix.n {
		return 0, false
	}
	end := int(ix.end[abs])
	if end <= abs || end > ix.n {
		return 0, false
	}
	j := i + end - abs
	if j > len(s) {
		return 0, false
	}
	return j, true
}

// validStructure reports whether b is one JSON value with a valid structure: balanced
// objects and arrays, string keys, colons and commas where the grammar puts them, valid
// literals and numbers. It does not look inside strings (escapes, control characters), which
// the provider then judges. With end non-nil it records the end offset of every string, object
// and array at its start offset.
func validStructure(b []byte, end []int32) bool {
	v := validator{b: b, end: end}
	v.ws()
	if !v.value(0) {
		return false
	}
	v.ws()
	return v.i == len(v.b)
}

// maxDepth bounds nesting so that a hostile body cannot exhaust the stack.
const maxDepth = 512

type validator struct {
	b   []byte
	i   int
	end []int32
	// top, when set, receives each member of the root object (Top.member) as soon as it has
	// been validated. A method on a concrete type, not a func: nothing escapes to the heap.
	// It also turns on the known-tools shortcut (known.go), which an index cannot use.
	top *Top
}

func (v *validator) ws() {
	for v.i < len(v.b) {
		switch v.b[v.i] {
		case ' ', '\t', '\n', '\r':
			v.i++
		default:
			return
		}
	}
}

func (v *validator) mark(start int) {
	if v.end != nil {
		v.end[start] = int32(v.i)
	}
}

func (v *validator) value(depth int) bool {
	if v.i >= len(v.b) || depth > maxDepth {
		return false
	}
	switch c := v.b[v.i]; {
	case c == '{':
		return v.object(depth + 1)
	case c == '[':
		return v.array(depth + 1)
	case c == '"':
		return v.str()
	case c == 't':
		return v.lit("true")
	case c == 'f':
		return v.lit("false")
	case c == 'n':
		return v.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return v.number()
	}
	return false
}

func (v *validator) object(depth int) bool {
	start := v.i
	v.i++ // {
	v.ws()
	if v.i < len(v.b) && v.b[v.i] == '}' {
		v.i++
		v.mark(start)
		return true
	}
	for {
		key := v.i
		if v.i >= len(v.b) || v.b[v.i] != '"' || !v.str() {
			return false
		}
		keyEnd := v.i
		v.ws()
		if v.i >= len(v.b) || v.b[v.i] != ':' {
			return false
		}
		v.i++
		v.ws()
		val := v.i
		switch {
		case depth == 1 && v.top != nil && string(v.b[key:keyEnd]) == `"tools"`:
			if !v.toolsValue(depth) {
				return false
			}
		case !v.value(depth):
			return false
		}
		if depth == 1 && v.top != nil {
			v.top.member(v.b[key:keyEnd], v.b[val:v.i])
		}
		v.ws()
		if v.i >= len(v.b) {
			return false
		}
		switch v.b[v.i] {
		case ',':
			v.i++
			v.ws()
		case '}':
			v.i++
			v.mark(start)
			return true
		default:
			return false
		}
	}
}

// toolsValue validates the root object's tools value, or skips it when it is an array that
// a Request has validated before (known.go).
func (v *validator) toolsValue(depth int) bool {
	start := v.i
	if n := knownArray(v.b[start:]); n > 0 {
		v.i += n
		return true
	}
	if !v.value(depth) {
		return false
	}
	rememberArray(v.b[start:v.i])
	return true
}

func (v *validator) array(depth int) bool {
	start := v.i
	v.i++ // [
	v.ws()
	if v.i < len(v.b) && v.b[v.i] == ']' {
		v.i++
		v.mark(start)
		return true
	}
	for {
		if !v.value(depth) {
			return false
		}
		v.ws()
		if v.i >= len(v.b) {
			return false
		}
		switch v.b[v.i] {
		case ',':
			v.i++
			v.ws()
		case ']':
			v.i++
			v.mark(start)
			return true
		default:
			return false
		}
	}
}

// str skips the string starting at v.b[v.i] == '"'.
func (v *validator) str() bool {
	start := v.i
	i := v.i + 1
	for {
		j := bytes.IndexByte(v.b[i:], '"')
		if j < 0 {
			return false
		}
		k := i + j
		n := 0
		for p := k - 1; p > start && v.b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			v.i = k + 1
			v.mark(start)
			return true
		}
		i = k + 1
	}
}

func (v *validator) lit(s string) bool {
	if !bytes.HasPrefix(v.b[v.i:], []byte(s)) {
		return false
	}
	v.i += len(s)
	return true
}

// number accepts the JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (v *validator) number() bool {
	b, i := v.b, v.i
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - s
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	v.i = i
	return true
}

// Valid reports whether b is structurally valid JSON: one value with balanced objects and
// arrays, string keys, colons and commas where the grammar puts them, valid literals and
// numbers. String contents (escapes, control characters) are left to the provider.
func Valid(b []byte) bool { return validStructure(b, nil) }
