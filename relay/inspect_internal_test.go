package relay

import (
	"context"
	"net/http"
	"testing"

	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/ccrelay/ccrelay/relay/config"
)

// TestTheNestedFeaturesAreReadOnlyWhenACandidateNeedsThem: a request is inspected at its top
// level; the walk of every message and tool runs when planning reaches a provider whose matrix
// row acts on nested features, once.
func TestTheNestedFeaturesAreReadOnlyWhenACandidateNeedsThem(t *testing.T) {
	p := func(name, typ string, priority int, features map[string]string) config.Provider {
		return config.Provider{Name: name, Type: typ, BaseURL: "http://127.0.0.1:1", Keys: []config.Key{{Key: "k", Priority: priority}}, Features: features}
	}
	b := []byte(`{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]}`)
	tests := []struct {
		name      string
		providers []config.Provider
		deepAt    int // the plan (1-based) after which the usage is deep; 0: never
	}{
		{"one anthropic", []config.Provider{p("a", config.TypeAnthropic, 0, nil)}, 0},
		{"anthropic with a top-level override", []config.Provider{p("a", config.TypeAnthropic, 0, map[string]string{"temperature": "degrade"})}, 0},
		{"anthropic stripping cache_control", []config.Provider{p("a", config.TypeAnthropic, 0, map[string]string{"cache_control": "strip"})}, 1},
		{"one zai", []config.Provider{p("z", config.TypeZAI, 0, nil)}, 0},
		{"the seed's chain: anthropic, zai, ollama", []config.Provider{
			p("a", config.TypeAnthropic, 3, nil), p("z", config.TypeZAI, 2, nil), p("o", config.TypeOllama, 1, nil)}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(context.Background(), Options{Config: &config.Config{Providers: tt.providers}})
			if err != nil {
				t.Fatal(err)
			}
			in := &inbound{req: body.Parse(b), body: b, header: http.Header{}}
			if e := inspect(in); e != nil {
				t.Fatal(e)
			}
			cands, e := r.candidates(in.model)
			if e != nil {
				t.Fatal(e)
			}
			pn, _ := r.order(context.Background(), in, cands)
			for i := 1; ; i++ {
				pl, e := pn.Next()
				if e != nil {
					t.Fatal(e)
				}
				if pl == nil {
					break
				}
				if want := tt.deepAt == 0 || i < tt.deepAt; in.uses.Shallow != want || in.req.Walked() == want {
					t.Errorf("after plan %d (%s): shallow = %v, walked = %v, want shallow %v", i, pl.u.cfg.Name, in.uses.Shallow, in.req.Walked(), want)
				}
			}
		})
	}
}

// TestStickyOnlyWhenAffinityCanChoose: with one provider of one key there is nothing to
// stick to, and the affinity table is left alone.
func TestStickyOnlyWhenAffinityCanChoose(t *testing.T) {
	key := func(k ...string) []config.Key {
		var out []config.Key
		for _, s := range k {
			out = append(out, config.Key{Key: s})
		}
		return out
	}
	tests := []struct {
		name      string
		providers []config.Provider
		sticky    bool
	}{
		{"one provider, one key", []config.Provider{{Name: "a", Type: config.TypeAnthropic, BaseURL: "http://127.0.0.1:1", Keys: key("k")}}, false},
		{"one provider, two keys", []config.Provider{{Name: "a", Type: config.TypeAnthropic, BaseURL: "http://127.0.0.1:1", Keys: key("k1", "k2")}}, true},
		{"two providers", []config.Provider{
			{Name: "a", Type: config.TypeAnthropic, BaseURL: "http://127.0.0.1:1", Keys: key("k")},
			{Name: "b", Type: config.TypeAnthropic, BaseURL: "http://127.0.0.1:2", Keys: key("k")},
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(context.Background(), Options{Config: &config.Config{Providers: tt.providers}})
			if err != nil {
				t.Fatal(err)
			}
			if r.sticky != tt.sticky {
				t.Errorf("sticky = %v, want %v", r.sticky, tt.sticky)
			}
		})
	}
}
