package features

import (
	"fmt"
	"testing"

	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/sjson"
)

// applyReference is Apply as it was when every edit was a whole-body sjson call: the
// reference the in-place edits of run must match byte for byte. Keep it as it is.
func applyReference(b []byte, d Decision, maxTokensCeiling int) ([]byte, []string, error) {
	if r := d.Refusal(); r != nil {
		return b, nil, r
	}
	a := applier{d: &d, body: b}
	for _, it := range d.Items {
		a.act[it.Feature] = it.Action
	}
	a.plan(maxTokensCeiling)
	if a.needWalk {
		body.Walk(b, a.visit)
		if a.err != nil {
			return b, nil, a.err
		}
		a.finishTools()
	}
	out, err := a.runReference()
	if err != nil {
		return b, nil, err
	}
	if a.strips(UnknownFields) {
		if k, left := a.d.leftover(out); left {
			return b, nil, &Refusal{Feature: UnknownFields, Path: k, Status: 400, Type: "invalid_request_error",
				Message: fmt.Sprintf("provider (%s) does not accept the top-level key %q and the relay cannot remove it; remove it from the request", a.d.ProviderType, k)}
		}
	}
	return out, a.notes(), nil
}

// runReference is run as it was: one sjson call, so one copy of the body, per edit.
func (a *applier) runReference() ([]byte, error) {
	edits := a.edits.List()
	if len(edits) == 0 {
		return a.body, nil
	}
	var deleted []string
	for _, e := range edits {
		if e.Delete {
			deleted = append(deleted, e.Path)
		}
	}
	out := a.body
	var err error
	for i := len(edits) - 1; i >= 0; i-- {
		e := edits[i]
		if body.Under(e.Path, deleted) {
			continue
		}
		if e.Delete {
			out, err = sjson.DeleteBytes(out, e.Path)
		} else {
			out, err = sjson.SetRawBytes(out, e.Path, e.Raw)
		}
		if err != nil {
			return nil, fmt.Errorf("edit %s: %w", e.Path, err)
		}
	}
	if a.removeTools {
		if a.act[Tools] == Strip {
			a.note(Tools, "stripped")
		} else {
			a.extra = append(a.extra, "tools=removed")
		}
	}
	return out, nil
}

// overrideSets are the overrides the differential checks run with besides the defaults: every
// feature stripped where it can be (degraded otherwise); the same with tools and tool_choice
// kept, so that server tools are removed one by one; and every feature degraded where it can
// be (stripped otherwise). Every kind of edit is made. URL sources are left at their default:
// degrading them needs Inliner.Inline first.
func overrideSets() []map[string]string {
	strip, keepTools, degrade := map[string]string{}, map[string]string{}, map[string]string{}
	for _, ft := range AllFeatures() {
		if ft.Valid(Strip) {
			strip[ft.String()] = "strip"
		} else if ft.Valid(Degrade) && ft != ImageURL && ft != PDFURL {
			strip[ft.String()] = "degrade"
		}
		if ft.Valid(Degrade) && ft != ImageURL && ft != PDFURL {
			degrade[ft.String()] = "degrade"
		} else if ft.Valid(Strip) {
			degrade[ft.String()] = "strip"
		}
	}
	for k, v := range strip {
		keepTools[k] = v
	}
	for _, ft := range []Feature{Tools, ToolChoiceAuto, ToolChoiceAny, ToolChoiceTool, ToolChoiceNone} {
		keepTools[ft.String()] = "pass"
	}
	return []map[string]string{nil, strip, keepTools, degrade}
}

// compareApply runs Apply and applyReference on body and reports how they differ, or whether
// Apply modified body; "" when they agree.
func compareApply(body []byte, d Decision, ceiling int) string {
	keep := string(body)
	out, notes, err := Apply(body, d, ceiling)
	if string(body) != keep {
		return "Apply modified its input"
	}
	wantOut, wantNotes, wantErr := applyReference(body, d, ceiling)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		return fmt.Sprintf("error %v, reference %v", err, wantErr)
	}
	if string(out) != string(wantOut) {
		return fmt.Sprintf("body differs:\nout  %s\nwant %s", out, wantOut)
	}
	if diff := cmp.Diff(wantNotes, notes); diff != "" {
		return "notes differ (-reference +Apply):\n" + diff
	}
	return ""
}

// editEdgeCases are bodies whose edits sit where sjson's comma and whitespace handling shows:
// first, last and only members and elements, spacing around commas, duplicate keys, keys
// that need escaping in a path, nested edits under deleted ones, and broken JSON.
var editEdgeCases = []string{
	`{"metadata":{"user_id":"u"}}`,
	`{ "metadata" : {"user_id":"u"} , "model" : "m" }`,
	`{"model":"m" , "metadata":{} }`,
	`{"model":"m",` + "\n\t" + `"metadata":{},` + "\n\t" + `"top_k":1,` + "\n" + `"top_p":1}`,
	`{"tools":[ {"name":"a","input_schema":{},"defer_loading":true} , {"name":"b","input_schema":{},"defer_loading":true} ]}`,
	`{"tools":[{"type":"web_search_20250305","name":"web_search"},{"name":"a","input_schema":{}},{"type":"web_fetch_20250910","name":"web_fetch"}],"tool_choice":{"type":"tool","name":"web_fetch"}}`,
	`{"tools":[{"type":"web_search_20250305","name":"web_search","cache_control":{"type":"ephemeral"}}],"tool_choice":{"type":"auto"}}`,
	`{"tool_choice":{"type":"none"},"tools":[{"name":"a","input_schema":{},"cache_control":{"type":"ephemeral"},"defer_loading":true}]}`,
	`{"system":[{"cache_control":{"type":"ephemeral"},"type":"text","text":"a"}],"cache_control":{"type":"ephemeral"}}`,
	`{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","data":"d"},"cache_control":{"type":"ephemeral"}},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"x"},"cache_control":{"type":"ephemeral"}}]}]}`,
	`{"messages":[{"role":"system","content":"s","output_config":{"effort":"low"}},{"role":"user","content":"u","output_config":{"effort":"low","format":{}}}],"output_config":{"format":{},"effort":"high"}}`,
	`{"thinking":{"type":"adaptive"},"max_tokens":64000,"messages":[]}`,
	`{"thinking":{"type":"enabled","budget_tokens":60000},"max_tokens":64000,"temperature":-3}`,
	`{"metadata":{"a":1},"metadata":{"b":2},"model":"m"}`,
	`{"messages":[{"role":"user","content":"a"}],"messages":[{"role":"user","content":[{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]}]}`,
	`{"x.y":1,"a*b":2,"c|d":3,"e#f":4,"g@h":5,"i\\j":6,":k":7,"-1":8,"l?m":9,"n!o":10,"p\u0071":11,"":12}`,
	`{"model":"m","safeguards":[],"x-a":{"b":1},"metadata":{},"-1":[],"-":0,"a-1":1}`,
	`{"-1":[{"-1":1}],"model":"m"}`,
	`{"model":"m","met\u0061data":{"a":1},"top_k" :1}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"q","cache_\u0063ontrol":{}}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"q","cache_control":{}}]}]}`,
	`{"metadata":{"user_id":"u"},"model":"m"`,
	`{"tools":[{"name":"a","input_schema":{},"defer_loading":true}`,
	`{"metadata":{"user_id":"u"},}`,
	`{"top_k":1,,"top_p":2}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}]}],"messages":[]}`,
}

// TestApplyMatchesReference checks run's in-place edits against the sjson reference on every
// body the package's tests know, every provider type and the override sets.
func TestApplyMatchesReference(t *testing.T) {
	bodies := corpus(t)
	for _, s := range editEdgeCases {
		bodies = append(bodies, []byte(s))
	}
	checked := 0
	for i, b := range bodies {
		for _, betas := range [][]string{nil, {"context-management-2025-06-27,effort-2025-11-24", "interleaved-thinking-2025-05-14"}} {
			u := Detect(b, betas)
			for _, p := range Providers {
				for _, o := range overrideSets() {
					d := Decide(p, o, u)
					for _, ceiling := range []int{0, 1000, 8192, MaxTokensCeiling(p, u.Model)} {
						if diff := compareApply(b, d, ceiling); diff != "" {
							t.Errorf("body %d (%.60s...), %s %v ceiling %d: %s", i, b, p, o, ceiling, diff)
						}
						checked++
					}
				}
			}
		}
	}
	t.Logf("%d runs checked", checked)
}
