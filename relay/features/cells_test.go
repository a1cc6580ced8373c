package features

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// cellsFile is the features test table as data, for the tests of other packages (test files
// cannot be imported): relay/matrix_cells_test.go sends every case through the relay.
const cellsFile = "cells.json"

// cellsDoc is the layout of testdata/cells.json.
type cellsDoc struct {
	About string     `json:"about"`
	Cases []cellJSON `json:"cases"`
}

// cellJSON is one applyCase. Empty fields are left out: out "" means the body is unchanged,
// no betas_out means no anthropic-beta value is sent on (TestCellsBetasOut checks that).
type cellJSON struct {
	// Set is "default" (defaultCases: one per non-pass cell) or "override" (overrideCases).
	Set         string            `json:"set"`
	Name        string            `json:"name"`
	Provider    string            `json:"provider"`
	Overrides   map[string]string `json:"overrides,omitempty"`
	Betas       []string          `json:"betas,omitempty"`
	CountTokens bool              `json:"count_tokens,omitempty"`
	Ceiling     int               `json:"ceiling,omitempty"`
	In          string            `json:"in"`
	Out         string            `json:"out,omitempty"`
	Notes       []string          `json:"notes,omitempty"`
	Refusal     string            `json:"refusal,omitempty"`
	BetasOut    []string          `json:"betas_out,omitempty"`
}

func cellsOf(set string, cases []applyCase) []cellJSON {
	out := make([]cellJSON, 0, len(cases))
	for _, tc := range cases {
		out = append(out, cellJSON{
			Set: set, Name: tc.name, Provider: tc.provider, Overrides: tc.overrides, Betas: tc.betas,
			CountTokens: tc.countTokens, Ceiling: tc.ceiling, In: tc.in, Out: tc.out, Notes: tc.notes,
			Refusal: tc.refusal, BetasOut: tc.betasOut,
		})
	}
	return out
}

// renderCells serialises defaultCases and overrideCases, indented, without HTML escaping (the
// bodies hold <, > and & as written).
func renderCells(t *testing.T) []byte {
	t.Helper()
	doc := cellsDoc{
		About: "Generated from defaultCases and overrideCases in relay/features/apply_test.go by " +
			"`go test ./relay/features -run TestCellsFile -update`; do not edit. " +
			"Each case is one Decide+Apply run: in (the client's body, betas in the anthropic-beta header, " +
			"count_tokens for /v1/messages/count_tokens, ceiling the max_tokens ceiling of the upstream model) " +
			"gives out (\"\" or absent: unchanged), notes (x-ccrelay-degraded) and betas_out, or the refusal.",
		Cases: append(cellsOf("default", defaultCases), cellsOf("override", overrideCases)...),
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestCellsFile keeps testdata/cells.json equal to the case tables (go test -update rewrites it).
func TestCellsFile(t *testing.T) {
	got := renderCells(t)
	var back cellsDoc
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	want := append(cellsOf("default", defaultCases), cellsOf("override", overrideCases)...)
	if diff := cmp.Diff(want, back.Cases, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("the cases do not survive JSON (-table +decoded):\n%s", diff)
	}
	golden(t, cellsFile, got)
}

// TestCellsBetasOut makes the file's betas_out complete for what is forwarded: every case that
// is not refused sends exactly betas_out (none when it is absent), so a reader of the file can
// take an absent betas_out as "no anthropic-beta header upstream".
func TestCellsBetasOut(t *testing.T) {
	for _, tc := range append(append([]applyCase(nil), defaultCases...), overrideCases...) {
		if tc.refusal != "" {
			continue
		}
		u := Detect([]byte(tc.in), tc.betas)
		u.CountTokens = tc.countTokens
		d := Decide(tc.provider, tc.overrides, u)
		if diff := cmp.Diff(tc.betasOut, d.Betas, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: betas sent on (-betasOut +Decision.Betas):\n%s", tc.name, diff)
		}
	}
}
