package features

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRender(t *testing.T) {
	for _, tt := range []struct{ format, provider, file string }{
		{"markdown", "", "matrix.md"},
		{"text", "", "matrix.txt"},
		{"json", "", "matrix.json"},
		{"markdown", "ollama", "matrix_ollama.md"},
		{"text", "bedrock", "matrix_bedrock.txt"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, tt.format, tt.provider); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.file, b.Bytes())
		})
	}
}

func TestRenderJSONMatchesMatrix(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, "json", ""); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Features []struct {
			Name      string `json:"name"`
			Providers map[string]struct {
				Support, Action, Case string
			} `json:"providers"`
		} `json:"features"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Features) != int(numFeatures) {
		t.Fatalf("%d features rendered", len(doc.Features))
	}
	for _, jf := range doc.Features {
		f, ok := ParseFeature(jf.Name)
		if !ok {
			t.Fatalf("unknown feature %q", jf.Name)
		}
		for _, p := range Providers {
			c, jc := Lookup(p, f), jf.Providers[p]
			if string(c.Support) != jc.Support || string(c.Action) != jc.Action || jc.Case != CaseName(p, f) {
				t.Errorf("%s/%s rendered as %+v", p, f, jc)
			}
		}
	}
}

func TestRenderErrors(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, "html", ""); err == nil || !strings.Contains(err.Error(), "valid formats: text, markdown, json") {
		t.Errorf("bad format: %v", err)
	}
	if err := Render(&b, "text", "openai"); err == nil || !strings.Contains(err.Error(), "valid types: anthropic, zai, minimax, ollama, bedrock, azure, vertex") {
		t.Errorf("bad provider: %v", err)
	}
}

func TestTheMatrixDocIsGeneratedFromTheMatrix(t *testing.T) {
	var b bytes.Buffer
	if err := RenderMatrixDoc(&b); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(MatrixDocFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(MatrixDocFile)
	if err != nil {
		t.Fatalf("%v (run go test ./relay/features -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("%s differs from the matrix (-file +generated; run go test ./relay/features -update):\n%s", MatrixDocFile, diff)
	}
}

func TestRenderGridIsTheFirstTableOfTheFullRendering(t *testing.T) {
	for _, markdown := range []bool{true, false} {
		var grid, full bytes.Buffer
		RenderGrid(&grid, markdown)
		format := map[bool]string{true: "markdown", false: "text"}[markdown]
		if err := Render(&full, format, ""); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(full.String(), grid.String()) || !strings.Contains(grid.String(), "unknown_fields") {
			t.Errorf("%s: the grid is not the start of the full rendering:\n%s", format, grid.String())
		}
	}
}
