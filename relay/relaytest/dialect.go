package relaytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/ccrelay/ccrelay/relay/sse"
	"github.com/tidwall/gjson"
)

// The dialect fakes below answer like the Anthropic-compatible endpoints of MiniMax
// (https://api.minimax.io/anthropic) and Z.AI (https://api.z.ai/api/anthropic) as public bug
// reports and the providers' documentation show them: their own error shapes, ids and usage
// quirks. No recording of these providers exists in fixtures/real-traffic, so every body here is
// hand-written; each scenario's comment cites the report it copies the shape from, or says that
// the shape is only inferred. Texts and counts are made up.

// MiniMaxScenario is what the fake MiniMax upstream answers to a request that passes its checks.
type MiniMaxScenario int

const (
	// MiniMaxOK answers as MiniMax does when all is well. Non-streamed: a message with a
	// top-level base_resp, no stop_sequence, an id without "msg_" and usage with cache counts,
	// as in a public probe of the endpoint (a project's notes, no URL):
	//
	//	{"id":"06d660e8c3c8d1f3ccde21d3181ac466","type":"message","role":"assistant","model":"MiniMax-M3",
	//	 "content":[{"text":"VISION_OK","type":"text"}],"usage":{"input_tokens":66,"output_tokens":3,
	//	 "cache_creation_input_tokens":0,"cache_read_input_tokens":128,"service_tier":"standard"},
	//	 "stop_reason":"end_turn","base_resp":{"status_code":0,"status_msg":""}}
	//
	// Streamed: thinking (with a signature) then text, no stop_sequence anywhere, usage in
	// message_start and message_delta (the stream shape is inferred from the body's).
	MiniMaxOK MiniMaxScenario = iota
	// MiniMaxNoUsage is the broken stream of the issue this project fixed: message_delta has
	// an empty stop_reason and no usage at all, {"type":"message_delta","delta":{"stop_reason":""}};
	// the npm SDK throws "Cannot read properties of undefined (reading 'output_tokens')" and the Go
	// SDK returns an empty stop reason (shape from the issue description). Non-streamed: a message
	// with stop_reason "" and no usage.
	MiniMaxNoUsage
	// MiniMaxBadRequest is a 400 in MiniMax's envelope, with its own type name, the HTTP code as
	// a string and the numeric code in the message
	// (https://github.com/BigPizzaV3/CodexPlusPlus/issues/267):
	//
	//	{"type":"error","error":{"type":"bad_request_error","message":"invalid params, invalid chat setting (2013)","http_code":"400"},"request_id":"0660ea9839a56b8a49fc9767f4f209f6"}
	MiniMaxBadRequest
	// MiniMaxUnauthorized is a 401 authorized_error, code 1004
	// (https://github.com/nearai/ironclaw/issues/1742; the report cuts the body after the
	// message, so http_code and request_id follow the 400's shape).
	MiniMaxUnauthorized
	// MiniMaxInsufficientBalance is MiniMax's answer to an exhausted balance on the Anthropic
	// endpoint: a 500 api_error, code 1008, without http_code
	// (https://github.com/MiniMax-AI/MiniMax-M2/issues/62):
	//
	//	{"type":"error","error":{"type":"api_error","message":"insufficient balance (1008)"},"request_id":"05997465cd2ee4bd50b24b216c911b75"}
	MiniMaxInsufficientBalance
	// MiniMaxRateLimit is a 429 for code 1002, "rate limit" in MiniMax's error code table
	// (https://platform.minimax.io/docs/api-reference/errorcode). No report shows its body on the
	// Anthropic endpoint: the envelope is the 400's with type rate_limit_error, inferred.
	MiniMaxRateLimit
)

// ZAIScenario is what the fake Z.AI upstream answers to a request that passes its checks.
type ZAIScenario int

const (
	// ZAIOK answers as Z.AI does when all is well. Non-streamed, as in
	// https://github.com/headroomlabs-ai/headroom/issues/1812:
	//
	//	{"id":"msg_20260705214800bd732adae1414142","type":"message","role":"assistant","model":"glm-5.2",
	//	 "content":[{"type":"text","text":"4"}],"stop_reason":"end_turn","stop_sequence":null,
	//	 "usage":{"input_tokens":2410,"output_tokens":2,"cache_read_input_tokens":0,
	//	 "server_tool_use":{"web_search_requests":0},"service_tier":"standard"}}
	//
	// Streamed: message_start carries usage {"input_tokens":0,"output_tokens":0} and the real
	// counts come only in the final message_delta (https://github.com/zai-org/GLM-5/issues/139).
	ZAIOK ZAIScenario = iota
	// ZAIToolArrayInput is a tool_use whose input is a JSON array, streamed as input_json_delta
	// fragments of `["/etc/hosts"]` (shape from the issue description: a Z.AI model produced a
	// tool_use whose input was a JSON array). Non-streamed: the same block with input ["/etc/hosts"].
	ZAIToolArrayInput
	// ZAIInsufficientBalance is a 429 for code 1113 in the Anthropic envelope, with the code in
	// "code" and again in the message, and a request id without "req_"
	// (https://github.com/zai-org/feedback/issues/789):
	//
	//	{"type":"error","error":{"type":"rate_limit_error","code":"1113","message":"[1113][Insufficient balance or no resource package. Please recharge.][20260922232915e8288c66f9ff4aaa]"},"request_id":"20260922232915e8288c66f9ff4aaa"}
	ZAIInsufficientBalance
	// ZAINumericType is the older 429 for code 1113, with the code as error.type and no
	// request_id, quoted in public projects' notes from the open.bigmodel.cn and api.z.ai
	// Anthropic endpoints (no issue URL found):
	//
	//	{"type":"error","error":{"type":"1113","message":"Insufficient balance or no resource package. Please recharge."}}
	ZAINumericType
	// ZAIUsageLimit is the bare shape, no "type" at all, of a 429 for code 1308, the Coding
	// Plan's 5-hour quota (https://github.com/dirge-code/dirge/issues/818; code table at
	// https://docs.z.ai/api-reference/api-code and https://docs.bigmodel.cn/cn/api/api-code):
	//
	//	{"error":{"code":"1308","message":"已达到 5 小时的使用上限。您的限额将在 2026-08-25 07:41:44 重置。"}}
	ZAIUsageLimit
	// ZAIWeeklyLimit is the bare 429 for code 1310, the weekly or monthly quota; its message
	// follows the docs' template (same code tables), the shape 1308's.
	ZAIWeeklyLimit
	// ZAIConcurrency is the bare 429 for code 1302, too many concurrent requests
	// (https://github.com/kaitranntt/ccs/issues/402, seen on Z.AI's OpenAI-style endpoint).
	ZAIConcurrency
	// ZAIModelNotFound is the bare 400 for code 1211, with a request_id
	// (https://github.com/NousResearch/hermes-agent/issues/7475, from the Anthropic endpoint):
	//
	//	{"error":{"code":"1211","message":"模型不存在，请检查模型代码。"},"request_id":"20260411084842f31e68d233e444ad"}
	ZAIModelNotFound
)

// MiniMax returns a fake MiniMax upstream. The n-th request is answered with the n-th scenario,
// the last one repeating (MiniMaxOK when none is given), so that a test can script a retry.
//
// Before its scenario, each request is checked as MiniMax would: POST to a path ending in
// /v1/messages (else 404 "404 page not found", as MiniMax answers a wrong path:
// https://github.com/NousResearch/hermes-agent/pull/89090), a credential in x-api-key or
// Authorization (else 401 authorized_error, code 1004), and a body that is JSON with a model
// and a non-empty messages array (else 400 bad_request_error, code 2013; the wording of these
// messages is this fake's). A streamed answer is sent when the body has "stream": true.
func MiniMax(scenarios ...MiniMaxScenario) http.Handler {
	return &dialectFake{name: "minimax", pick: func(n int) dialectAnswer {
		s := MiniMaxOK
		if len(scenarios) > 0 {
			s = scenarios[min(n, len(scenarios)-1)]
		}
		return miniMaxAnswer(s)
	}, reject: miniMaxReject, ids: miniMaxIDs}
}

// ZAI returns a fake Z.AI upstream. The n-th request is answered with the n-th scenario, the
// last one repeating (ZAIOK when none is given).
//
// Before its scenario, each request is checked as Z.AI would: POST to a path ending in
// /v1/messages (else 404; Z.AI's 404 body is not known, so it is MiniMax's), a credential in
// x-api-key or Authorization (else 401, code 1001), and a body that is JSON (else 400, code
// 1210) with a model (else code 1213) and a non-empty messages array (else code 1214), in the
// envelope of ZAIInsufficientBalance; codes from https://docs.z.ai/api-reference/api-code, the
// wording this fake's. A streamed answer is sent when the body has "stream": true.
func ZAI(scenarios ...ZAIScenario) http.Handler {
	return &dialectFake{name: "zai", pick: func(n int) dialectAnswer {
		s := ZAIOK
		if len(scenarios) > 0 {
			s = scenarios[min(n, len(scenarios)-1)]
		}
		return zaiAnswer(s)
	}, reject: zaiReject, ids: zaiIDs}
}

// dialectAnswer is a scenario's answer: an error (status and body, where {request_id} stands for
// the request id), or a message built for the request.
type dialectAnswer struct {
	status int
	body   string
	// stream and message build the 200 answers from the request's model and the ids.
	stream  func(model string, id ids) []string
	message func(model string, id ids) string
}

// ids are the ids of one answer.
type ids struct{ message, request string }

type dialectFake struct {
	name   string
	pick   func(n int) dialectAnswer
	reject func(status int, problem string) string // error body for a failed check
	ids    func(n int) ids

	mu sync.Mutex
	n  int
}

func (d *dialectFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	n := d.n
	d.n++
	d.mu.Unlock()
	id := d.ids(n)
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/v1/messages") {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("X-Api-Key") == "" && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		writeJSON(w, http.StatusUnauthorized, withID(d.reject(http.StatusUnauthorized, ""), id))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	model, stream, problem := checkMessagesBody(body)
	if problem != "" {
		writeJSON(w, http.StatusBadRequest, withID(d.reject(http.StatusBadRequest, problem), id))
		return
	}
	a := d.pick(n)
	switch {
	case a.status != 0:
		writeJSON(w, a.status, withID(a.body, id))
	case stream:
		SSE(a.stream(model, id), 0).ServeHTTP(w, r)
	default:
		writeJSON(w, http.StatusOK, a.message(model, id))
	}
}

// withID puts the request id into an error body.
func withID(body string, id ids) string { return strings.ReplaceAll(body, "{request_id}", id.request) }

// checkMessagesBody checks a Messages request body as the providers do and returns its model
// and stream flag, or the problem: "json", "model" or "messages".
func checkMessagesBody(body []byte) (model string, stream bool, problem string) {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return "", false, "json"
	}
	m := gjson.GetBytes(body, "model")
	if m.Type != gjson.String || m.Str == "" {
		return "", false, "model"
	}
	if msgs := gjson.GetBytes(body, "messages"); !msgs.IsArray() || len(msgs.Array()) == 0 {
		return "", false, "messages"
	}
	return m.Str, gjson.GetBytes(body, "stream").Bool(), ""
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// events frames event data as SSE, each event named by its data's type.
func events(data ...string) []string {
	out := make([]string, len(data))
	for i, d := range data {
		out[i] = string(sse.AppendEvent(nil, gjson.Get(d, "type").Str, []byte(d)))
	}
	return out
}

// quote returns s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// MiniMax ids: 32 hex digits, no "msg_" or "req_" prefix.
func miniMaxIDs(n int) ids {
	return ids{message: fmt.Sprintf("0660ea9839a56b8a%016x", n+1), request: fmt.Sprintf("0660ea98470ab179%016x", n+1)}
}

func miniMaxReject(status int, problem string) string {
	if status == http.StatusUnauthorized {
		return `{"type":"error","error":{"type":"authorized_error","message":"login fail: Please carry the API secret key in the 'Authorization' field of the request header (1004)","http_code":"401"},"request_id":"{request_id}"}`
	}
	msg := map[string]string{
		"json":     "invalid params, request body is not valid json (2013)",
		"model":    "invalid params, model is required (2013)",
		"messages": "invalid params, messages is empty (2013)",
	}[problem]
	return `{"type":"error","error":{"type":"bad_request_error","message":` + quote(msg) + `,"http_code":"400"},"request_id":"{request_id}"}`
}

const (
	miniMaxThinking  = "The user greets me in Portuguese; I answer in kind."
	miniMaxSignature = "4c5b1f0e9a7d2c3b"
	miniMaxText      = "Olá! Tudo bem? Como posso ajudar?"
)

func miniMaxAnswer(s MiniMaxScenario) dialectAnswer {
	switch s {
	case MiniMaxBadRequest:
		return dialectAnswer{status: 400, body: `{"type":"error","error":{"type":"bad_request_error","message":"invalid params, invalid chat setting (2013)","http_code":"400"},"request_id":"{request_id}"}`}
	case MiniMaxUnauthorized:
		return dialectAnswer{status: 401, body: miniMaxReject(401, "")}
	case MiniMaxInsufficientBalance:
		return dialectAnswer{status: 500, body: `{"type":"error","error":{"type":"api_error","message":"insufficient balance (1008)"},"request_id":"{request_id}"}`}
	case MiniMaxRateLimit:
		return dialectAnswer{status: 429, body: `{"type":"error","error":{"type":"rate_limit_error","message":"rate limit (1002)","http_code":"429"},"request_id":"{request_id}"}`}
	}
	broken := s == MiniMaxNoUsage
	return dialectAnswer{
		stream: func(model string, id ids) []string {
			delta := `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":38,"output_tokens":21}}`
			if broken {
				delta = `{"type":"message_delta","delta":{"stop_reason":""}}`
			}
			return events(
				`{"type":"message_start","message":{"id":"`+id.message+`","type":"message","role":"assistant","model":`+quote(model)+`,"content":[],"usage":{"input_tokens":38,"output_tokens":0}}}`,
				`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":`+quote(miniMaxThinking)+`}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"`+miniMaxSignature+`"}}`,
				`{"type":"content_block_stop","index":0}`,
				`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
				`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Olá! "}}`,
				`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":`+quote(strings.TrimPrefix(miniMaxText, "Olá! "))+`}}`,
				`{"type":"content_block_stop","index":1}`,
				delta,
				`{"type":"message_stop"}`,
			)
		},
		message: func(model string, id ids) string {
			tail := `"usage":{"input_tokens":38,"output_tokens":21,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"service_tier":"standard"},"stop_reason":"end_turn"`
			if broken {
				tail = `"stop_reason":""`
			}
			return `{"id":"` + id.message + `","type":"message","role":"assistant","model":` + quote(model) +
				`,"content":[{"thinking":` + quote(miniMaxThinking) + `,"signature":"` + miniMaxSignature + `","type":"thinking"},{"text":` + quote(miniMaxText) + `,"type":"text"}],` +
				tail + `,"base_resp":{"status_code":0,"status_msg":""}}`
		},
	}
}

// Z.AI ids: a timestamp and 16 hex digits; message ids keep "msg_", request ids have no "req_".
func zaiIDs(n int) ids {
	rid := fmt.Sprintf("20260901120000%016x", n+1)
	return ids{message: "msg_" + rid, request: rid}
}

// zaiError is the Anthropic envelope Z.AI uses for a code, with the code and request id in the
// message.
func zaiError(typ, code, msg string) string {
	return `{"type":"error","error":{"type":"` + typ + `","code":"` + code + `","message":"[` + code + `][` + msg + `][{request_id}]"},"request_id":"{request_id}"}`
}

func zaiReject(status int, problem string) string {
	if status == http.StatusUnauthorized {
		return zaiError("authentication_error", "1001", "Authentication parameter not received in Header, unable to authenticate")
	}
	switch problem {
	case "json":
		return zaiError("invalid_request_error", "1210", "Incorrect API call parameters, please check the documentation")
	case "model":
		return zaiError("invalid_request_error", "1213", "The model parameter was not received properly")
	}
	return zaiError("invalid_request_error", "1214", "Invalid messages parameter, please check the documentation")
}

func zaiAnswer(s ZAIScenario) dialectAnswer {
	switch s {
	case ZAIInsufficientBalance:
		return dialectAnswer{status: 429, body: zaiError("rate_limit_error", "1113", "Insufficient balance or no resource package. Please recharge.")}
	case ZAINumericType:
		return dialectAnswer{status: 429, body: `{"type":"error","error":{"type":"1113","message":"Insufficient balance or no resource package. Please recharge."}}`}
	case ZAIUsageLimit:
		return dialectAnswer{status: 429, body: `{"error":{"code":"1308","message":"已达到 5 小时的使用上限。您的限额将在 2026-08-25 07:41:44 重置。"}}`}
	case ZAIWeeklyLimit:
		return dialectAnswer{status: 429, body: `{"error":{"code":"1310","message":"您已达到每周使用上限，您的限额将在 2026-09-07 00:00:00 重置。"}}`}
	case ZAIConcurrency:
		return dialectAnswer{status: 429, body: `{"error":{"code":"1302","message":"High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits"}}`}
	case ZAIModelNotFound:
		return dialectAnswer{status: 400, body: `{"error":{"code":"1211","message":"模型不存在，请检查模型代码。"},"request_id":"{request_id}"}`}
	}
	tool := s == ZAIToolArrayInput
	return dialectAnswer{
		stream: func(model string, id ids) []string {
			evs := []string{
				`{"type":"message_start","message":{"id":"` + id.message + `","type":"message","role":"assistant","model":` + quote(model) + `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`,
				`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me read it."}}`,
				`{"type":"content_block_stop","index":0}`,
			}
			stop := "end_turn"
			if tool {
				stop = "tool_use"
				evs = append(evs,
					`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_5d0e8a1f2b3c4d5e","name":"Read","input":{}}}`,
					`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"[\"/etc/hos"}}`,
					`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ts\"]"}}`,
					`{"type":"content_block_stop","index":1}`,
				)
			}
			evs = append(evs,
				`{"type":"message_delta","delta":{"stop_reason":"`+stop+`","stop_sequence":null},"usage":{"input_tokens":210,"output_tokens":12,"cache_read_input_tokens":0}}`,
				`{"type":"message_stop"}`,
			)
			return events(evs...)
		},
		message: func(model string, id ids) string {
			content, stop := `[{"type":"text","text":"Let me read it."}]`, "end_turn"
			if tool {
				content = `[{"type":"text","text":"Let me read it."},{"type":"tool_use","id":"call_5d0e8a1f2b3c4d5e","name":"Read","input":["/etc/hosts"]}]`
				stop = "tool_use"
			}
			return `{"id":"` + id.message + `","type":"message","role":"assistant","model":` + quote(model) + `,"content":` + content +
				`,"stop_reason":"` + stop + `","stop_sequence":null,"usage":{"input_tokens":210,"output_tokens":12,"cache_read_input_tokens":0,"server_tool_use":{"web_search_requests":0},"service_tier":"standard"}}`
		},
	}
}
