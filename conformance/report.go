package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Formats of Report.Write.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
	FormatJSON     = "json"
	FormatJUnit    = "junit"
)

// Formats lists the report formats.
var Formats = []string{FormatText, FormatMarkdown, FormatJSON, FormatJUnit}

// Write renders the report in a format: text (the default), markdown, json or junit.
func (rep *Report) Write(w io.Writer, format string) error {
	switch format {
	case "", FormatText:
		return rep.writeText(w)
	case FormatMarkdown:
		return rep.writeMarkdown(w)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep.finished()); err != nil {
			return fmt.Errorf("conformance: write json: %w", err)
		}
		return nil
	case FormatJUnit:
		return rep.writeJUnit(w)
	}
	return fmt.Errorf("conformance: unknown format %q; want %s", format, strings.Join(Formats, ", "))
}

// finished returns a copy of the report whose summaries are counted from its results (a
// report built by hand has none).
func (rep *Report) finished() *Report {
	out := *rep
	out.Providers = slices.Clone(rep.Providers)
	out.finish()
	return &out
}

// legend says what the counts of cassettes mean.
const legend = "what the cases rest on: recorded = recorded live or public real traffic of the service;" +
	" documented = an example printed in the vendor's documentation; derived = written by ccrelay from the documentation;" +
	" relay-only = answered by the relay itself, no provider answer on record"

// summary is the one-line count of a report: all results by status, then what they rest on.
func (rep *Report) summary() string {
	t := rep.finished().Summary
	s := fmt.Sprintf("%d passed, %d failed", t.Passed, t.Failed)
	if t.NotApplicable > 0 {
		s += fmt.Sprintf(", %d not applicable", t.NotApplicable)
	}
	if t.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", t.Skipped)
	}
	return s + " — " + t.Cassettes.String()
}

// Line is the one-line account of a provider type's results, as every report format prints
// it: "zai: 21 passed — 0 recorded, 6 documented, 12 derived, 3 relay-only". Failed, not
// applicable and skipped cases are named when there are any.
func (p *ProviderReport) Line() string {
	t := tally(p.Results)
	s := fmt.Sprintf("%s: %d passed", p.Provider, t.Passed)
	if t.Failed > 0 {
		s += fmt.Sprintf(", %d failed", t.Failed)
	}
	if t.NotApplicable > 0 {
		s += fmt.Sprintf(", %d not applicable", t.NotApplicable)
	}
	if t.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", t.Skipped)
	}
	return s + " — " + t.Cassettes.String()
}

// String renders the counts: "0 recorded, 6 documented, 12 derived, 3 relay-only", with the
// cases without a usable cassette when there are any.
func (c CassetteCounts) String() string {
	s := fmt.Sprintf("%d recorded, %d documented, %d derived, %d relay-only", c.Recorded, c.Documented, c.Derived, c.RelayOnly)
	if c.Missing > 0 {
		s += fmt.Sprintf(", %d without a usable cassette", c.Missing)
	}
	return s
}

// noDrift is what a recording's report says when no cell was contradicted.
const noDrift = "drift: none; every cell the recordings show agrees with the matrix"

// detail is the short explanation shown next to a result.
func (r *Result) detail() string {
	switch r.Status {
	case NotApplicable:
		return r.NotApplicable
	case Skipped:
		return r.Skipped
	case Fail:
		return strings.Join(r.Failures(), " | ")
	}
	var notes []string
	kind := r.Provenance.Kind
	if kind == "" {
		kind = ProvenanceDerived
	}
	for _, o := range r.Matrix {
		if o.Observed != "" && !o.Evidence {
			notes = append(notes, fmt.Sprintf("%s %s (%s)", o.Feature, o.Observed, kind))
		} else if o.Observed != "" {
			notes = append(notes, fmt.Sprintf("%s %s", o.Feature, o.Observed))
		} else if o.Action != "pass" {
			notes = append(notes, fmt.Sprintf("%s %s", o.Feature, o.Action))
		}
	}
	return strings.Join(notes, ", ")
}

// provenanceCell is the provenance column: the kind and the shortest useful source.
func (r *Result) provenanceCell() string {
	if r.Provenance.Kind == "" {
		return "-"
	}
	return r.Provenance.Kind
}

// sourceCell is the source column.
func (r *Result) sourceCell() string {
	switch {
	case r.Provenance.Recorded != "":
		return r.Provenance.Recorded
	case r.Provenance.Kind == ProvenanceDocumented && r.Provenance.URL != "":
		return r.Provenance.URL
	case r.Provenance.Source != "":
		return r.Provenance.Source
	}
	return ""
}

func (rep *Report) writeText(w io.Writer) error {
	for i, p := range rep.Providers {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s (%s)\n", p.Provider, rep.Mode)
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "CASE\tRESULT\tPROVENANCE\tDETAIL")
		for _, r := range p.Results {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Case, strings.ToUpper(string(r.Status)), r.provenanceCell(), oneLine(r.detail(), 160))
		}
		tw.Flush()
		if len(p.Matrix) > 0 {
			fmt.Fprintf(w, "\nmatrix row %s (declared by relay/features, observed by the cases)\n", p.Provider)
			tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "FEATURE\tDECLARED\tOBSERVED\tVERDICT\tCASES")
			for _, m := range p.Matrix {
				obs := string(m.Observed)
				if obs == "" {
					obs = "-"
				}
				fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\n", m.Feature, m.Declared, m.Action, obs, m.Verdict, strings.Join(m.Cases, ", "))
			}
			tw.Flush()
		}
	}
	if len(rep.Drift) > 0 {
		fmt.Fprintln(w, "\ndrift: where the recordings differ from the matrix (declared vs observed)")
		for _, d := range rep.Drift {
			fmt.Fprintf(w, "  %s %s: declared %s, observed %s (%s): %s\n", d.Provider, d.Feature, d.Declared, d.Observed, d.Case, d.Detail)
		}
	} else if rep.Mode == "record" {
		fmt.Fprintf(w, "\n%s\n", noDrift)
	}
	fmt.Fprintf(w, "\n%s\n", legend)
	for i := range rep.Providers {
		fmt.Fprintln(w, rep.Providers[i].Line())
	}
	_, err := fmt.Fprintf(w, "\n%s\n", rep.summary())
	return err
}

func (rep *Report) writeMarkdown(w io.Writer) error {
	for _, p := range rep.Providers {
		fmt.Fprintf(w, "## %s (%s)\n\n", p.Provider, rep.Mode)
		fmt.Fprintln(w, "| case | result | provenance | source | detail |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		for _, r := range p.Results {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.Case, r.Status, r.provenanceCell(),
				mdCell(oneLine(r.sourceCell(), 120)), mdCell(oneLine(r.detail(), 200)))
		}
		if len(p.Matrix) > 0 {
			fmt.Fprintf(w, "\n| feature | declared | action | observed | verdict | cases |\n|---|---|---|---|---|---|\n")
			for _, m := range p.Matrix {
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", m.Feature, m.Declared, m.Action, orDash(string(m.Observed)), m.Verdict, strings.Join(m.Cases, ", "))
			}
		}
		fmt.Fprintln(w)
	}
	if len(rep.Drift) > 0 {
		fmt.Fprintln(w, "## drift\n\n| provider | feature | declared | observed | case | detail |\n|---|---|---|---|---|---|")
		for _, d := range rep.Drift {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", d.Provider, d.Feature, d.Declared, d.Observed, d.Case, mdCell(d.Detail))
		}
		fmt.Fprintln(w)
	} else if rep.Mode == "record" {
		fmt.Fprintf(w, "## drift\n\n%s\n\n", noDrift)
	}
	fmt.Fprintf(w, "## summary\n\n")
	for i := range rep.Providers {
		fmt.Fprintf(w, "- %s\n", rep.Providers[i].Line())
	}
	fmt.Fprintf(w, "\n%s\n\n", legend)
	_, err := fmt.Fprintf(w, "%s\n", rep.summary())
	return err
}

// JUnit XML, as read by CI systems (Jenkins, GitLab, GitHub test reporters).
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// junitProperties are a provider type's suite properties: the counts of cassettes by
// provenance (cassettes.recorded is cassettes.recorded-live plus cassettes.real-traffic), the
// summary line, and after a recording each contradicted cell (drift.<feature>).
func (rep *Report) junitProperties(p *ProviderReport) []junitProperty {
	c := tally(p.Results).Cassettes
	props := []junitProperty{
		{"cassettes.recorded", fmt.Sprint(c.Recorded)},
		{"cassettes.recorded-live", fmt.Sprint(c.RecordedLive)},
		{"cassettes.real-traffic", fmt.Sprint(c.RealTraffic)},
		{"cassettes.documented", fmt.Sprint(c.Documented)},
		{"cassettes.derived", fmt.Sprint(c.Derived)},
		{"cassettes.relay-only", fmt.Sprint(c.RelayOnly)},
	}
	if c.Missing > 0 {
		props = append(props, junitProperty{"cassettes.missing", fmt.Sprint(c.Missing)})
	}
	props = append(props, junitProperty{"summary", p.Line()})
	for _, d := range rep.Drift {
		if d.Provider == p.Provider {
			props = append(props, junitProperty{"drift." + d.Feature,
				fmt.Sprintf("declared %s, observed %s (%s): %s", d.Declared, d.Observed, d.Case, d.Detail)})
		}
	}
	return props
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",cdata"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

func (rep *Report) writeJUnit(w io.Writer) error {
	all := junitSuites{Name: "ccrelay conform " + rep.Mode}
	for i := range rep.Providers {
		p := &rep.Providers[i]
		s := junitSuite{Name: "conformance/" + p.Provider, Properties: rep.junitProperties(p)}
		var total float64
		for _, r := range p.Results {
			secs := r.Duration.Seconds()
			total += secs
			c := junitCase{Name: r.Case, ClassName: "conformance." + p.Provider, Time: fmt.Sprintf("%.3f", secs)}
			var out strings.Builder
			fmt.Fprintf(&out, "cassette %s (%s)\n", r.Cassette, r.Provenance.Kind)
			for _, ch := range r.Checks {
				fmt.Fprintf(&out, "%s %s: %s\n", okWord(ch.OK), ch.Name, ch.Detail)
			}
			c.SystemOut = &junitText{Text: out.String()}
			switch r.Status {
			case Fail:
				f := r.Failures()
				c.Failure = &junitMessage{Message: oneLine(f[0], 200), Text: strings.Join(f, "\n")}
				s.Failures++
			case NotApplicable, Skipped:
				c.Skipped = &junitMessage{Message: r.detail()}
				s.Skipped++
			}
			s.Cases = append(s.Cases, c)
		}
		s.Tests = len(s.Cases)
		s.Time = fmt.Sprintf("%.3f", total)
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Skipped += s.Skipped
		all.Suites = append(all.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return fmt.Errorf("conformance: write junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func okWord(ok bool) string {
	if ok {
		return "ok  "
	}
	return "FAIL"
}

// oneLine flattens s to one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
