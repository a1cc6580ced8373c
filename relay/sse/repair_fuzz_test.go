package sse

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// FuzzRepairer feeds arbitrary streams to a Repairer and RepairMessage. Neither may panic nor
// change its input; a pass returns the input itself; a repair of valid JSON is valid JSON; an
// abort ends the stream with valid error data. appendUnquoted must agree with encoding/json on
// every string literal it accepts.
func FuzzRepairer(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(repairDir, "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && filepath.Ext(p) != ".golden" {
			f.Add(b)
		}
	}
	for _, fx := range sseFixtures(f)[:8] {
		body, _ := fx.sseBody()
		f.Add(body)
	}
	for _, s := range []string{
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":[],\"usage\":7}\n\n",
		"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\u12\"}}\n\n",
		"data: {\"type\":\"message\",\"content\":[{\"type\":\"tool_use\"}],\"usage\":{}}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var r Repairer
		rd := NewReader(bytes.NewReader(in))
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			before := bytes.Clone(ev.Data)
			out, act := r.Event(ev.Name, ev.Data)
			if !bytes.Equal(before, ev.Data) {
				t.Fatalf("Event changed its input %q to %q", before, ev.Data)
			}
			switch act.Kind {
			case RepairPass:
				if !sameSlice(out, ev.Data) || act.Notes != nil || act.Abort != nil {
					t.Fatalf("pass of %q: out %q, %+v", ev.Data, out, act)
				}
			case RepairRepaired:
				if len(act.Notes) == 0 || act.Abort != nil {
					t.Fatalf("repair of %q: %+v", ev.Data, act)
				}
				if json.Valid(ev.Data) && !json.Valid(out) {
					t.Fatalf("repair of valid %q gave invalid %q", ev.Data, out)
				}
			case RepairAborted:
				if out != nil || act.Abort == nil || !json.Valid(act.Abort.Data()) {
					t.Fatalf("abort of %q: out %q, %+v", ev.Data, out, act)
				}
			default:
				t.Fatalf("kind %v", act.Kind)
			}
			checkRepairMessage(t, ev.Data)
		}
		_, output, _, _, _ := r.Usage()
		if output < 0 {
			t.Fatalf("output tokens %d", output)
		}
		checkRepairMessage(t, in)

		// appendUnquoted against encoding/json, on the input taken as a string literal.
		var want string
		if utf8.Valid(in) && json.Unmarshal(in, &want) == nil && gjson.ParseBytes(in).Type == gjson.String {
			got, ok := appendUnquoted(nil, string(bytes.TrimSpace(in)))
			if !ok || string(got) != want {
				t.Fatalf("appendUnquoted(%s) = %q, %v; encoding/json says %q", in, got, ok, want)
			}
		}
		if lit, err := json.Marshal(string(in)); err == nil && utf8.Valid(in) {
			if got, ok := appendUnquoted(nil, string(lit)); !ok || !bytes.Equal(got, in) {
				t.Fatalf("appendUnquoted(%s) = %q, %v; want %q", lit, got, ok, in)
			}
		}
	})
}

func checkRepairMessage(t *testing.T, body []byte) {
	t.Helper()
	before := bytes.Clone(body)
	out, notes, abort := RepairMessage(body)
	if !bytes.Equal(before, body) {
		t.Fatalf("RepairMessage changed its input")
	}
	switch {
	case abort != nil:
		if out != nil || len(notes) == 0 || !json.Valid(abort.Data()) {
			t.Fatalf("RepairMessage(%q) aborted with out %q, notes %q", body, out, notes)
		}
	case notes == nil:
		if !sameSlice(out, body) {
			t.Fatalf("RepairMessage(%q) changed nothing but returned %q", body, out)
		}
	default:
		if !json.Valid(out) {
			t.Fatalf("RepairMessage(%q) = invalid %q", body, out)
		}
		if _, err := FromJSON(out); err != nil {
			t.Fatalf("RepairMessage(%q) = %q: %v", body, out, err)
		}
	}
}
