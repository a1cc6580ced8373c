package conformance

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/google/go-cmp/cmp"
)

// sampleReport is a fixed report with a pass, a failure, a case that does not apply, a matrix
// row and a drift entry for ollama, and for zai cases on each kind of cassette that is not
// recorded (documented, derived, relay-only, missing).
func sampleReport() *Report {
	return &Report{
		Mode: "replay",
		Providers: []ProviderReport{{
			Provider: "ollama",
			Results: []Result{
				{Provider: "ollama", Case: "stop-sequence", Status: Pass, Cassette: "cassettes/ollama/stop-sequence.yaml",
					Provenance: Provenance{Kind: ProvenanceLive, Recorded: "2026-11-26T08:00:00Z against http://127.0.0.1:11434/v1/messages"},
					Checks:     []Check{{Name: "upstream request", OK: true, Detail: "matches cassettes/ollama/stop-sequence.yaml"}},
					Matrix: []Observation{{Feature: "stop_sequences", Declared: features.Partial, Action: features.Degrade,
						Observed: features.Partial, Evidence: true, OK: true}},
					Duration: 12 * time.Millisecond},
				{Provider: "ollama", Case: "tool-choice-any", Status: Fail, Cassette: "cassettes/ollama/tool-choice-any.yaml",
					Provenance: Provenance{Kind: ProvenanceLive},
					Checks:     []Check{{Name: "matrix action", OK: false, Detail: "the matrix refuses tool_choice_any, but the relay called the provider (1 upstream request)"}},
					Matrix: []Observation{{Feature: "tool_choice_any", Declared: features.None, Action: features.Refuse, OK: false,
						Detail: "the matrix's action is refuse, but the relay called the provider"}},
					Duration: 3 * time.Millisecond},
				{Provider: "ollama", Case: "error-rate-limited", Status: NotApplicable, Cassette: "cassettes/ollama/error-rate-limited.yaml",
					NotApplicable: "Ollama has no rate limits"},
			},
			Matrix: []MatrixRow{
				{Feature: "tool_choice_any", Declared: features.None, Action: features.Refuse, Cases: []string{"tool-choice-any"}, Verdict: verdictContradicted},
				{Feature: "stop_sequences", Declared: features.Partial, Action: features.Degrade, Observed: features.Partial, Cases: []string{"stop-sequence"}, Verdict: verdictAgrees},
			},
		}, {
			Provider: "zai",
			Results: []Result{
				{Provider: "zai", Case: "text-stream", Status: Pass, Cassette: "cassettes/zai/text-stream.yaml",
					Provenance: Provenance{Kind: ProvenanceDocumented, Source: "Z.AI, Claude API compatibility, the streaming example",
						URL: "https://docs.z.ai/guides/develop/claude/introduction"},
					Checks:   []Check{{Name: "upstream request", OK: true}},
					Matrix:   []Observation{{Feature: "streaming", Declared: features.Full, Action: features.Pass, Observed: features.Full, OK: true}},
					Duration: 4 * time.Millisecond},
				{Provider: "zai", Case: "tool-use", Status: Pass, Cassette: "cassettes/zai/tool-use.yaml",
					Provenance: Provenance{Kind: ProvenanceDerived, Source: "shared/spec/wire.md B.5"},
					Checks:     []Check{{Name: "upstream request", OK: true}},
					Matrix:     []Observation{{Feature: "tools", Declared: features.Full, Action: features.Pass, Observed: features.Full, OK: true}},
					Duration:   5 * time.Millisecond},
				{Provider: "zai", Case: "image-url", Status: Pass, Cassette: "cassettes/zai/image-url.yaml",
					Provenance: Provenance{Kind: ProvenanceRelayOnly, Source: "relay/features matrix: zai/image_url"},
					Checks:     []Check{{Name: "matrix action", OK: true, Detail: "refused without calling the provider"}},
					Duration:   time.Millisecond},
				{Provider: "zai", Case: "count-tokens", Status: Fail, Cassette: "cassettes/zai/count-tokens.yaml",
					Checks: []Check{{Name: "cassette", OK: false, Detail: "cassettes/zai/count-tokens.yaml is missing"}}},
			},
		}},
		Drift: []Drift{{Provider: "ollama", Feature: "tool_choice_any", Declared: features.None, Observed: features.Full, Case: "tool-choice-any", Detail: "the model called final_result"}},
	}
}

func TestReportFormats(t *testing.T) {
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := sampleReport().Write(&b, format); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "report."+format+".golden")
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if d := cmp.Diff(string(want), b.String()); d != "" {
				t.Errorf("report differs from %s (-want +got):\n%s", golden, d)
			}
		})
	}
}

// TestReportRecordSaysNoDrift checks that a recording's report says when no cell drifted, in
// text and markdown, and that a replay's report does not.
func TestReportRecordSaysNoDrift(t *testing.T) {
	for _, format := range []string{FormatText, FormatMarkdown} {
		for _, mode := range []string{"record", "replay"} {
			rep := sampleReport()
			rep.Mode, rep.Drift = mode, nil
			var b bytes.Buffer
			if err := rep.Write(&b, format); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(b.String(), noDrift); got != (mode == "record") {
				t.Errorf("%s %s: says %q: %v, want %v", format, mode, noDrift, got, mode == "record")
			}
		}
	}
}

func TestReportOK(t *testing.T) {
	rep := sampleReport()
	if rep.OK() {
		t.Error("a report with a failure is OK")
	}
	rep.Providers[0].Results[1].Status = Pass
	rep.Providers[1].Results[3].Status = Pass
	if !rep.OK() {
		t.Error("a report without failures is not OK")
	}
	if err := rep.Write(&bytes.Buffer{}, "yaml"); err == nil {
		t.Error("an unknown format was accepted")
	}
}
