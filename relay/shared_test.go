package relay_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
)

// The tests of this file run three relays on one real Redis (relaytest.StartRedis), as a team
// would behind a load balancer, and send requests to them in turn. The relays' timeout for a
// Redis call is 500 ms rather than the default 50 ms: the tests share a loaded machine, and
// their outages are a stopped server, which refuses connections at once.

// sharedRelays starts n relays, each built from its own cfg() with server.state.redis on url
// and expected_instances n, each served on 127.0.0.1, and returns their base URLs.
func sharedRelays(t *testing.T, url string, n int, logs io.Writer, cfg func() *config.Config) []string {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	bases := make([]string, n)
	for i := range n {
		c := cfg()
		instances := n
		c.Server.State.Redis = &config.RedisState{URL: url, ExpectedInstances: &instances, Timeout: config.Duration(500 * time.Millisecond)}
		c.ApplyDefaults()
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		r, err := relay.New(context.Background(), relay.Options{Config: c, Logger: logger})
		if err != nil {
			t.Fatalf("relay.New: %v", err)
		}
		t.Cleanup(func() { r.Close() })
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		bases[i] = srv.URL
	}
	return bases
}

// send posts okBody to base with header, and returns the status, the response and its body.
func send(t *testing.T, base string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	return post(t, base+"/v1/messages", []byte(okBody), header)
}

// wantRateLimited asserts the relay's own 429: an Anthropic rate_limit_error with a retry-after
// of 1 to max seconds.
func wantRateLimited(t *testing.T, resp *http.Response, body []byte, max int, fragments ...string) {
	t.Helper()
	wantAnthropicError(t, resp, body, http.StatusTooManyRequests, "rate_limit_error", fragments...)
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > max {
		t.Errorf("retry-after = %q, want 1 to %d seconds", resp.Header.Get("Retry-After"), max)
	}
}

func TestSharedRPMLimitHoldsAcrossThreeRelays(t *testing.T) {
	srv := relaytest.StartRedis(t)
	up := relaytest.NewUpstream(t, relaytest.Instant(okMessage))
	const secret = "sk-ant-shared-secret-0001"
	bases := sharedRelays(t, srv.URL, 3, nil, func() *config.Config {
		p := providerFor(config.TypeAnthropic, "anthropic", up.URL)
		p.Keys = []config.Key{{Key: secret, RPMLimit: 30}}
		return configWith(p)
	})
	start := time.Now()
	served := make([]int, 3)
	refused := 0
	for i := range 60 {
		c := sdkClient(bases[i%3])
		_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{}, rawBody(okBody))
		var apiErr *anthropic.Error
		switch {
		case err == nil:
			served[i%3]++
		case asAPIError(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests:
			refused++
			if typ := gjson.Get(apiErr.RawJSON(), "error.type").Str; typ != "rate_limit_error" {
				t.Errorf("429 of type %q: %s", typ, apiErr.RawJSON())
			}
			if apiErr.Response.Header.Get("Retry-After") == "" {
				t.Errorf("429 without retry-after")
			}
		default:
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// GCRA: a burst of 30, then one more every 2 s.
	allowance := 30 + int(time.Since(start)/(2*time.Second))
	total := served[0] + served[1] + served[2]
	if n := len(up.Requests()); n != total || total < 30 || total > allowance {
		t.Fatalf("the relays served %v (%d in all, the upstream saw %d), want 30 in all (at most %d with the refill): one limit across the relays, not one each",
			served, total, n, allowance)
	}
	if served[0] == 0 || served[1] == 0 || served[2] == 0 {
		t.Errorf("served %v: every relay should have served some", served)
	}
	// The keys in Redis carry the prefix and a hash tag, and never the upstream key.
	keys, err := srv.Do("KEYS", "*")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(keys, "ccrelay:{rate:anthropic:") || !strings.Contains(keys, ":rpm}") {
		t.Errorf("KEYS * = %q, want ccrelay:{rate:anthropic:KEYID:rpm}", keys)
	}
	if strings.Contains(keys, secret) || strings.Contains(keys, "shared-secret") {
		t.Errorf("a key name holds the upstream key: %q", keys)
	}
}

func TestSharedCooldownLearnedThroughOneRelayHoldsOnTheOthers(t *testing.T) {
	srv := relaytest.StartRedis(t)
	var calls atomic.Int32
	up := relaytest.NewUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "30")
			relaytest.Status(429, nil, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`).ServeHTTP(w, r)
			return
		}
		relaytest.Instant(okMessage).ServeHTTP(w, r)
	}))
	bases := sharedRelays(t, srv.URL, 3, nil, func() *config.Config {
		return configWith(providerFor(config.TypeAnthropic, "anthropic", up.URL, "sk-only-key"))
	})
	// Relay 1 meets the 429: the client gets the provider's answer.
	resp, body := send(t, bases[0], nil)
	wantAnthropicError(t, resp, body, http.StatusTooManyRequests, "rate_limit_error", "slow down")
	// Relays 2 and 3 have never seen the key fail; they honour the cooldown without asking.
	for _, base := range bases[1:] {
		resp, body := send(t, base, nil)
		wantRateLimited(t, resp, body, 30, "cooling down")
	}
	if n := len(up.Requests()); n != 1 {
		t.Fatalf("the upstream was asked %d times, want once: the cooldown did not hold on the other relays", n)
	}
}

func TestSharedCircuitOpenedByOneRelayIsOpenOnTheOthers(t *testing.T) {
	srv := relaytest.StartRedis(t)
	bad := relaytest.NewUpstream(t, relaytest.Status(500, nil, `{"type":"error","error":{"type":"api_error","message":"boom"}}`))
	good := relaytest.NewUpstream(t, relaytest.Instant(okMessage))
	bases := sharedRelays(t, srv.URL, 3, nil, func() *config.Config {
		cfg := configWith(
			keyed(providerFor(config.TypeAnthropic, "primary", bad.URL), 2, "sk-primary"),
			keyed(providerFor(config.TypeAnthropic, "backup", good.URL), 1, "sk-backup"),
		)
		cfg.Routing.CircuitBreaker.FailureThreshold = 2
		cfg.Routing.CircuitBreaker.Cooldown = config.Duration(time.Minute)
		cfg.Routing.Debug = true
		return cfg
	})
	// Relay 2 fails over twice, which opens primary's circuit.
	for range 2 {
		resp, body := send(t, bases[1], nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != "backup" {
			t.Fatalf("through relay 2: %d from %q: %s", resp.StatusCode, resp.Header.Get("X-Ccrelay-Provider"), body)
		}
	}
	if n := len(bad.Requests()); n != 2 {
		t.Fatalf("primary asked %d times, want 2", n)
	}
	// Relays 3 and 1 skip primary without asking it.
	for _, base := range []string{bases[2], bases[0]} {
		resp, body := send(t, base, nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != "backup" {
			t.Fatalf("%d from %q: %s", resp.StatusCode, resp.Header.Get("X-Ccrelay-Provider"), body)
		}
		if a := resp.Header.Get("X-Ccrelay-Attempts"); !strings.Contains(a, "primary=circuit_open") {
			t.Errorf("x-ccrelay-attempts = %q, want primary=circuit_open", a)
		}
	}
	if n := len(bad.Requests()); n != 2 {
		t.Fatalf("primary asked %d times, want still 2: its circuit is not open on the other relays", n)
	}
	// And a relay that learned it says so in /v1/providers.
	_, raw := getWith(t, bases[2]+"/v1/providers", nil)
	if st := gjson.Get(raw, `data.#(name=="primary").state`).Str; st != "open" {
		t.Errorf("relay 3's /v1/providers shows primary's circuit %q, want open: %s", st, raw)
	}
}

func TestSharedSessionStaysOnItsProviderThroughEveryRelay(t *testing.T) {
	srv := relaytest.StartRedis(t)
	a := relaytest.NewUpstream(t, relaytest.Instant(okMessage))
	b := relaytest.NewUpstream(t, relaytest.Instant(okMessage))
	bases := sharedRelays(t, srv.URL, 3, nil, func() *config.Config {
		cfg := configWith(providerFor(config.TypeAnthropic, "a", a.URL, "sk-a"), providerFor(config.TypeAnthropic, "b", b.URL, "sk-b"))
		cfg.Routing.Strategy = config.StrategyRoundRobin
		return cfg
	})
	// Relays 2 and 3 serve a request without a session first: round robin sends it to a, so
	// that their next pick, left to itself, would be b.
	for _, base := range bases[1:] {
		if resp, _ := send(t, base, nil); resp.Header.Get("X-Ccrelay-Provider") != "a" {
			t.Fatalf("the first request went to %q, want a", resp.Header.Get("X-Ccrelay-Provider"))
		}
	}
	const session = "0b6c3d1e-5f0a-4c61-9a1e-2d3c4b5a6978"
	h := map[string]string{"X-Claude-Code-Session-Id": session}
	for i, base := range []string{bases[0], bases[1], bases[2], bases[2]} {
		resp, body := send(t, base, h)
		if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != "a" {
			t.Fatalf("request %d of the session: %d from %q, want a, where it started: %s", i, resp.StatusCode, resp.Header.Get("X-Ccrelay-Provider"), body)
		}
	}
	keys, _ := srv.Do("KEYS", "ccrelay:{session:*")
	if !strings.Contains(keys, "ccrelay:{session:") || strings.Contains(keys, session) {
		t.Errorf("KEYS = %q, want the session under a digest of its id", keys)
	}
}

// healthOf reads /health.
func healthOf(t *testing.T, base string) (int, gjson.Result) {
	t.Helper()
	status, raw := getWith(t, base+"/health", nil)
	return status, gjson.Parse(raw)
}

func TestSharedStateOutageKeepsServingWithinTheLocalShare(t *testing.T) {
	srv := relaytest.StartRedis(t)
	up := relaytest.NewUpstream(t, relaytest.Instant(okMessage))
	logs := &logBuffer{} // the relays share one sink
	bases := sharedRelays(t, srv.URL, 3, logs, func() *config.Config {
		p := providerFor(config.TypeAnthropic, "anthropic", up.URL)
		p.Keys = []config.Key{{Key: "sk-ant-limited", RPMLimit: 30}}
		return configWith(p)
	})
	// round sends n requests in turn and returns how many each relay served; nothing but a
	// 200 or the relay's own 429 may come back.
	round := func(n int) []int {
		t.Helper()
		served := make([]int, 3)
		for i := range n {
			resp, body := send(t, bases[i%3], nil)
			switch resp.StatusCode {
			case 200:
				served[i%3]++
			case 429:
				wantRateLimited(t, resp, body, 60, "rate limited")
			default:
				t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
			}
		}
		return served
	}
	if got := round(6); got[0]+got[1]+got[2] != 6 {
		t.Fatalf("before the outage: served %v", got)
	}
	for _, base := range bases {
		if status, h := healthOf(t, base); status != 200 || h.Get("status").Str != "ok" || !h.Get("shared_state.reachable").Bool() {
			t.Fatalf("/health before the outage: %d %s", status, h.Raw)
		}
	}

	srv.Stop()
	// /health asks Redis, and says at once that the relays serve on local state.
	for _, base := range bases {
		status, h := healthOf(t, base)
		if status != 200 || h.Get("status").Str != "degraded" || h.Get("degraded").Str != "shared state unreachable" ||
			h.Get("shared_state.reachable").Bool() || h.Get("shared_state.share").Float() != 1.0/3 {
			t.Errorf("/health during the outage: %d %s", status, h.Raw)
		}
	}
	start := time.Now()
	got := round(45)
	// Each relay has a third of the limit: 10 per minute, one more every 6 s.
	allowance := 10 + int(time.Since(start)/(6*time.Second))
	for i, n := range got {
		if n < 1 || n > allowance {
			t.Errorf("during the outage relay %d served %d, want 1 to %d (its share of rpm_limit 30)", i+1, n, allowance)
		}
	}
	if _, m := getWith(t, bases[0]+"/metrics", nil); !strings.Contains(m, "ccrelay_shared_state_up 0") ||
		!strings.Contains(m, "ccrelay_shared_state_fallbacks_total") {
		t.Errorf("/metrics during the outage lacks ccrelay_shared_state_up 0:\n%s", grepLines(m, "shared_state"))
	}
	if n := strings.Count(logs.String(), `level=WARN msg="shared state unreachable`); n != 3 {
		t.Errorf("%d WARN lines about the shared state, want one per relay:\n%s", n, logs)
	}

	srv.Start() // the same port, empty
	for _, base := range bases {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, h := healthOf(t, base); h.Get("status").Str == "ok" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/health still degraded 10 s after Redis came back")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	before := len(up.Requests())
	start = time.Now()
	round(60)
	allowance = 30 + int(time.Since(start)/(2*time.Second))
	if n := len(up.Requests()) - before; n < 30 || n > allowance {
		t.Fatalf("after Redis came back the relays served %d, want 30 (at most %d): shared counting did not resume", n, allowance)
	}
	if n := strings.Count(logs.String(), `level=INFO msg="shared state reachable again`); n != 3 {
		t.Errorf("%d INFO lines about the recovery, want one per relay:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestSharedClientKeyBudgetIsSpentOnceAcrossThreeRelays(t *testing.T) {
	srv := relaytest.StartRedis(t)
	up := relaytest.NewUpstream(t, &upstreamSeen{})
	bases := sharedRelays(t, srv.URL, 3, nil, func() *config.Config {
		return keyedConfig(up.URL, alice(config.ClientKey{BudgetUSD: config.Budget{Daily: 1}}))
	})
	// spent waits until the relays' shared counter holds want dollars: a request's spend is
	// settled when its answer has ended, just after the client has read it (a client's next
	// turn comes later than that; this test's would not).
	day := "ccrelay:{client:alice:usd:day:" + time.Now().UTC().Format(time.DateOnly) + "}"
	spent := func(want float64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			reply, _ := srv.Do("GET", day)
			if lines := strings.Split(reply, "\r\n"); len(lines) > 1 {
				if v, err := strconv.ParseFloat(lines[1], 64); err == nil && v > want-0.001 && v < want+0.001 {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the shared spend is %q, want %.2f", reply, want)
			}
		}
	}
	// $0.60 a request against a daily budget of $1: relay 1 and relay 2 each admit one (the
	// second crosses the budget), relay 3 refuses: one budget across the relays, not one each.
	for i, base := range bases[:2] {
		if _, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret)); apiErr != nil || err != nil {
			t.Fatalf("relay %d: %v %v", i+1, apiErr, err)
		}
		spent(0.6 * float64(i+1))
	}
	for _, base := range []string{bases[2], bases[0]} {
		_, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret))
		wantRefusal(t, apiErr, err, refusal{status: 402, typ: "billing_error", says: []string{"$1.2000 of its daily budget of $1.00"}})
	}
	if n := len(up.Requests()); n != 2 {
		t.Fatalf("the upstream was asked %d times, want 2", n)
	}
}
