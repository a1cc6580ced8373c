package body

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTopKeys: Top.Keys holds every top-level key, null or not, and OtherKeys for those
// outside the Messages API.
func TestTopKeys(t *testing.T) {
	top := Parse([]byte(`{"model":"m","stream":null,"safeguards":null,"messages":[]}`)).Top()
	want := KeyOf("model") | KeyOf("stream") | KeyOf("messages") | OtherKeys
	if top.Keys != want {
		t.Errorf("Keys %b, want %b", top.Keys, want)
	}
	if diff := cmp.Diff([]string{"model", "messages", "stream"}, top.Keys.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	if len(top.Unknown) != 0 {
		t.Errorf("Unknown %q: a null value is not a use", top.Unknown)
	}
	for k := range knownTopLevel {
		if KeyOf(k) == OtherKeys || KeyOf(k).Names()[0] != k {
			t.Errorf("KeyOf(%q) = %b", k, KeyOf(k))
		}
	}
	if KeyOf("safeguards") != OtherKeys {
		t.Error("an unknown key has a bit of its own")
	}
}
