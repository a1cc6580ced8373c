package relay

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/route"
	"github.com/google/go-cmp/cmp"
)

func TestStripThinkingKeepsEveryOtherByte(t *testing.T) {
	tests := []struct {
		name, in, want string
		n              int
	}{
		{
			"a thinking block before text goes, the text stays",
			`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"a"}]},{"role":"user","content":"next"}],  "model" : "m"}`,
			`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"text","text":"a"}]},{"role":"user","content":"next"}],  "model" : "m"}`,
			1,
		},
		{
			"an assistant turn of only thinking is removed rather than left empty",
			`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"redacted_thinking","data":"x"},{"type":"thinking","thinking":"t","signature":"s"}]},{"role":"user","content":"next"}]}`,
			`{"messages":[{"role":"user","content":"q"},{"role":"user","content":"next"}]}`,
			2,
		},
		{
			"user turns and string contents are untouched",
			`{"messages":[{"role":"user","content":[{"type":"thinking","thinking":"not really"}]},{"role":"assistant","content":"plain"}]}`,
			`{"messages":[{"role":"user","content":[{"type":"thinking","thinking":"not really"}]},{"role":"assistant","content":"plain"}]}`,
			0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			got, n, err := stripThinking(in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" || n != tt.n {
				t.Errorf("removed %d (want %d); body (-want +got):\n%s", n, tt.n, diff)
			}
			if string(in) != tt.in {
				t.Errorf("the input was modified in place")
			}
		})
	}
}

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
		{"known across windows", `{"messages":[{"role":"assistant","content":[{"type":"thinking","signature":"sigA"}]},{"role":"user","content":"` + strings.Repeat("x", 2*signatureWindow) + `"}]}`, "a", true},
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
