package route

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ccrelay/ccrelay/relay/config"
)

// Signatures from recorded Anthropic traffic (real-traffic/anthropic: pydantic-ai, claude
// 3.7-era format 11; llm-anthropic, claude-haiku-4-5, format 14 with the model id inside).
const (
	sigFormat11 = "EtABCkYICxgCKkCVRmhlD4SUFC1JfxwvjOHbkC3CPAIcWq1zn348H+o2blk997x12Vc5JMyLNWxB6/bjLXUlJbHrROizHnvNtDaXEgz6UEiizB6ShSqw9cMaDN3d+Ba0ENx0lUZk7CIwdsIvrlZbePn/CAF9+CeoO/fH53/gbO/WN3Effb0D41XifY7gyfQ8ftQWSLcsH+63KjjJYfLppl3C5/75CQsFv+3XvurDwcdYbguoPM0RDiBHB2JRX/gKF0vzMKik41tZsSGAoENhIz4SWxgB"
	sigFormat14 = "EoQDCm0IDhgCKkCDzGs2kL2PgnDCZU/nM2wG2P1VIXCRHVnhDDzBQxNF1fl4QBXEKLxRItNJ2MwFdW9eeZPhsxSQIxD54cv3zs29MhljbGF1ZGUtaGFpa3UtNC01LTIwMjUxMDAxOABCCHRoaW5raW5nEgy/OWlwTmmqUjC6L70aDJ4P0R5NfuIe9U5zAiIwCxPduXS2UxCNxJCee3i91qK3cAyAgxCjL2wkQ5UD56iX1hXGOyuNaiH5k+dF5OCQKsQBxiAo+NjC61hV8nRYtaiP+C4inOcuMKuTG9Z1rysxTXkKBTl3oMiOlnEPHHPpKpg4sYF2G5VoTg8JTon20hdZw4GfTEVupnU1qAmnMqyAgke9SoV7HBW/PyA/FxL/q33xJ2gKFiD+BsgI9Z0koMmFKCvm2MoYE6u+ONEwKdFQXL1FKRW6t/bYbJGrLJLwxilsL82h9j4xjggjMn8Npvpn+zsrDPW/8PuLd4Pu+/EsjoneYwyxQQtUVgzhVGhhANWRjSBwUxgB"
)

func TestSignatureOrigin(t *testing.T) {
	tests := []struct {
		name string
		sig  string
		want string
		ok   bool
	}{
		{"an Anthropic signature", sigFormat11, config.TypeAnthropic, true},
		{"a newer Anthropic signature", sigFormat14, config.TypeAnthropic, true},
		{"without padding", strings.TrimRight(sigFormat11, "="), config.TypeAnthropic, true},
		{"empty (Ollama drops signatures)", "", "", false},
		{"truncated", sigFormat14[:200], "", false},
		{"a header one byte too short", "EtABCkU" + sigFormat11[7:], "", false},
		{"hex", strings.Repeat("0123456789abcdef", 8), "", false},
		{"base64 of something else", "RXZlcnkgc2lnbmF0dXJlIG5lZWRzIGEgc2hhcGUgdG8gYmUgcmVjb2duaXNlZCwgYW5kIHRoaXMgaXMgbm90IG9uZS4=", "", false},
		{"not base64", "E" + strings.Repeat("!", 100), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := SignatureOrigin(tc.sig)
			if got != tc.want || ok != tc.ok {
				t.Errorf("SignatureOrigin = %q %v, want %q %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSignatures(t *testing.T) {
	s := NewSignatures(2)
	s.Remember(sigFormat11, "anthropic")
	s.Remember("minimax-signature-1", "minimax")
	s.Remember("", "nobody")
	got := map[string]string{}
	for _, sig := range []string{sigFormat11, "minimax-signature-1", "unknown", ""} {
		if p, ok := s.Lookup(sig); ok {
			got[sig] = p
		}
	}
	want := map[string]string{sigFormat11: "anthropic", "minimax-signature-1": "minimax"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Lookup (-want +got):\n%s", diff)
	}
	s.Remember("llama-signature", "llama") // evicts the least recently used: sigFormat11
	if _, ok := s.Lookup(sigFormat11); ok {
		t.Error("the cache grew past its size")
	}
	if p, ok := s.Lookup("llama-signature"); !ok || p != "llama" {
		t.Errorf("Lookup = %q %v", p, ok)
	}
}
