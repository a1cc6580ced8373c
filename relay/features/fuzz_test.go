package features

import (
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzDetectApply feeds arbitrary bodies to Detect, Decide, Apply and Estimate on every
// provider type: nothing may panic, and a valid body must stay valid JSON.
func FuzzDetectApply(f *testing.F) {
	for _, tc := range append(append([]applyCase(nil), defaultCases...), overrideCases...) {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(kitchenSink))
	f.Add([]byte(awkward))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"a\\"}]}]}`))
	f.Add([]byte(`{"a":"\"`))
	strip := map[string]string{}
	for _, ft := range AllFeatures() {
		if ft.Valid(Strip) {
			strip[ft.String()] = "strip"
		} else if ft.Valid(Degrade) && ft != ImageURL && ft != PDFURL {
			strip[ft.String()] = "degrade"
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = Estimate(body)
		u := Detect(body, []string{"a,b"})
		for _, p := range Providers {
			for _, o := range []map[string]string{nil, strip} {
				d := Decide(p, o, u)
				out, _, err := Apply(body, d, 1000)
				if err == nil && gjson.ValidBytes(body) && !gjson.ValidBytes(out) {
					t.Fatalf("%s: valid input became invalid:\nin  %s\nout %s", p, body, out)
				}
			}
		}
	})
}
