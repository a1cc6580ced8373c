package relay

import (
	"crypto/subtle"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
)

// Response headers the relay adds.
const (
	hdrProvider  = "X-Ccrelay-Provider"
	hdrAttempts  = "X-Ccrelay-Attempts"
	hdrDegraded  = "X-Ccrelay-Degraded"
	hdrRequestID = "X-Ccrelay-Request-Id"
)

// forwardRequestHeader reports whether a client header may go upstream. It is an allowlist:
// client credentials, hop-by-hop headers, cookies, x-forwarded-* and accept-encoding (the relay
// must read the stream it relays) never leave.
func forwardRequestHeader(canonical string) bool {
	switch canonical {
	case "Accept", "User-Agent", "X-App":
		return true
	}
	return hasPrefixFold(canonical, "anthropic-") ||
		hasPrefixFold(canonical, "x-stainless-") ||
		hasPrefixFold(canonical, "x-claude-code-")
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case, without the allocation of
// strings.ToLower (one per header per request).
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// upstreamHeader returns the forwardable subset of the client's headers.
func upstreamHeader(in http.Header) http.Header {
	out := make(http.Header, len(in))
	for k, v := range in {
		if forwardRequestHeader(k) {
			out[k] = v
		}
	}
	if out.Get("Anthropic-Version") == "" {
		out.Set("Anthropic-Version", "2023-06-01")
	}
	return out
}

// passResponseHeader reports whether an upstream response header goes back to the client.
func passResponseHeader(canonical string) bool {
	switch canonical {
	case "Content-Type", "Request-Id", "Retry-After", "Retry-After-Ms", "X-Should-Retry":
		return true
	}
	return hasPrefixFold(canonical, "anthropic-ratelimit-")
}

// copyResponseHeader copies the passable upstream headers to the client's response.
func copyResponseHeader(dst, src http.Header) {
	for k, v := range src {
		if passResponseHeader(k) {
			dst[k] = v
		}
	}
}

// clientCredential returns what the client sent to authenticate: x-api-key, or the token of
// Authorization: Bearer.
func clientCredential(h http.Header) (apiKey, bearer string) {
	apiKey = h.Get("X-Api-Key")
	if a := h.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		bearer = strings.TrimSpace(a[7:])
	}
	return apiKey, bearer
}

// equalSecret compares two secrets in constant time.
func equalSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// newRequestID returns an id in the style of Anthropic's ("req_" + 24 base62 characters).
func newRequestID() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [28]byte
	copy(b[:], "req_")
	// Each 64-bit random number gives 10 characters (62^10 < 2^64).
	var r uint64
	for i := 4; i < len(b); i++ {
		if (i-4)%10 == 0 {
			r = rand.Uint64()
		}
		b[i] = alphabet[r%62]
		r /= 62
	}
	return string(b[:])
}

// attemptsHeader formats x-ccrelay-attempts: the count, and with debug the failed reasons.
func attemptsHeader(n int, reasons []string, debug bool) string {
	s := strconv.Itoa(n)
	if debug && len(reasons) > 0 {
		s += "; " + strings.Join(reasons, "; ")
	}
	return s
}
