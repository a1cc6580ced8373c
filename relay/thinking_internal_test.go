package relay

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/route"
)

func TestThinkingOriginFindsTheFirstRememberedSignatureInTheBytes(t *testing.T) {
	r := &Relay{sigs: route.NewSignatures(0)}
	r.sigs.Remember("sigA", "a")
	r.sigs.Remember("sig/B+", "b")
	tests := []struct {
		name, body, origin string
		has                bool
	}{
		{"no thinking", `{"messages":[{"role":"user","content":"hi"}]}`, "", false},
		{"unknown signature", `{"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"","signature":"zzz"}]}]}`, "", true},
		{"known, compact", `{"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"","signature":"sigA"}]}]}`, "a", true},
		{"known, spaced", `{"messages":[{"role":"assistant","content":[{"type":"thinking", "signature" : "sigA"}]}]}`, "a", true},
		{"the latest known wins", `{"messages":[{"role":"assistant","content":[{"type":"thinking","signature":"zzz"}]},{"role":"assistant","content":[{"type":"thinking","signature":"sig/B+"}]},{"role":"assistant","content":[{"type":"thinking","signature":"sigA"}]},{"role":"assistant","content":[{"type":"thinking","signature":"zzz2"}]}]}`, "a", true},
		{"escaped", `{"messages":[{"role":"assistant","content":[{"type":"thinking","signature":"sig\/B+"}]}]}`, "b", true},
		{"redacted only", `{"messages":[{"role":"assistant","content":[{"type":"redacted_thinking","data":"x"}]}]}`, "", true},
		{"a key named signature without a string", `{"messages":[{"role":"user","content":"\"signature\": 5"}]}`, "", false},
		{"known behind 7 unknown", history("sigA", maxSignatures-1), "a", true},
		{"known behind 8 unknown: not looked up", history("sigA", maxSignatures), "", true},
		{"known across windows", `{"messages":[{"role":"assistant","content":[{"type":"thinking","signature":"sigA"}]},{"role":"user","content":"` + strings.Repeat("x", 200_000) /* over two of body.Signatures' 64 KiB windows */ + `"}]}`, "a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin, has := r.thinkingOrigin([]byte(tt.body))
			if origin != tt.origin || has != tt.has {
				t.Errorf("thinkingOrigin = %q, %v; want %q, %v", origin, has, tt.origin, tt.has)
			}
		})
	}
}

// history is a body whose oldest thinking block is signed sig, followed by n blocks with
// signatures the relay does not know.
func history(sig string, n int) string {
	msgs := []string{`{"role":"assistant","content":[{"type":"thinking","signature":"` + sig + `"}]}`}
	for i := range n {
		msgs = append(msgs, `{"role":"assistant","content":[{"type":"thinking","signature":"unknown`+strconv.Itoa(i)+`"}]}`)
	}
	return `{"messages":[` + strings.Join(msgs, ",") + `]}`
}
