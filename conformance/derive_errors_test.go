package conformance

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/ccrelay/ccrelay/relay/relaytest"
)

// No public recording holds a 429, a 529 or a broken stream of any provider
// (fixtures/real-traffic/README.md, Gaps), nor Bedrock or Vertex errors for these cases: the
// answers below are written from the documented shapes, and say so.

// deriveError makes the error answers of the error cases.
func deriveError(p string, c *Case, canon *ClientRequest) (*ClientRequest, response, []string, error) {
	json := func(status int, body string, extra ...string) response {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return response{status: status, header: h, body: []byte(body)}
	}
	const amznID = "0b6c8a57-3c1e-4a8e-9d5b-conformance0"
	bedrock := func(status int, typ, msg string) response {
		return json(status, fmt.Sprintf(`{"message":%q}`, msg),
			"X-Amzn-Errortype", typ+":http://internal.amazon.com/coral/com.amazon.bedrock/", "X-Amzn-Requestid", amznID)
	}
	anthropicReal := func() (*ClientRequest, response, []string, error) {
		src := realTraffic["anthropic/"+c.Name]
		rec, err := fixture(src)
		if err != nil {
			return nil, response{}, nil, err
		}
		client, err := clientFrom("anthropic", c, rec.Request, "fixtures/real-traffic/"+src)
		if err != nil {
			return nil, response{}, nil, err
		}
		r, err := recordedResponse(src)
		return client, r, []string{"response bytes: a real Anthropic error (" + r.source + "); " + p + " documents the Anthropic error shape (wire.md A.2), its own wording is not on record"}, err
	}
	switch c.Name {
	case "error-unknown-model":
		switch p {
		case "bedrock":
			return canon, bedrock(400, "ValidationException", "The provided model identifier is invalid."),
				[]string{"response: ValidationException per wire.md B.2 (Bedrock answers an invalid model id with 400, which the relay maps to invalid_request_error)"}, nil
		case "vertex":
			return canon, json(404, `{"error":{"code":404,"message":"Publisher Model `+"`projects/example-project/locations/us-east5/publishers/anthropic/models/no-such-model`"+` not found.","status":"NOT_FOUND"}}`),
				[]string{"response: Google error shape, NOT_FOUND (wire.md B.3)"}, nil
		}
		return anthropicReal()
	case "error-invalid-request":
		switch p {
		case "bedrock":
			return canon, bedrock(400, "ValidationException", "Malformed input request: messages: at least one message is required, please reformat your input and try again."),
				[]string{"response: ValidationException per wire.md B.2"}, nil
		case "vertex":
			return canon, json(400, `{"type":"error","error":{"type":"invalid_request_error","message":"messages: at least one message is required"}}`),
				[]string{"response: an Anthropic-shaped 400, which Vertex passes through from the model (wire.md B.3: Anthropic-shaped errors pass through)"}, nil
		}
		return anthropicReal()
	case "error-rate-limited":
		switch p {
		case "bedrock":
			return canon, bedrock(429, "ThrottlingException", "Too many requests, please wait before trying again."),
				[]string{"response: ThrottlingException per wire.md B.2 (no Retry-After: the relay adds one)"}, nil
		case "vertex":
			return canon, json(429, `[{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: anthropic-claude-sonnet-4-5. Please submit a quota increase request.","status":"RESOURCE_EXHAUSTED"}}]`),
				[]string{"response: Google error shape wrapped in a JSON array, RESOURCE_EXHAUSTED (wire.md B.3)"}, nil
		}
		r := json(429, `{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 50 requests per minute. Please try again later."},"request_id":"req_011CconformanceRateLimit01"}`,
			"Retry-After", "17", "Request-Id", "req_011CconformanceRateLimit01", "X-Should-Retry", "true",
			"Anthropic-Ratelimit-Requests-Limit", "50", "Anthropic-Ratelimit-Requests-Remaining", "0",
			"Anthropic-Ratelimit-Requests-Reset", "2026-11-26T08:00:17Z")
		return canon, r, []string{"response: a 429 rate_limit_error with retry-after and anthropic-ratelimit-* headers, written from wire.md A.2"}, nil
	}
	return nil, response{}, nil, fmt.Errorf("deriveError: case %s", c.Name)
}

// deriveMidstream makes a stream that breaks after its first events: a real stream cut after
// its first text delta, then what each provider documents for a failure after HTTP 200.
func deriveMidstream(p string) (response, []string, error) {
	src := standIn(p, true)
	if p == "ollama" {
		src = "ollama/02-text-stream.json"
	}
	r, err := recordedResponse(src)
	if err != nil {
		return response{}, nil, err
	}
	if p == "ollama" {
		var out bytes.Buffer
		for _, ev := range relaytest.SplitSSE(r.body) {
			out.Write(ev)
			if bytes.Contains(ev, []byte("content_block_delta")) {
				break
			}
		}
		r.body = out.Bytes()
		return r, []string{"response: " + r.source + " (recorded live from Ollama v0.17.4 by this project) up to its first text delta, then nothing: wire.md B.7 says a failing Ollama stream just ends, without message_stop or an error event"}, nil
	}
	if p == "bedrock" {
		frames := relaytest.SplitFrames(r.body)
		if len(frames) < 3 {
			return response{}, nil, fmt.Errorf("%s: %d frames", src, len(frames))
		}
		var out bytes.Buffer
		for _, f := range frames[:3] {
			out.Write(f)
		}
		err := encodeFrame(eventstream.NewEncoder(), &out, "exception", []byte(`{"message":"The model stream was interrupted. Try your request again."}`),
			map[string]string{":exception-type": "modelStreamErrorException"})
		r.body = out.Bytes()
		return r, []string{"response: the first 3 frames of " + r.source + ", then an exception frame (:exception-type modelStreamErrorException), written from wire.md B.2"}, err
	}
	var out bytes.Buffer
	for _, ev := range relaytest.SplitSSE(r.body) {
		out.Write(ev)
		if bytes.Contains(ev, []byte("content_block_delta")) {
			break
		}
	}
	out.WriteString("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")
	r.body = out.Bytes()
	return r, []string{"response: " + r.source + " up to its first text delta, then an error event (overloaded_error) after HTTP 200, written from wire.md A.1"}, nil
}
