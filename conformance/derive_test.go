package conformance

// This file is the generator of the cassettes that are not recorded live: the ones converted
// from public real traffic (fixtures/real-traffic) and the ones derived from the providers'
// documentation (shared/spec/wire.md), together with their client request overrides. It runs
// as a golden-file test:
//
//	go test ./conformance -run TestCassettesUpToDate            # the files on disk are what it makes
//	go test ./conformance -run TestCassettesUpToDate -update    # rewrite them
//
// Recorded-live cassettes (written by `ccrelay conform --record`) and documented ones (built
// from an example a vendor's documentation prints, with its url:) are never touched, nor the
// client request overrides beside documented cassettes.
//
// How a client request override is derived from a recorded upstream request (clientFrom):
//   - anthropic, zai, minimax, ollama, azure: the recorded body, with "model" set to the case's
//     client model; the recorded anthropic-version and anthropic-beta headers.
//   - bedrock: the recorded body (for count-tokens, the base64 body inside
//     input.invokeModel.body) without anthropic_version; its anthropic_beta array becomes the
//     anthropic-beta header; "model" is added, and "stream": true for
//     invoke-with-response-stream.
//   - vertex: the recorded body without anthropic_version, with "model" set.
// The client model is the canonical request's, so that the replay configuration maps it to the
// recorded upstream model and a relay that forgets model_mapping fails to match.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/dnaeon/go-vcr.v2/cassette"
)

var update = flag.Bool("update", false, "rewrite the generated cassettes and golden files")

// realTraffic names, per provider/case, the public recording a cassette is converted from.
var realTraffic = map[string]string{
	"anthropic/text-basic":            "anthropic/fantasy/claude-sonnet-4.simple.0.json",
	"anthropic/text-stream":           "anthropic/fantasy/claude-sonnet-4.simple_streaming.0.json",
	"anthropic/max-tokens-stop":       "anthropic/langchaingo/TestClient_WithAnthropicBetaHeader.0.json",
	"anthropic/stop-sequence":         "anthropic/llm-anthropic/test_prompt_with_prefill_and_stop_sequences.0.json",
	"anthropic/tool-use":              "anthropic/fantasy/claude-sonnet-4.tool.0.json",
	"anthropic/tool-use-stream":       "anthropic/fantasy/claude-sonnet-4.tool_streaming.0.json",
	"anthropic/tool-result-followup":  "anthropic/fantasy/claude-sonnet-4.tool.1.json",
	"anthropic/thinking-stream":       "anthropic/llm-anthropic/test_thinking_prompt.0.json",
	"anthropic/cache-control":         "anthropic/pydantic-ai/test_anthropic_cache_count_tokens.1.json",
	"anthropic/tool-choice-any":       "anthropic/pydantic-ai/test_anthropic_count_tokens_with_adaptive_thinking_and_output_tools.1.json",
	"anthropic/tool-choice-tool":      "anthropic/fantasy/claude-sonnet-4.simple_object_streaming.0.json",
	"anthropic/count-tokens":          "anthropic/pydantic-ai/test_anthropic_count_tokens_with_native_tools.0.json",
	"anthropic/error-unknown-model":   "anthropic/pydantic-ai/test_model_name_suggestion_anthropic.0.json",
	"anthropic/error-invalid-request": "anthropic/pydantic-ai/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.0.json",

	"bedrock/text-basic":           "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.simple.0.json",
	"bedrock/text-stream":          "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.simple_streaming.0.json",
	"bedrock/max-tokens-stop":      "bedrock/aimock/bedrock-misbehavior-live.k5_stream.json",
	"bedrock/tool-use":             "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.tool.0.json",
	"bedrock/tool-use-stream":      "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.tool_streaming.0.json",
	"bedrock/tool-result-followup": "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.tool.1.json",
	"bedrock/cache-control":        "bedrock/pydantic-ai/test_anthropic_cache_bedrock_real_api.1.json",
	"bedrock/tool-choice-tool":     "bedrock/aimock/bedrock-misbehavior-live.k5_object.json",
	"bedrock/count-tokens":         "bedrock/pydantic-ai/test_anthropic_bedrock_count_tokens_real_api.0.json",

	"vertex/text-basic":           "vertex/fantasy/vertex-claude-3-7-sonnet.simple.0.json",
	"vertex/text-stream":          "vertex/fantasy/vertex-claude-3-7-sonnet.simple_streaming.0.json",
	"vertex/tool-use":             "vertex/fantasy/vertex-claude-3-7-sonnet.tool.0.json",
	"vertex/tool-use-stream":      "vertex/fantasy/vertex-claude-3-7-sonnet.tool_streaming.0.json",
	"vertex/tool-result-followup": "vertex/fantasy/vertex-claude-3-7-sonnet.tool.1.json",
	"vertex/tool-choice-tool":     "vertex/fantasy/vertex-claude-3-7-sonnet.simple_object.0.json",
}

// made is one generated cassette.
type made struct {
	prov Provenance
	// client is the client request override; nil means the canonical request.
	client *ClientRequest
	// ix is the interaction; nil for a relay-only cassette.
	ix *cassette.Interaction
}

// generated is the set of files the generator owns: cassettes/<p>/<case>.yaml and, when the
// client request is not the canonical one, <case>.request.json.
func generated(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, p := range features.Providers {
		for i := range cases {
			c := &cases[i]
			if _, na := c.NotApplicable[p]; na || (p == "ollama" && c.Provoked) {
				continue // ollama cassettes are recorded live (scripts/record/ollama.sh)
			}
			if kept(p, c.Name) {
				continue // a live recording or a vendor's example replaces the generated cassette
			}
			m, err := makeCassette(p, c)
			if err != nil {
				t.Fatalf("%s/%s: %v", p, c.Name, err)
			}
			var ix []*cassette.Interaction
			if m.ix != nil {
				ix = []*cassette.Interaction{m.ix}
			}
			data, err := encodeCassette(m.prov, p, c.Name, ix)
			if err != nil {
				t.Fatal(err)
			}
			files[filepath.Join(p, c.Name+".yaml")] = data
			if m.client != nil {
				b, err := encodeClientRequest(m.client)
				if err != nil {
					t.Fatalf("%s/%s: %v", p, c.Name, err)
				}
				files[filepath.Join(p, c.Name+overrideSuffix)] = b
			}
		}
	}
	return files
}

// kept reports whether the cassette on disk is not the generator's: recorded live, or built
// from a vendor's documented example.
func kept(p, name string) bool {
	cf, err := loadCassette(os.DirFS(filepath.Join("..", "cassettes")), p, name)
	return err == nil && (cf.prov.Kind == ProvenanceLive || cf.prov.Kind == ProvenanceDocumented)
}

// makeCassette makes the cassette of a provider type and case.
func makeCassette(p string, c *Case) (made, error) {
	if src, ok := realTraffic[p+"/"+c.Name]; ok {
		return fromRealTraffic(p, c, src)
	}
	canon, err := canonical(c.Name)
	if err != nil {
		return made{}, err
	}
	pl := makePlan(features.Lookup, p, canon, "", nil)
	if !pl.expectUpstream() {
		return made{prov: Provenance{
			Kind:          ProvenanceRelayOnly,
			Source:        fmt.Sprintf("relay/features matrix: %s/%s", p, joinFeatures(pl.blocking())),
			ClientRequest: c.requestFile(),
			Notes: []string{fmt.Sprintf("the matrix keeps this request from %s (%s: %s), so the relay answers it itself; no answer of %s is on record, so its own support is not measured (record it with --record to probe it)",
				p, joinFeatures(pl.blocking()), pl.action(pl.blocking()[0]), p)},
		}}, nil
	}
	return derive(p, c, canon)
}

// canonical loads the canonical request of a case from fixtures/requests.
func canonical(name string) (*ClientRequest, error) {
	if c, ok := caseByName(name); ok && c.Recording != "" {
		return loadRecording(c.Recording)
	}
	return loadCanonical(os.DirFS(filepath.Join("..", "fixtures", "requests")), name)
}

// encodeClientRequest renders an override file.
func encodeClientRequest(r *ClientRequest) ([]byte, error) {
	var body bytes.Buffer
	if err := json.Indent(&body, r.Body, "  ", "  "); err != nil {
		return nil, err
	}
	out := *r
	out.Body = body.Bytes()
	b, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// TestCassettesUpToDate checks that the generated cassettes on disk are exactly what the
// generator makes (so they are never edited by hand), or rewrites them with -update.
func TestCassettesUpToDate(t *testing.T) {
	root := filepath.Join("..", "cassettes")
	want := generated(t)
	if *update {
		for name, data := range want {
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Errorf("%v (run go test ./conformance -run TestCassettesUpToDate -update)", err)
			continue
		}
		if !bytes.Equal(got, data) {
			t.Errorf("cassettes/%s differs from what the generator makes (run with -update); diff:\n%s", name, clip(cmp.Diff(string(data), string(got)), 2000))
		}
	}
	// Every override on disk belongs to a generated cassette or a documented one
	// (recorded-live cassettes use the canonical request).
	entries, _ := filepath.Glob(filepath.Join(root, "*", "*"+overrideSuffix))
	for _, e := range entries {
		rel, _ := filepath.Rel(root, e)
		if _, ok := want[rel]; ok {
			continue
		}
		p, name := filepath.Dir(rel), strings.TrimSuffix(filepath.Base(rel), overrideSuffix)
		if cf, err := loadCassette(os.DirFS(root), p, name); err == nil && cf.prov.Kind == ProvenanceDocumented {
			continue
		}
		if *update {
			if err := os.Remove(e); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("cassettes/%s is not made by the generator; remove it (or run with -update)", rel)
	}
}

// TestRealTrafficSourcesExist keeps the table above pointing at real files.
func TestRealTrafficSourcesExist(t *testing.T) {
	keys := make([]string, 0, len(realTraffic))
	for k := range realTraffic {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p, name, _ := strings.Cut(k, "/")
		if _, ok := caseByName(name); !ok || !slices.Contains(features.Providers, p) {
			t.Errorf("realTraffic[%q]: no such provider type or case", k)
		}
		if _, err := os.Stat(filepath.Join("..", "fixtures", "real-traffic", realTraffic[k])); err != nil {
			t.Errorf("realTraffic[%q]: %v", k, err)
		}
	}
}

// readmeMarkers delimit the generated coverage table in cassettes/README.md.
const (
	readmeBegin = "<!-- coverage: generated by go test ./conformance -run TestCassettesReadme -update -->"
	readmeEnd   = "<!-- end of coverage -->"
)

// coverageTable renders case × provider type with each cassette's provenance, read from the
// cassettes on disk.
func coverageTable(t *testing.T) string {
	t.Helper()
	short := map[string]string{
		ProvenanceLive: "live", ProvenanceRealTraffic: "real", ProvenanceDocumented: "documented",
		ProvenanceDerived: "derived", ProvenanceRelayOnly: "relay-only",
	}
	fsys := os.DirFS(filepath.Join("..", "cassettes"))
	var b strings.Builder
	b.WriteString("| case | " + strings.Join(features.Providers, " | ") + " |\n|---|")
	b.WriteString(strings.Repeat("---|", len(features.Providers)) + "\n")
	// results holds, per provider type, one result per case with the cassette's provenance,
	// counted like a report's.
	results := map[string][]Result{}
	for i := range cases {
		c := &cases[i]
		b.WriteString("| " + c.Name + " |")
		for _, p := range features.Providers {
			cell := "missing"
			r := Result{Status: Pass}
			if _, na := c.NotApplicable[p]; na {
				cell, r.Status = "n/a", NotApplicable
			} else if cf, err := loadCassette(fsys, p, c.Name); err == nil {
				cell, r.Provenance = short[cf.prov.Kind], cf.prov
			}
			results[p] = append(results[p], r)
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\nWhat each provider type's cases rest on (`recorded` counts `recorded-live` and `real-traffic`):\n\n")
	for _, p := range features.Providers {
		t := tally(results[p])
		fmt.Fprintf(&b, "- %s: %d cases", p, t.Passed+t.Failed)
		if t.NotApplicable > 0 {
			fmt.Fprintf(&b, " (%d not applicable)", t.NotApplicable)
		}
		b.WriteString(" — " + t.Cassettes.String() + "\n")
	}
	return b.String()
}

// TestCassettesReadme keeps the coverage table of cassettes/README.md in step with the
// cassettes (rewritten with -update).
func TestCassettesReadme(t *testing.T) {
	path := filepath.Join("..", "cassettes", "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the coverage markers", path)
	}
	want := s[:i] + readmeBegin + "\n" + coverageTable(t) + readmeEnd + s[j+len(readmeEnd):]
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != s {
		t.Errorf("the coverage table of %s is out of date (run go test ./conformance -run TestCassettesReadme -update):\n%s", path, coverageTable(t))
	}
}
