package features

import (
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/relaytest/claudecode"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
)

// awkward is a body whose bytes a re-encoder would change: escapes, number spellings, odd
// spacing, key order, raw UTF-8, and a role:system message.
const awkward = `{ "model" :"m",
	"max_tokens":1.0e3 ,"messages":[ {"content":[{"text":"caf\u00e9 \/ \"q\" \n é 😀","cache_control":{"type" : "ephemeral"},"type":"text"},
	{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"12345678901234567890","cache_control":{"type":"ephemeral"}}]}],"role":"user"},
	{"role":"system","content":"x","output_config":{"effort":"medium"}}],
  "system":[{"cache_control":{"type":"ephemeral"},"text":"s\t","type":"text"}],
	"metadata":{"user_id":"{\"a\":1}"},"context_management":{ "edits":[] },
	"tools":[{"input_schema":{"type":"object","properties":{"n":{"type":"number","default":-0.0}}},"name":"n","defer_loading":true}],
	"temperature":  1.00 }`

// deleteKeys removes top-level keys, and nested keys everywhere, from a decoded tree.
func deleteKeys(v any, top, nested []string) any {
	if m, ok := v.(map[string]any); ok {
		for _, k := range top {
			delete(m, k)
		}
	}
	var rec func(any)
	rec = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range nested {
				delete(x, k)
			}
			for _, c := range x {
				rec(c)
			}
		case []any:
			for _, c := range x {
				rec(c)
			}
		}
	}
	rec(v)
	return v
}

// TestStripPreservesBytes strips on ollama and checks, on a hand-made awkward body and on every
// real Claude Code request, that the output is the input with bytes deleted only, and that
// it means the input minus exactly the stripped keys.
func TestStripPreservesBytes(t *testing.T) {
	bodies := map[string][]byte{"awkward": []byte(awkward)}
	for _, r := range claudecode.Requests(t) {
		bodies[r.Name] = r.Body
		bodies[r.Name+"/compact"] = r.Compact
	}
	for name, in := range bodies {
		t.Run(name, func(t *testing.T) {
			r := runProvider("ollama", in, nil, false)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !isSubsequence(r.out, r.in) {
				t.Fatal("output is not the input with bytes deleted")
			}
			want := deleteKeys(semantic(t, in), []string{"metadata", "context_management"}, []string{"cache_control", "defer_loading"})
			if diff := cmp.Diff(want, semantic(t, r.out)); diff != "" {
				t.Errorf("output differs from the input minus the stripped keys (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStripKeepsRawValues checks byte for byte the values around the edits of the awkward body.
func TestStripKeepsRawValues(t *testing.T) {
	r := runProvider("ollama", []byte(awkward), nil, false)
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, p := range []string{
		"model", "max_tokens", "temperature", "messages.0.content.0.text", "messages.0.content.1.content.0.text",
		"messages.1", "system.0.text", "tools.0.input_schema", "tools.0.name",
	} {
		want, got := gjson.Get(awkward, p).Raw, gjson.GetBytes(r.out, p).Raw
		if want == "" || want != got {
			t.Errorf("%s: raw %q became %q", p, want, got)
		}
	}
	for _, s := range []string{`"max_tokens":1.0e3 ,`, `"temperature":  1.00 }`, `caf\u00e9 \/ \"q\" \n é 😀`, `"default":-0.0`, "{ \"model\" :\"m\",\n"} {
		if !strings.Contains(string(r.out), s) {
			t.Errorf("output lost %q", s)
		}
	}
}

// TestDegradeEditsOnlyTheirValue sets values (temperature clamp, role rewrite, max_tokens clamp)
// and checks that the output is the input with those values replaced and nothing else.
func TestDegradeEditsOnlyTheirValue(t *testing.T) {
	in := `{ "model" :"m", "temperature" :  0 , "max_tokens":128000,"messages":[{"role" : "system","content":"caf\u00e9"}]}`
	u := Detect([]byte(in), nil)
	d := Decide("minimax", map[string]string{"system_messages": "degrade"}, u)
	out, notes, err := Apply([]byte(in), d, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := `{ "model" :"m", "temperature" :  0.01 , "max_tokens":128000,"messages":[{"role" : "user","content":"caf\u00e9"}]}`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"system_messages=as_user", "temperature=clamped:0.01"}, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}
