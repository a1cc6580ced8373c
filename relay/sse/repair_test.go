package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const repairDir = "testdata/repair"

// sameSlice reports whether a and b are the same bytes in memory, not merely equal ones.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && cap(a) == cap(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

// repairRun is what a Repairer made of a stream.
type repairRun struct {
	out     []byte   // the stream as relayed
	actions []string // one line per event that was not passed
	r       *Repairer
}

// repairStream relays the events of an SSE body through a Repairer as the relay does: a pass
// forwards the event's Raw bytes, a repair re-frames the new data, an abort sends the error event
// and ends the stream.
func repairStream(t testing.TB, body []byte) repairRun {
	t.Helper()
	run := repairRun{r: &Repairer{}}
	rd := NewReader(bytes.NewReader(body))
	for i := 0; ; i++ {
		ev, err := rd.Next()
		if err != nil {
			if !errors.Is(err, ErrTruncated) && err.Error() != "EOF" {
				t.Fatalf("reading event %d: %v", i, err)
			}
			return run
		}
		before := bytes.Clone(ev.Data)
		out, act := run.r.Event(ev.Name, ev.Data)
		if !bytes.Equal(before, ev.Data) {
			t.Fatalf("event %d (%s): Event changed its input", i, ev.Name)
		}
		switch act.Kind {
		case RepairPass:
			if !sameSlice(out, ev.Data) {
				t.Fatalf("event %d (%s): pass returned other bytes than its input", i, ev.Name)
			}
			run.out = append(run.out, ev.Raw...)
			continue
		case RepairRepaired:
			if len(act.Notes) == 0 || act.Abort != nil {
				t.Fatalf("event %d (%s): repaired without notes, or with an abort: %+v", i, ev.Name, act)
			}
			if json.Valid(ev.Data) && !json.Valid(out) {
				t.Fatalf("event %d (%s): repaired data %q is not valid JSON", i, ev.Name, out)
			}
			run.out = AppendEvent(run.out, ev.Name, out)
		case RepairAborted:
			if out != nil || act.Abort == nil {
				t.Fatalf("event %d (%s): abort with data %q, Abort %v", i, ev.Name, out, act.Abort)
			}
			run.out = AppendEvent(run.out, "error", act.Abort.Data())
		}
		run.actions = append(run.actions, fmt.Sprintf("%d %s %s %s", i, ev.Name, act.Kind, strings.Join(act.Notes, " ")))
		if act.Kind == RepairAborted {
			return run
		}
	}
}

// golden compares got with the golden file, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func TestRepairerGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repairDir, "*.sse"))
	if err != nil || len(files) < 9 {
		t.Fatalf("found %d streams in %s (%v), want at least 9", len(files), repairDir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			run := repairStream(t, in)
			in0, out0, read0, create0, known := run.r.Usage()
			var g bytes.Buffer
			fmt.Fprintf(&g, "--- stream\n%s--- actions\n", run.out)
			for _, a := range run.actions {
				fmt.Fprintln(&g, strings.TrimSpace(a))
			}
			fmt.Fprintf(&g, "--- usage\ninput=%d output=%d cache_read=%d cache_creation=%d known=%v estimate=%d\n",
				in0, out0, read0, create0, known, run.r.OutputEstimate())
			golden(t, f+".golden", g.Bytes())

			// Whatever the repair, the client's stream follows the grammar and ends.
			events, err := Check(bytes.NewReader(run.out))
			if err != nil {
				t.Fatalf("relayed stream: %v", err)
			}
			if run.r.Aborted() != nil {
				if last := events[len(events)-1]; last.Name != "error" {
					t.Errorf("aborted stream ends with %s, want error", last.Name)
				}
				return
			}
			var acc Accumulator
			for _, e := range events {
				if err := acc.Feed(e); err != nil {
					t.Fatal(err)
				}
			}
			if m := acc.Message(); m.StopReason == "" || m.Usage.OutputTokens == 0 {
				t.Errorf("relayed message has stop_reason %q and %d output tokens", m.StopReason, m.Usage.OutputTokens)
			}
			if len(run.actions) == 0 && !bytes.Equal(run.out, in) {
				t.Errorf("nothing repaired, yet the stream changed")
			}
		})
	}
}

func TestRepairMessageGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repairDir, "*.json"))
	if err != nil || len(files) < 2 {
		t.Fatalf("found %d bodies in %s (%v), want at least 2", len(files), repairDir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in = bytes.TrimSpace(in)
			out, notes, abort := RepairMessage(in)
			var g bytes.Buffer
			fmt.Fprintf(&g, "--- body\n%s\n--- notes\n%s\n--- abort\n", out, strings.Join(notes, "\n"))
			if abort != nil {
				fmt.Fprintf(&g, "%s\n", abort.Data())
			}
			golden(t, f+".golden", g.Bytes())
			if abort == nil {
				if _, err := FromJSON(out); err != nil {
					t.Errorf("repaired body: %v", err)
				}
			}
		})
	}
}

// TestRepairerPassesRealTraffic checks that every recorded stream of a real provider passes
// unchanged: the repairs are for faults those providers do not have.
func TestRepairerPassesRealTraffic(t *testing.T) {
	n := 0
	for _, f := range sseFixtures(t) {
		if !f.messagesStream() {
			continue
		}
		n++
		body, _ := f.sseBody()
		run := repairStream(t, body)
		if len(run.actions) > 0 || !bytes.Equal(run.out, body) {
			t.Errorf("%s: repaired %q", f.path, run.actions)
		}
		if _, _, _, _, known := run.r.Usage(); !known {
			t.Errorf("%s: usage not known", f.path)
		}
	}
	if n < 40 {
		t.Fatalf("found %d real Messages streams, want at least 40", n)
	}
}

// streamEvents reads the events of an SSE file, as copies.
func streamEvents(t testing.TB, body []byte) []Event {
	t.Helper()
	var events []Event
	rd := NewReader(bytes.NewReader(body))
	for {
		ev, err := rd.Next()
		if err != nil {
			return events
		}
		events = append(events, ev.Clone())
	}
}

func TestRepairerCleanStreamAllocatesNothing(t *testing.T) {
	clean, err := os.ReadFile(filepath.Join(repairDir, "anthropic-clean.sse"))
	if err != nil {
		t.Fatal(err)
	}
	real, err := os.ReadFile(filepath.Join(fixtureRoot, benchBody))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(real, &f); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{"anthropic-clean.sse": clean, benchBody: []byte(*f.Response.Body)} {
		events := streamEvents(t, body)
		var r Repairer
		allocs := testing.AllocsPerRun(50, func() {
			r.Reset()
			for _, e := range events {
				if _, act := r.Event(e.Name, e.Data); act.Kind != RepairPass {
					t.Fatalf("%s: %s event %+v", name, e.Name, act)
				}
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per stream, want 0", name, allocs)
		}
	}
}

func TestRepairerMessageDelta(t *testing.T) {
	const start = `{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}`
	tests := []struct {
		name     string
		lastTool bool
		text     string // text relayed before the delta
		delta    string
		want     string // data sent; "" means the same bytes
		notes    []string
	}{
		{
			name:  "clean",
			delta: `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}`,
		},
		{
			name:  "every known stop reason passes",
			delta: `{"type":"message_delta","delta":{"stop_reason":"model_context_window_exceeded"},"usage":{"output_tokens":9}}`,
		},
		{
			name:  "minimax: empty stop_reason, no usage",
			text:  strings.Repeat("x", 40),
			delta: `{"type":"message_delta","delta":{"stop_reason":""}}`,
			want:  `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":10}}`,
			notes: []string{"stop_reason=repaired:end_turn", "stream_usage=repaired"},
		},
		{
			name:     "after a tool_use block",
			lastTool: true,
			delta:    `{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":9}}`,
			want:     `{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}`,
			notes:    []string{"stop_reason=repaired:tool_use"},
		},
		{
			name:  "stop_reason not a string",
			delta: `{"type":"message_delta","delta":{"stop_reason":7},"usage":{"output_tokens":9}}`,
			want:  `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}`,
			notes: []string{"stop_reason=repaired:end_turn"},
		},
		{
			name:  "delta not an object",
			delta: `{"type":"message_delta","delta":"x","usage":{"output_tokens":9}}`,
			want:  `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}`,
			notes: []string{"stop_reason=repaired:end_turn"},
		},
		{
			name:  "usage without output_tokens",
			delta: `{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"input_tokens":5}}`,
			want:  `{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"input_tokens":5,"output_tokens":1}}`,
			notes: []string{"stream_usage=repaired"},
		},
		{
			name:  "output_tokens not a number",
			delta: `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":"9"}}`,
			want:  `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}`,
			notes: []string{"stream_usage=repaired"},
		},
		{
			name:  "invalid JSON passes",
			delta: `{"type":"message_delta","delta":{"stop_reason":""}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Repairer
			r.Event("message_start", []byte(start))
			if tc.lastTool {
				r.Event("content_block_start", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`))
				r.Event("content_block_stop", []byte(`{"type":"content_block_stop","index":0}`))
			}
			if tc.text != "" {
				r.Event("content_block_delta", []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`+tc.text+`"}}`))
			}
			in := []byte(tc.delta)
			out, act := r.Event("", in)
			want, kind := tc.want, RepairRepaired
			if want == "" {
				want, kind = tc.delta, RepairPass
				if !sameSlice(out, in) {
					t.Errorf("pass returned a copy")
				}
			}
			if string(out) != want || act.Kind != kind {
				t.Errorf("Event = %s, %s\nwant  %s, %s", out, act.Kind, want, kind)
			}
			if diff := cmp.Diff(tc.notes, act.Notes); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRepairerToolInput(t *testing.T) {
	tests := []struct {
		name      string
		start     string // content_block_start input
		fragments []string
		got       string // "" when the input is fine
	}{
		{"object in fragments", `{}`, []string{`{"a":`, `[1,2]}`}, ""},
		{"no fragment", `{}`, nil, ""},
		{"no input at all", ``, nil, ""},
		{"empty fragments", `{}`, []string{"", " "}, ""},
		{"start input is the input", `{"a":1}`, nil, ""},
		{"array", `{}`, []string{`["a"`, `]`}, "array"},
		{"string", `{}`, []string{`"a"`}, "string"},
		{"number", `{}`, []string{`12`}, "number"},
		{"boolean", `{}`, []string{`true`}, "boolean"},
		{"null", `{}`, []string{`null`}, "null"},
		{"truncated", `{}`, []string{`{"a":`}, "invalid JSON"},
		{"two objects", `{}`, []string{`{}{}`}, "invalid JSON"},
		{"start input array, no fragment", `[1]`, nil, "array"},
		{"escapes", `{}`, []string{`{"p":"\u00e9\ud83c\udf05\n\"\\/"}`}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Repairer
			r.Event("message_start", []byte(`{"type":"message_start","message":{"usage":{"input_tokens":1,"output_tokens":1}}}`))
			input := ""
			if tc.start != "" {
				input = `,"input":` + tc.start
			}
			r.Event("content_block_start", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f"`+input+`}}`))
			for _, f := range tc.fragments {
				pj, _ := json.Marshal(f)
				if _, act := r.Event("content_block_delta", []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":`+string(pj)+`}}`)); act.Kind != RepairPass {
					t.Fatalf("delta: %+v", act)
				}
			}
			stop := []byte(`{"type":"content_block_stop","index":0}`)
			out, act := r.Event("content_block_stop", stop)
			if tc.got == "" {
				if act.Kind != RepairPass || !sameSlice(out, stop) {
					t.Fatalf("stop: %s %+v, want a pass", out, act)
				}
				return
			}
			want := "provider returned a tool_use block whose input is not a JSON object (got " + tc.got + "); the stream was stopped"
			if act.Kind != RepairAborted || out != nil || act.Abort == nil || act.Abort.Type != "api_error" || act.Abort.Message != want {
				t.Fatalf("stop: %s %+v, want abort %q", out, act, want)
			}
			if n := "tool_input=aborted:" + strings.ReplaceAll(tc.got, " ", "_"); len(act.Notes) != 1 || act.Notes[0] != n {
				t.Errorf("notes %q, want %q", act.Notes, n)
			}
			// Everything after an abort is refused.
			if _, act := r.Event("message_stop", []byte(`{"type":"message_stop"}`)); act.Kind != RepairAborted || act.Abort != r.Aborted() {
				t.Errorf("after the abort: %+v", act)
			}
			var e struct {
				Type  string
				Error struct{ Type, Message string }
			}
			if err := json.Unmarshal(act.Abort.Data(), &e); err != nil || e.Type != "error" || e.Error.Message != want {
				t.Errorf("Abort.Data() = %s (%v)", act.Abort.Data(), err)
			}
		})
	}
}

// A tool input larger than the buffer is checked by its first and last bytes only.
func TestRepairerHugeToolInput(t *testing.T) {
	for _, tc := range []struct {
		open, close string
		abort       bool
	}{{"{", "}", false}, {"[", "]", true}, {"{", "", true}} {
		var r Repairer
		r.Event("content_block_start", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`))
		chunk := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"` + strings.Repeat("x", 64<<10) + `"}}`)
		r.Event("content_block_delta", []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"`+tc.open+`\"a\":\""}}`))
		for range maxToolInput / (64 << 10) * 2 {
			r.Event("content_block_delta", chunk)
		}
		r.Event("content_block_delta", []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"`+tc.close+`  "}}`))
		if len(r.input) > maxToolInput+(64<<10)+64 || !r.overflow {
			t.Fatalf("kept %d bytes of input (overflow %v)", len(r.input), r.overflow)
		}
		_, act := r.Event("content_block_stop", []byte(`{"type":"content_block_stop","index":0}`))
		if (act.Kind == RepairAborted) != tc.abort {
			t.Errorf("%s…%s: %+v, want abort %v", tc.open, tc.close, act, tc.abort)
		}
	}
}

func TestRepairerUsage(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		want   [5]int // input, output, cache read, cache creation, known (0/1)
	}{
		{"nothing", nil, [5]int{0, 0, 0, 0, 0}},
		{"anthropic: start has input, delta has output", []string{
			`{"type":"message_start","message":{"usage":{"input_tokens":424,"cache_read_input_tokens":7,"output_tokens":5}}}`,
			`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":118}}`,
		}, [5]int{424, 118, 7, 0, 1}},
		{"z.ai: zeros at start, counts at the end", []string{
			`{"type":"message_start","message":{"usage":{"input_tokens":0,"output_tokens":0}}}`,
			`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":14,"output_tokens":2,"cache_read_input_tokens":128,"cache_creation_input_tokens":3}}`,
		}, [5]int{14, 2, 128, 3, 1}},
		{"minimax: no final usage, output estimated", []string{
			`{"type":"message_start","message":{"usage":{"input_tokens":38,"output_tokens":0}}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"abcdefgh"}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"abcde"}}`,
			`{"type":"message_delta","delta":{"stop_reason":""}}`,
		}, [5]int{38, 4, 0, 0, 1}},
		{"no usage anywhere", []string{
			`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"abcd"}}`,
		}, [5]int{0, 1, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Repairer
			for _, e := range tc.events {
				r.Event("", []byte(e))
			}
			in, out, read, create, known := r.Usage()
			k := 0
			if known {
				k = 1
			}
			if got := [5]int{in, out, read, create, k}; got != tc.want {
				t.Errorf("Usage() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRepairMessage(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		want  string // "" means the same bytes
		notes []string
		abort string
	}{
		{
			name: "clean",
			body: `{"type":"message","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}`,
		},
		{
			name: "an error body passes",
			body: `{"type":"error","error":{"type":"api_error","message":"x"}}`,
		},
		{
			name: "not JSON passes",
			body: `{"type":"message"`,
		},
		{
			name:  "no usage, empty stop_reason",
			body:  `{"type":"message","content":[{"type":"text","text":"12345678"}],"stop_reason":""}`,
			want:  `{"type":"message","content":[{"type":"text","text":"12345678"}],"stop_reason":"end_turn","usage":{"input_tokens":0,"output_tokens":2}}`,
			notes: []string{"stop_reason=repaired:end_turn", "usage=repaired"},
		},
		{
			name:  "missing stop_reason after a tool_use",
			body:  `{"type":"message","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":1}}],"usage":{"input_tokens":3,"output_tokens":1}}`,
			want:  `{"type":"message","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":1}}],"usage":{"input_tokens":3,"output_tokens":1},"stop_reason":"tool_use"}`,
			notes: []string{"stop_reason=repaired:tool_use"},
		},
		{
			name:  "usage without output_tokens",
			body:  `{"type":"message","content":[],"stop_reason":"end_turn","usage":{"input_tokens":3}}`,
			want:  `{"type":"message","content":[],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":0}}`,
			notes: []string{"usage=repaired"},
		},
		{
			name:  "tool_use without input",
			body:  `{"type":"message","content":[{"type":"text","text":""},{"type":"tool_use","id":"t","name":"f"}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":1}}`,
			want:  `{"type":"message","content":[{"type":"text","text":""},{"type":"tool_use","id":"t","name":"f","input":{}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":1}}`,
			notes: []string{"tool_input=repaired:{}"},
		},
		{
			name:  "tool_use input array",
			body:  `{"type":"message","content":[{"type":"tool_use","id":"t","name":"f","input":["a"]}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":1}}`,
			notes: []string{"tool_input=aborted:array"},
			abort: "provider returned a tool_use block whose input is not a JSON object (got array)",
		},
		{
			name:  "server_tool_use input string",
			body:  `{"type":"message","content":[{"type":"server_tool_use","id":"t","name":"web_search","input":"q"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}`,
			notes: []string{"tool_input=aborted:string"},
			abort: "provider returned a server_tool_use block whose input is not a JSON object (got string)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			out, notes, abort := RepairMessage(body)
			switch {
			case tc.abort != "":
				if abort == nil || abort.Message != tc.abort || abort.Type != "api_error" || out != nil {
					t.Errorf("RepairMessage = %s, %v; want abort %q", out, abort, tc.abort)
				}
			case tc.want == "":
				if !sameSlice(out, body) || notes != nil || abort != nil {
					t.Errorf("RepairMessage = %s, %q, %v; want the same bytes", out, notes, abort)
				}
			default:
				if string(out) != tc.want || abort != nil {
					t.Errorf("RepairMessage = %s, %v\nwant             %s", out, abort, tc.want)
				}
			}
			if diff := cmp.Diff(tc.notes, notes); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendUnquoted(t *testing.T) {
	for _, raw := range []string{
		`""`, `"abc"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u00E9"`, `"\ud83c\udf05"`, `"\ud83c"`, `"\udf05x"`,
		`"\ud83c\u0041"`, `"日本"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatal(err)
		}
		got, ok := appendUnquoted([]byte("prefix"), raw)
		if !ok || string(got) != "prefix"+want {
			t.Errorf("appendUnquoted(%s) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	for _, raw := range []string{``, `"`, `abc`, `"\"`, `"\x"`, `"\u12"`, `"\u12g4"`} {
		if _, ok := appendUnquoted(nil, raw); ok {
			t.Errorf("appendUnquoted(%s) accepted it", raw)
		}
	}
}

func TestRepairKindString(t *testing.T) {
	for k, want := range map[RepairKind]string{RepairPass: "pass", RepairRepaired: "repaired", RepairAborted: "abort", 9: "RepairKind(9)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k, want)
		}
	}
}

// BenchmarkRepairerCleanStream measures one Repairer.Event call, that is one event, on a real
// Anthropic stream (thinking, text and tool_use) that needs no repair.
func BenchmarkRepairerCleanStream(b *testing.B) {
	body, events := loadBenchBody(b)
	var r Repairer
	b.SetBytes(int64(len(body) / len(events)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e := events[i%len(events)]
		if _, act := r.Event(e.Name, e.Data); act.Kind != RepairPass {
			b.Fatal(act)
		}
		if i%len(events) == len(events)-1 {
			r.Reset()
		}
	}
}
