package relay

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestStructurallyValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{}`, true}, {` {"a" : [1, -2.5e+3, 0, true, false, null, "x\"y", {}] } `, true},
		{`{"model": "x",`, false}, {`{"a":1,}`, false}, {`[1,]`, false}, {`{"a" 1}`, false},
		{`{1:2}`, false}, {`{"a":01}`, false}, {`{"a":1.}`, false}, {`{"a":-}`, false},
		{`{"a":tru}`, false}, {`{"a":"unterminated}`, false}, {`{"a":1}{}`, false}, {``, false},
		{`"just a string"`, true}, {`{"a":"\\"}`, true}, {`{"a":"\\\"}`, false},
	}
	for _, tt := range tests {
		if got := structurallyValid([]byte(tt.in)); got != tt.want {
			t.Errorf("structurallyValid(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzStructurallyValid checks that every document encoding/json accepts is accepted, and that
// without backslashes and control characters (what the validator does not check) the two agree.
func FuzzStructurallyValid(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":null}]}`, `{"a":1,}`, `[-0.5e3]`, `{"a":"\"}`} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob("../fixtures/real-traffic/ollama/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		std, mine := json.Valid(b), structurallyValid(b)
		if std && !mine {
			t.Fatalf("valid JSON rejected: %q", b)
		}
		plain := !bytes.ContainsAny(b, "\\\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\v\f\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f")
		if plain && mine && !std && !bytes.ContainsAny(b, "\x80\x81\xff\xfe\xc0\xc1") {
			// Invalid UTF-8 inside strings is the other thing left to the provider.
			if json.Valid(bytes.ToValidUTF8(b, []byte("?"))) {
				return
			}
			t.Fatalf("structurally invalid JSON accepted: %q", b)
		}
	})
}
