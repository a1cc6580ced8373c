package provider

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
)

// Test credentials of the fake upstream: the access key of the AWS SigV4 documentation
// examples and made-up secrets.
const (
	testAKID    = "AKIDEXAMPLE"
	testSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testAKID2   = "AKIDEXAMPLE2"
	testSecret2 = "second-secret-for-refreshed-credentials"
	testRegion  = "us-east-1"
	testBearer  = "ABSKtest-bedrock-api-key"
)

// received is one request seen by the fake upstream.
type received struct {
	RawPath string
	Signer  string // access key id, or "bearer"
	Body    []byte
	Header  http.Header
}

// fakeBedrock is a Bedrock runtime on loopback. It recomputes each request's SigV4 signature
// (or checks its Bedrock API key) and answers a bad one with 403 as Bedrock does; otherwise it
// replays a recorded response, writing event streams frame by frame with a flush after each.
type fakeBedrock struct {
	t    *testing.T
	srv  *httptest.Server
	keys map[string]sigv4Key

	mu    sync.Mutex
	reply *fixture
	got   []received
}

func newFakeBedrock(t *testing.T) *fakeBedrock {
	t.Helper()
	fb := &fakeBedrock{t: t, keys: map[string]sigv4Key{
		testAKID:  {secret: testSecret},
		testAKID2: {secret: testSecret2, token: "session-token-2"},
	}}
	fb.srv = httptest.NewServer(http.HandlerFunc(fb.serve))
	t.Cleanup(fb.srv.Close)
	return fb
}

func (fb *fakeBedrock) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	signer := "bearer"
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if tok != testBearer {
			w.Header().Set("X-Amzn-ErrorType", "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"message":"Invalid API Key format: Must start with pre-defined prefix"}`)
			return
		}
	} else {
		akid, err := verifySigV4(r, body, fb.keys, "bedrock", testRegion, time.Now())
		if err != nil {
			fb.t.Logf("fake bedrock: rejected signature: %v", err)
			w.Header().Set("X-Amzn-ErrorType", "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/")
			w.Header().Set("X-Amzn-Requestid", "00000000-0000-0000-0000-000000000403")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}`)
			return
		}
		signer = akid
	}
	rawPath, _, _ := strings.Cut(r.RequestURI, "?")
	fb.mu.Lock()
	fb.got = append(fb.got, received{RawPath: rawPath, Signer: signer, Body: body, Header: r.Header.Clone()})
	reply := fb.reply
	fb.mu.Unlock()
	if reply == nil {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(rawPath, "/count-tokens") {
			_, _ = io.WriteString(w, `{"inputTokens":42}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"msg_bdrk_test","type":"message","role":"assistant","content":[],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}`)
		return
	}
	for k, vs := range reply.Response.Headers {
		if http.CanonicalHeaderKey(k) == "Content-Length" || http.CanonicalHeaderKey(k) == "Connection" {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(*reply.Response.Status)
	wire := reply.wireBody(fb.t)
	if len(reply.Response.Frames) == 0 {
		_, _ = w.Write(wire)
		return
	}
	for _, frame := range splitFrames(wire) {
		_, _ = w.Write(frame)
		w.(http.Flusher).Flush()
	}
}

// last returns the last request the fake upstream accepted.
func (fb *fakeBedrock) last() received {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if len(fb.got) == 0 {
		fb.t.Fatal("fake bedrock received no authenticated request")
	}
	return fb.got[len(fb.got)-1]
}

// testBedrockConfig is a bedrock provider aimed at the fake upstream with explicit keys.
func (fb *fakeBedrock) config() config.Provider {
	return config.Provider{Name: "bedrock-test", Type: config.TypeBedrock, BaseURL: fb.srv.URL,
		AWSRegion: testRegion, AWSAccessKeyID: testAKID, AWSSecretAccessKey: testSecret}
}

// noEnv is an Env whose environment is empty, so that tests never see the real one.
func noEnv() Env { return Env{Getenv: func(string) string { return "" }} }

// newTestProvider builds a provider or fails the test.
func newTestProvider(t *testing.T, cfg config.Provider, env Env) *Provider {
	t.Helper()
	p, err := New(context.Background(), cfg, env)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// do runs one call through the provider: Request, Authenticate, the HTTP exchange, Response.
func do(t *testing.T, p *Provider, c *Call) *http.Response {
	t.Helper()
	ctx := context.Background()
	req, body, err := p.Adapter.Request(ctx, c)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	if err := p.Auth.Authenticate(ctx, req, body, c); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	resp, err = p.Adapter.Response(c, resp)
	if err != nil {
		t.Fatalf("Response: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// readAll reads a response body.
func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

// clientCall rebuilds, from a recorded Bedrock request, the Anthropic call a client would have
// made: model and stream back in the body, anthropic_version out, anthropic_beta as header.
// It returns the call and the Bedrock body the adapter must produce (the recorded one).
func clientCall(t *testing.T, f *fixture) (*Call, []byte) {
	t.Helper()
	u, err := url.Parse(f.Request.URL)
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := strings.CutPrefix(u.Path, "/model/")
	i := strings.LastIndexByte(rest, '/')
	model, action := rest[:i], rest[i+1:]
	c := &Call{Op: OpMessages, Model: model, Stream: action == "invoke-with-response-stream",
		Header: http.Header{"Anthropic-Version": {"2023-06-01"}}}
	bedrockBody := []byte(f.Request.Body)
	if action == "count-tokens" {
		c.Op = OpCountTokens
		inner, err := base64.StdEncoding.DecodeString(gjson.Get(f.Request.Body, "input.invokeModel.body").String())
		if err != nil {
			t.Fatal(err)
		}
		bedrockBody = inner
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(bedrockBody, &m); err != nil {
		t.Fatal(err)
	}
	if betas := gjson.GetBytes(bedrockBody, "anthropic_beta").Array(); len(betas) > 0 {
		var names []string
		for _, b := range betas {
			names = append(names, b.String())
		}
		c.Header.Set("Anthropic-Beta", strings.Join(names, ","))
	}
	delete(m, "anthropic_version")
	delete(m, "anthropic_beta")
	m["model"], _ = json.Marshal(model)
	if c.Stream {
		m["stream"] = json.RawMessage("true")
	}
	c.Body, _ = json.Marshal(m)
	return c, bedrockBody
}

// TestBedrockReplayRealTraffic sends the client form of every recorded Bedrock request through
// the adapter, SigV4 and the fake upstream, and checks the bytes Bedrock received (body edits,
// escaped path, signature) and what the client gets back from the recorded response.
func TestBedrockReplayRealTraffic(t *testing.T) {
	// Anthropic errors expected for the recorded error responses.
	wantErrors := map[string]struct {
		status int
		typ    string
		msg    string
	}{
		"bedrock/langchaingo/TestBedrockAnthropicToolCalling.0.json":       {403, apierr.Permission, "You don't have access to the model with the specified model ID."},
		"bedrock/langchaingo/TestBedrockAnthropicToolCalling.1.json":       {403, apierr.Permission, "You don't have access to the model with the specified model ID."},
		"bedrock/langchaingo/TestBedrockToolCallMultipleIterations.0.json": {403, apierr.Permission, "You don't have access to the model with the specified model ID."},
		"bedrock/langchaingo/TestBedrockWithTools.0.json":                  {403, apierr.Permission, "You don't have access to the model with the specified model ID."},
		"bedrock/pydantic-ai/test_anthropic_bedrock_count_tokens_error.0.json": {400, apierr.InvalidRequest,
			`bedrock count-tokens for model "anthropic.claude-sonnet-4-20250514-v1:0" in us-east-1 (CountTokens is available for some models and regions only): The provided model doesn't support counting tokens.`},
		"bedrock/pydantic-ai/test_anthropic_bedrock_count_tokens_rejects_server_tools.0.json": {400, apierr.InvalidRequest,
			`bedrock count-tokens for model "anthropic.claude-sonnet-4-20250514-v1:0" in us-east-1 (CountTokens is available for some models and regions only): tools.0: Input tag 'web_search_20250305' found using 'type' does not match any of the expected tags: 'bash_20250124', 'custom', 'text_editor_20250124', 'text_editor_20250429', 'text_editor_20250728'`},
	}
	fb := newFakeBedrock(t)
	p := newTestProvider(t, fb.config(), noEnv())
	n := 0
	for _, f := range loadFixtures(t, "bedrock/*/*.json") {
		if f.Request == nil || strings.Contains(f.Request.Body, `"converse"`) {
			continue // codec vectors; count-tokens of Converse bodies, which no Anthropic client sends
		}
		n++
		t.Run(f.name, func(t *testing.T) {
			c, wantBody := clientCall(t, f)
			fb.mu.Lock()
			fb.reply = f
			fb.mu.Unlock()
			resp := do(t, p, c)
			got := fb.last()

			if got.Signer != testAKID {
				t.Errorf("signed by %q, want %q", got.Signer, testAKID)
			}
			model := c.Model
			action := map[bool]string{false: "invoke", true: "invoke-with-response-stream"}[c.Stream]
			if c.Op == OpCountTokens {
				model, action = bedrockFoundationModel(model), "count-tokens"
			}
			if want := "/model/" + strings.ReplaceAll(url.PathEscape(model), ":", "%3A") + "/" + action; got.RawPath != want {
				t.Errorf("request path %q, want %q", got.RawPath, want)
			}
			sent := got.Body
			if c.Op == OpCountTokens {
				if sent, _ = base64.StdEncoding.DecodeString(gjson.GetBytes(got.Body, "input.invokeModel.body").String()); sent == nil {
					t.Fatalf("count-tokens body %s: want input.invokeModel.body", got.Body)
				}
			}
			if !jsonEqual(t, wantBody, sent) {
				t.Errorf("bedrock received body\n%s\nwant (recorded)\n%s", sent, wantBody)
			}
			if got.Header.Get("Anthropic-Beta") != "" || got.Header.Get("Anthropic-Version") != "" {
				t.Errorf("anthropic headers reached bedrock: %v", got.Header)
			}
			if len(c.Degraded) > 0 {
				t.Errorf("degraded %v, want nothing for a recorded Bedrock request", c.Degraded)
			}

			body := readAll(t, resp)
			if we, ok := wantErrors[f.name]; ok {
				want := apierr.Body(we.typ, we.msg, resp.Header.Get("X-Amzn-Requestid"))
				if resp.StatusCode != we.status || string(body) != string(want) {
					t.Errorf("got %d %s\nwant %d %s", resp.StatusCode, body, we.status, want)
				}
				return
			}
			if resp.StatusCode != *f.Response.Status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, *f.Response.Status, body)
			}
			switch {
			case c.Op == OpCountTokens:
				want := `{"input_tokens":` + gjson.Get(f.Response.Body, "inputTokens").Raw + `}`
				if string(body) != want {
					t.Errorf("count-tokens body %s, want %s", body, want)
				}
			case c.Stream:
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Errorf("content-type %q", ct)
				}
				if diff := cmp.Diff(decodedChunks(t, f), parseSSE(t, body)); diff != "" {
					t.Errorf("SSE (-want +got):\n%s", diff)
				}
			default:
				if !bytes.Equal(body, f.wireBody(t)) {
					t.Errorf("body changed:\n%s\nwant\n%s", body, f.wireBody(t))
				}
			}
		})
	}
	if n < 30 {
		t.Errorf("replayed %d recorded requests, want at least 30", n)
	}
}

// TestBedrockModelIDEscaping checks the request line and signature for model ids with ':' and
// ARNs with '/', with and without a base_url path prefix.
func TestBedrockModelIDEscaping(t *testing.T) {
	tests := []struct {
		prefix, model, op string
		stream            bool
		want              string
	}{
		{"", "anthropic.claude-3-haiku-20240307-v1:0", "m", false, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"},
		{"", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "m", true, "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"},
		{"", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6", "m", false,
			"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fa1b2c3d4e5f6/invoke"},
		{"", "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-opus-4-6-v1", "m", true,
			"/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Ainference-profile%2Feu.anthropic.claude-opus-4-6-v1/invoke-with-response-stream"},
		{"/vpce/runtime", "anthropic.claude-opus-4-6-v1", "m", false, "/vpce/runtime/model/anthropic.claude-opus-4-6-v1/invoke"},
		{"", "us.anthropic.claude-sonnet-4-20250514-v1:0", "c", false, "/model/anthropic.claude-sonnet-4-20250514-v1%3A0/count-tokens"},
		{"", "model with space+plus", "m", false, "/model/model%20with%20space+plus/invoke"},
	}
	fb := newFakeBedrock(t)
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			cfg := fb.config()
			cfg.BaseURL = fb.srv.URL + tt.prefix
			p := newTestProvider(t, cfg, noEnv())
			c := &Call{Op: OpMessages, Model: tt.model, Stream: tt.stream, Body: []byte(`{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)}
			if tt.op == "c" {
				c.Op = OpCountTokens
			}
			req, body, err := p.Adapter.Request(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Auth.Authenticate(context.Background(), req, body, c); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: the fake upstream rejected the request", resp.StatusCode)
			}
			if got := fb.last().RawPath; got != tt.want {
				t.Errorf("path %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBedrockWrongSignature checks that a request signed with a wrong secret is refused by the
// fake upstream (403, Bedrock-style body) and reaches the client as 401 authentication_error,
// and that a bad Bedrock API key does the same.
func TestBedrockWrongSignature(t *testing.T) {
	fb := newFakeBedrock(t)
	wrongSecret := fb.config()
	wrongSecret.AWSSecretAccessKey = "not-the-secret"
	wrongKey := fb.config()
	wrongKey.AWSAccessKeyID, wrongKey.AWSSecretAccessKey = "", ""
	wrongKey.AWSBearerToken = "ABSK-wrong"
	tests := []struct {
		name string
		cfg  config.Provider
		want string
	}{
		{"wrong secret", wrongSecret, string(apierr.Body(apierr.Authentication,
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
			"00000000-0000-0000-0000-000000000403"))},
		{"wrong api key", wrongKey, string(apierr.Body(apierr.Authentication, "Invalid API Key format: Must start with pre-defined prefix", ""))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProvider(t, tt.cfg, noEnv())
			resp := do(t, p, &Call{Op: OpMessages, Model: "anthropic.claude-3-haiku-20240307-v1:0", Body: []byte(`{"max_tokens":5,"messages":[]}`)})
			if body := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized || string(body) != tt.want {
				t.Errorf("got %d %s\nwant 401 %s", resp.StatusCode, body, tt.want)
			}
		})
	}
}

// TestBedrockSignsFinalBytes checks that the signature covers the edited body and headers:
// forwarded client headers are signed, the credentials come from the request's context, and the
// body the upstream verified is the one Request returned.
func TestBedrockSignsFinalBytes(t *testing.T) {
	fb := newFakeBedrock(t)
	p := newTestProvider(t, fb.config(), noEnv())
	c := &Call{Op: OpMessages, Model: "anthropic.claude-3-haiku-20240307-v1:0", Stream: false,
		Body: []byte(`{"model":"claude","stream":false,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`),
		Header: http.Header{
			"Anthropic-Beta":   {"claude-code-20250219, interleaved-thinking-2025-05-14"},
			"X-Stainless-Lang": {"js"},
			"User-Agent":       {"claude-cli/2.1.332 (external, sdk-cli)"},
			"X-Api-Key":        {"client-key-must-not-leak"},
		}}
	req, body, err := p.Adapter.Request(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Auth.Authenticate(context.Background(), req, body, c); err != nil {
		t.Fatal(err)
	}
	if auth := req.Header.Get("Authorization"); !strings.Contains(auth, "x-stainless-lang") {
		t.Errorf("forwarded header not signed: %s", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := fb.last()
	if string(got.Body) != string(body) {
		t.Errorf("upstream body %s, want %s", got.Body, body)
	}
	want := `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}],"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14"]}`
	if string(body) != want {
		t.Errorf("body %s\nwant %s", body, want)
	}
	if got.Header.Get("X-Api-Key") != "" {
		t.Error("client x-api-key reached bedrock")
	}
	if diff := cmp.Diff([]string{"anthropic_beta=stripped:1"}, c.Degraded); diff != "" {
		t.Errorf("degraded (-want +got):\n%s", diff)
	}
}
