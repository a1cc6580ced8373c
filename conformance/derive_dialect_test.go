package conformance

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The answers of the dialect cases (error-billing, error-vendor-type, stream-missing-usage,
// stream-zero-start-usage, tool-input-not-object): what a vendor answers in its own dialect. No
// recording of Z.AI or MiniMax exists in fixtures/real-traffic, so each answer is written from
// the public bug report or documentation page its notes cite, with the real bytes it reuses
// named; none of them is a recording of that provider.

// dialectSource names, per provider/case, what a dialect cassette's answer is written from.
var dialectSource = map[string]string{
	"anthropic/error-billing":      "Anthropic, Errors (https://platform.claude.com/docs/en/api/errors): 402 billing_error",
	"zai/error-billing":            "Z.AI's 429 for code 1113 in https://github.com/zai-org/feedback/issues/789; code table https://docs.z.ai/api-reference/api-code",
	"minimax/error-billing":        "MiniMax's 500 for code 1008 in https://github.com/MiniMax-AI/MiniMax-M2/issues/62",
	"minimax/error-vendor-type":    "MiniMax's 400 bad_request_error in https://github.com/BigPizzaV3/CodexPlusPlus/issues/267",
	"ollama/error-vendor-type":     "shared/spec/wire.md B.7 (a route Ollama lacks answers 404 text/plain)",
	"minimax/stream-missing-usage": "MiniMax's message_delta without usage: https://github.com/earendil-works/pi/issues/6567, https://github.com/NousResearch/hermes-agent/issues/60683",
	"zai/stream-zero-start-usage":  "Z.AI's zero usage in message_start: https://github.com/zai-org/GLM-5/issues/139",
	"zai/tool-input-not-object":    "a GLM tool_use whose input is an array: https://github.com/zai-org/zai-coding-plugins/issues/14",
}

// deriveDialect makes the answer of a dialect case for a provider type, with its source and
// notes.
func deriveDialect(p, name string) (response, string, []string, error) {
	key := p + "/" + name
	src, ok := dialectSource[key]
	if !ok {
		if key == "zai/error-vendor-type" {
			return response{}, "", nil, fmt.Errorf("%s is documented: cassettes/%s.yaml is written by hand from the example of https://docs.z.ai/api-reference/api-code", key, key)
		}
		return response{}, "", nil, fmt.Errorf("deriveDialect: no answer for %s (mark the case not applicable, or write one)", key)
	}
	jsonResp := func(status int, body string, extra ...string) response {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return response{status: status, header: h, body: []byte(body)}
	}
	switch key {
	case "anthropic/error-billing":
		const rid = "req_011CconformanceBilling001"
		r := jsonResp(402, `{"type":"error","error":{"type":"billing_error","message":"There's an issue with your billing or payment information."},"request_id":"`+rid+`"}`,
			"Request-Id", rid)
		return r, src, []string{
			"response: the envelope of the page's error-shape example (fixtures/vendor-docs/anthropic/error-shape-not-found.json) with the page's 402 billing_error row, its description as the message; the page prints no billing example, the request id is made up",
			"not on record here: Anthropic has also answered exhausted credit with 400 invalid_request_error \"Your credit balance is too low to access the Anthropic API…\" (https://github.com/anthropics/claude-code/issues/66297), which the relay passes unchanged",
		}, nil
	case "zai/error-billing":
		return jsonResp(429, `{"type":"error","error":{"type":"rate_limit_error","code":"1113","message":"[1113][Insufficient balance or no resource package. Please recharge.][20260922232915e8288c66f9ff4aaa]"},"request_id":"20260922232915e8288c66f9ff4aaa"}`), src, []string{
			"response: the status and body of the report (Z.AI's Anthropic endpoint, 2026-09-22): error.type rate_limit_error with code 1113; the report shows no headers, so only Content-Type is set",
			"the page's code table gives 1113 \"Your account is in arrears, please recharge and try again\", its HTTP table 429 for an exhausted balance; an older answer puts the code in error.type, {\"type\":\"error\",\"error\":{\"type\":\"1113\",…}} (https://github.com/anthropics/claude-code/issues/11345)",
		}, nil
	case "minimax/error-billing":
		return jsonResp(500, `{"type":"error","error":{"type":"api_error","message":"insufficient balance (1008)"},"request_id":"05997465cd2ee4bd50b24b216c911b75"}`), src, []string{
			"response: the status and body of the report (MiniMax's Anthropic endpoint under Claude Code); the report shows no headers, so only Content-Type is set",
			"1008 is \"insufficient balance\" in https://platform.minimax.io/docs/api-reference/errorcode, which gives no HTTP status",
		}, nil
	case "minimax/error-vendor-type":
		return jsonResp(400, `{"type":"error","error":{"type":"bad_request_error","message":"invalid params, invalid chat setting (2013)","http_code":"400"},"request_id":"0660ea9839a56b8a49fc9767f4f209f6"}`), src, []string{
			"response: a body quoted in the report's comments (MiniMax's own type bad_request_error, the HTTP code as a string, the code 2013 ending the message); status 400 as its http_code says; only Content-Type is set",
			"the report's request (several system messages) is not this one: the answer stands for MiniMax's error dialect, not for this request",
		}, nil
	case "ollama/error-vendor-type":
		r := response{status: 404, header: http.Header{"Content-Type": {"text/plain"}}, body: []byte("404 page not found")}
		return r, src, []string{
			"response: the answer of a route Ollama does not serve (gin's default 404, text/plain), as wire.md B.7 gives for count_tokens; an Ollama older than 0.14 answers /v1/messages so (the dialect table's Ollama 404 row)",
		}, nil
	case "minimax/stream-missing-usage":
		r, err := editStream(standIn(p, true), func(typ string, data []byte) ([]byte, error) {
			if typ != "message_delta" {
				return data, nil
			}
			return []byte(`{"type":"message_delta","delta":{"stop_reason":""}}`), nil
		})
		return r, src, []string{
			"response bytes: " + r.source + " (a real Anthropic stream to another prompt) with its message_delta replaced by {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"\"}}: no usage, as the reports show MiniMax's; the empty stop_reason is the shape given in ccrelay's own issue, no public report of it was found",
		}, err
	case "zai/stream-zero-start-usage":
		r, err := editStream(standIn(p, true), func(typ string, data []byte) ([]byte, error) {
			if typ != "message_start" {
				return data, nil
			}
			return sjson.SetRawBytes(data, "message.usage", []byte(`{"input_tokens":0,"output_tokens":0}`))
		})
		return r, src, []string{
			"response bytes: " + r.source + " (a real Anthropic stream to another prompt) with message_start's usage set to {\"input_tokens\":0,\"output_tokens\":0}, as the report shows Z.AI's; its message_delta already carries the counts (input_tokens 16), as Z.AI's does",
		}, err
	case "zai/tool-input-not-object":
		var b bytes.Buffer
		for _, d := range []string{
			`{"type":"message_start","message":{"id":"msg_2026052917135800000000000000001","type":"message","role":"assistant","model":"glm-4.6","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`,
			`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"I'll run the script."}}`,
			`{"type":"content_block_stop","index":0}`,
			`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_5d0e8a1f2b3c4d5e6f708192","name":"Bash","input":{}}}`,
			`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"[{\"command\": \"python"}}`,
			`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" script.py\"}]"}}`,
			`{"type":"content_block_stop","index":1}`,
			`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":182,"output_tokens":24,"cache_read_input_tokens":0}}`,
			`{"type":"message_stop"}`,
		} {
			b.Write(sseEvent(gjson.Get(d, "type").String(), []byte(d)))
		}
		r := response{status: 200, header: http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}}, body: b.Bytes()}
		return r, src, []string{
			"response: hand-written. The report shows glm-5.1 on the Anthropic endpoint of Z.AI's Chinese platform (open.bigmodel.cn/api/anthropic) producing a Bash tool_use whose input is an array, [{\"command\": \"python script.py\", …}, …], seen when the history was sent back; the stream that carried it is not shown, so the input is streamed here as input_json_delta fragments of [{\"command\": \"python script.py\"}]",
			"message_start carries zero usage and message_delta the counts, as Z.AI's streams do (https://github.com/zai-org/GLM-5/issues/139); ids, text and counts are made up",
		}, nil
	}
	return response{}, "", nil, fmt.Errorf("deriveDialect: %s", key)
}

// editStream reads a real SSE answer and passes each event's data through edit.
func editStream(src string, edit func(typ string, data []byte) ([]byte, error)) (response, error) {
	r, err := recordedResponse(src)
	if err != nil {
		return r, err
	}
	var out bytes.Buffer
	for _, ev := range relaytest.SplitSSE(r.body) {
		data := sseData(ev)
		typ := gjson.GetBytes(data, "type").String()
		if data == nil || typ == "ping" {
			out.Write(ev)
			continue
		}
		edited, err := edit(typ, data)
		if err != nil {
			return r, err
		}
		if bytes.Equal(edited, data) {
			out.Write(ev)
			continue
		}
		out.Write(sseEvent(typ, edited))
	}
	r.body = out.Bytes()
	return r, nil
}

// sseEvent frames one SSE event.
func sseEvent(name string, data []byte) []byte {
	return []byte("event: " + name + "\ndata: " + string(data) + "\n\n")
}
