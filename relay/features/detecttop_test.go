package features

import (
	"testing"

	"github.com/ccrelay/ccrelay/relay/relaytest/claudecode"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
)

// shallowView keeps what DetectTop must find exactly as Detect does: the top-level fields and
// every feature that is not a DeepFeature, with its path.
func shallowView(u Usage) Usage {
	v := u
	for f := Feature(0); f < numFeatures; f++ {
		if DeepFeature(f) {
			v.found[f], v.paths[f] = false, ""
		}
	}
	v.ThinkingHistory, v.ToolHistory, v.Shallow = false, "", false
	return v
}

// compareTop reports how DetectTop differs from Detect on body, "" when it does not.
func compareTop(body []byte, betas []string) string {
	full, top := Detect(body, betas), DetectTop(body, betas)
	if !top.Shallow {
		return "DetectTop's Usage is not marked Shallow"
	}
	if top.Valid != full.Valid {
		return "Valid differs"
	}
	if !full.Valid {
		return "" // an invalid body is refused before anything else is read
	}
	if top.Uses(CacheControl) && !full.Uses(CacheControl) {
		return "DetectTop found cache_control that Detect did not"
	}
	return cmp.Diff(shallowView(full), shallowView(top), cmp.AllowUnexported(Usage{}))
}

// corpus is every request body the package's tests know: the real Claude Code requests, the
// kitchen sink, the awkward one and the Apply cases.
func corpus(t testing.TB) [][]byte {
	bodies := [][]byte{[]byte(kitchenSink), []byte(awkward)}
	for _, r := range claudecode.Requests(t) {
		bodies = append(bodies, r.Compact, r.Body)
	}
	for _, tc := range append(append([]applyCase(nil), defaultCases...), overrideCases...) {
		bodies = append(bodies, []byte(tc.in))
	}
	return bodies
}

func TestDetectTopFindsWhatDetectFindsAtTheTop(t *testing.T) {
	extra := []string{
		`{"model":"m","cache_control":{"type":"ephemeral"},"messages":[]}`,
		`{"model":"m","cache_control":null,"messages":[]}`,
		`{"mod\u0065l":"escaped key","messages":[],"stre\u0061m":true}`,
		`{"model":"m","messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"}]}],"stream":true}`,
		`[{"model":"not an object"}]`,
		`{"model":"m","messages":[]`,
		`{"model":"m","messages":[],"metadata":{"user_id":"u1"},"tool_choice":{"type":"none"},"thinking":{"type":"enabled","budget_tokens":1024}}`,
	}
	bodies := corpus(t)
	for _, s := range extra {
		bodies = append(bodies, []byte(s))
	}
	for i, b := range bodies {
		if diff := compareTop(b, []string{"a,b", "c"}); diff != "" {
			t.Errorf("body %d (%.60s...): DetectTop differs from Detect (-Detect +DetectTop):\n%s", i, b, diff)
		}
	}
}

// TestShallowDecisionsAreTheSame is the property the relay's fast path rests on: for a provider
// for which NeedsDeep is false, Decide and Apply give the same result from DetectTop as from
// Detect, with the matrix defaults and with overrides that change only top-level features.
func TestShallowDecisionsAreTheSame(t *testing.T) {
	topOverrides := map[string]string{"temperature": "degrade", "top_k": "strip", "metadata": "strip", "stop_sequences": "strip", "max_tokens": "degrade"}
	checked := 0
	for _, p := range Providers {
		for _, o := range []map[string]string{nil, topOverrides} {
			if NeedsDeep(p, o) {
				continue
			}
			for i, b := range corpus(t) {
				full, top := Detect(b, []string{"context-management-2025-06-27"}), DetectTop(b, []string{"context-management-2025-06-27"})
				if !full.Valid {
					continue
				}
				df, dt := Decide(p, o, full), Decide(p, o, top)
				if diff := cmp.Diff(acting(df), acting(dt), cmp.AllowUnexported(Item{})); diff != "" {
					t.Errorf("%s %v body %d: decisions differ (-Detect +DetectTop):\n%s", p, o, i, diff)
				}
				of, nf, ef := Apply(b, df, 64000)
				ot, nt, et := Apply(b, dt, 64000)
				if string(of) != string(ot) || !cmp.Equal(nf, nt) || (ef == nil) != (et == nil) {
					t.Errorf("%s %v body %d: Apply differs: notes %q vs %q, errors %v vs %v", p, o, i, nf, nt, ef, et)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no provider type takes the shallow path: the test checked nothing")
	}
}

// acting is what a decision does: its items other than pass (a pass item of a deep feature
// only DetectTop cannot list), and the betas it keeps and drops.
func acting(d Decision) any {
	var items []Item
	for _, it := range d.Items {
		if it.Action != Pass {
			items = append(items, it)
		}
	}
	return struct {
		Items               []Item
		Betas, DroppedBetas []string
	}{items, d.Betas, d.DroppedBetas}
}

func TestNeedsDeep(t *testing.T) {
	tests := []struct {
		provider  string
		overrides map[string]string
		want      bool
	}{
		{"anthropic", nil, false},
		{"anthropic", map[string]string{"cache_control": "strip"}, true},
		{"anthropic", map[string]string{"temperature": "degrade"}, false},
		{"ollama", nil, true}, // cache_control, PDFs, image URLs...
		{"bedrock", nil, true},
	}
	for _, tt := range tests {
		if got := NeedsDeep(tt.provider, tt.overrides); got != tt.want {
			t.Errorf("NeedsDeep(%s, %v) = %v, want %v", tt.provider, tt.overrides, got, tt.want)
		}
	}
}

// TestInertMeansApplyChangesNothing: whenever Decision.Inert says so, Apply returns the body
// itself (not a copy), no notes and no error, so the relay may skip it.
func TestInertMeansApplyChangesNothing(t *testing.T) {
	inert := 0
	for _, b := range corpus(t) {
		for _, full := range []bool{true, false} {
			u := Detect(b, []string{"context-management-2025-06-27"})
			if !full {
				u = DetectTop(b, []string{"context-management-2025-06-27"})
			}
			for _, p := range Providers {
				for _, o := range overrideSets() {
					for _, ceiling := range []int{0, 1, 1024, 128000} {
						d := Decide(p, o, u)
						if !d.Inert(ceiling) {
							continue
						}
						inert++
						out, notes, err := Apply(b, d, ceiling)
						if err != nil || len(notes) > 0 || len(out) != len(b) || len(b) > 0 && &out[0] != &b[0] {
							t.Fatalf("%s %v ceiling %d: Inert, but Apply gave notes %q, error %v, a new body: %v", p, o, ceiling, notes, err, len(b) > 0 && len(out) > 0 && &out[0] != &b[0])
						}
					}
				}
			}
		}
	}
	if inert == 0 {
		t.Fatal("no decision was inert: the test checked nothing")
	}
	// The relay's common case: a Claude Code request to Anthropic within the model's ceiling.
	for _, r := range claudecode.Requests(t) {
		d := Decide("anthropic", nil, DetectTop(r.Compact, r.Betas))
		if !d.Inert(MaxTokensCeiling("anthropic", gjson.GetBytes(r.Compact, "model").Str)) {
			t.Errorf("%s: a Claude Code request to anthropic is not inert: %+v", r.Name, d.Items)
		}
	}
}
