package features

import (
	"testing"

	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/google/go-cmp/cmp"
)

// TestFieldAllowlistsAreKnownKeys: a listed key outside body.KnownTopLevel would have no bit
// of its own in a body.KeySet, and would let every unknown key through.
func TestFieldAllowlistsAreKnownKeys(t *testing.T) {
	for p, l := range fieldAllowlists {
		if !knownProvider(p) {
			t.Errorf("field list for unknown provider %q", p)
		}
		if Lookup(p, UnknownFields).Action != Strip {
			t.Errorf("%s has a field list, but its unknown_fields cell does not strip", p)
		}
		for _, k := range l {
			if !body.KnownTopLevel(k) {
				t.Errorf("%s lists %q, which body.KnownTopLevel does not know", p, k)
			}
		}
	}
}

func TestFieldAllowlist(t *testing.T) {
	if FieldAllowlist("anthropic") != nil || FieldAllowlist("ollama") != nil {
		t.Error("providers without a list have one")
	}
	l := FieldAllowlist("bedrock")
	l[0] = "x"
	if FieldAllowlist("bedrock")[0] == "x" {
		t.Error("FieldAllowlist returns the shared slice")
	}
}

// TestUnknownFieldsOnListedProviders: on a provider with a list, unknown_fields is used by any
// key outside it (null or not) that no other row removes; elsewhere, by a key outside the
// Messages API that is not null.
func TestUnknownFieldsOnListedProviders(t *testing.T) {
	tests := []struct {
		provider  string
		overrides map[string]string
		body      string
		path      string // "" means unknown_fields is not used
	}{
		{"bedrock", nil, `{"model":"m","stream":true,"anthropic_beta":[],"messages":[]}`, ""},
		{"bedrock", nil, `{"context_management":{"edits":[]}}`, ""},
		{"bedrock", nil, `{"context_management":null}`, "context_management"},
		{"bedrock", map[string]string{"context_management": "pass"}, `{"context_management":{}}`, "context_management"},
		{"bedrock", nil, `{"service_tier":"auto"}`, "service_tier"},
		{"bedrock", nil, `{"cache_control":{"type":"ephemeral"}}`, "cache_control"},
		{"bedrock", map[string]string{"cache_control": "strip"}, `{"cache_control":{"type":"ephemeral"}}`, ""},
		{"bedrock", map[string]string{"cache_control": "strip"}, `{"cache_control":null}`, "cache_control"},
		{"bedrock", nil, `{"safeguards":[],"speed":"fast"}`, "speed"},
		{"vertex", nil, `{"model":"m","stream":true,"context_management":{},"messages":[]}`, ""},
		{"vertex", nil, `{"anthropic_beta":["x"]}`, "anthropic_beta"},
		{"vertex", nil, `{"x":null}`, ""}, // used, but a null key has no name
		{"anthropic", nil, `{"service_tier":"auto","x":null}`, ""},
		{"ollama", map[string]string{"unknown_fields": "strip"}, `{"x":1}`, "x"},
	}
	for _, tt := range tests {
		u := Detect([]byte(tt.body), nil)
		d := Decide(tt.provider, tt.overrides, u)
		used := false
		for _, it := range d.Items {
			if it.Feature == UnknownFields {
				used = true
				if it.Path != tt.path {
					t.Errorf("%s %s: path %q, want %q", tt.provider, tt.body, it.Path, tt.path)
				}
			}
		}
		wantUsed := tt.path != "" || tt.body == `{"x":null}`
		if used != wantUsed {
			t.Errorf("%s %s: unknown_fields used %v, want %v", tt.provider, tt.body, used, wantUsed)
		}
	}
	u := Detect([]byte(`{"safeguards":[],"speed":"fast","service_tier":"auto"}`), nil)
	d := Decide("bedrock", nil, u)
	if diff := cmp.Diff([]string{"service_tier", "speed", "safeguards"}, d.unlisted); diff != "" {
		t.Errorf("unlisted keys (-want +got):\n%s", diff)
	}
}
