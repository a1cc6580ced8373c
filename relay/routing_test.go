package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
)

func keyed(p config.Provider, priority int, keys ...string) config.Provider {
	p.Keys = nil
	for _, k := range keys {
		p.Keys = append(p.Keys, config.Key{Key: k, Priority: priority})
	}
	return p
}

func countRequests(ups ...*relaytest.Upstream) []int {
	out := make([]int, len(ups))
	for i, u := range ups {
		out[i] = len(u.Requests())
	}
	return out
}

func TestTheSeedsFailoverChainUnderFaults(t *testing.T) {
	// "Anthropic fails with 429 or 5xx -> Z.AI -> Ollama" (the seed's multi-provider config),
	// with every kind of failure before the first byte.
	ok := interaction(t, "ollama/01-text-nonstream.json")
	faults := []struct {
		name    string
		handler func(t *testing.T) (string, *relaytest.Upstream)
		reason  string
	}{
		{"refused connection", func(t *testing.T) (string, *relaytest.Upstream) { return relaytest.RefusedURL(t), nil }, "refused"},
		{"429 with retry-after", func(t *testing.T) (string, *relaytest.Upstream) {
			u := relaytest.NewUpstream(t, relaytest.Status(429, http.Header{"Retry-After": {"30"}}, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`))
			return u.URL, u
		}, "429"},
		{"529 overloaded", func(t *testing.T) (string, *relaytest.Upstream) {
			u := relaytest.NewUpstream(t, relaytest.Status(529, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
			return u.URL, u
		}, "529"},
		{"slow response headers", func(t *testing.T) (string, *relaytest.Upstream) {
			u := relaytest.NewUpstream(t, relaytest.SlowHeaders(3*time.Second, relaytest.Replay(ok)))
			return u.URL, u
		}, "timeout"},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			anthURL, anth := f.handler(t)
			zai := relaytest.NewUpstream(t, relaytest.Replay(ok))
			oll := relaytest.NewUpstream(t, relaytest.Replay(ok))
			cfg := configWith(
				keyed(providerFor(config.TypeAnthropic, "anthropic", anthURL), 2, "a-key"),
				keyed(providerFor(config.TypeZAI, "zai", zai.URL), 1, "z-key"),
				keyed(providerFor(config.TypeOllama, "ollama", oll.URL), 0, "ollama"),
			)
			cfg.Server.Timeouts.ResponseHeader = config.Duration(500 * time.Millisecond)
			cfg.Routing.Debug = true
			base := startRelay(t, cfg)
			resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if p := resp.Header.Get("X-Ccrelay-Provider"); p != "zai" {
				t.Errorf("served by %q, want zai", p)
			}
			if a := resp.Header.Get("X-Ccrelay-Attempts"); a != "2; anthropic="+f.reason {
				t.Errorf("x-ccrelay-attempts = %q, want %q", a, "2; anthropic="+f.reason)
			}
			if anth != nil && len(anth.Requests()) != 1 {
				t.Errorf("anthropic got %d requests, want 1", len(anth.Requests()))
			}
			if diff := cmp.Diff([]int{1, 0}, countRequests(zai, oll)); diff != "" {
				t.Errorf("requests per upstream (zai, ollama): %s", diff)
			}
		})
	}
}

func TestA429MovesToTheProvidersNextKeyFirst(t *testing.T) {
	ok := interaction(t, "ollama/01-text-nonstream.json")
	var mu sync.Mutex
	var seen []string
	up := relaytest.NewUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Api-Key"))
		mu.Unlock()
		if r.Header.Get("X-Api-Key") == "first" {
			w.Header().Set("Retry-After", "20")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(ok.Response.Body)
	}))
	p := providerFor(config.TypeAnthropic, "anthropic", up.URL)
	p.Keys = []config.Key{{Key: "first", Priority: 2}, {Key: "second", Priority: 1}}
	base := startRelay(t, configWith(p))

	resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Attempts") != "2" {
		t.Fatalf("status %d attempts %q: %s", resp.StatusCode, resp.Header.Get("X-Ccrelay-Attempts"), body)
	}
	// The first key now cools down for 20 s: the next request goes straight to the second.
	post(t, base+"/v1/messages", []byte(okBody), nil)
	if diff := cmp.Diff([]string{"first", "second", "second"}, seen); diff != "" {
		t.Errorf("keys used (-want +got):\n%s", diff)
	}
	// /v1/providers shows the cooling key, without the key itself.
	pr, err := http.Get(base + "/v1/providers")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := pr.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	pr.Body.Close()
	st := gjson.Parse(b.String())
	if st.Get("data.0.keys_cooling").Int() != 1 || st.Get("data.0.keys_available").Int() != 1 {
		t.Errorf("/v1/providers = %s", b.String())
	}
	if strings.Contains(b.String(), "second") || strings.Contains(b.String(), `"first"`) {
		t.Errorf("/v1/providers shows a key: %s", b.String())
	}
}

func TestWhenEveryKeyIsCoolingTheClientGetsA429WithRetryAfter(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Status(429, http.Header{"Retry-After": {"42"}}, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`))
	base := startRelay(t, configWith(keyed(providerFor(config.TypeAnthropic, "anthropic", up.URL), 0, "only")))
	// First request: the upstream's own 429 passes through unchanged.
	resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
	if resp.StatusCode != 429 || !strings.Contains(string(body), "per-minute rate limit") || resp.Header.Get("Retry-After") != "42" {
		t.Fatalf("first: %d %q retry-after %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	// Second: the key is cooling down, so the relay answers itself without asking upstream.
	resp, body = post(t, base+"/v1/messages", []byte(okBody), nil)
	wantAnthropicError(t, resp, body, 429, "rate_limit_error", "rate limited")
	ra := resp.Header.Get("Retry-After")
	if ra == "" || ra > "42" || ra < "40" {
		t.Errorf("retry-after = %q, want about 42", ra)
	}
	if n := len(up.Requests()); n != 1 {
		t.Errorf("upstream got %d requests, want 1", n)
	}
}

func TestRpmLimitIsEnforcedPerKey(t *testing.T) {
	ok := interaction(t, "ollama/01-text-nonstream.json")
	up := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ok))
	p := providerFor(config.TypeAnthropic, "anthropic", up.URL)
	p.Keys = []config.Key{{Key: "k", RPMLimit: 3}}
	base := startRelay(t, configWith(p))
	var statuses []int
	for i := 0; i < 5; i++ {
		resp, _ := post(t, base+"/v1/messages", []byte(okBody), nil)
		statuses = append(statuses, resp.StatusCode)
	}
	if diff := cmp.Diff([]int{200, 200, 200, 429, 429}, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if n := len(up.Requests()); n != 3 {
		t.Errorf("upstream got %d requests, want 3", n)
	}
}

func TestAStreamThatBreaksAfterItsFirstEventIsNotResent(t *testing.T) {
	ix := interaction(t, "anthropic/fantasy/claude-sonnet-4.thinking-streaming.0.json")
	first := relaytest.NewUpstream(t, relaytest.DropAfter(ix, 1))
	second := relaytest.NewUpstream(t, relaytest.Replay(ix))
	cfg := configWith(
		keyed(providerFor(config.TypeAnthropic, "first", first.URL), 2, "k1"),
		keyed(providerFor(config.TypeAnthropic, "second", second.URL), 1, "k2"),
	)
	base := startRelay(t, cfg)
	resp := openStream(t, context.Background(), base+"/v1/messages", ix.Request.Body)
	evs, err := readEvents(t, resp.Body)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if got := strings.Join(eventNames(evs), ","); got != "message_start,error" {
		t.Errorf("events = %s, want message_start,error", got)
	}
	if n := len(second.Requests()); n != 0 {
		t.Errorf("the request was re-sent to another provider after the first byte (%d times)", n)
	}
}

func TestTheCircuitOpensAfterRepeatedFailuresAndTheProviderIsSkipped(t *testing.T) {
	ok := interaction(t, "ollama/01-text-nonstream.json")
	bad := relaytest.NewUpstream(t, relaytest.Status(500, nil, `{"type":"error","error":{"type":"api_error","message":"boom"}}`))
	good := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ok))
	cfg := configWith(
		keyed(providerFor(config.TypeAnthropic, "bad", bad.URL), 2, "k1"),
		keyed(providerFor(config.TypeOllama, "good", good.URL), 1, "k2"),
	)
	cfg.Routing.CircuitBreaker = config.CircuitBreaker{FailureThreshold: 3, Cooldown: config.Duration(time.Hour)}
	base := startRelay(t, cfg)
	for i := 0; i < 6; i++ {
		resp, body := post(t, base+"/v1/messages", []byte(okBody), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if n := len(bad.Requests()); n != 3 {
		t.Errorf("the failing provider got %d requests, want 3 (then its circuit is open)", n)
	}
	resp, err := http.Get(base + "/v1/providers")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Data []struct {
			Name, State string
		}
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if len(st.Data) != 2 || st.Data[0].State != "open" || st.Data[1].State != "closed" {
		t.Errorf("/v1/providers states = %+v", st.Data)
	}
}

func TestASessionStaysWithItsProvider(t *testing.T) {
	ok := interaction(t, "ollama/01-text-nonstream.json")
	a := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ok))
	b := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ok))
	cfg := configWith(providerFor(config.TypeOllama, "a", a.URL), providerFor(config.TypeOllama, "b", b.URL))
	cfg.Routing.Strategy = "round_robin"
	base := startRelay(t, cfg)
	served := map[string]int{}
	for i := 0; i < 6; i++ {
		resp, _ := post(t, base+"/v1/messages", []byte(okBody), map[string]string{"X-Claude-Code-Session-Id": "session-1"})
		served[resp.Header.Get("X-Ccrelay-Provider")]++
	}
	if len(served) != 1 {
		t.Errorf("one session was served by %v, want a single provider", served)
	}
	// Without a session, round_robin alternates.
	other := map[string]int{}
	for i := 0; i < 6; i++ {
		resp, _ := post(t, base+"/v1/messages", []byte(okBody), nil)
		other[resp.Header.Get("X-Ccrelay-Provider")]++
	}
	if other["a"] != 3 || other["b"] != 3 {
		t.Errorf("round_robin without a session served %v, want 3 and 3", other)
	}
}

func TestHundredsOfConcurrentRequests(t *testing.T) {
	ix := interaction(t, "ollama/02-text-stream.json")
	ups := []*relaytest.Upstream{
		relaytest.NewUpstream(t, relaytest.Instant(string(ix.Response.Body))),
		relaytest.NewUpstream(t, relaytest.Instant(string(ix.Response.Body))),
		relaytest.NewUpstream(t, relaytest.Status(503, nil, `{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`)),
	}
	p0 := providerFor(config.TypeAnthropic, "a", ups[0].URL)
	p0.Keys = []config.Key{{Key: "k1"}, {Key: "k2"}, {Key: "k3"}}
	cfg := configWith(p0, providerFor(config.TypeOllama, "b", ups[1].URL), providerFor(config.TypeOllama, "c", ups[2].URL))
	cfg.Routing.Strategy = "least_loaded"
	base := startRelay(t, cfg)
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan string, n)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(base+"/v1/messages", "application/json", strings.NewReader(streamBody))
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			if _, err := readEvents(t, resp.Body); err != nil || resp.StatusCode != 200 {
				errs <- fmt.Sprintf("status %d: %v", resp.StatusCode, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
