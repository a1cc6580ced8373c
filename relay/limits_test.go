package relay_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
)

func TestMaxAttemptsBoundsFailover(t *testing.T) {
	fail := func() *relaytest.Upstream {
		return relaytest.NewUpstream(t, relaytest.Status(500, nil, `{"type":"error","error":{"type":"api_error","message":"boom"}}`))
	}
	a, b, c := fail(), fail(), fail()
	cfg := configWith(
		keyed(providerFor(config.TypeAnthropic, "a", a.URL), 3, "ka"),
		keyed(providerFor(config.TypeAnthropic, "b", b.URL), 2, "kb"),
		keyed(providerFor(config.TypeAnthropic, "c", c.URL), 1, "kc"),
	)
	cfg.Routing.MaxAttempts = 2
	base := startRelay(t, cfg)
	resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
	if resp.StatusCode != 500 || !strings.Contains(string(body), "boom") {
		t.Errorf("got %d %s, want the last upstream's own 500", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Ccrelay-Attempts") != "2" || len(c.Requests()) != 0 {
		t.Errorf("attempts %q, third provider asked %d times", resp.Header.Get("X-Ccrelay-Attempts"), len(c.Requests()))
	}
}

func TestKeysRejectedByTheProviderAreTakenOutOfRotation(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Status(401, nil, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`))
	p := providerFor(config.TypeAnthropic, "anthropic", up.URL)
	p.Keys = []config.Key{{Key: "revoked-1"}, {Key: "revoked-2"}}
	base := startRelay(t, configWith(p))
	// Both keys are tried; the client is told that the relay's keys were refused (a 401 would
	// tell it that its own credential is wrong).
	resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
	wantAnthropicError(t, resp, body, 502, "api_error", "anthropic (key 0): rejected its configured key 0 (401 invalid x-api-key)", "anthropic (key 1)")
	if len(up.Requests()) != 2 {
		t.Fatalf("upstream asked %d times, want once per key", len(up.Requests()))
	}
	// Then no key is left until the re-probe: the relay says so without asking the provider again.
	resp, body = post(t, base+"/v1/messages", []byte(okBody), nil)
	wantAnthropicError(t, resp, body, 502, "api_error", "rejected its configured keys", "next probe in")
	if len(up.Requests()) != 2 {
		t.Errorf("a disabled key was used again")
	}
}

func TestAResponseTheUpstreamBreaksOffIsA502(t *testing.T) {
	// Hand-made: the upstream announces 1000 bytes of JSON and closes after 20.
	up := relaytest.NewUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer hj.Close()
		fmt.Fprint(hj, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":\"msg_1\",\"type\"")
		hj.(*net.TCPConn).CloseWrite()
	}))
	base := startRelay(t, configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "k")))
	resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
	wantAnthropicError(t, resp, body, 502, "api_error", `"anthropic"`, "broke off")
}

func TestMaxWaitRetriesTheSameKeyAfterItsRetryAfter(t *testing.T) {
	ok := interaction(t, "ollama/01-text-nonstream.json")
	var n atomic.Int32
	up := relaytest.NewUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(ok.Response.Body)
	}))
	cfg := configWith(keyed(providerFor(config.TypeAnthropic, "anthropic", up.URL), 0, "only"))
	cfg.Routing.MaxWait = config.Duration(3 * time.Second)
	base := startRelay(t, cfg)
	start := time.Now()
	resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Attempts") != "2" {
		t.Fatalf("%d attempts %q: %s", resp.StatusCode, resp.Header.Get("X-Ccrelay-Attempts"), body)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("retried after %s, before the upstream's retry-after of 1s", d)
	}
}

func TestWithoutMaxWaitTheUpstreams429PassesThrough(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Status(429, http.Header{"Retry-After": {"1"}}, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`))
	base := startRelay(t, configWith(keyed(providerFor(config.TypeAnthropic, "anthropic", up.URL), 0, "only")))
	resp, _ := post(t, base+"/v1/messages", []byte(okBody), nil)
	if resp.StatusCode != 429 || len(up.Requests()) != 1 {
		t.Errorf("status %d, upstream asked %d times", resp.StatusCode, len(up.Requests()))
	}
}
