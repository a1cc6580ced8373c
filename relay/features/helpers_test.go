package features

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// trafficDir holds the recorded real traffic (read only).
const trafficDir = "../../fixtures/real-traffic"

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got, run go test -update to accept):\n%s", path, diff)
	}
}

// usageSummary renders a Usage for goldens and diffs.
func usageSummary(u Usage) string {
	var b strings.Builder
	for _, f := range u.Features() {
		b.WriteString(f.String() + " @ " + u.Path(f) + "\n")
	}
	if u.ToolChoice != "" {
		b.WriteString("tool_choice: " + u.ToolChoiceJSON + "\n")
	}
	if u.ThinkingType != "" {
		b.WriteString("thinking: " + u.ThinkingType)
		if u.ThinkingBudget > 0 {
			b.WriteString(" budget " + itoa(u.ThinkingBudget))
		}
		b.WriteString("\n")
	}
	if u.MaxTokens > 0 {
		b.WriteString("max_tokens: " + itoa(u.MaxTokens) + "\n")
	}
	if len(u.UnknownFields) > 0 {
		b.WriteString("unknown fields: " + strings.Join(u.UnknownFields, ", ") + "\n")
	}
	if u.ToolHistory != "" {
		b.WriteString("tool history @ " + u.ToolHistory + "\n")
	}
	if len(u.Betas) > 0 {
		b.WriteString("betas: " + strings.Join(u.Betas, ", ") + "\n")
	}
	return b.String()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// isSubsequence reports whether out can be made from in by deleting bytes only: the check that
// stripping preserved every other byte.
func isSubsequence(out, in []byte) bool {
	j := 0
	for i := 0; i < len(in) && j < len(out); i++ {
		if in[i] == out[j] {
			j++
		}
	}
	return j == len(out)
}

// semantic decodes JSON keeping numbers as written.
func semantic(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	return v
}
