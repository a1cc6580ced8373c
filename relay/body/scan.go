package body

import (
	"strings"

	"github.com/tidwall/gjson"
)

// The walker iterates objects and arrays with these iterators instead of gjson.Result.ForEach:
// ForEach unescapes every string value it passes, which for a Claude Code request means copying
// every tool description and prompt (about 75 KB and most of the time of a 50 KB request).
// The iterators only find where each value starts and ends, skipping strings with IndexByte,
// and never allocate. Values the walker needs are then read with gjson (see res).

// skipWS returns the index of the first non-space byte at or after i.
func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at s[i] == '"'.
func skipString(s string, i int) int {
	i++
	for {
		j := strings.IndexByte(s[i:], '"')
		if j < 0 {
			return len(s)
		}
		k := i + j
		n := 0
		for b := k - 1; b >= i && s[b] == '\\'; b-- {
			n++
		}
		if n%2 == 0 {
			return k + 1
		}
		i = k + 1
	}
}

// structural marks the bytes that matter when skipping an object or array.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// skipValue returns the index just past the value starting at s[i].
func skipValue(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for i < len(s) {
			for i < len(s) && !structural[s[i]] {
				i++
			}
			if i >= len(s) {
				return i
			}
			switch s[i] {
			case '"':
				i = skipString(s, i)
				continue
			case '{', '[':
				depth++
			default:
				depth--
			}
			i++
			if depth == 0 {
				return i
			}
		}
		return i
	}
	for i < len(s) {
		switch s[i] {
		case ',', '}', ']', ' ', '\n', '\t', '\r':
			return i
		}
		i++
	}
	return i
}

// iter walks the members of an object or the elements of an array given as raw JSON.
type iter struct {
	s   string
	i   int
	obj bool
	// ix, when set, skips strings and containers by lookup (see structIndex).
	ix *structIndex
}

// newIter starts iterating raw, which must be an object or an array (else nothing is found).
func newIter(raw string) iter {
	i := skipWS(raw, 0)
	if i >= len(raw) || (raw[i] != '{' && raw[i] != '[') {
		return iter{s: raw, i: len(raw)}
	}
	return iter{s: raw, i: i + 1, obj: raw[i] == '{'}
}

// next returns the next member's key (empty for arrays) and raw value.
func (it *iter) next() (key, val string, ok bool) {
	s := it.s
	i := skipWS(s, it.i)
	if i < len(s) && s[i] == ',' {
		i = skipWS(s, i+1)
	}
	if i >= len(s) || s[i] == '}' || s[i] == ']' {
		it.i = len(s)
		return "", "", false
	}
	if it.obj {
		if s[i] != '"' {
			it.i = len(s)
			return "", "", false
		}
		end, ok := it.ix.skip(s, i)
		if !ok {
			end = skipString(s, i)
		}
		key = s[i+1 : max(end-1, i+1)]
		if strings.IndexByte(key, '\\') >= 0 {
			key = gjson.Parse(s[i:end]).Str
		}
		i = skipWS(s, end)
		if i >= len(s) || s[i] != ':' {
			it.i = len(s)
			return "", "", false
		}
		i = skipWS(s, i+1)
	}
	end, known := it.ix.skip(s, i)
	if !known {
		end = skipValue(s, i)
	}
	if end <= i {
		it.i = len(s)
		return "", "", false
	}
	it.i = end
	return key, s[i:end], true
}

// res makes a gjson result of a raw value without copying. Strings are unescaped only when
// they are short (types, roles, names): a long string keeps Str empty and is read from Raw.
func res(raw string) gjson.Result {
	if raw == "" {
		return gjson.Result{}
	}
	switch raw[0] {
	case '{', '[':
		return gjson.Result{Type: gjson.JSON, Raw: raw}
	case '"':
		if len(raw) >= 2 && raw[len(raw)-1] == '"' && strings.IndexByte(raw, '\\') < 0 {
			return gjson.Result{Type: gjson.String, Raw: raw, Str: raw[1 : len(raw)-1]}
		}
		if len(raw) > 256 {
			return gjson.Result{Type: gjson.String, Raw: raw}
		}
	}
	return gjson.Parse(raw)
}

// StrLen returns the length of a raw JSON string's content (escapes count as written), 0 when
// raw is not a string.
func StrLen(raw string) int {
	if len(raw) < 2 || raw[0] != '"' {
		return 0
	}
	return len(raw) - 2
}

// CompactLen returns the length of raw JSON without the whitespace outside strings, as a
// tokenizer would see it after re-serialising, without building it.
func CompactLen(raw string) int {
	n := 0
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case '"':
			end := skipString(raw, i)
			n += end - i
			i = end
		case ' ', '\n', '\t', '\r':
			i++
		default:
			n++
			i++
		}
	}
	return n
}

// Keys calls f with each top-level key of b, a JSON object, in order, until f returns false.
// The keys are views of b.
func Keys(b []byte, f func(key string) bool) {
	it := newIter(String(b))
	for {
		k, _, ok := it.next()
		if !ok || !f(k) {
			return
		}
	}
}

// IsObject reports whether b, after any leading whitespace, starts a JSON object.
func IsObject(b []byte) bool { return newIter(String(b)).obj }
