package features

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Render prints the feature matrix for users: format is "text" (aligned columns), "markdown"
// (the README table) or "json"; providerType is one provider type, or "" for all of them.
// The output is deterministic. For all providers it is a grid of support and default action
// followed by the notes of every cell that is not plainly supported, the valid actions and what
// strip and degrade do, the anthropic-beta allowlists, the accepted top-level keys and the
// max_tokens ceilings; for one provider it is one row per feature with note and evidence.
func Render(w io.Writer, format, providerType string) error {
	if providerType != "" && !knownProvider(providerType) {
		return fmt.Errorf("unknown provider type %q; valid types: %s", providerType, strings.Join(Providers, ", "))
	}
	provs := Providers
	if providerType != "" {
		provs = []string{providerType}
	}
	switch format {
	case "json":
		return renderJSON(w, provs)
	case "markdown":
		return renderTables(w, provs, true)
	case "text":
		return renderTables(w, provs, false)
	}
	return fmt.Errorf("unknown format %q; valid formats: text, markdown, json", format)
}

// short is a grid cell: the support, and the action when it is not pass.
func short(c Cell) string {
	if c.Action == Pass {
		return string(c.Support)
	}
	return string(c.Support) + " → " + string(c.Action)
}

// table writes rows as a markdown table or as tab-aligned text.
type table struct {
	w        io.Writer
	markdown bool
	tw       *tabwriter.Writer
}

func newTable(w io.Writer, markdown bool, header ...string) *table {
	t := &table{w: w, markdown: markdown}
	if !markdown {
		t.tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	}
	t.row(header...)
	if markdown {
		seps := make([]string, len(header))
		for i := range seps {
			seps[i] = "---"
		}
		t.row(seps...)
	}
	return t
}

func (t *table) row(cells ...string) {
	if t.markdown {
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		fmt.Fprintf(t.w, "| %s |\n", strings.Join(cells, " | "))
		return
	}
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(c, "`", "")
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) end() {
	if t.tw != nil {
		_ = t.tw.Flush()
	}
	fmt.Fprintln(t.w)
}

func heading(w io.Writer, markdown bool, s string) {
	if markdown {
		fmt.Fprintf(w, "### %s\n\n", s)
		return
	}
	fmt.Fprintf(w, "%s\n%s\n\n", s, strings.Repeat("=", len(s)))
}

func code(s string, markdown bool) string {
	if markdown {
		return "`" + s + "`"
	}
	return s
}

func renderTables(w io.Writer, provs []string, md bool) error {
	if len(provs) == 1 {
		p := provs[0]
		heading(w, md, "Feature support: "+p)
		t := newTable(w, md, "feature", "support", "default action", "note", "evidence")
		for _, f := range AllFeatures() {
			c := Lookup(p, f)
			t.row(code(f.String(), md), string(c.Support), string(c.Action), c.Note, c.Evidence)
		}
		t.end()
	} else {
		renderGrid(w, provs, md)
		heading(w, md, "Notes")
		t := newTable(w, md, "provider", "feature", "cell", "note", "evidence")
		for _, f := range AllFeatures() {
			for _, p := range provs {
				c := Lookup(p, f)
				if c.Support == Full && c.Action == Pass && c.Note == "" || c.Support == Unknown && c.Note == "" {
					continue
				}
				t.row(p, code(f.String(), md), short(c), c.Note, c.Evidence)
			}
		}
		t.end()
	}
	heading(w, md, "Actions (override per provider with features: {name: action})")
	t := newTable(w, md, "feature", "what", "valid actions", "strip", "degrade")
	for _, f := range AllFeatures() {
		t.row(code(f.String(), md), f.Title(), joinActions(f.Actions()), f.Strips(), f.Degrades())
	}
	t.end()
	for _, p := range provs {
		l := BetaAllowlist(p)
		if len(l) == 0 {
			continue
		}
		heading(w, md, "anthropic-beta allowlist: "+p)
		t = newTable(w, md, "client value", "sent as")
		keys := make([]string, 0, len(l))
		for k := range l {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.row(code(k, md), code(l[k], md))
		}
		t.end()
	}
	var listed []string
	for _, p := range provs {
		if FieldAllowlist(p) != nil {
			listed = append(listed, p)
		}
	}
	if len(listed) > 0 {
		heading(w, md, "Top-level keys accepted (FieldAllowlist; the unknown_fields cell covers every other key)")
		t = newTable(w, md, "provider", "keys")
		for _, p := range listed {
			keys := FieldAllowlist(p)
			for i, k := range keys {
				keys[i] = code(k, md)
			}
			t.row(p, strings.Join(keys, ", "))
		}
		t.end()
	}
	heading(w, md, "max_tokens ceilings (anthropic, bedrock, vertex, azure; other models are not clamped)")
	t = newTable(w, md, "model", "max_tokens", "note")
	for _, c := range modelCeilings {
		t.row(code(c.Model, md), strconv.Itoa(c.MaxTokens), c.Note)
	}
	t.end()
	return nil
}

// RenderGrid prints only the grid of support and default action, feature by provider type,
// and the line that explains its cells: the table of the README. markdown chooses a markdown
// table over aligned text.
func RenderGrid(w io.Writer, markdown bool) {
	renderGrid(w, Providers, markdown)
}

// renderGrid prints the grid of provs and its legend.
func renderGrid(w io.Writer, provs []string, md bool) {
	heading(w, md, "Feature support by provider type")
	t := newTable(w, md, append([]string{"feature"}, provs...)...)
	for _, f := range AllFeatures() {
		cells := []string{code(f.String(), md)}
		for _, p := range provs {
			cells = append(cells, short(Lookup(p, f)))
		}
		t.row(cells...)
	}
	t.end()
	fmt.Fprintln(w, "Cells read support → default action (pass when no action is shown). Unknown cells pass and are settled by the conformance case named provider/feature (e.g. ollama/tool-choice-any).")
	fmt.Fprintln(w)
}

// MatrixDocFile is the generated document, next to matrix_data.go, that holds the whole
// matrix with its notes and evidence; RenderMatrixDoc writes it.
const MatrixDocFile = "MATRIX.md"

// RenderMatrixDoc prints MATRIX.md: a title, a line saying how the file is generated, and the
// markdown rendering of every provider type (the grid, the notes and evidence of every cell
// that is not plainly supported, the actions, the anthropic-beta allowlists, the accepted
// top-level keys and the max_tokens ceilings).
func RenderMatrixDoc(w io.Writer) error {
	fmt.Fprint(w, "# Feature matrix: notes, actions and evidence\n\n"+
		"<!-- Generated from relay/features (matrix_data.go, feature.go, betas.go, fields.go, ceilings.go); "+
		"refresh with `go test ./relay/features -update`. Do not edit by hand. -->\n\n"+
		"What each provider type supports and what ccrelay does about the rest, with the note and the evidence of "+
		"every cell that is not plainly supported. `ccrelay matrix` prints the same tables; the README shows the grid. "+
		"Evidence names a file of this repository (a path under `fixtures/real-traffic/` when it is bare, "+
		"such as `ollama/02-text-stream.json`), a public URL, or the conformance case that settles the cell.\n\n")
	return renderTables(w, Providers, true)
}

type jsonCell struct {
	Support  Support `json:"support"`
	Action   Action  `json:"action"`
	Note     string  `json:"note,omitempty"`
	Evidence string  `json:"evidence"`
	Case     string  `json:"case"`
}

type jsonFeature struct {
	Name     string              `json:"name"`
	Title    string              `json:"title"`
	Actions  []Action            `json:"actions"`
	Strip    string              `json:"strip,omitempty"`
	Degrade  string              `json:"degrade,omitempty"`
	Provider map[string]jsonCell `json:"providers"`
}

func renderJSON(w io.Writer, provs []string) error {
	out := struct {
		Providers       []string                     `json:"provider_types"`
		Features        []jsonFeature                `json:"features"`
		BetaAllowlists  map[string]map[string]string `json:"beta_allowlists"`
		FieldAllowlists map[string][]string          `json:"field_allowlists"`
		Ceilings        []ModelCeiling               `json:"max_tokens_ceilings"`
	}{Providers: provs, BetaAllowlists: map[string]map[string]string{}, FieldAllowlists: map[string][]string{}, Ceilings: ModelCeilings()}
	for _, f := range AllFeatures() {
		jf := jsonFeature{Name: f.String(), Title: f.Title(), Actions: f.Actions(), Strip: f.Strips(),
			Degrade: f.Degrades(), Provider: map[string]jsonCell{}}
		for _, p := range provs {
			c := Lookup(p, f)
			jf.Provider[p] = jsonCell{c.Support, c.Action, c.Note, c.Evidence, CaseName(p, f)}
		}
		out.Features = append(out.Features, jf)
	}
	for _, p := range provs {
		if l := BetaAllowlist(p); l != nil {
			out.BetaAllowlists[p] = l
		}
		if l := FieldAllowlist(p); l != nil {
			out.FieldAllowlists[p] = l
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
