package features

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// detectBoth runs Detect with and without the structural index.
func detectBoth(body []byte) (indexed, scanned Usage) {
	indexed = Detect(body, nil)
	noIndex = true
	scanned = Detect(body, nil)
	noIndex = false
	return indexed, scanned
}

func TestTheIndexChangesNothingButSpeed(t *testing.T) {
	bodies := [][]byte{[]byte(kitchenSink), []byte(awkward)}
	for _, r := range loadClaudeCode(t) {
		bodies = append(bodies, r.Compact, r.Body)
	}
	for _, tc := range defaultCases {
		bodies = append(bodies, []byte(tc.in))
	}
	for i, b := range bodies {
		indexed, scanned := detectBoth(b)
		if diff := cmp.Diff(scanned, indexed, cmp.AllowUnexported(Usage{})); diff != "" {
			t.Errorf("body %d: Detect with the index differs (-scanned +indexed):\n%s", i, diff)
		}
	}
}

func TestValidStructureAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{`{}`, `{"a":[1,-2.5e+3,0,true,false,null,"x\"y",{}]}`, `{"a":1,}`, `[1,]`, `{"a" 1}`,
		`{1:2}`, `{"a":01}`, `{"a":1.}`, `{"a":tru}`, `{"a":"unterminated}`, `{"a":1}{}`, ``, `{"a":"\\"}`} {
		if got, want := ValidStructure([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("ValidStructure(%q) = %v, encoding/json says %v", s, got, want)
		}
	}
}

// FuzzIndexedWalk checks that the index never changes what Detect finds, that structural
// validation accepts everything encoding/json accepts, and that DetectTop finds what Detect
// finds at the top level.
func FuzzIndexedWalk(f *testing.F) {
	f.Add([]byte(kitchenSink))
	f.Add([]byte(awkward))
	for _, tc := range defaultCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		indexed, scanned := detectBoth(b)
		// Valid comes from the index pass in one and the same validator in the other.
		if diff := cmp.Diff(scanned, indexed, cmp.AllowUnexported(Usage{})); diff != "" {
			t.Fatalf("Detect with the index differs on %q:\n%s", b, diff)
		}
		if json.Valid(b) && !indexed.Valid {
			t.Fatalf("valid JSON judged invalid: %q", b)
		}
		if diff := compareTop(b, nil); diff != "" {
			t.Fatalf("DetectTop differs from Detect on %q:\n%s", b, diff)
		}
	})
}
