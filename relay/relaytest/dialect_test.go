package relaytest_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/tidwall/gjson"

	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/ccrelay/ccrelay/relay/sse"
)

const dialectRequest = `{"model":"claude-sonnet-4-20250514","max_tokens":64,"messages":[{"role":"user","content":"Say hi in Portuguese"}]}`

func streamRequest() string {
	return strings.Replace(dialectRequest, `{"model"`, `{"stream":true,"model"`, 1)
}

// post sends body to the fake's /v1/messages with an API key and returns status, content type
// and body.
func post(t *testing.T, base, body string, header http.Header) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/anthropic/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", "test-key")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// want is what a dialect answer must hold: gjson paths and their values ("<absent>" for a path
// that must not exist, "<any>" for one that must).
type want map[string]string

func checkPaths(t *testing.T, body []byte, w want) {
	t.Helper()
	if !gjson.ValidBytes(body) {
		t.Fatalf("body is not JSON: %s", body)
	}
	for path, v := range w {
		got := gjson.GetBytes(body, path)
		switch {
		case v == "<absent>":
			if got.Exists() {
				t.Errorf("%s = %s, want it absent in %s", path, got.Raw, body)
			}
		case v == "<any>":
			if !got.Exists() {
				t.Errorf("%s missing in %s", path, body)
			}
		case got.String() != v:
			t.Errorf("%s = %q, want %q in %s", path, got.String(), v, body)
		}
	}
}

func TestDialectErrors(t *testing.T) {
	tests := []struct {
		name   string
		h      http.Handler
		status int
		want   want
	}{
		{"minimax 400", relaytest.MiniMax(relaytest.MiniMaxBadRequest), 400, want{
			"type": "error", "error.type": "bad_request_error", "error.http_code": "400",
			"error.message": "invalid params, invalid chat setting (2013)", "request_id": "0660ea98470ab1790000000000000001",
		}},
		{"minimax 401", relaytest.MiniMax(relaytest.MiniMaxUnauthorized), 401, want{
			"error.type": "authorized_error", "error.http_code": "401", "request_id": "<any>",
		}},
		{"minimax balance", relaytest.MiniMax(relaytest.MiniMaxInsufficientBalance), 500, want{
			"error.type": "api_error", "error.message": "insufficient balance (1008)", "error.http_code": "<absent>",
		}},
		{"minimax rate limit", relaytest.MiniMax(relaytest.MiniMaxRateLimit), 429, want{
			"error.type": "rate_limit_error", "error.message": "rate limit (1002)",
		}},
		{"zai balance", relaytest.ZAI(relaytest.ZAIInsufficientBalance), 429, want{
			"type": "error", "error.type": "rate_limit_error", "error.code": "1113",
			"error.message": "[1113][Insufficient balance or no resource package. Please recharge.][202609011200000000000000000001]",
			"request_id":    "202609011200000000000000000001",
		}},
		{"zai numeric type", relaytest.ZAI(relaytest.ZAINumericType), 429, want{
			"type": "error", "error.type": "1113", "error.code": "<absent>", "request_id": "<absent>",
		}},
		{"zai 5-hour quota", relaytest.ZAI(relaytest.ZAIUsageLimit), 429, want{
			"type": "<absent>", "error.type": "<absent>", "error.code": "1308", "error.message": "<any>",
		}},
		{"zai weekly quota", relaytest.ZAI(relaytest.ZAIWeeklyLimit), 429, want{"type": "<absent>", "error.code": "1310"}},
		{"zai concurrency", relaytest.ZAI(relaytest.ZAIConcurrency), 429, want{"type": "<absent>", "error.code": "1302"}},
		{"zai model", relaytest.ZAI(relaytest.ZAIModelNotFound), 400, want{
			"type": "<absent>", "error.code": "1211", "request_id": "202609011200000000000000000001",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := relaytest.NewUpstream(t, tc.h)
			status, ct, body := post(t, up.URL, dialectRequest, nil)
			if status != tc.status || ct != "application/json" {
				t.Errorf("status %d %q, want %d application/json", status, ct, tc.status)
			}
			checkPaths(t, body, tc.want)
			if strings.Contains(string(body), "req_") || strings.Contains(string(body), "EXTRA") {
				t.Errorf("body %s", body)
			}
		})
	}
}

func TestDialectChecksRequests(t *testing.T) {
	tests := []struct {
		name, path, body string
		header           http.Header
		status           int
		minimax, zai     want
	}{
		{"not JSON", "", `{"model":`, nil, 400,
			want{"error.type": "bad_request_error", "error.http_code": "400"},
			want{"error.type": "invalid_request_error", "error.code": "1210"}},
		{"no model", "", `{"messages":[{"role":"user","content":"hi"}]}`, nil, 400,
			want{"error.message": "invalid params, model is required (2013)"},
			want{"error.code": "1213"}},
		{"empty messages", "", `{"model":"m","messages":[]}`, nil, 400,
			want{"error.message": "invalid params, messages is empty (2013)"},
			want{"error.code": "1214"}},
		{"messages not an array", "", `{"model":"m","messages":{}}`, nil, 400,
			want{"error.type": "bad_request_error"},
			want{"error.code": "1214"}},
		{"no key", "", dialectRequest, http.Header{"X-Api-Key": {""}}, 401,
			want{"error.type": "authorized_error"},
			want{"error.type": "authentication_error", "error.code": "1001"}},
		{"bearer is a key", "", dialectRequest, http.Header{"X-Api-Key": {""}, "Authorization": {"Bearer k"}}, 200,
			want{"type": "message"}, want{"type": "message"}},
	}
	for _, tc := range tests {
		for _, d := range []struct {
			name string
			h    http.Handler
			want want
		}{{"minimax", relaytest.MiniMax(), tc.minimax}, {"zai", relaytest.ZAI(), tc.zai}} {
			t.Run(d.name+"/"+tc.name, func(t *testing.T) {
				up := relaytest.NewUpstream(t, d.h)
				status, _, body := post(t, up.URL, tc.body, tc.header)
				if status != tc.status {
					t.Errorf("status %d, want %d: %s", status, tc.status, body)
				}
				checkPaths(t, body, d.want)
			})
		}
	}
	for _, h := range []http.Handler{relaytest.MiniMax(), relaytest.ZAI()} {
		up := relaytest.NewUpstream(t, h)
		resp, err := http.Get(up.URL + "/anthropic/v1/messages")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET: status %d, want 404", resp.StatusCode)
		}
	}
}

func TestDialectMessages(t *testing.T) {
	tests := []struct {
		name string
		h    http.Handler
		want want
	}{
		{"minimax", relaytest.MiniMax(), want{
			"id": "0660ea9839a56b8a0000000000000001", "model": "claude-sonnet-4-20250514", "stop_reason": "end_turn",
			"stop_sequence": "<absent>", "base_resp.status_code": "0", "usage.output_tokens": "21", "content.0.type": "thinking",
		}},
		{"minimax no usage", relaytest.MiniMax(relaytest.MiniMaxNoUsage), want{
			"stop_reason": "", "usage": "<absent>", "base_resp": "<any>",
		}},
		{"zai", relaytest.ZAI(), want{
			"id": "msg_202609011200000000000000000001", "stop_reason": "end_turn", "stop_sequence": "<any>", "usage.input_tokens": "210",
		}},
		{"zai tool array", relaytest.ZAI(relaytest.ZAIToolArrayInput), want{
			"stop_reason": "tool_use", "content.1.type": "tool_use", "content.1.input.0": "/etc/hosts",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := relaytest.NewUpstream(t, tc.h)
			status, _, body := post(t, up.URL, dialectRequest, nil)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			checkPaths(t, body, tc.want)
		})
	}
}

func TestDialectStreams(t *testing.T) {
	tests := []struct {
		name      string
		h         http.Handler
		checkErr  string // what Checker says, "" for a clean stream
		stop      string
		startIn   int // message_start input_tokens
		usage     bool
		noStopSeq bool
	}{
		{"minimax", relaytest.MiniMax(), "", "end_turn", 38, true, true},
		{"minimax no usage", relaytest.MiniMax(relaytest.MiniMaxNoUsage), `delta.stop_reason is "", want a stop reason`, "", 38, false, true},
		{"zai", relaytest.ZAI(), "", "end_turn", 0, true, false},
		{"zai tool array", relaytest.ZAI(relaytest.ZAIToolArrayInput), "", "tool_use", 0, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := relaytest.NewUpstream(t, tc.h)
			status, ct, body := post(t, up.URL, streamRequest(), nil)
			if status != 200 || ct != "text/event-stream" {
				t.Fatalf("status %d %q: %s", status, ct, body)
			}
			events, err := sse.Check(bytes.NewReader(body))
			if tc.checkErr == "" && err != nil || tc.checkErr != "" && (err == nil || !strings.Contains(err.Error(), tc.checkErr)) {
				t.Errorf("Check: %v, want %q", err, tc.checkErr)
			}
			var acc sse.Accumulator
			for _, e := range events {
				if err := acc.Feed(e); err != nil {
					t.Fatal(err)
				}
			}
			m := acc.Message()
			if m.StopReason != tc.stop || strings.HasPrefix(m.ID, "msg_") == tc.noStopSeq {
				t.Errorf("stop_reason %q, id %q", m.StopReason, m.ID)
			}
			if in := gjson.GetBytes(events[0].Data, "message.usage.input_tokens").Int(); int(in) != tc.startIn {
				t.Errorf("message_start input_tokens %d, want %d", in, tc.startIn)
			}
			if has := bytes.Contains(body, []byte(`"usage":{"input_tokens":`)) && m.Usage.OutputTokens > 0; has != tc.usage {
				t.Errorf("final usage %+v, want present %v", m.Usage, tc.usage)
			}
			if tc.noStopSeq == bytes.Contains(body, []byte("stop_sequence")) {
				t.Errorf("stop_sequence present: %v", !tc.noStopSeq)
			}
		})
	}
}

// The n-th request gets the n-th scenario, the last one repeating: a retry after a quota error
// can be scripted.
func TestDialectScenarioSequence(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.ZAI(relaytest.ZAIConcurrency, relaytest.ZAIOK))
	for i, wantStatus := range []int{429, 200, 200} {
		if status, _, body := post(t, up.URL, dialectRequest, nil); status != wantStatus {
			t.Errorf("request %d: status %d, want %d: %s", i, status, wantStatus, body)
		}
	}
	if n := len(up.Requests()); n != 3 {
		t.Errorf("%d requests recorded, want 3", n)
	}
}

// The Go SDK reads the dialects' streams without complaint, which is how MiniMax's broken one
// goes unnoticed: an empty stop reason and zero output tokens.
func TestDialectGoSDK(t *testing.T) {
	tests := []struct {
		name   string
		h      http.Handler
		stop   string
		output int64
	}{
		{"minimax", relaytest.MiniMax(), "end_turn", 21},
		{"minimax no usage", relaytest.MiniMax(relaytest.MiniMaxNoUsage), "", 0},
		{"zai", relaytest.ZAI(), "end_turn", 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := relaytest.NewUpstream(t, tc.h)
			c := sdkClient(t, up.URL+"/anthropic")
			stream := c.Messages.NewStreaming(t.Context(), sdkParams)
			defer stream.Close()
			var msg anthropic.Message
			for stream.Next() {
				if err := msg.Accumulate(stream.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if string(msg.StopReason) != tc.stop || msg.Usage.OutputTokens != tc.output {
				t.Errorf("stop_reason %q, output tokens %d; want %q, %d", msg.StopReason, msg.Usage.OutputTokens, tc.stop, tc.output)
			}
		})
	}
}
