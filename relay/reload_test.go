package relay_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
)

func TestAReloadWhileStreamsAreInFlightDropsNoneAndKeepsTheState(t *testing.T) {
	slow := relaytest.NewUpstream(t, thinkingPause(400*time.Millisecond))
	limited := relaytest.NewUpstream(t, relaytest.Status(429, http.Header{"Retry-After": {"120"}}, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`))
	downURL := relaytest.RefusedURL(t)
	build := func(target string) *config.Config {
		a := keyed(providerFor(config.TypeAnthropic, "a", slow.URL), 1, "ka")
		a.ModelMapping = map[string]string{"claude-*": target}
		lim := keyed(providerFor(config.TypeAnthropic, "limited", limited.URL), 3, "kl")
		down := keyed(providerFor(config.TypeAnthropic, "down", downURL), 2, "kd")
		cfg := configWith(lim, down, a)
		cfg.Routing.CircuitBreaker.FailureThreshold = 1
		cfg.Routing.CircuitBreaker.Cooldown = config.Duration(time.Hour)
		return cfg
	}
	rl, err := relay.NewReloader(context.Background(), relay.Options{Config: build("model-one")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)

	// One request teaches the relay: limited's key cools down for 120 s, down's circuit opens.
	resp, body := post(t, srv.URL+"/v1/messages", []byte(pauseBody), nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "message_stop") {
		t.Fatalf("first request: %d %s", resp.StatusCode, body)
	}
	asked := func() (int, int) { return len(limited.Requests()), len(slow.Requests()) }
	if l, _ := asked(); l != 1 {
		t.Fatalf("limited asked %d times", l)
	}

	// 50 streams in flight, then a reload that maps claude-* elsewhere.
	const n = 50
	var wg sync.WaitGroup
	results := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, b := post(t, srv.URL+"/v1/messages", []byte(pauseBody), nil)
			results[i] = string(b)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, s := asked(); s < n+1 && time.Now().Before(deadline); _, s = asked() {
		time.Sleep(5 * time.Millisecond)
	}
	change, err := rl.Reload(context.Background(), build("model-two"), "sha256:test")
	if err != nil {
		t.Fatal(err)
	}
	if change != "providers changed: a" {
		t.Errorf("change = %q", change)
	}
	wg.Wait()
	for i, r := range results {
		if !strings.Contains(r, "event: message_stop") {
			t.Fatalf("stream %d did not finish: %s", i, r)
		}
	}
	// The next request uses the new mapping; the cooldown and the open circuit held.
	post(t, srv.URL+"/v1/messages", []byte(pauseBody), nil)
	reqs := slow.Requests()
	if m := gjson.GetBytes(reqs[len(reqs)-1].Body, "model").Str; m != "model-two" {
		t.Errorf("after the reload the upstream was asked for %q, want model-two", m)
	}
	if l, _ := asked(); l != 1 {
		t.Errorf("the cooling key was used again after the reload (%d requests)", l)
	}
	_, pb := get(t, srv.URL+"/v1/providers")
	if st := gjson.GetBytes(pb, `data.#(name=="down").state`).Str; st != "open" {
		t.Errorf("down's circuit after the reload: %q", st)
	}
	_, mb := get(t, srv.URL+"/metrics")
	if !strings.Contains(string(mb), `ccrelay_config_reloads_total{result="ok"} 1`) {
		t.Errorf("the reload is not counted in /metrics")
	}
	if h := gjson.GetBytes(pb, "config.hash").Str; h != "sha256:test" || gjson.GetBytes(pb, "config.loaded_at").Str == "" {
		t.Errorf("/v1/providers config = %s", gjson.GetBytes(pb, "config").Raw)
	}
}
