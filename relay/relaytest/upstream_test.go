package relaytest_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ccrelay/ccrelay/relay/relaytest"
)

func TestUpstreamListensOnLoopback(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Instant("{}"))
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Path != "" {
		t.Errorf("URL = %q, want http://127.0.0.1:PORT", up.URL)
	}
}

func TestRequestsCaptureBodyAndHeaders(t *testing.T) {
	// The handler must still see the whole body after the capture.
	var (
		mu   sync.Mutex
		seen []string
	)
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("handler read body: %v", err)
		}
		mu.Lock()
		seen = append(seen, string(b))
		mu.Unlock()
		w.Write(b)
	})
	up := relaytest.NewUpstream(t, echo)
	c := rawClient(t)

	before := time.Now()
	body := `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest("POST", up.URL+"/model/us.anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream?beta=true", strings.NewReader(body))
	req.Header.Set("X-Api-Key", "test-key")
	req.Header.Set("Anthropic-Beta", "a-2025-01-01")
	req.Header.Add("Anthropic-Beta", "b-2025-02-02")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	echoed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(echoed) != body {
		t.Errorf("handler echoed %q, want the request body", echoed)
	}
	if resp, err := c.Get(up.URL + "/v1/models"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	got := up.Requests()
	if len(got) != 2 {
		t.Fatalf("Requests() = %d entries, want 2", len(got))
	}
	for i, r := range got {
		if r.At.Before(before) || r.At.After(time.Now()) {
			t.Errorf("request %d At = %v, want between %v and now", i, r.At, before)
		}
	}
	want := []relaytest.Received{
		{
			Method:   "POST",
			Path:     "/model/us.anthropic.claude-3-haiku-20240307-v1:0/invoke-with-response-stream",
			RawPath:  "/model/us.anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream",
			RawQuery: "beta=true",
			Header: http.Header{
				"X-Api-Key":      {"test-key"},
				"Anthropic-Beta": {"a-2025-01-01", "b-2025-02-02"},
			},
			Body: []byte(body),
		},
		{Method: "GET", Path: "/v1/models", Body: []byte{}},
	}
	opts := cmp.Options{
		cmpopts.IgnoreFields(relaytest.Received{}, "At"),
		// Compare only the headers the test set; the transport adds others.
		cmp.Transformer("headers", func(h http.Header) http.Header {
			out := http.Header{}
			for _, k := range []string{"X-Api-Key", "Anthropic-Beta"} {
				if v := h.Values(k); v != nil {
					out[k] = v
				}
			}
			return out
		}),
	}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("Requests() (-want +got):\n%s", diff)
	}
	if got[0].Header.Get("User-Agent") == "" {
		t.Errorf("captured header lacks the transport's User-Agent: %v", got[0].Header)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{body, ""}, seen); diff != "" {
		t.Errorf("bodies seen by the handler (-want +got):\n%s", diff)
	}

	// The log is a copy: changing it does not change the Upstream's.
	got[0].Method = "CHANGED"
	if m := up.Requests()[0].Method; m != "POST" {
		t.Errorf("Requests()[0].Method = %q after editing a returned copy, want POST", m)
	}
}

func TestRefusedURL(t *testing.T) {
	u := relaytest.RefusedURL(t)
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Errorf("RefusedURL = %q, want http://127.0.0.1:PORT", u)
	}
	resp, err := rawClient(t).Get(u + "/v1/messages")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s succeeded, want connection refused", u)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GET %s error = %v, want ECONNREFUSED", u, err)
	}
}
