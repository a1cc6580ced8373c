package route

import (
	"encoding/base64"
	"encoding/binary"
	"hash/maphash"
	"strings"

	"github.com/ccrelay/ccrelay/relay/config"
)

// SignatureOrigin guesses which family of provider produced a thinking block's signature from
// its shape alone.
//
// What is known: every signature in the recorded Anthropic traffic (13 of them, Claude 3.7 to
// 4.6) is standard base64 of a protobuf message {2: envelope, 3: 1}, whose envelope starts
// with a header message {1: format version (7…14), 3: 2, 5: 64-byte MAC, and in newer
// versions 6: model id}, followed by a 12-byte nonce, a 12-byte and a 48-byte field and the
// ciphertext. That shape is Claude's own, so SignatureOrigin returns config.TypeAnthropic for
// it, meaning the Claude family: anthropic, and as far as we know bedrock, vertex and azure,
// which serve the same models (Anthropic documents signatures as compatible across its
// platforms; no Bedrock or Vertex signature was available to confirm the shape here, and
// whether field 3 names the platform is unknown). Within the family the shape cannot tell the
// platforms apart.
//
// Other providers' signatures (MiniMax, llama.cpp, …) have no documented shape, and Ollama
// drops them, so for anything else ok is false: use the Signatures cache, which remembers the
// provider that actually produced each signature.
func SignatureOrigin(sig string) (providerType string, ok bool) {
	if len(sig) < 64 || sig[0] != 'E' { // 'E' is base64 of 0x12…: field 2, length-delimited
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(sig, "=")); err != nil {
			return "", false
		}
	}
	if !claudeSignature(raw) {
		return "", false
	}
	return config.TypeAnthropic, true
}

// claudeSignature checks the protobuf shape described at SignatureOrigin.
func claudeSignature(b []byte) bool {
	outer, ok := fields(b)
	if !ok || len(outer) == 0 || outer[0].num != 2 || outer[0].bytes == nil {
		return false
	}
	env, ok := fields(outer[0].bytes)
	if !ok || len(env) < 5 || env[0].num != 1 || env[0].bytes == nil {
		return false
	}
	hdr, ok := fields(env[0].bytes)
	if !ok || len(hdr) < 3 || hdr[0].num != 1 || hdr[0].bytes != nil {
		return false
	}
	for _, f := range hdr {
		if f.num == 5 {
			return len(f.bytes) == 64
		}
	}
	return false
}

// field is one protobuf field: a varint (bytes nil) or a length-delimited value.
type field struct {
	num   uint64
	bytes []byte
}

// fields splits a protobuf message into its fields; ok is false when b is not one, or uses
// wire types other than varint and length-delimited.
func fields(b []byte) (fs []field, ok bool) {
	for len(b) > 0 {
		key, n := uvarint(b)
		if n == 0 {
			return nil, false
		}
		b = b[n:]
		num := key >> 3
		if num == 0 {
			return nil, false
		}
		switch key & 7 {
		case 0:
			_, n := uvarint(b)
			if n == 0 {
				return nil, false
			}
			b = b[n:]
			fs = append(fs, field{num: num})
		case 2:
			l, n := uvarint(b)
			if n == 0 || l > uint64(len(b)-n) {
				return nil, false
			}
			fs = append(fs, field{num: num, bytes: b[n : n+int(l)]})
			b = b[n+int(l):]
		default:
			return nil, false
		}
	}
	return fs, true
}

// uvarint decodes a protobuf varint; n is 0 when b does not start with a valid one.
func uvarint(b []byte) (v uint64, n int) {
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// DefaultSignatures is the default size of a Signatures cache.
const DefaultSignatures = 10_000

// Signatures remembers which provider produced each thinking signature the relay streamed, so
// that a later request echoing the block can go back to it (or be told it cannot). It keeps a
// hash of the signature, never the signature, holds at most size entries (least recently used
// go first) and is safe for concurrent use.
type Signatures struct {
	c *lru[[16]byte, string]
	// seeds of the two 64-bit halves of the hash (hash/maphash: several times faster than
	// SHA-256, and a collision only misplaces one conversation's affinity).
	s1, s2 maphash.Seed
}

// NewSignatures returns a cache of at most size signatures (≤ 0: DefaultSignatures). Entries
// do not expire; the bound alone limits memory.
func NewSignatures(size int) *Signatures {
	if size <= 0 {
		size = DefaultSignatures
	}
	return &Signatures{c: newLRU[[16]byte, string](size, 0, nil), s1: maphash.MakeSeed(), s2: maphash.MakeSeed()}
}

// Remember records that provider produced sig. Empty signatures are ignored.
func (s *Signatures) Remember(sig, provider string) {
	if sig != "" {
		s.c.set(s.hash(sig), provider)
	}
}

// Lookup returns the provider that produced sig, if remembered.
func (s *Signatures) Lookup(sig string) (provider string, ok bool) {
	if sig == "" {
		return "", false
	}
	return s.c.get(s.hash(sig))
}

// LookupBytes is Lookup for a signature held as bytes (a view of a request body), without
// copying it.
func (s *Signatures) LookupBytes(sig []byte) (provider string, ok bool) {
	if len(sig) == 0 {
		return "", false
	}
	var h [16]byte
	binary.LittleEndian.PutUint64(h[:8], maphash.Bytes(s.s1, sig))
	binary.LittleEndian.PutUint64(h[8:], maphash.Bytes(s.s2, sig))
	return s.c.get(h)
}

func (s *Signatures) hash(sig string) [16]byte {
	var h [16]byte
	binary.LittleEndian.PutUint64(h[:8], maphash.String(s.s1, sig))
	binary.LittleEndian.PutUint64(h[8:], maphash.String(s.s2, sig))
	return h
}
