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
