package provider

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/google/go-cmp/cmp"
)

// upstreamResponse builds a response as the transport would hand it over.
func upstreamResponse(status int, header http.Header, body []byte) *http.Response {
	header = header.Clone() // Response edits the header; test tables share theirs
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: header,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// errorCase is an upstream error and the Anthropic error the client must get.
type errorCase struct {
	name       string
	status     int
	header     http.Header
	body       []byte
	wantStatus int
	wantBody   string
	retryAfter string
}

// checkErrorCase runs an errorCase through an adapter's Response.
func checkErrorCase(t *testing.T, a Adapter, c *Call, tt errorCase) {
	t.Helper()
	resp, err := a.Response(c, upstreamResponse(tt.status, tt.header, tt.body))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	got := []string{http.StatusText(resp.StatusCode), string(body), resp.Header.Get("Retry-After"), resp.Header.Get("Content-Encoding")}
	want := []string{http.StatusText(tt.wantStatus), tt.wantBody, tt.retryAfter, ""}
	if resp.StatusCode != tt.wantStatus {
		t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("content length %d for %d bytes", resp.ContentLength, len(body))
	}
}

// TestBedrockErrorMapping checks the wire.md B.2 table: Bedrock's error type from
// X-Amzn-ErrorType (cut at ':') or __type, Bedrock's message kept, retry-after on throttling.
func TestBedrockErrorMapping(t *testing.T) {
	hdr := func(typ string) http.Header {
		return http.Header{"X-Amzn-Errortype": {typ + ":http://internal.amazon.com/coral/com.amazon.bedrock/"}, "X-Amzn-Requestid": {"rid-1"}}
	}
	body := func(typ, msg string) string { return string(apierr.Body(typ, msg, "rid-1")) }
	tests := []errorCase{
		{"ValidationException", 400, hdr("ValidationException"), []byte(`{"message":"messages: field required"}`), 400, body(apierr.InvalidRequest, "messages: field required"), ""},
		{"extraneous key", 400, hdr("ValidationException"), []byte(`{"message":"extraneous key [foo] is not permitted"}`), 400, body(apierr.InvalidRequest, "extraneous key [foo] is not permitted"), ""},
		{"ConflictException", 400, hdr("ConflictException"), []byte(`{"message":"conflict"}`), 400, body(apierr.InvalidRequest, "conflict"), ""},
		{"ServiceQuotaExceededException", 400, hdr("ServiceQuotaExceededException"), []byte(`{"message":"quota"}`), 429, body(apierr.RateLimit, "quota"), "5"},
		{"AccessDeniedException", 403, hdr("AccessDeniedException"), []byte(`{"message":"You don't have access to the model with the specified model ID."}`), 403, body(apierr.Permission, "You don't have access to the model with the specified model ID."), ""},
		{"UnrecognizedClientException", 403, hdr("UnrecognizedClientException"), []byte(`{"message":"The security token included in the request is invalid."}`), 401, body(apierr.Authentication, "The security token included in the request is invalid."), ""},
		{"InvalidSignatureException", 403, hdr("InvalidSignatureException"), []byte(`{"message":"Signature expired"}`), 401, body(apierr.Authentication, "Signature expired"), ""},
		{"ExpiredTokenException", 403, hdr("ExpiredTokenException"), []byte(`{"message":"The security token included in the request is expired"}`), 401, body(apierr.Authentication, "The security token included in the request is expired"), ""},
		{"ResourceNotFoundException", 404, hdr("ResourceNotFoundException"), []byte(`{"message":"Model not found"}`), 404, body(apierr.NotFound, "Model not found"), ""},
		{"ModelTimeoutException", 408, hdr("ModelTimeoutException"), []byte(`{"message":"timeout"}`), 504, body(apierr.Timeout, "timeout"), ""},
		{"ModelErrorException", 424, hdr("ModelErrorException"), []byte(`{"message":"model error"}`), 500, body(apierr.API, "model error"), ""},
		{"ModelStreamErrorException", 424, hdr("ModelStreamErrorException"), []byte(`{"message":"stream error"}`), 500, body(apierr.API, "stream error"), ""},
		{"ThrottlingException", 429, hdr("ThrottlingException"), []byte(`{"message":"Too many requests, please wait before trying again."}`), 429, body(apierr.RateLimit, "Too many requests, please wait before trying again."), "5"},
		{"ThrottlingException with retry-after", 429, http.Header{"X-Amzn-Errortype": {"ThrottlingException"}, "Retry-After": {"12"}}, []byte(`{"message":"slow"}`), 429, string(apierr.Body(apierr.RateLimit, "slow", "")), "12"},
		{"ModelNotReadyException", 429, hdr("ModelNotReadyException"), []byte(`{"message":"not ready"}`), 529, body(apierr.Overloaded, "not ready"), ""},
		{"InternalServerException", 500, hdr("InternalServerException"), []byte(`{"message":"internal"}`), 500, body(apierr.API, "internal"), ""},
		{"ServiceUnavailableException", 503, hdr("ServiceUnavailableException"), []byte(`{"message":"unavailable"}`), 529, body(apierr.Overloaded, "unavailable"), ""},
		{"__type in body", 400, nil, []byte(`{"__type":"com.amazon.coral.validate#ValidationException","message":"bad"}`), 400, string(apierr.Body(apierr.InvalidRequest, "bad", "")), ""},
		{"__type throttling in body", 400, nil, []byte(`{"__type":"ThrottlingException","message":"slow"}`), 429, string(apierr.Body(apierr.RateLimit, "slow", "")), "5"},
		{"API Gateway Message, no type", 403, nil, []byte(`{"Message":"Invalid API Key format: Must start with pre-defined prefix"}`), 401, string(apierr.Body(apierr.Authentication, "Invalid API Key format: Must start with pre-defined prefix", "")), ""},
		{"unknown 403", 403, nil, []byte(`{"message":"forbidden"}`), 403, string(apierr.Body(apierr.Permission, "forbidden", "")), ""},
		{"unknown 503", 503, nil, []byte(`upstream connect error`), 529, string(apierr.Body(apierr.Overloaded, "upstream connect error", "")), ""},
		{"empty body", 500, nil, nil, 500, string(apierr.Body(apierr.API, "Internal Server Error", "")), ""},
		{"gzip body", 400, http.Header{"Content-Encoding": {"gzip"}, "X-Amzn-Errortype": {"ValidationException"}}, gzipped(t, `{"message":"zipped"}`), 400, string(apierr.Body(apierr.InvalidRequest, "zipped", "")), ""},
		{"already Anthropic-shaped", 400, nil, []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"invalid beta flag"}}`), 400, `{"type":"error","error":{"type":"invalid_request_error","message":"invalid beta flag"}}`, ""},
	}
	b := &bedrock{region: "us-east-1"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrorCase(t, b, &Call{Op: OpMessages, Model: "m"}, tt)
		})
	}
}

// TestBedrockCountTokensResponse checks the count-tokens translation and its errors.
func TestBedrockCountTokensResponse(t *testing.T) {
	b := &bedrock{region: "eu-west-3"}
	c := &Call{Op: OpCountTokens, Model: "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"}
	tests := []errorCase{
		{"ok", 200, nil, []byte(`{"inputTokens": 18}`), 200, `{"input_tokens":18}`, ""},
		{"unexpected body", 200, nil, []byte(`{"tokens":1}`), 502, string(apierr.Body(apierr.API, `bedrock count-tokens: unexpected response: {"tokens":1}`, "")), ""},
		{"model rejected", 400, nil, []byte(`{"message":"The provided model identifier is invalid."}`), 400,
			string(apierr.Body(apierr.InvalidRequest, `bedrock count-tokens for model "anthropic.claude-sonnet-4-5-20250929-v1:0" in eu-west-3 (CountTokens is available for some models and regions only): The provided model identifier is invalid.`, "")), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrorCase(t, b, c, tt)
		})
	}
}

// TestBedrockFoundationModel checks the inference-profile prefixes stripped for count-tokens.
func TestBedrockFoundationModel(t *testing.T) {
	for in, want := range map[string]string{
		"us.anthropic.claude-sonnet-4-20250514-v1:0":                   "anthropic.claude-sonnet-4-20250514-v1:0",
		"global.anthropic.claude-opus-4-6-v1":                          "anthropic.claude-opus-4-6-v1",
		"us-gov.anthropic.claude-3-haiku-20240307-v1:0":                "anthropic.claude-3-haiku-20240307-v1:0",
		"anthropic.claude-opus-4-6-v1":                                 "anthropic.claude-opus-4-6-v1",
		"arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.x": "arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.x",
		"us.": "us.",
	} {
		if got := bedrockFoundationModel(in); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

// TestBedrockStreamResponseHeaders checks what Response does to a streaming 200.
func TestBedrockStreamResponseHeaders(t *testing.T) {
	b := &bedrock{region: "us-east-1"}
	resp, err := b.Response(&Call{Stream: true}, upstreamResponse(200, http.Header{
		"Content-Type": {"application/vnd.amazon.eventstream"}, "Content-Length": {"100"}, "X-Amzn-Requestid": {"r"},
	}, chunkFrame(t, `{"type":"message_stop"}`)))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"), resp.Header.Get("X-Amzn-Requestid")}
	if diff := cmp.Diff([]string{"text/event-stream", "", "r"}, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if resp.ContentLength != -1 {
		t.Errorf("content length %d, want -1", resp.ContentLength)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(string(body), "event: message_stop\ndata: ") {
		t.Errorf("body %q", body)
	}
}
