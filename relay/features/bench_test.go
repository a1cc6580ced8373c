package features

import (
	"encoding/json"
	"testing"

	"github.com/ccrelay/ccrelay/relay/relaytest/claudecode"

	"github.com/tidwall/gjson"
)

// benchRequest is the ~49 KB Claude Code request of a tool round trip, compacted to its wire
// form (the fixture stores it re-indented inside a JSON record).
func benchRequest(b *testing.B) claudecode.Request {
	b.Helper()
	for _, r := range claudecode.Requests(b) {
		if r.Name == "claude-code-2.1.332__02-tool-roundtrip-req1.messages" {
			return r
		}
	}
	b.Fatal("fixture claude-code-2.1.332__02-tool-roundtrip-req1.messages.json not found")
	return claudecode.Request{}
}

func BenchmarkDetect(b *testing.B) {
	r := benchRequest(b)
	b.SetBytes(int64(len(r.Compact)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Detect(r.Compact, r.Betas)
	}
}

// BenchmarkDetectTop is the shallow detection a relay uses when no provider needs more.
func BenchmarkDetectTop(b *testing.B) {
	r := benchRequest(b)
	b.SetBytes(int64(len(r.Compact)))
	b.ReportAllocs()
	for b.Loop() {
		_ = DetectTop(r.Compact, r.Betas)
	}
}

// BenchmarkDecide measures choosing the actions for the detected features.
func BenchmarkDecide(b *testing.B) {
	r := benchRequest(b)
	u := Detect(r.Compact, r.Betas)
	b.ReportAllocs()
	for b.Loop() {
		_ = Decide("ollama", nil, u)
	}
}

// BenchmarkApply measures Apply on the same request: anthropic (nothing to edit), bedrock
// (context_management stripped, betas filtered) and ollama (cache_control in three places,
// context_management, metadata and defer_loading stripped: six edits). An edited body is
// copied once, whatever the number of edits: bedrock and ollama allocate about one body size.
func BenchmarkApply(b *testing.B) {
	r := benchRequest(b)
	u := Detect(r.Compact, r.Betas)
	for _, p := range []string{"anthropic", "bedrock", "ollama"} {
		d := Decide(p, nil, u)
		ceiling := MaxTokensCeiling(p, u.Model)
		b.Run(p, func(b *testing.B) {
			b.SetBytes(int64(len(r.Compact)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Apply(r.Compact, d, ceiling); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBaselineUnmarshal decodes the same request with encoding/json, what Detect avoids;
// it runs under the same load as the others, so the ratio is meaningful.
func BenchmarkBaselineUnmarshal(b *testing.B) {
	r := benchRequest(b)
	b.SetBytes(int64(len(r.Compact)))
	b.ReportAllocs()
	for b.Loop() {
		var v map[string]any
		if err := json.Unmarshal(r.Compact, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineGJSONValid is one gjson validation pass over the same request, for scale.
func BenchmarkBaselineGJSONValid(b *testing.B) {
	r := benchRequest(b)
	b.SetBytes(int64(len(r.Compact)))
	b.ReportAllocs()
	for b.Loop() {
		if !gjson.ValidBytes(r.Compact) {
			b.Fatal("invalid")
		}
	}
}
