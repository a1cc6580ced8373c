package conformance

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/sse"
	"github.com/tidwall/gjson"
)

// These tests feed the checks of the dialect cases answers a broken relay would give (the relay
// cannot be broken from here: the repair and the normalization are inside it), and check that
// each is caught.

// clientEvents builds the client's events from their data, each named by its type.
func clientEvents(data ...string) []sse.Event {
	out := make([]sse.Event, len(data))
	for i, d := range data {
		out[i] = sse.Event{Name: gjson.Get(d, "type").String(), Data: []byte(d)}
	}
	return out
}

// failures returns a result's failed checks, joined.
func failures(r *Result) string { return strings.Join(r.Failures(), "\n") }

func TestCheckRepairs(t *testing.T) {
	want := []string{"stream_usage=repaired", "stop_reason=repaired:end_turn"}
	tests := []struct {
		name    string
		ex      exchange
		failing string // "" passes
	}{
		{"announced in the trailer", exchange{stream: true, header: http.Header{},
			trailer: http.Header{"X-Ccrelay-Degraded": {"stream_usage=repaired; stop_reason=repaired:end_turn"}}}, ""},
		{"after the request's own notes", exchange{stream: true, header: http.Header{"X-Ccrelay-Degraded": {"top_k=stripped"}},
			trailer: http.Header{"X-Ccrelay-Degraded": {"top_k=stripped; stream_usage=repaired; stop_reason=repaired:end_turn"}}}, ""},
		{"repaired without a word", exchange{stream: true, header: http.Header{}, trailer: http.Header{}}, "lacks stream_usage=repaired, stop_reason=repaired:end_turn"},
		{"one repair left out", exchange{stream: true, header: http.Header{},
			trailer: http.Header{"X-Ccrelay-Degraded": {"stream_usage=repaired"}}}, "lacks stop_reason=repaired:end_turn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Result
			checkRepairs(&r, want, &tt.ex)
			got := failures(&r)
			if tt.failing == "" && got != "" || tt.failing != "" && !strings.Contains(got, tt.failing) {
				t.Errorf("failures %q, want %q", got, tt.failing)
			}
		})
	}
}

func TestCheckNormalized(t *testing.T) {
	body := func(msg string) []byte {
		return []byte(`{"type":"error","error":{"type":"billing_error","message":"` + msg + `"}}`)
	}
	note := http.Header{"X-Ccrelay-Degraded": {"error=normalized:zai/code=1113"}}
	normalized := ErrorWant{Status: 402, Type: "billing_error", Normalized: true}
	unchanged := ErrorWant{Status: 402, Type: "billing_error"}
	tests := []struct {
		name    string
		want    ErrorWant
		ex      exchange
		failing string
	}{
		{"normalized and announced", normalized, exchange{header: note, body: body("Insufficient balance (zai code 1113)")}, ""},
		{"normalized without the note", normalized, exchange{header: http.Header{}, body: body("Insufficient balance (zai code 1113)")}, "no error=normalized:RULE note"},
		{"the message hides the provider", normalized, exchange{header: note, body: body("Insufficient balance")}, "does not name the provider type zai"},
		{"Anthropic's own error passed unchanged", unchanged, exchange{header: http.Header{}, body: body("billing")}, ""},
		{"Anthropic's own error rewritten", unchanged, exchange{header: note, body: body("billing")}, "should pass unchanged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Result
			checkNormalized(&r, "zai", tt.want, &tt.ex)
			got := failures(&r)
			if tt.failing == "" && got != "" || tt.failing != "" && !strings.Contains(got, tt.failing) {
				t.Errorf("failures %q, want %q", got, tt.failing)
			}
		})
	}
}

func TestCheckMessageDelta(t *testing.T) {
	tests := []struct {
		name, delta, failing string
	}{
		{"usage and a stop reason", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}`, ""},
		{"no usage (MiniMax)", `{"type":"message_delta","delta":{"stop_reason":"end_turn"}}`, "no usage object"},
		{"usage without output_tokens", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":3}}`, "output_tokens is not a count"},
		{"an empty stop reason", `{"type":"message_delta","delta":{"stop_reason":""},"usage":{"output_tokens":3}}`, `stop_reason ""`},
		{"an unknown stop reason", `{"type":"message_delta","delta":{"stop_reason":"stop"},"usage":{"output_tokens":3}}`, `stop_reason "stop"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Result
			checkMessageDelta(&r, &exchange{stream: true, events: clientEvents(tt.delta, `{"type":"message_stop"}`)})
			got := failures(&r)
			if tt.failing == "" && got != "" || tt.failing != "" && !strings.Contains(got, tt.failing) {
				t.Errorf("failures %q, want %q", got, tt.failing)
			}
		})
	}
}

func TestCheckStreamErrorToolInput(t *testing.T) {
	start := []string{
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"glm-4.6","content":[],"usage":{"input_tokens":0,"output_tokens":0}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"call_1","name":"Bash","input":{}}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"[{\"command\": \"ls\"}]"}}`,
	}
	errEvent := `{"type":"error","error":{"type":"api_error","message":"provider \"zai\": not an object"}}`
	tests := []struct {
		name    string
		tail    []string
		failing string
	}{
		{"stopped before the block ends", []string{errEvent}, ""},
		{"the bad block reached the client whole", []string{`{"type":"content_block_stop","index":0}`, errEvent}, "is not a JSON object, reached the client whole"},
		{"the message was finished, then an error", []string{`{"type":"content_block_stop","index":0}`,
			`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":3}}`, `{"type":"message_stop"}`, errEvent}, "message_stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Result
			ex := &exchange{status: 200, stream: true, header: http.Header{"Content-Type": {"text/event-stream"}},
				events: clientEvents(append(append([]string(nil), start...), tt.tail...)...)}
			checkStreamError(&r, ex)
			got := failures(&r)
			if tt.failing == "" && got != "" || tt.failing != "" && !strings.Contains(got, tt.failing) {
				t.Errorf("failures %q, want %q", got, tt.failing)
			}
		})
	}
}

// TestDialectCasesApply keeps every provider type accounted for in the dialect cases: each
// either has a cassette or says why the case does not apply.
func TestDialectCasesApply(t *testing.T) {
	for _, name := range []string{"error-billing", "error-vendor-type", "stream-missing-usage", "stream-zero-start-usage", "tool-input-not-object"} {
		c, ok := caseByName(name)
		if !ok {
			t.Fatalf("no case %s", name)
		}
		if c.Provoked {
			t.Errorf("%s: a vendor's fault cannot be provoked on demand; Provoked must be false", name)
		}
		applies := 0
		for _, p := range config.Types {
			if _, na := c.NotApplicable[p]; na {
				continue
			}
			applies++
			if c.Kind == KindError && c.Dialect {
				if _, ok := c.ErrorBy[p]; !ok {
					t.Errorf("%s/%s: the expected error is not stated per provider type (ErrorBy)", p, name)
				}
			}
		}
		if applies == 0 {
			t.Errorf("%s applies to no provider type", name)
		}
	}
}
