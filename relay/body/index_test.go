package body

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// walkBoth walks b with and without the structural index and returns every node reported,
// rendered, and the validity each walk found.
func walkBoth(b []byte) (indexed, scanned []string, vi, vs bool) {
	render := func(out *[]string) func(*Node) {
		return func(n *Node) {
			*out = append(*out, string(rune('0'+n.Kind))+" "+n.Loc.Human(n.Key)+" "+n.Role+" "+n.Type+" "+n.SourceType+" "+n.MediaType+
				" "+n.Raw+" "+n.Text+" "+n.Name+" "+n.Input+" "+n.Content)
		}
	}
	vi = walk(b, render(&indexed))
	noIndex = true
	vs = walk(b, render(&scanned))
	noIndex = false
	return indexed, scanned, vi, vs
}

func TestTheIndexChangesNothingButSpeed(t *testing.T) {
	for i, b := range corpus(t) {
		indexed, scanned, vi, vs := walkBoth(b)
		if vi != vs {
			t.Errorf("body %d: valid %v with the index, %v without", i, vi, vs)
		}
		if diff := cmp.Diff(scanned, indexed); diff != "" {
			t.Errorf("body %d: the walk with the index differs (-scanned +indexed):\n%s", i, diff)
		}
	}
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{`{}`, `{"a":[1,-2.5e+3,0,true,false,null,"x\"y",{}]}`, `{"a":1,}`, `[1,]`, `{"a" 1}`,
		`{1:2}`, `{"a":01}`, `{"a":1.}`, `{"a":tru}`, `{"a":"unterminated}`, `{"a":1}{}`, ``, `{"a":"\\"}`} {
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("Valid(%q) = %v, encoding/json says %v", s, got, want)
		}
	}
}

// FuzzIndexedWalk checks that the index never changes what the walk reports, that structural
// validation accepts everything encoding/json accepts, and that inspecting a Request (the
// validating pass that reads the top level) finds the validity the walk finds.
func FuzzIndexedWalk(f *testing.F) {
	for _, b := range corpus(f) {
		if len(b) < 16<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		indexed, scanned, vi, vs := walkBoth(b)
		if vi != vs {
			t.Fatalf("valid %v with the index, %v without, on %q", vi, vs, b)
		}
		if diff := cmp.Diff(scanned, indexed); diff != "" {
			t.Fatalf("the walk with the index differs on %q:\n%s", b, diff)
		}
		if json.Valid(b) && !vi {
			t.Fatalf("valid JSON judged invalid: %q", b)
		}
		r := Parse(b)
		if r.Top().Valid != vi {
			t.Fatalf("Parse judges validity %v, the walk %v, on %q", r.Top().Valid, vi, b)
		}
		if n := r.Nested(); n != r.Nested() {
			t.Fatalf("Nested walked twice")
		}
	})
}

func TestCompactLen(t *testing.T) {
	in := "{ \"a b\" : [ 1 , \"x \\\" y\" ] ,\n\t\"c\":{} }"
	want := `{"a b":[1,"x \" y"],"c":{}}`
	if got := CompactLen(in); got != len(want) {
		t.Errorf("CompactLen = %d, want %d", got, len(want))
	}
	var v any
	if err := json.Unmarshal([]byte(want), &v); err != nil {
		t.Error(fmt.Errorf("test JSON is invalid: %w", err))
	}
}
