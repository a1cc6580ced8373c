package relay_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
)

// logBuffer is a goroutine-safe log sink the tests read.
type logBuffer struct{ relaytest.LogBuffer }

// lines returns the log lines that contain every fragment.
func (l *logBuffer) lines(fragments ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, f := range fragments {
			ok = ok && strings.Contains(line, f)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// fakeClock is a settable clock for relay.Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startRelayLog serves a relay whose log (debug level) the test reads; now may be nil.
func startRelayLog(t *testing.T, cfg *config.Config, now func() time.Time) (string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	r, err := relay.New(context.Background(), relay.Options{Config: cfg, Now: now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("relay log:\n%s", logs)
		}
	})
	return srv.URL, logs
}

// okMessage is a whole non-streamed answer.
const okMessage = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":8,"output_tokens":2}}`

// ollamaNotFound answers like a real Ollama asked for a model it does not have.
func ollamaNotFound(model string) http.Handler {
	return relaytest.Status(404, http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		`{"error":"model \"`+model+`\" not found, try pulling it first"}`)
}

func TestWhenEveryCandidateFailsTheClientSeesEachFailureInOrder(t *testing.T) {
	ollama := relaytest.NewUpstream(t, ollamaNotFound("claude-opus-5-5"))
	cfg := configWith(
		keyed(providerFor(config.TypeAnthropic, "anthropic", relaytest.RefusedURL(t)), 1, "sk-ant"),
		providerFor(config.TypeOllama, "ollama", ollama.URL),
	)
	base, logs := startRelayLog(t, cfg, nil)
	client := sdkClient(base)
	_, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-opus-5-5", MaxTokens: 16,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var apiErr *anthropic.Error
	if !asAPIError(err, &apiErr) {
		t.Fatalf("err = %v, want an API error", err)
	}
	// Status and type are the first candidate's (unreachable: 502 api_error), not the
	// fallback's 404, which would tell Claude Code that its model does not exist.
	body := []byte(apiErr.RawJSON())
	if apiErr.StatusCode != 502 || gjson.GetBytes(body, "error.type").Str != "api_error" {
		t.Fatalf("got %d %s, want 502 api_error", apiErr.StatusCode, body)
	}
	msg := gjson.GetBytes(body, "error.message").Str
	a := strings.Index(msg, "anthropic: unreachable at ")
	o := strings.Index(msg, `ollama: 404 model "claude-opus-5-5" not found`)
	if a < 0 || o < 0 || a > o || !strings.Contains(msg, "connection refused") {
		t.Errorf("message %q does not list anthropic's then ollama's failure", msg)
	}
	// Each failed attempt has a WARN line with the action taken, and the access line says why.
	if l := logs.lines("level=WARN", `msg="attempt failed"`, "provider=anthropic", "connection refused", `action="trying provider ollama"`); len(l) != 1 {
		t.Errorf("no WARN line for anthropic's attempt naming the next action:\n%s", logs)
	}
	if l := logs.lines("level=WARN", `msg="attempt failed"`, "provider=ollama", "status=404", "no candidate left"); len(l) != 1 {
		t.Errorf("no WARN line for ollama's attempt:\n%s", logs)
	}
	if l := logs.lines("msg=request", "model=claude-opus-5-5", "status=502", "attempts=2", `failed="anthropic=refused,ollama=404"`); len(l) != 1 {
		t.Errorf("the access line does not name the model, attempts and failures:\n%s", logs)
	}
	// Debug adds a line per attempt with the upstream URL.
	if l := logs.lines("level=DEBUG", "msg=attempt", "provider=ollama", "url="+ollama.URL+"/v1/messages", "status=404"); len(l) != 1 {
		t.Errorf("no debug line for the attempt on ollama:\n%s", logs)
	}
}

func TestAProviderThatDoesNotServeTheModelIsNotACandidate(t *testing.T) {
	zai := relaytest.NewUpstream(t, relaytest.Instant(`{}`))
	ollama := relaytest.NewUpstream(t, relaytest.Replay(interaction(t, "ollama/01-text-nonstream.json")))
	z := providerFor(config.TypeZAI, "zai", zai.URL, "k")
	z.ModelMapping = map[string]string{"claude-haiku-*": "glm-4.5-air"}
	o := providerFor(config.TypeOllama, "ollama", ollama.URL)
	o.ModelMapping = map[string]string{"claude-*": "scripted"}
	base, logs := startRelayLog(t, configWith(z, o), nil)
	resp, body := post(t, base+"/v1/messages", []byte(`{"model":"claude-opus-5-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`), nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != "ollama" || len(zai.Requests()) != 0 {
		t.Fatalf("got %d from %q (zai asked %d times): %s", resp.StatusCode, resp.Header.Get("X-Ccrelay-Provider"), len(zai.Requests()), body)
	}
	if m := gjson.GetBytes(ollama.Requests()[0].Body, "model").Str; m != "scripted" {
		t.Errorf("ollama was asked for %q, want the pattern's scripted", m)
	}
	if l := logs.lines("msg=request", "model=claude-opus-5-5", "upstream_model=scripted", "provider=ollama", "attempts=1"); len(l) != 1 {
		t.Errorf("the access line does not name the requested and upstream models:\n%s", logs)
	}
}

func TestARejectedConfiguredKeyFailsOverAndIsProbedAgainLater(t *testing.T) {
	var mu sync.Mutex
	accepted := map[string]bool{"good": true}
	check := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := accepted[r.Header.Get("X-Api-Key")]
		mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			w.Write([]byte(`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`))
			return
		}
		relaytest.Instant(okMessage).ServeHTTP(w, r)
	})
	primary := relaytest.NewUpstream(t, check)
	backup := relaytest.NewUpstream(t, check)
	clock := &fakeClock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	cfg := configWith(
		keyed(providerFor(config.TypeAnthropic, "primary", primary.URL), 2, "revoked-0", "revoked-1"),
		keyed(providerFor(config.TypeAnthropic, "backup", backup.URL), 1, "good"),
	)
	base, logs := startRelayLog(t, cfg, clock.Now)

	// Both of primary's keys are refused, then backup answers, in the same request.
	resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != "backup" || len(primary.Requests()) != 2 {
		t.Fatalf("got %d from %q, primary asked %d times: %s", resp.StatusCode, resp.Header.Get("X-Ccrelay-Provider"), len(primary.Requests()), body)
	}
	if l := logs.lines("level=WARN", "provider=primary", "key=0", "status=401", "out of rotation", `action="trying key 1 of primary"`); len(l) != 1 {
		t.Errorf("no WARN line for key 0's rejection:\n%s", logs)
	}
	// Within key_retry the rejected keys are not used again.
	post(t, base+"/v1/messages", []byte(okBody), nil)
	if n := len(primary.Requests()); n != 2 {
		t.Fatalf("a rejected key was used again within key_retry (primary asked %d times)", n)
	}
	// /v1/providers says until when.
	_, pb := get(t, base+"/v1/providers")
	if du := gjson.GetBytes(pb, `data.#(name=="primary").keys.0.disabled_until`).Str; du == "" {
		t.Errorf("/v1/providers shows no disabled_until: %s", pb)
	}
	// After key_retry (default 1m), one request probes each key; the fixed key is back.
	mu.Lock()
	accepted["revoked-1"] = true
	mu.Unlock()
	clock.Advance(61 * time.Second)
	resp, body = post(t, base+"/v1/messages", []byte(okBody), nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != "primary" {
		t.Fatalf("after key_retry: %d from %q: %s", resp.StatusCode, resp.Header.Get("X-Ccrelay-Provider"), body)
	}
}

func TestWhenEveryConfiguredKeyIsRejectedTheClientGetsA502NamingTheProvider(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Status(401, nil, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`))
	base, _ := startRelayLog(t, configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "revoked")), nil)
	for i, want := range [][]string{
		{`provider "anthropic" rejected its configured key 0 (401)`, "invalid x-api-key", "not about your own credential"},
		{`provider "anthropic" rejected its configured keys`, "routing.key_retry"},
	} {
		resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
		wantAnthropicError(t, resp, body, 502, "api_error", want...)
		if i == 1 && len(up.Requests()) != 1 {
			t.Errorf("the rejected key was used again (%d requests)", len(up.Requests()))
		}
	}
}

func TestASubscriptionTokenRefusedUpstreamReachesTheClientUnchanged(t *testing.T) {
	const refusal = `{"type":"error","error":{"type":"authentication_error","message":"OAuth token has expired"}}`
	up := relaytest.NewUpstream(t, relaytest.Status(401, http.Header{"Content-Type": {"application/json"}}, refusal))
	backup := relaytest.NewUpstream(t, relaytest.Instant(`{}`))
	a := providerFor(config.TypeAnthropic, "anthropic", up.URL)
	cfg := configWith(a, keyed(providerFor(config.TypeAnthropic, "backup", backup.URL), -1, "k"))
	cfg.Server.Auth.AllowSubscription = true
	base, _ := startRelayLog(t, cfg, nil)
	resp, body := post(t, base+"/v1/messages", []byte(okBody), map[string]string{"Authorization": "Bearer sk-ant-oat01-client"})
	if resp.StatusCode != 401 || string(body) != refusal || len(backup.Requests()) != 0 {
		t.Errorf("got %d %s (backup asked %d times), want the provider's own 401 unchanged", resp.StatusCode, body, len(backup.Requests()))
	}
}

func TestAnOpenCircuitSaysWhyAndWhenToRetry(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	var served atomic.Int32
	other := relaytest.NewUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) <= 2 {
			relaytest.Instant(okMessage).ServeHTTP(w, r)
			return
		}
		relaytest.Status(500, nil, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`).ServeHTTP(w, r)
	}))
	first := 2
	o := providerFor(config.TypeOllama, "ollama", relaytest.RefusedURL(t))
	o.Priority = &first
	cfg := configWith(o, keyed(providerFor(config.TypeAnthropic, "other", other.URL), 1, "k"))
	cfg.Routing.CircuitBreaker = config.CircuitBreaker{FailureThreshold: 2, Cooldown: config.Duration(30 * time.Second)}
	base, _ := startRelayLog(t, cfg, clock.Now)
	// Two requests: ollama is refused each time, other answers; ollama's circuit opens.
	for range 2 {
		resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	}
	clock.Advance(5 * time.Second)
	// Now other fails too: the answer says why ollama was skipped, for how long, and when to
	// come back.
	resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
	wantAnthropicError(t, resp, body, 503, "overloaded_error",
		`ollama: skipped for 25s after 2 consecutive failures; last: unreachable at http://127.0.0.1:`,
		"(connection refused). Is Ollama running?", "other: 500 Internal server error")
	if ra := resp.Header.Get("Retry-After"); ra != "25" {
		t.Errorf("retry-after = %q, want 25", ra)
	}
	// /v1/providers keeps the cause and says when the circuit lets a probe through.
	_, pb := get(t, base+"/v1/providers")
	p := gjson.GetBytes(pb, `data.#(name=="ollama")`)
	if !strings.Contains(p.Get("last_failure").Str, "connection refused") || p.Get("retry_at").Str == "" || p.Get("state").Str != "open" {
		t.Errorf("/v1/providers ollama = %s", p.Raw)
	}
}

// get sends a GET and returns the response with its whole body.
func get(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}
