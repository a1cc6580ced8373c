package relay

import (
	"context"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
)

// TestDeepDetectionWhenNeeded: only one Claude platform provider whose matrix passes every
// nested feature lets the relay read just the top level of a request.
func TestDeepDetectionWhenNeeded(t *testing.T) {
	p := func(name, typ string, features map[string]string) config.Provider {
		return config.Provider{Name: name, Type: typ, BaseURL: "http://127.0.0.1:1", Keys: []config.Key{{Key: "k"}}, Features: features}
	}
	tests := []struct {
		name      string
		providers []config.Provider
		deep      bool
	}{
		{"one anthropic", []config.Provider{p("a", config.TypeAnthropic, nil)}, false},
		{"one azure", []config.Provider{p("a", config.TypeAzure, nil)}, false},
		{"anthropic with a top-level override", []config.Provider{p("a", config.TypeAnthropic, map[string]string{"temperature": "degrade"})}, false},
		{"anthropic stripping cache_control", []config.Provider{p("a", config.TypeAnthropic, map[string]string{"cache_control": "strip"})}, true},
		{"one ollama", []config.Provider{p("o", config.TypeOllama, nil)}, true},
		{"one zai (not Claude: signed thinking is removed)", []config.Provider{p("z", config.TypeZAI, nil)}, true},
		{"two anthropic (thinking affinity)", []config.Provider{p("a", config.TypeAnthropic, nil), p("b", config.TypeAnthropic, nil)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(context.Background(), Options{Config: &config.Config{Providers: tt.providers}})
			if err != nil {
				t.Fatal(err)
			}
			if r.deepDetect != tt.deep {
				t.Errorf("deepDetect = %v, want %v", r.deepDetect, tt.deep)
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
