package relaytest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/ccrelay/ccrelay/relay/sse"
)

// repairing serves what h answers, its SSE events passed through an sse.Repairer as the relay
// will: a pass forwards the event's bytes, a repair re-frames the edited data, an abort sends the
// error event and ends the stream.
func repairing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		var rp sse.Repairer
		rd := sse.NewReader(rec.Body)
		for {
			ev, err := rd.Next()
			if err != nil {
				return
			}
			out, act := rp.Event(ev.Name, ev.Data)
			switch act.Kind {
			case sse.RepairPass:
				w.Write(ev.Raw)
			case sse.RepairRepaired:
				w.Write(sse.AppendEvent(nil, ev.Name, out))
			case sse.RepairAborted:
				w.Write(sse.AppendEvent(nil, "error", act.Abort.Data()))
				return
			}
		}
	})
}

// TestNPMSDKCrashesOnMiniMaxStreamWithoutUsage documents the bug: MiniMax's message_delta
// without usage, straight to the npm SDK, makes it throw.
func TestNPMSDKCrashesOnMiniMaxStreamWithoutUsage(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.MiniMax(relaytest.MiniMaxNoUsage))
	msg, err := relaytest.NPMAccumulateErr(t, up.URL+"/anthropic", []byte(dialectRequest))
	const crash = "Cannot read properties of undefined (reading 'output_tokens')"
	if err == nil || !strings.Contains(err.Error(), crash) {
		t.Fatalf("npm SDK gave %s, %v; want the error %q", msg, err, crash)
	}
}

// The same stream through a Repairer assembles: end_turn, the estimated output tokens.
func TestNPMSDKAssemblesRepairedMiniMaxStream(t *testing.T) {
	up := relaytest.NewUpstream(t, repairing(relaytest.MiniMax(relaytest.MiniMaxNoUsage)))
	msg := relaytest.NPMAccumulate(t, up.URL+"/anthropic", []byte(dialectRequest))
	checkPaths(t, msg, want{
		"stop_reason": "end_turn", "usage.input_tokens": "38", "usage.output_tokens": "22", // (85 bytes of thinking and text + 3) / 4
		"content.0.type": "thinking", "content.1.text": "Olá! Tudo bem? Como posso ajudar?",
	})
}

func TestNPMSDKDialects(t *testing.T) {
	tests := []struct {
		name string
		h    http.Handler
		want want
		err  string // what the SDK throws instead
	}{
		{"minimax", relaytest.MiniMax(), want{"id": "0660ea9839a56b8a0000000000000001", "stop_reason": "end_turn", "usage.output_tokens": "21"}, ""},
		// Z.AI's zeros in message_start are overwritten by the final counts.
		{"zai", relaytest.ZAI(), want{"stop_reason": "end_turn", "usage.input_tokens": "210", "usage.output_tokens": "12"}, ""},
		// Unrepaired, an array input reaches the client as the tool call's input, silently.
		{"zai tool array", relaytest.ZAI(relaytest.ZAIToolArrayInput), want{"stop_reason": "tool_use", "content.1.input.0": "/etc/hosts"}, ""},
		// Repaired, the client gets an error instead of the call.
		{"zai tool array repaired", repairing(relaytest.ZAI(relaytest.ZAIToolArrayInput)), nil,
			"provider returned a tool_use block whose input is not a JSON object (got array); the stream was stopped"},
		{"zai 1113", relaytest.ZAI(relaytest.ZAIInsufficientBalance), nil, "429"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := relaytest.NewUpstream(t, tc.h)
			if tc.err == "" {
				checkPaths(t, relaytest.NPMAccumulate(t, up.URL+"/anthropic", []byte(dialectRequest)), tc.want)
				return
			}
			msg, err := relaytest.NPMAccumulateErr(t, up.URL+"/anthropic", []byte(dialectRequest))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("npm SDK gave %s, %v; want an error with %q", msg, err, tc.err)
			}
		})
	}
}

// NPMReady names the install command when the packages are missing.
func TestNPMReadyWithoutPackages(t *testing.T) {
	t.Setenv("CCRELAY_NPM_DIR", t.TempDir())
	err := relaytest.NPMReady()
	if err == nil || !strings.Contains(err.Error(), relaytest.NPMInstallCommand()) && !strings.Contains(err.Error(), "node is not on PATH") {
		t.Errorf("NPMReady() = %v, want the install command", err)
	}
}
