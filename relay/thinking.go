package relay

import (
	"bytes"
	"strconv"

	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/route"
	"github.com/tidwall/gjson"
)

// Thinking signatures are only valid at the provider (and model) that produced them. The relay
// remembers which provider produced each signature it relays (a bounded cache of hashes), so a
// conversation whose history holds signed thinking blocks can stick to that provider, and the
// blocks can be removed when the conversation has to move elsewhere.

// thinkingOrigin returns the provider that produced the signed thinking blocks of the request's
// history ("" when there are none or none is known), and whether the history has any. It
// scans the bytes for "signature" members, from the end, rather than parsing the history: a
// long session's body is a megabyte, and parsing it on every turn cost more than everything
// else the relay does. The latest signature the relay remembers decides (usually the last
// one: the relay relayed the previous turn), among the latest maxSignatures: the cache forgets
// the oldest first, so when none of those is known an older one hardly ever is, and a session
// whose turns were signed elsewhere would otherwise pay a scan of its whole history on every
// turn. A "signature" member elsewhere in the body (inside a tool result, say) is looked up
// too, and matches nothing the relay relayed.
func (r *Relay) thinkingOrigin(body []byte) (origin string, has bool) {
	// The search is for the key's tail: bytes.Index looks for the first byte of its pattern
	// before comparing, and a quote, the key's first byte, is the commonest byte of JSON.
	const key, head = `"signature"`, `"si`
	tail := []byte(key[len(head):])
	var at []int // the occurrences of key in one window, in order
	// unknown are the latest signatures this relay does not know, for the shared state.
	var unknown [][]byte
	seen := 0 // signatures looked up
	// Windows from the end: the search costs what lies after the latest known signature, not
	// the whole body. A window holds the occurrences that start in [start, end-len(key)]; the
	// next one ends len(key)-1 bytes after its start, so that each is found exactly once.
	for end := len(body); end >= len(key); {
		start := max(0, end-signatureWindow)
		at = at[:0]
		for i := start + len(head); i < end; {
			j := bytes.Index(body[i:end], tail)
			if j < 0 {
				break
			}
			if k := i + j - len(head); string(body[k:i+j]) == head {
				at = append(at, k)
			}
			i += j + len(tail)
		}
		for k := len(at) - 1; k >= 0; k-- {
			sig, _, ok := stringValue(body[at[k]+len(key):])
			if !ok {
				continue
			}
			has = true
			if p, found := r.sigs.LookupBytes(sig); found {
				return p, true
			}
			if r.shared != nil && len(unknown) < sharedSigLookups {
				unknown = append(unknown, sig)
			}
			if seen++; seen == maxSignatures {
				return r.sharedOrigin(unknown), true
			}
		}
		if start == 0 {
			break
		}
		end = start + len(key) - 1
	}
	if p := r.sharedOrigin(unknown); p != "" {
		return p, true
	}
	return "", has || bytes.Contains(body, []byte(`"redacted_thinking"`))
}

// maxSignatures is how many of a history's latest signatures thinkingOrigin looks up.
const maxSignatures = 8

// sharedSigLookups bounds how many of a history's latest signatures are looked up in the
// shared state when this relay knows none of them.
const sharedSigLookups = 8

// signatureWindow is how much of a body thinkingOrigin searches at a time, from the end.
const signatureWindow = 64 << 10

// stringValue reads `: "..."` at the start of b (whitespace allowed) and returns the string's
// bytes as they are in b (signatures are base64, without escapes; an escaped string is
// unescaped into a copy), and what follows it.
func stringValue(b []byte) (s, rest []byte, ok bool) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	if i >= len(b) || b[i] != ':' {
		return nil, b, false
	}
	i++
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	if i >= len(b) || b[i] != '"' {
		return nil, b, false
	}
	start := i + 1
	// Signatures are base64: the closing quote, found at vector speed, is usually the end.
	if q := bytes.IndexByte(b[start:], '"'); q >= 0 && bytes.IndexByte(b[start:start+q], '\\') < 0 {
		return b[start : start+q], b[start+q+1:], true
	}
	escaped := false
	for j := start; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			if escaped {
				return []byte(gjson.ParseBytes(b[i : j+1]).Str), b[j+1:], true
			}
			return b[start:j], b[j+1:], true
		}
	}
	return nil, b, false
}

// needsThinkingStrip reports whether a history with thinking blocks from origin must lose them
// before going to u. Known origins must match by provider name. Without a known origin, the
// shape of the signature decides: Claude signatures are kept for the Claude platforms
// (anthropic, bedrock, vertex, azure) and removed for the others, which cannot verify them.
func needsThinkingStrip(u *upstream, origin string, body []byte) bool {
	if origin != "" {
		return origin != u.cfg.Name
	}
	if claudePlatform(u.cfg.Type) {
		return false
	}
	claude := false
	gjson.GetBytes(body, `messages.#(role=="assistant")#.content.#(type=="thinking")#.signature`).ForEach(func(_, v gjson.Result) bool {
		v.ForEach(func(_, s gjson.Result) bool {
			if typ, ok := route.SignatureOrigin(s.Str); ok && typ == config.TypeAnthropic {
				claude = true
			}
			return !claude
		})
		return !claude
	})
	return claude
}

// claudePlatform reports whether a provider type serves Claude itself (and verifies Claude's
// thinking signatures).
func claudePlatform(typ string) bool { return config.Facts(typ).ClaudePlatform }

// stripThinking removes every thinking and redacted_thinking block from the assistant turns of
// the history, with relay/body's edits so that every other byte stays as it was (in one copy of
// the body). A message left with no content is removed whole rather than sent with an empty
// content array. It returns the body and the number of blocks removed.
func stripThinking(b []byte) ([]byte, int, error) {
	var edits body.Edits
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

// rememberSignatures records the signatures of a non-streamed response's thinking blocks.
func (r *Relay) rememberSignatures(body []byte, provider string) {
	gjson.GetBytes(body, `content.#(type=="thinking")#.signature`).ForEach(func(_, s gjson.Result) bool {
		r.rememberSignature(s.Str, provider)
		return true
	})
}
