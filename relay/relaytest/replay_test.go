package relaytest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ccrelay/ccrelay/relay/relaytest"
)

// rawClient returns a plain client that neither asks for nor decodes gzip on
// its own, so tests see the wire bytes.
func rawClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// do sends a request with an optional Accept-Encoding and returns the
// response with its body fully read.
func do(t *testing.T, c *http.Client, method, url, acceptEncoding string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, b
}

func TestReplayAnthropicSSEIdentical(t *testing.T) {
	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/anthropic-sdk-go/tool_runner_next_streaming.0.json"))
	up := relaytest.NewUpstream(t, relaytest.Replay(ix))

	resp, body := do(t, http.DefaultClient, "POST", up.URL+"/v1/messages?beta=true", "", strings.NewReader(ix.Request.Body))
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if diff := cmp.Diff(string(ix.Response.Body), string(body)); diff != "" {
		t.Errorf("replayed body differs from the recording (-want +got):\n%s", diff)
	}
	got := map[string]string{}
	for _, k := range []string{"Content-Type", "Request-Id", "Anthropic-Ratelimit-Tokens-Remaining", "Cf-Ray", "Date"} {
		got[k] = resp.Header.Get(k)
	}
	want := map[string]string{
		"Content-Type":                         "text/event-stream; charset=utf-8",
		"Request-Id":                           "req_011CUdgeEggCMUt3Y8mNfvTP",
		"Anthropic-Ratelimit-Tokens-Remaining": "279000",
		"Cf-Ray":                               "996c3946fe585e6a-EWR",
		"Date":                                 "Thu, 30 Oct 2025 16:17:36 GMT",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replayed headers (-want +got):\n%s", diff)
	}
	if resp.ContentLength != -1 || !cmp.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("ContentLength = %d, TransferEncoding = %v, want a chunked stream", resp.ContentLength, resp.TransferEncoding)
	}
}

// TestReplayEveryFixture replays every recorded interaction twice, once
// accepting gzip and once not, and checks status, headers and body bytes.
func TestReplayEveryFixture(t *testing.T) {
	c := rawClient(t)
	for _, rel := range fixtureFiles(t, ".") {
		ix := relaytest.MustLoad(t, relaytest.Fixture(t, rel))
		wantStatus := ix.Response.Status
		if wantStatus == 0 {
			wantStatus = 200
		}
		gzipped := ix.Response.Decoded != nil
		for _, ae := range []string{"", "gzip, deflate"} {
			up := relaytest.NewUpstream(t, relaytest.Replay(ix))
			resp, body := do(t, c, "POST", up.URL+"/x", ae, nil)
			if resp.StatusCode != wantStatus {
				t.Errorf("%s (Accept-Encoding %q): status = %d, want %d", rel, ae, resp.StatusCode, wantStatus)
			}
			wantBody := ix.Response.Body
			if gzipped && ae == "" {
				wantBody = ix.Response.Decoded
			}
			if !bytes.Equal(body, wantBody) {
				t.Errorf("%s (Accept-Encoding %q): body differs: got %d bytes, want %d", rel, ae, len(body), len(wantBody))
			}
			for k, vs := range ix.Response.Headers {
				switch strings.ToLower(k) {
				case "content-length", "transfer-encoding":
					continue
				case "content-encoding":
					if gzipped && ae == "" {
						if got := resp.Header.Values(k); got != nil {
							t.Errorf("%s: Content-Encoding = %q on an identity answer", rel, got)
						}
						continue
					}
				}
				if diff := cmp.Diff(vs, resp.Header.Values(k)); diff != "" {
					t.Errorf("%s (Accept-Encoding %q): header %s (-want +got):\n%s", rel, ae, k, diff)
				}
			}
		}
	}
}

func TestReplayGzipNegotiation(t *testing.T) {
	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/llm-anthropic/test_schema_prompt.0.json"))
	tests := []struct {
		acceptEncoding string
		wantGzip       bool
	}{
		{"gzip, deflate", true},
		{"gzip", true},
		{"br;q=1.0, gzip;q=0.5", true},
		{"*", true},
		{"", false},
		{"identity", false},
		{"br", false},
		{"gzip;q=0", false},
		{"gzip;q=0, *", false},
		{"*;q=0", false},
	}
	c := rawClient(t)
	for _, tc := range tests {
		t.Run(tc.acceptEncoding, func(t *testing.T) {
			up := relaytest.NewUpstream(t, relaytest.Replay(ix))
			resp, body := do(t, c, "POST", up.URL+"/v1/messages", tc.acceptEncoding, nil)
			ce := resp.Header.Get("Content-Encoding")
			if tc.wantGzip {
				if ce != "gzip" || !bytes.Equal(body, ix.Response.Body) {
					t.Fatalf("Content-Encoding = %q, body %d bytes; want gzip and the %d recorded wire bytes", ce, len(body), len(ix.Response.Body))
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				plain, err := io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
				body = plain
			} else if ce != "" {
				t.Fatalf("Content-Encoding = %q, want none", ce)
			}
			if diff := cmp.Diff(string(ix.Response.Decoded), string(body)); diff != "" {
				t.Errorf("decoded body (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("go default transport decodes transparently", func(t *testing.T) {
		up := relaytest.NewUpstream(t, relaytest.Replay(ix))
		resp, body := do(t, http.DefaultClient, "POST", up.URL+"/v1/messages", "", nil)
		if !resp.Uncompressed || !bytes.Equal(body, ix.Response.Decoded) {
			t.Errorf("Uncompressed = %v, body %d bytes; want true and the %d decoded bytes", resp.Uncompressed, len(body), len(ix.Response.Decoded))
		}
	})
}

// TestReplayFlushesPerEvent reads events one by one as they arrive and
// checks that a 50 ms EventDelay separates them, for SSE, event-stream and
// hand-made SSE.
func TestReplayFlushesPerEvent(t *testing.T) {
	const delay, minGap, checked = 50 * time.Millisecond, 40 * time.Millisecond, 5
	sse := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/fantasy/claude-sonnet-4.simple_streaming.0.json"))
	bedrock := relaytest.MustLoad(t, relaytest.Fixture(t, "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.simple_streaming.0.json"))
	// Hand-made edge case: tiny events that a buffering writer would merge.
	handMade := []string{"event: ping\ndata: {}\n\n", "data: 1\n\n", "data: 2\n\n", "data: 3\n\n", "data: 4\n\n", "data: 5\n\n"}
	tests := []struct {
		name   string
		h      http.Handler
		events [][]byte
	}{
		{"anthropic sse", relaytest.ReplayWith(relaytest.ReplayOptions{EventDelay: delay}, sse), sse.Events()},
		{"bedrock event-stream", relaytest.ReplayWith(relaytest.ReplayOptions{EventDelay: delay}, bedrock), bedrock.Events()},
		{"hand-made sse", relaytest.SSE(handMade, delay), toBytes(handMade)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.events) < checked {
				t.Fatalf("fixture has %d events, want at least %d", len(tc.events), checked)
			}
			up := relaytest.NewUpstream(t, tc.h)
			resp, err := rawClient(t).Post(up.URL+"/v1/messages", "application/json", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var arrived []time.Time
			for i, want := range tc.events[:checked] {
				got := make([]byte, len(want))
				if _, err := io.ReadFull(resp.Body, got); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				arrived = append(arrived, time.Now())
				if !bytes.Equal(got, want) {
					t.Fatalf("event %d = %q, want %q", i, got, want)
				}
			}
			// Event i cannot arrive before i delays after event 0 unless events were held back and
			// sent together. Comparing with event 0 rather than with the previous event keeps the
			// test honest on a loaded machine, where one late read shortens the next gap.
			for i := 1; i < len(arrived); i++ {
				if since := arrived[i].Sub(arrived[0]); since < time.Duration(i)*minGap {
					t.Errorf("event %d arrived %v after event 0, want at least %v", i, since, time.Duration(i)*minGap)
				}
			}
		})
	}
}

func TestReplayHeaderDelay(t *testing.T) {
	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/fantasy/claude-sonnet-4.simple.0.json"))
	up := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{HeaderDelay: 80 * time.Millisecond}, ix))
	start := time.Now()
	resp, body := do(t, rawClient(t), "POST", up.URL+"/v1/messages", "", nil)
	if el := time.Since(start); el < 70*time.Millisecond {
		t.Errorf("answer after %v, want at least 70ms", el)
	}
	if resp.ContentLength != int64(len(ix.Response.Body)) || !bytes.Equal(body, ix.Response.Body) {
		t.Errorf("ContentLength = %d, body %d bytes; want %d", resp.ContentLength, len(body), len(ix.Response.Body))
	}
}

func TestReplayOrderExhaustionAndLoop(t *testing.T) {
	a := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/pydantic-ai/test_anthropic_count_tokens_error.0.json"))
	b := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/fantasy/claude-sonnet-4.simple.0.json"))
	c := rawClient(t)
	statuses := func(h http.Handler, n int) ([]int, string) {
		up := relaytest.NewUpstream(t, h)
		var got []int
		var last []byte
		for range n {
			resp, body := do(t, c, "POST", up.URL+"/v1/messages", "", nil)
			got = append(got, resp.StatusCode)
			last = body
		}
		return got, string(last)
	}

	got, msg := statuses(relaytest.Replay(a, b), 3)
	if diff := cmp.Diff([]int{a.Response.Status, 200, 500}, got); diff != "" {
		t.Errorf("Replay statuses (-want +got):\n%s", diff)
	}
	if !strings.Contains(msg, "relaytest: replay: request 3 (POST /v1/messages)") || !strings.Contains(msg, "2 given") {
		t.Errorf("exhausted replay body = %q, want it to name request 3 and the 2 interactions", msg)
	}

	got, _ = statuses(relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, a, b), 5)
	if diff := cmp.Diff([]int{a.Response.Status, 200, a.Response.Status, 200, a.Response.Status}, got); diff != "" {
		t.Errorf("looping Replay statuses (-want +got):\n%s", diff)
	}

	got, _ = statuses(relaytest.Replay(), 1)
	if diff := cmp.Diff([]int{500}, got); diff != "" {
		t.Errorf("empty Replay statuses (-want +got):\n%s", diff)
	}
}

func TestDropAfter(t *testing.T) {
	tests := []struct {
		rel string
		n   int
	}{
		{"anthropic/fantasy/claude-sonnet-4.simple_streaming.0.json", 3},
		{"anthropic/fantasy/claude-sonnet-4.simple_streaming.0.json", 0},
		{"anthropic/llm-anthropic/test_schema_prompt.0.json", 2}, // gzip recording, served plain
		{"bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.simple_streaming.0.json", 2},
		{"ollama/02-text-stream.json", 4},
	}
	for _, tc := range tests {
		t.Run(tc.rel, func(t *testing.T) {
			ix := relaytest.MustLoad(t, relaytest.Fixture(t, tc.rel))
			up := relaytest.NewUpstream(t, relaytest.DropAfter(ix, tc.n))
			req, _ := http.NewRequest("POST", up.URL+"/v1/messages", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := rawClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("read error = %v, want unexpected EOF", err)
			}
			want := bytes.Join(ix.Events()[:tc.n], nil)
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("bytes before the drop (-want +got):\n%s", diff)
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != "" {
				t.Errorf("Content-Encoding = %q, want none", ce)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	body := `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`
	h := relaytest.Status(429, http.Header{"Retry-After": {"7"}, "Request-Id": {"req_test"}}, body)
	up := relaytest.NewUpstream(t, h)
	for range 2 { // a fixed answer: the same every time
		resp, got := do(t, rawClient(t), "POST", up.URL+"/v1/messages", "", nil)
		type answer struct {
			Status                          int
			RetryAfter, RequestID, CT, Body string
		}
		want := answer{429, "7", "req_test", "application/json", body}
		gotA := answer{resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Request-Id"), resp.Header.Get("Content-Type"), string(got)}
		if diff := cmp.Diff(want, gotA); diff != "" {
			t.Errorf("Status answer (-want +got):\n%s", diff)
		}
	}

	up = relaytest.NewUpstream(t, relaytest.Status(503, nil, ""))
	resp, got := do(t, rawClient(t), "GET", up.URL, "", nil)
	if resp.StatusCode != 503 || len(got) != 0 {
		t.Errorf("Status(503, nil, \"\") = %d with %d body bytes, want 503 and none", resp.StatusCode, len(got))
	}
}

func TestHangReturnsWhenClientCancels(t *testing.T) {
	returned := make(chan struct{})
	up := relaytest.NewUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(returned)
		relaytest.Hang().ServeHTTP(w, r)
	}))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", up.URL+"/v1/messages", nil)
	start := time.Now()
	_, err := rawClient(t).Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do error = %v, want context deadline exceeded", err)
	}
	if el := time.Since(start); el < 90*time.Millisecond {
		t.Errorf("request ended after %v, want the handler to hang until the 100ms deadline", el)
	}
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Hang handler still running 5s after the client cancelled")
	}
}

func TestHangEndsOnUpstreamClose(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Hang())
	c := rawClient(t)
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Post(up.URL, "application/json", nil)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for len(up.Requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { up.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Upstream.Close blocked on a hanging request")
	}
	if err := <-errc; err == nil {
		t.Error("request to a closed hanging upstream succeeded, want an error")
	}
}

func TestSlowHeaders(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.SlowHeaders(150*time.Millisecond, relaytest.Instant(`{"ok":true}`)))

	impatient := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 30 * time.Millisecond}}
	if _, err := impatient.Get(up.URL); err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Errorf("GET with a 30ms header timeout: error = %v, want a response header timeout", err)
	}

	start := time.Now()
	resp, body := do(t, rawClient(t), "GET", up.URL, "", nil)
	if el := time.Since(start); el < 140*time.Millisecond || resp.StatusCode != 200 || string(body) != `{"ok":true}` {
		t.Errorf("after %v: %d %q, want 200 {\"ok\":true} after at least 140ms", el, resp.StatusCode, body)
	}
}

// TestInstantThousandSequential runs the load-test shape: 1,000 sequential
// streams over one kept-alive connection.
func TestInstantThousandSequential(t *testing.T) {
	stream := "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	up := relaytest.NewUpstream(t, relaytest.Instant(stream))
	c := rawClient(t)
	for i := range 1000 {
		resp, body := do(t, c, "POST", up.URL+"/v1/messages", "", nil)
		if resp.StatusCode != 200 || string(body) != stream || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("request %d: %d %q %q", i, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	if n := len(up.Requests()); n != 1000 {
		t.Errorf("upstream saw %d requests, want 1000", n)
	}

	up = relaytest.NewUpstream(t, relaytest.Instant(`{"input_tokens":3}`))
	resp, _ := do(t, c, "POST", up.URL+"/v1/messages/count_tokens", "", nil)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Instant JSON Content-Type = %q, want application/json", ct)
	}
}

func toBytes(ss []string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		out = append(out, []byte(s))
	}
	return out
}
