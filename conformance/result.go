package conformance

import (
	"time"

	"github.com/ccrelay/ccrelay/relay/features"
)

// Status is the outcome of one case for one provider type.
type Status string

// Outcomes.
const (
	Pass          Status = "pass"
	Fail          Status = "fail"
	NotApplicable Status = "n/a"
	// Skipped is a case --record could not run live (its cassette is left as it is).
	Skipped Status = "skipped"
)

// Report is the outcome of a Run.
type Report struct {
	// Mode is "replay" or "record".
	Mode string `json:"mode"`
	// Providers holds one entry per provider type, in the order run.
	Providers []ProviderReport `json:"providers"`
	// Summary counts all the results, by status and by what their cassettes rest on.
	Summary Tally `json:"summary"`
	// Drift lists, after a recording, where a provider's observed behaviour differs from the
	// matrix: the drift report.
	Drift []Drift `json:"drift,omitempty"`
}

// ProviderReport is the outcome of the cases of one provider type, with its matrix row.
type ProviderReport struct {
	Provider string `json:"provider"`
	// Summary counts the provider type's results, by status and by what their cassettes rest
	// on.
	Summary Tally       `json:"summary"`
	Results []Result    `json:"results"`
	Matrix  []MatrixRow `json:"matrix"`
}

// Tally counts results by status, and the cases that ran against a cassette by the cassette's
// provenance: what the passes rest on.
type Tally struct {
	Passed        int `json:"passed"`
	Failed        int `json:"failed"`
	NotApplicable int `json:"not_applicable"`
	Skipped       int `json:"skipped"`
	// Cassettes counts the passed and failed cases by their cassette's provenance.
	Cassettes CassetteCounts `json:"cassettes"`
}

// CassetteCounts counts cases by the provenance of the cassette they ran against.
type CassetteCounts struct {
	// Recorded counts the cassettes recorded from the real service: RecordedLive plus
	// RealTraffic.
	Recorded int `json:"recorded"`
	// RecordedLive counts recorded-live cassettes (`ccrelay conform --record`).
	RecordedLive int `json:"recorded_live"`
	// RealTraffic counts real-traffic cassettes (public recordings of others).
	RealTraffic int `json:"real_traffic"`
	// Documented counts cassettes built from an example in a vendor's documentation.
	Documented int `json:"documented"`
	// Derived counts cassettes ccrelay wrote itself from the documentation.
	Derived int `json:"derived"`
	// RelayOnly counts relay-only cassettes: the relay answers, no provider answer is on
	// record.
	RelayOnly int `json:"relay_only"`
	// Missing counts cases whose cassette is missing or could not be read.
	Missing int `json:"missing,omitempty"`
}

// Result is the outcome of one case for one provider type.
type Result struct {
	Provider string `json:"provider"`
	Case     string `json:"case"`
	Status   Status `json:"status"`
	// Cassette is the cassette file and Provenance where it comes from.
	Cassette   string     `json:"cassette"`
	Provenance Provenance `json:"provenance"`
	// ClientRequest is the request file the client sent.
	ClientRequest string `json:"client_request,omitempty"`
	// NotApplicable says why the case does not apply to the provider type.
	NotApplicable string `json:"not_applicable,omitempty"`
	// Skipped says why a recording did not run the case.
	Skipped string `json:"skipped,omitempty"`
	// Checks are the assertions made, in order.
	Checks []Check `json:"checks"`
	// Matrix holds, for each feature the request uses whose cell matters, the matrix's cell
	// and what the run observed.
	Matrix   []Observation `json:"matrix,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Check is one assertion of a case.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Observation is one matrix cell as a case saw it.
type Observation struct {
	Feature  string           `json:"feature"`
	Declared features.Support `json:"declared"`
	Action   features.Action  `json:"action"`
	// Overridden reports a cell changed by the configuration's features map.
	Overridden bool `json:"overridden,omitempty"`
	// Observed is the support the provider's answer shows; "" when the answer cannot show it.
	Observed features.Support `json:"observed,omitempty"`
	// Evidence reports an observation from a recorded-live or real-traffic cassette.
	Evidence bool `json:"evidence,omitempty"`
	// OK is false when the run contradicts the cell (its action was not applied, or the
	// observed support differs from the declared one).
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// MatrixRow is one cell of a provider type's matrix row: declared by relay/features, observed
// by the cases that use the feature.
type MatrixRow struct {
	Feature  string           `json:"feature"`
	Declared features.Support `json:"declared"`
	Action   features.Action  `json:"action"`
	Observed features.Support `json:"observed,omitempty"`
	// Cases names the cases that used the feature.
	Cases []string `json:"cases"`
	// Verdict is "agrees", "contradicted", "unverified" or "unknown".
	Verdict string `json:"verdict"`
	// Evidence is the cell's evidence string from the matrix.
	Evidence string `json:"evidence,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// Drift is a matrix cell whose observed support differs from the declared one in a live
// recording: contradicted, or settled where the matrix says unknown.
type Drift struct {
	Provider string           `json:"provider"`
	Feature  string           `json:"feature"`
	Declared features.Support `json:"declared"`
	Observed features.Support `json:"observed"`
	Case     string           `json:"case"`
	Detail   string           `json:"detail"`
}

// Verdicts of a matrix row.
const (
	verdictAgrees       = "agrees"
	verdictContradicted = "contradicted"
	verdictUnverified   = "unverified"
	verdictUnknown      = "unknown"
)

// check records an assertion.
func (r *Result) check(name string, ok bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: detail})
}

// fail records a failed assertion.
func (r *Result) fail(name, detail string) { r.check(name, false, detail) }

// status derives the result's status from its checks.
func (r *Result) status() Status {
	switch {
	case r.NotApplicable != "":
		return NotApplicable
	case r.Skipped != "":
		return Skipped
	}
	for _, c := range r.Checks {
		if !c.OK {
			return Fail
		}
	}
	for _, o := range r.Matrix {
		if !o.OK {
			return Fail
		}
	}
	if len(r.Checks) == 0 {
		return Fail
	}
	return Pass
}

// Failures returns the failed checks and contradicted matrix cells as sentences.
func (r *Result) Failures() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	for _, o := range r.Matrix {
		if !o.OK {
			out = append(out, "matrix "+o.Feature+": "+o.Detail)
		}
	}
	return out
}

// OK reports whether every case passed or did not apply.
func (rep *Report) OK() bool {
	for _, p := range rep.Providers {
		for _, r := range p.Results {
			if r.Status == Fail {
				return false
			}
		}
	}
	return true
}

// tally counts results by status and by the provenance of their cassettes.
func tally(results []Result) Tally {
	var t Tally
	for _, r := range results {
		switch r.Status {
		case Pass:
			t.Passed++
		case Fail:
			t.Failed++
		case NotApplicable:
			t.NotApplicable++
			continue
		case Skipped:
			t.Skipped++
			continue
		default:
			continue
		}
		c := &t.Cassettes
		switch r.Provenance.Kind {
		case ProvenanceLive:
			c.RecordedLive++
			c.Recorded++
		case ProvenanceRealTraffic:
			c.RealTraffic++
			c.Recorded++
		case ProvenanceDocumented:
			c.Documented++
		case ProvenanceDerived:
			c.Derived++
		case ProvenanceRelayOnly:
			c.RelayOnly++
		default:
			c.Missing++
		}
	}
	return t
}

// add adds u to t.
func (t *Tally) add(u Tally) {
	t.Passed += u.Passed
	t.Failed += u.Failed
	t.NotApplicable += u.NotApplicable
	t.Skipped += u.Skipped
	c, d := &t.Cassettes, u.Cassettes
	c.Recorded += d.Recorded
	c.RecordedLive += d.RecordedLive
	c.RealTraffic += d.RealTraffic
	c.Documented += d.Documented
	c.Derived += d.Derived
	c.RelayOnly += d.RelayOnly
	c.Missing += d.Missing
}

// finish sets the summaries of the report and of each provider type from the results.
func (rep *Report) finish() {
	rep.Summary = Tally{}
	for i := range rep.Providers {
		p := &rep.Providers[i]
		p.Summary = tally(p.Results)
		rep.Summary.add(p.Summary)
	}
}

// Counts returns how many results have each status.
func (rep *Report) Counts() map[Status]int {
	n := map[Status]int{}
	for _, p := range rep.Providers {
		for _, r := range p.Results {
			n[r.Status]++
		}
	}
	return n
}
