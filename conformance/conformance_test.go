package conformance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/features"
)

// expectedFailures lists the results that fail today for reasons outside the conformance
// suite: disagreements the suite found in other packages, each with its reason.
// Each entry must fail: once it passes the test says so, and the entry must go. (An expected
// failure, never a skip: CI stays strict about everything else.)
var expectedFailures = map[string]string{}

// repoOptions replays the cassettes and requests of this repository.
func repoOptions() Options {
	return Options{
		Cassettes: os.DirFS(filepath.Join("..", "cassettes")),
		Requests:  os.DirFS(filepath.Join("..", "fixtures", "requests")),
	}
}

// TestConformance replays every case against every provider type's cassette through the real
// relay. It needs no network and no keys.
func TestConformance(t *testing.T) {
	rep, err := Run(context.Background(), repoOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Providers {
		t.Run(p.Provider, func(t *testing.T) {
			for _, r := range p.Results {
				t.Run(r.Case, func(t *testing.T) {
					key := p.Provider + "/" + r.Case
					why, pending := expectedFailures[key]
					switch {
					case r.Status == NotApplicable:
						t.Logf("not applicable: %s", r.NotApplicable)
					case pending && r.Status == Pass:
						t.Errorf("%s passes now; remove it from expectedFailures (%s)", key, why)
					case pending:
						t.Logf("expected failure (%s): %s", why, strings.Join(r.Failures(), "; "))
					case r.Status != Pass:
						t.Errorf("%s: %s\n  cassette %s (%s), client request %s",
							r.Status, strings.Join(r.Failures(), "\n  "), r.Cassette, r.Provenance.Kind, r.ClientRequest)
					}
				})
			}
		})
	}
}

// TestCountsMatchCassettes checks the per-provider counts of a replay against the cassette
// files: each provider type's recorded, documented, derived and relay-only counts are the
// number of its cassettes of that provenance (every applicable case has one cassette).
func TestCountsMatchCassettes(t *testing.T) {
	rep, err := Run(context.Background(), repoOptions())
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "cassettes")
	var total CassetteCounts
	for _, p := range rep.Providers {
		t.Run(p.Provider, func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join(root, p.Provider, "*.yaml"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no cassettes for %s (%v)", p.Provider, err)
			}
			var want CassetteCounts
			for _, f := range files {
				cf, err := loadCassette(os.DirFS(root), p.Provider, strings.TrimSuffix(filepath.Base(f), ".yaml"))
				if err != nil {
					t.Fatal(err)
				}
				switch cf.prov.Kind {
				case ProvenanceLive:
					want.RecordedLive++
					want.Recorded++
				case ProvenanceRealTraffic:
					want.RealTraffic++
					want.Recorded++
				case ProvenanceDocumented:
					want.Documented++
				case ProvenanceDerived:
					want.Derived++
				case ProvenanceRelayOnly:
					want.RelayOnly++
				}
			}
			if p.Summary.Cassettes != want {
				t.Errorf("report counts %+v, the files of cassettes/%s say %+v", p.Summary.Cassettes, p.Provider, want)
			}
			if n := p.Summary.Passed + p.Summary.Failed; n != len(files) {
				t.Errorf("%d cases ran, %d cassettes in cassettes/%s", n, len(files), p.Provider)
			}
			line := p.Line()
			if !strings.HasPrefix(line, p.Provider+": ") || !strings.HasSuffix(line, " — "+want.String()) {
				t.Errorf("line %q does not end with the file counts %q", line, want.String())
			}
			t.Log(line)
		})
		total.Recorded += p.Summary.Cassettes.Recorded
		total.Documented += p.Summary.Cassettes.Documented
		total.Derived += p.Summary.Cassettes.Derived
		total.RelayOnly += p.Summary.Cassettes.RelayOnly
	}
	got := rep.Summary.Cassettes
	if got.Recorded != total.Recorded || got.Documented != total.Documented || got.Derived != total.Derived || got.RelayOnly != total.RelayOnly {
		t.Errorf("report totals %+v are not the sum of the providers' %+v", got, total)
	}
}

// TestMatrixCaseNames checks that every case's probes are real features.
func TestMatrixCaseNames(t *testing.T) {
	for _, c := range Cases() {
		for _, f := range c.Probes {
			if _, ok := features.ParseFeature(f.String()); !ok {
				t.Errorf("case %s probes unknown feature %v", c.Name, f)
			}
		}
	}
}
