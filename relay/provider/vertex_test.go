package provider

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
)

// fakeVertex is a Vertex AI endpoint on loopback that checks the bearer token and replays a
// recorded response, SSE event by event with a flush after each.
type fakeVertex struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	reply *fixture
	got   []received
}

func newFakeVertex(t *testing.T) *fakeVertex {
	t.Helper()
	fv := &fakeVertex{t: t}
	fv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ya29.test-")
		if !ok || tok == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `[{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}]`)
			return
		}
		rawPath, _, _ := strings.Cut(r.RequestURI, "?")
		fv.mu.Lock()
		fv.got = append(fv.got, received{RawPath: rawPath, Signer: "ya29.test-" + tok, Body: body, Header: r.Header.Clone()})
		reply := fv.reply
		fv.mu.Unlock()
		if reply == nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"input_tokens":7}`)
			return
		}
		for k, vs := range reply.Response.Headers {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(*reply.Response.Status)
		for _, ev := range strings.SplitAfter(reply.Response.Body, "\n\n") {
			_, _ = io.WriteString(w, ev)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(fv.srv.Close)
	return fv
}

func (fv *fakeVertex) last() received {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	if len(fv.got) == 0 {
		fv.t.Fatal("fake vertex received no authenticated request")
	}
	return fv.got[len(fv.got)-1]
}

// newTestVertex builds a vertex provider on the fake endpoint with a service-account ADC file
// whose tokens come from ft.
func newTestVertex(t *testing.T, fv *fakeVertex, ft *fakeGoogleToken, region string) *Provider {
	t.Helper()
	return newTestProvider(t, config.Provider{Name: "v", Type: config.TypeVertex, BaseURL: fv.srv.URL, GCPRegion: region},
		Env{Getenv: mapEnv(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": ft.serviceAccountFile(t)})})
}

// TestVertexReplayRealTraffic sends the client form of every recorded Vertex request through
// the adapter and the fake endpoint: the body Vertex receives must equal the recorded one
// (anthropic_version added, model gone), the path must match, the token must be fetched once
// for all requests, and the recorded response must reach the client unchanged.
func TestVertexReplayRealTraffic(t *testing.T) {
	fv, ft := newFakeVertex(t), newFakeGoogleToken(t, 3600)
	p := newTestVertex(t, fv, ft, "us-east5")
	for _, f := range loadFixtures(t, "vertex/*/*.json") {
		t.Run(f.name, func(t *testing.T) {
			u, _ := url.Parse(f.Request.URL)
			seg := u.Path[strings.LastIndexByte(u.Path, '/')+1:]
			model, method, _ := strings.Cut(seg, ":")
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(f.Request.Body), &m); err != nil {
				t.Fatal(err)
			}
			delete(m, "anthropic_version")
			m["model"], _ = json.Marshal(model)
			clientBody, _ := json.Marshal(m)
			c := &Call{Op: OpMessages, Model: model, Stream: method == "streamRawPredict", Body: clientBody,
				Header: http.Header{"Anthropic-Version": {"2023-06-01"}, "X-Api-Key": {"client-key"}}}
			fv.mu.Lock()
			fv.reply = f
			fv.mu.Unlock()
			resp := do(t, p, c)
			got := fv.last()
			if got.RawPath != u.EscapedPath() {
				t.Errorf("path %q, want %q", got.RawPath, u.EscapedPath())
			}
			if !jsonEqual(t, []byte(f.Request.Body), got.Body) {
				t.Errorf("vertex received\n%s\nwant (recorded)\n%s", got.Body, f.Request.Body)
			}
			if v := gjson.GetBytes(got.Body, "anthropic_version").String(); v != vertexAnthropicVersion || gjson.GetBytes(got.Body, "model").Exists() {
				t.Errorf("body edits: anthropic_version %q, model present %v", v, gjson.GetBytes(got.Body, "model").Exists())
			}
			if got.Header.Get("X-Api-Key") != "" {
				t.Error("client x-api-key reached vertex")
			}
			if body := readAll(t, resp); resp.StatusCode != 200 || string(body) != f.Response.Body {
				t.Errorf("response %d changed:\n%s", resp.StatusCode, body)
			}
		})
	}
	if ft.count() != 1 {
		t.Errorf("%d token fetches for all requests, want 1 (cached)", ft.count())
	}
}

// TestVertexTokenRefresh checks that an expired token is replaced between requests.
func TestVertexTokenRefresh(t *testing.T) {
	fv, ft := newFakeVertex(t), newFakeGoogleToken(t, 1)
	p := newTestVertex(t, fv, ft, "global")
	var seen []string
	for range 2 {
		resp := do(t, p, &Call{Op: OpCountTokens, Model: "claude-sonnet-4-5@20250929", Body: []byte(`{"model":"claude-sonnet-4-5@20250929","messages":[]}`)})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		seen = append(seen, fv.last().Signer)
	}
	if diff := cmp.Diff([]string{"ya29.test-1", "ya29.test-2"}, seen); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
}

// TestVertexRequests checks hosts, paths, count-tokens and the beta filtering.
func TestVertexRequests(t *testing.T) {
	tests := []struct {
		name, region, base string
		c                  *Call
		wantURL            string
		wantBody           string
		wantBeta           string
		degraded           []string
	}{
		{name: "regional streaming", region: "us-east5",
			c:        &Call{Op: OpMessages, Model: "claude-3-7-sonnet@20250219", Stream: true, Body: []byte(`{"model":"claude-3-7-sonnet@20250219","stream":true,"max_tokens":5,"messages":[]}`)},
			wantURL:  "https://us-east5-aiplatform.googleapis.com/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/claude-3-7-sonnet@20250219:streamRawPredict",
			wantBody: `{"stream":true,"max_tokens":5,"messages":[],"anthropic_version":"vertex-2023-10-16"}`},
		{name: "global", region: "global",
			c:        &Call{Op: OpMessages, Model: "claude-opus-4-6", Body: []byte(`{"model":"x","max_tokens":5,"messages":[]}`)},
			wantURL:  "https://aiplatform.googleapis.com/v1/projects/my-project/locations/global/publishers/anthropic/models/claude-opus-4-6:rawPredict",
			wantBody: `{"max_tokens":5,"messages":[],"anthropic_version":"vertex-2023-10-16"}`},
		{name: "us multi-region", region: "us",
			c:        &Call{Op: OpMessages, Model: "claude-opus-4-6", Body: []byte(`{"max_tokens":5,"messages":[]}`)},
			wantURL:  "https://aiplatform.us.rep.googleapis.com/v1/projects/my-project/locations/us/publishers/anthropic/models/claude-opus-4-6:rawPredict",
			wantBody: `{"max_tokens":5,"messages":[],"anthropic_version":"vertex-2023-10-16"}`},
		{name: "eu multi-region", region: "eu",
			c:        &Call{Op: OpMessages, Model: "claude-opus-4-6", Body: []byte(`{"max_tokens":5,"messages":[]}`)},
			wantURL:  "https://aiplatform.eu.rep.googleapis.com/v1/projects/my-project/locations/eu/publishers/anthropic/models/claude-opus-4-6:rawPredict",
			wantBody: `{"max_tokens":5,"messages":[],"anthropic_version":"vertex-2023-10-16"}`},
		{name: "count tokens keeps the model", region: "europe-west1",
			c:        &Call{Op: OpCountTokens, Model: "claude-sonnet-4-5@20250929", Body: []byte(`{"model":"claude-sonnet-4-5@20250929","messages":[]}`)},
			wantURL:  "https://europe-west1-aiplatform.googleapis.com/v1/projects/my-project/locations/europe-west1/publishers/anthropic/models/count-tokens:rawPredict",
			wantBody: `{"model":"claude-sonnet-4-5@20250929","messages":[],"anthropic_version":"vertex-2023-10-16"}`},
		{name: "base_url override with path", region: "us-east5", base: "http://127.0.0.1:9/proxy/",
			c:        &Call{Op: OpMessages, Model: "claude-opus-4-6", Body: []byte(`{"max_tokens":5,"messages":[]}`), Header: http.Header{"Anthropic-Beta": {"context-1m-2025-08-07,claude-code-20250219,advanced-tool-use-2025-11-20"}}},
			wantURL:  "http://127.0.0.1:9/proxy/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/claude-opus-4-6:rawPredict",
			wantBody: `{"max_tokens":5,"messages":[],"anthropic_version":"vertex-2023-10-16"}`,
			wantBeta: "context-1m-2025-08-07,tool-search-tool-2025-10-19",
			degraded: []string{"anthropic_beta=stripped:1"}},
		// The relay removes the keys Vertex does not accept before the adapter (features.Apply).
		{name: "other keys are not the adapter's to filter", region: "us-east5",
			c:        &Call{Op: OpMessages, Model: "claude-opus-4-6", Body: []byte(`{"max_tokens":5,"messages":[],"service_tier":"auto"}`)},
			wantURL:  "https://us-east5-aiplatform.googleapis.com/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/claude-opus-4-6:rawPredict",
			wantBody: `{"max_tokens":5,"messages":[],"service_tier":"auto","anthropic_version":"vertex-2023-10-16"}`},
	}
	ft := newFakeGoogleToken(t, 3600)
	sa := ft.serviceAccountFile(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProvider(t, config.Provider{Name: "v", Type: config.TypeVertex, GCPProjectID: "my-project", GCPRegion: tt.region, BaseURL: tt.base},
				Env{Getenv: mapEnv(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": sa})})
			req, body, err := p.Adapter.Request(context.Background(), tt.c)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{req.URL.String(), string(body), req.Header.Get("Anthropic-Beta")}
			if diff := cmp.Diff([]string{tt.wantURL, tt.wantBody, tt.wantBeta}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.degraded, tt.c.Degraded); diff != "" {
				t.Errorf("degraded (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVertexErrorMapping checks Google's error shapes (object, array, gzip) and passthrough of
// Anthropic-shaped errors.
func TestVertexErrorMapping(t *testing.T) {
	b := func(typ, msg string) string { return string(apierr.Body(typ, msg, "")) }
	ct := http.Header{"Content-Type": {"application/json"}}
	tests := []errorCase{
		{"array RESOURCE_EXHAUSTED", 429, ct, []byte(`[{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model","status":"RESOURCE_EXHAUSTED"}}]`),
			429, b(apierr.RateLimit, "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model"), "5"},
		{"gzip array", 429, http.Header{"Content-Encoding": {"gzip"}, "Retry-After": {"30"}}, gzipped(t, `[{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}]`),
			429, b(apierr.RateLimit, "slow down"), "30"},
		{"gzip without header", 400, nil, gzipped(t, `{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}`), 400, b(apierr.InvalidRequest, "bad"), ""},
		{"UNAUTHENTICATED", 401, ct, []byte(`{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`), 401, b(apierr.Authentication, "Request had invalid authentication credentials."), ""},
		{"PERMISSION_DENIED", 403, ct, []byte(`{"error":{"code":403,"message":"Permission 'aiplatform.endpoints.predict' denied","status":"PERMISSION_DENIED"}}`), 403, b(apierr.Permission, "Permission 'aiplatform.endpoints.predict' denied"), ""},
		{"NOT_FOUND", 404, ct, []byte(`{"error":{"code":404,"message":"Publisher Model not found.","status":"NOT_FOUND"}}`), 404, b(apierr.NotFound, "Publisher Model not found."), ""},
		{"FAILED_PRECONDITION", 400, ct, []byte(`{"error":{"code":400,"message":"Project not allowlisted","status":"FAILED_PRECONDITION"}}`), 400, b(apierr.InvalidRequest, "Project not allowlisted"), ""},
		{"UNAVAILABLE", 503, ct, []byte(`{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`), 529, b(apierr.Overloaded, "The service is currently unavailable."), ""},
		{"INTERNAL", 500, ct, []byte(`{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`), 500, b(apierr.API, "Internal error encountered."), ""},
		{"DEADLINE_EXCEEDED", 504, ct, []byte(`{"error":{"code":504,"message":"Deadline exceeded","status":"DEADLINE_EXCEEDED"}}`), 504, b(apierr.Timeout, "Deadline exceeded"), ""},
		{"unknown status, code used", 400, ct, []byte(`{"error":{"code":409,"message":"aborted","status":"ABORTED"}}`), 409, b(apierr.InvalidRequest, "aborted"), ""},
		{"plain text 503", 503, nil, []byte("upstream connect error"), 529, b(apierr.Overloaded, "upstream connect error"), ""},
		{"empty 502", 502, nil, nil, 502, b(apierr.API, "Bad Gateway"), ""},
		{"already Anthropic-shaped", 400, ct, []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"},"request_id":"req_vrtx_1"}`),
			400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"},"request_id":"req_vrtx_1"}`, ""},
		{"Anthropic-shaped overloaded", 529, ct, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`),
			529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, ""},
	}
	v := &vertex{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrorCase(t, v, &Call{Op: OpMessages}, tt)
		})
	}
}

// TestVertexConfigErrors checks the constructor's refusals and fallbacks.
func TestVertexConfigErrors(t *testing.T) {
	ft := newFakeGoogleToken(t, 3600)
	sa := ft.serviceAccountFile(t)
	for _, tt := range []struct {
		name string
		cfg  config.Provider
		env  map[string]string
		want string
	}{
		{"no region", config.Provider{Name: "v", Type: config.TypeVertex, GCPProjectID: "p"}, map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": sa}, `provider "v": vertex needs gcp_region`},
		{"bad region", config.Provider{Name: "v", Type: config.TypeVertex, GCPRegion: "x.evil", GCPProjectID: "p"}, nil, `provider "v": vertex: invalid gcp_region "x.evil"`},
		{"no project anywhere", config.Provider{Name: "v", Type: config.TypeVertex, GCPRegion: "us-east5"}, map[string]string{"CLOUDSDK_CONFIG": t.TempDir()}, `provider "v": vertex needs gcp_project_id`},
		{"project from the credentials", config.Provider{Name: "v", Type: config.TypeVertex}, map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": sa, "CLOUD_ML_REGION": "us-east5"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(context.Background(), tt.cfg, Env{Getenv: mapEnv(tt.env)})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if v := p.Adapter.(*vertex); v.project != "example-project" || v.region != "us-east5" {
					t.Errorf("project %q region %q", v.project, v.region)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
}
