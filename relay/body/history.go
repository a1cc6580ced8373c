package body

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// What a request's conversation holds that the relay routes on: its thinking blocks and their
// signatures, the tools it declares, the images of its last user turn. The scans read the
// bytes rather than the parsed history: a long session's body is a megabyte, sent again on
// every turn.

// MayHoldThinking reports whether b can hold signed or redacted thinking blocks, with two fast
// scans of its bytes (most requests of a session without thinking have neither word). The
// patterns are the keys' tails, without their opening quote: bytes.Index looks for the first
// byte before comparing, and a quote is the commonest byte of JSON (measured on Claude Code's
// 49 KB first turn: 20 µs instead of 30 µs). A tail can match inside a string: a false "maybe"
// only costs the precise scan (Signatures) that follows.
func MayHoldThinking(b []byte) bool {
	return bytes.Contains(b, []byte(`gnature"`)) || bytes.Contains(b, []byte(`dacted_thinking"`))
}

// HasRedactedThinking reports whether b may hold a redacted_thinking block (the word as a
// JSON string).
func HasRedactedThinking(b []byte) bool {
	return bytes.Contains(b, []byte(`"redacted_thinking"`))
}

// signatureWindow is how much of a body Signatures searches at a time, from the end.
const signatureWindow = 64 << 10

// Signatures calls visit with the string value of each "signature" member of b, from the last
// to the first, at most max of them (max ≤ 0: all), until visit returns false. It scans the
// bytes in windows from the end, so that it costs what lies after the signatures it visits,
// not the whole body. A "signature" member elsewhere than in a thinking block (inside a tool
// result, say) is visited too. A signature's bytes are a view of b unless it has escapes.
func Signatures(b []byte, max int, visit func(sig []byte) bool) {
	// The search is for the key's tail: bytes.Index looks for the first byte of its pattern
	// before comparing, and a quote, the key's first byte, is the commonest byte of JSON.
	const key, head = `"signature"`, `"si`
	tail := []byte(key[len(head):])
	var at []int // the occurrences of key in one window, in order
	seen := 0
	// A window holds the occurrences that start in [start, end-len(key)]; the next one ends
	// len(key)-1 bytes after its start, so that each is found exactly once.
	for end := len(b); end >= len(key); {
		start := end - signatureWindow
		if start < 0 {
			start = 0
		}
		at = at[:0]
		for i := start + len(head); i < end; {
			j := bytes.Index(b[i:end], tail)
			if j < 0 {
				break
			}
			if k := i + j - len(head); string(b[k:i+j]) == head {
				at = append(at, k)
			}
			i += j + len(tail)
		}
		for k := len(at) - 1; k >= 0; k-- {
			sig, ok := stringAfterColon(b[at[k]+len(key):])
			if !ok {
				continue
			}
			if !visit(sig) {
				return
			}
			if seen++; seen == max {
				return
			}
		}
		if start == 0 {
			return
		}
		end = start + len(key) - 1
	}
}

// stringAfterColon reads `: "..."` at the start of b (whitespace allowed) and returns the
// string's bytes as they are in b (signatures are base64, without escapes; an escaped string
// is unescaped into a copy).
func stringAfterColon(b []byte) ([]byte, bool) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i >= len(b) || b[i] != ':' {
		return nil, false
	}
	i++
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i >= len(b) || b[i] != '"' {
		return nil, false
	}
	start := i + 1
	// Signatures are base64: the closing quote, found at vector speed, is usually the end.
	if q := bytes.IndexByte(b[start:], '"'); q >= 0 && bytes.IndexByte(b[start:start+q], '\\') < 0 {
		return b[start : start+q], true
	}
	escaped := false
	for j := start; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			if escaped {
				return []byte(gjson.ParseBytes(b[i : j+1]).Str), true
			}
			return b[start:j], true
		}
	}
	return nil, false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// ThinkingSignatures calls visit with the signature of each thinking block of the assistant
// turns, in order, until visit returns false.
func ThinkingSignatures(b []byte, visit func(sig string) bool) {
	gjson.GetBytes(b, `messages.#(role=="assistant")#.content.#(type=="thinking")#.signature`).ForEach(func(_, v gjson.Result) bool {
		more := true
		v.ForEach(func(_, s gjson.Result) bool {
			more = visit(s.Str)
			return more
		})
		return more
	})
}

// StripThinking removes every thinking and redacted_thinking block from the assistant turns
// of the history, with this package's edits so that every other byte stays as it was (in one
// copy of the body). A message left with no content is removed whole rather than sent with an
// empty content array. It returns the body and the number of blocks removed.
func StripThinking(b []byte) ([]byte, int, error) {
	var edits Edits
	n := 0
	gjson.GetBytes(b, "messages").ForEach(func(mi, m gjson.Result) bool {
		if m.Get("role").Str != "assistant" {
			return true
		}
		content := m.Get("content")
		if !content.IsArray() {
			return true
		}
		var drops []int
		total := 0
		content.ForEach(func(bi, blk gjson.Result) bool {
			total++
			if t := blk.Get("type").Str; t == "thinking" || t == "redacted_thinking" {
				drops = append(drops, int(bi.Int()))
			}
			return true
		})
		n += len(drops)
		msg := "messages." + strconv.Itoa(int(mi.Int()))
		switch {
		case len(drops) == 0:
		case len(drops) == total:
			edits.Delete(msg)
		default:
			for _, d := range drops {
				edits.Delete(msg + ".content." + strconv.Itoa(d))
			}
		}
		return true
	})
	if n == 0 {
		return b, 0, nil
	}
	out, err := edits.Apply(b)
	if err != nil {
		return b, 0, err
	}
	return out, n, nil
}

// DeclaresToolType reports whether the request declares a tool whose type starts with prefix
// (a server tool: "web_search_" for web_search_YYYYMMDD).
func DeclaresToolType(b []byte, prefix string) bool {
	if !bytes.Contains(b, []byte(`"`+prefix)) {
		return false
	}
	found := false
	gjson.GetBytes(b, "tools").ForEach(func(_, t gjson.Result) bool {
		found = strings.HasPrefix(t.Get("type").Str, prefix)
		return !found
	})
	return found
}

// LastUserTurnHasImage reports whether the last user message holds an image block (at the
// top of its content or inside a tool_result), the turn the model is about to look at.
func LastUserTurnHasImage(b []byte) bool {
	if !bytes.Contains(b, []byte(`"image"`)) {
		return false
	}
	var last gjson.Result
	gjson.GetBytes(b, "messages").ForEach(func(_, m gjson.Result) bool {
		if m.Get("role").Str == "user" {
			last = m
		}
		return true
	})
	found := false
	var visit func(_, blk gjson.Result) bool
	visit = func(_, blk gjson.Result) bool {
		switch blk.Get("type").Str {
		case "image":
			found = true
		case "tool_result":
			if c := blk.Get("content"); c.IsArray() {
				c.ForEach(visit)
			}
		}
		return !found
	}
	if c := last.Get("content"); c.IsArray() {
		c.ForEach(visit)
	}
	return found
}
