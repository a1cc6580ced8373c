package features

import (
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzDetectApply feeds arbitrary bodies to Detect, Decide and Apply on every
// provider type: nothing may panic, a valid body must stay valid JSON, Apply must not modify
// the body, and Apply must give what applyReference (whole-body sjson edits) gives.
func FuzzDetectApply(f *testing.F) {
	for _, tc := range append(append([]applyCase(nil), defaultCases...), overrideCases...) {
		f.Add([]byte(tc.in))
	}
	for _, s := range editEdgeCases {
		f.Add([]byte(s))
	}
	f.Add([]byte(kitchenSink))
	f.Add([]byte(awkward))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"a\\"}]}]}`))
	f.Add([]byte(`{"a":"\"`))
	overrides := overrideSets()
	f.Fuzz(func(t *testing.T, body []byte) {
		u := Detect(body, []string{"a,b"})
		for _, p := range Providers {
			for _, o := range overrides {
				d := Decide(p, o, u)
				out, _, err := Apply(body, d, 1000)
				if err == nil && gjson.ValidBytes(body) && !gjson.ValidBytes(out) {
					t.Fatalf("%s: valid input became invalid:\nin  %s\nout %s", p, body, out)
				}
				if diff := compareApply(body, d, 1000); diff != "" {
					t.Fatalf("%s %v: Apply differs from applyReference on %q: %s", p, o, body, diff)
				}
			}
		}
	})
}
