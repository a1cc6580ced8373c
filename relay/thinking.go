package relay

import (
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
func (r *Relay) thinkingOrigin(b []byte) (origin string, has bool) {
	// unknown are the latest signatures this relay does not know, for the shared state.
	var unknown [][]byte
	body.Signatures(b, maxSignatures, func(sig []byte) bool {
		has = true
		if p, found := r.sigs.LookupBytes(sig); found {
			origin = p
			return false
		}
		if r.shared != nil && len(unknown) < sharedSigLookups {
			unknown = append(unknown, sig)
		}
		return true
	})
	if origin != "" {
		return origin, true
	}
	if p := r.sharedOrigin(unknown); p != "" {
		return p, true
	}
	return "", has || body.HasRedactedThinking(b)
}

// maxSignatures is how many of a history's latest signatures thinkingOrigin looks up.
const maxSignatures = 8

// sharedSigLookups bounds how many of a history's latest signatures are looked up in the
// shared state when this relay knows none of them.
const sharedSigLookups = 8

// needsThinkingStrip reports whether a history with thinking blocks from origin must lose them
// before going to u. Known origins must match by provider name. Without a known origin, the
// shape of the signature decides: Claude signatures are kept for the Claude platforms
// (anthropic, bedrock, vertex, azure) and removed for the others, which cannot verify them.
func needsThinkingStrip(u *upstream, origin string, b []byte) bool {
	if origin != "" {
		return origin != u.cfg.Name
	}
	if claudePlatform(u.cfg.Type) {
		return false
	}
	claude := false
	body.ThinkingSignatures(b, func(sig string) bool {
		typ, ok := route.SignatureOrigin(sig)
		claude = ok && typ == config.TypeAnthropic
		return !claude
	})
	return claude
}

// claudePlatform reports whether a provider type serves Claude itself (and verifies Claude's
// thinking signatures).
func claudePlatform(typ string) bool { return config.Facts(typ).ClaudePlatform }

// rememberSignatures records the signatures of a non-streamed response's thinking blocks.
func (r *Relay) rememberSignatures(body []byte, provider string) {
	gjson.GetBytes(body, `content.#(type=="thinking")#.signature`).ForEach(func(_, s gjson.Result) bool {
		r.rememberSignature(s.Str, provider)
		return true
	})
}
