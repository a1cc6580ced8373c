package conformance

import (
	"strings"
	"testing"
)

// oneInteraction is the go-vcr v2 body of a cassette with one interaction.
const oneInteraction = `---
version: 1
interactions:
  - request:
      body: '{"model":"glm-4.6","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}'
      headers:
        Content-Type:
          - application/json
      url: https://api.z.ai/api/anthropic/v1/messages
      method: POST
    response:
      body: '{"id":"msg_1","type":"message","role":"assistant","model":"glm-4.6","content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}'
      headers:
        Content-Type:
          - application/json
      status: 200 OK
      code: 200
      duration: 0s
`

// noInteraction is the go-vcr v2 body of a relay-only cassette.
const noInteraction = "---\nversion: 1\ninteractions: []\n"

func TestParseCassetteProvenance(t *testing.T) {
	tests := []struct {
		name   string
		header string
		body   string
		want   Provenance
		// err is a part of the load error; "" means the cassette loads.
		err string
	}{
		{name: "documented with its url",
			header: "# provenance: documented\n# source: Z.AI, Claude API compatibility, the curl example\n# url: https://docs.z.ai/guides/develop/claude/introduction#example\n# note: copied as printed\n",
			body:   oneInteraction,
			want: Provenance{Kind: ProvenanceDocumented, Source: "Z.AI, Claude API compatibility, the curl example",
				URL: "https://docs.z.ai/guides/develop/claude/introduction#example", Notes: []string{"copied as printed"}}},
		{name: "documented without url",
			header: "# provenance: documented\n# source: https://docs.z.ai/guides/develop/claude/introduction\n",
			body:   oneInteraction,
			err:    "provenance documented without the documentation's address; add a header line `# url: https://...`"},
		{name: "documented with a relative url",
			header: "# provenance: documented\n# url: docs/claude.md\n",
			body:   oneInteraction,
			err:    `url "docs/claude.md": want an absolute http(s) address`},
		{name: "documented url broken over two lines",
			header: "# provenance: documented\n# url: https://docs.z.ai/guides/\n#   develop/claude\n",
			body:   oneInteraction,
			err:    "an address has no spaces"},
		{name: "documented without an interaction",
			header: "# provenance: documented\n# url: https://docs.z.ai/guides/develop/claude/introduction\n",
			body:   noInteraction,
			err:    "provenance documented but no interaction"},
		{name: "derived needs no url",
			header: "# provenance: derived\n# source: shared/spec/wire.md B.5\n",
			body:   oneInteraction,
			want:   Provenance{Kind: ProvenanceDerived, Source: "shared/spec/wire.md B.5"}},
		{name: "derived may cite a url",
			header: "# provenance: derived\n# url: https://platform.minimax.io/docs/api-reference/text-anthropic-api\n",
			body:   oneInteraction,
			want:   Provenance{Kind: ProvenanceDerived, URL: "https://platform.minimax.io/docs/api-reference/text-anthropic-api"}},
		{name: "relay-only",
			header: "# provenance: relay-only\n",
			body:   noInteraction,
			want:   Provenance{Kind: ProvenanceRelayOnly}},
		{name: "unknown kind",
			header: "# provenance: vendor-example\n",
			body:   oneInteraction,
			err:    `header says provenance "vendor-example"; want recorded-live, real-traffic, documented, derived, relay-only`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf, err := parseCassette([]byte(tt.header+tt.body), "zai/text-basic.yaml")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				if !strings.Contains(err.Error(), "cassettes/zai/text-basic.yaml") {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cf.prov; got.Kind != tt.want.Kind || got.Source != tt.want.Source || got.URL != tt.want.URL || strings.Join(got.Notes, "|") != strings.Join(tt.want.Notes, "|") {
				t.Errorf("provenance %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDocumentedHeaderRoundTrips writes a documented provenance as a header and reads it back.
func TestDocumentedHeaderRoundTrips(t *testing.T) {
	p := Provenance{Kind: ProvenanceDocumented, Source: "MiniMax, Anthropic API compatible, the streaming example",
		URL: "https://platform.minimax.io/docs/api-reference/text-anthropic-api#streaming-example-with-a-long-fragment-that-does-not-fit-on-one-line"}
	data := append(p.header("minimax", "text-stream"), oneInteraction...)
	cf, err := parseCassette(data, "minimax/text-stream.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if cf.prov.URL != p.URL || cf.prov.Kind != ProvenanceDocumented {
		t.Fatalf("read back %+v from\n%s", cf.prov, data)
	}
}
