package relay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/tidwall/gjson"
)

// metricAnswer is the Anthropic upstream's non-streamed answer: Anthropic's input_tokens
// excludes the cache counts.
const metricAnswer = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":8,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":3}}`

// metricAnthropic is a fake Anthropic upstream: metricAnswer, or for "stream": true a stream
// whose message_start goes out at once and the rest once hold is closed.
func metricAnthropic(hold <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !gjson.GetBytes(body, "stream").Bool() {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(metricAnswer))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		w.Write([]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_02\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":500,\"output_tokens\":1}}}\n\n"))
		rc.Flush()
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
		w.Write([]byte("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n" +
			"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":5}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
	})
}

// metricRelay serves a relay built from cfg on 127.0.0.1 and returns it with its URL.
func metricRelay(t *testing.T, cfg *config.Config) (*Relay, string) {
	t.Helper()
	r, err := New(context.Background(), Options{Config: cfg, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

// metricDo sends one request and returns its status and whole body.
func metricDo(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape GETs url and parses the exposition with expfmt into one value per series, named
// `name{label="value",...}` with the labels sorted; a histogram gives name_count and name_sum.
func scrape(t *testing.T, url string, header map[string]string) map[string]float64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(labels)
			series := "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[name+series] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[name+series] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[name+"_count"+series] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+series] = m.GetHistogram().GetSampleSum()
			default:
				out[name+series] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

// only keeps the series whose name starts with prefix.
func only(all map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range all {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// metricMixConfig is the scripted mix's configuration: anthropic answers, down is unreachable
// and first in failover for claude-opus-* (its circuit opens at the first failure), limited
// answers 429, mm is MiniMax (top_k stripped, image_url refused) and mmbroken MiniMax's stream
// without usage (repaired).
func metricMixConfig(t *testing.T, hold <-chan struct{}) *config.Config {
	t.Helper()
	anthropic := relaytest.NewUpstream(t, metricAnthropic(hold))
	limited := relaytest.NewUpstream(t, relaytest.Status(http.StatusTooManyRequests, http.Header{"Retry-After": {"60"}},
		`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`))
	mm := relaytest.NewUpstream(t, relaytest.MiniMax(relaytest.MiniMaxOK))
	broken := relaytest.NewUpstream(t, relaytest.MiniMax(relaytest.MiniMaxNoUsage))
	prio := func(n int) *int { return &n }
	key := func(k string) []config.Key { return []config.Key{{Key: k}} }
	// A dollar per thousand input or output tokens; the cache is free.
	usd := func(v float64) *float64 { return &v }
	price := &config.Pricing{Input: usd(1000), Output: usd(1000), CacheRead: usd(0), CacheWrite5m: usd(0), CacheWrite1h: usd(0)}
	free := &config.Pricing{Input: usd(0), Output: usd(0), CacheRead: usd(0), CacheWrite5m: usd(0), CacheWrite1h: usd(0)}
	return &config.Config{
		Providers: []config.Provider{
			{Name: "anthropic", Type: config.TypeAnthropic, BaseURL: anthropic.URL, Keys: key("k-a"), Priority: prio(1), Pricing: price,
				ModelMapping: map[string]string{"claude-opus-*": "claude-opus-4-1"}, Models: []string{"claude-sonnet-4-5"}},
			{Name: "down", Type: config.TypeAnthropic, BaseURL: relaytest.RefusedURL(t), Keys: key("k-d"), Priority: prio(9),
				ModelMapping: map[string]string{"claude-opus-*": "claude-opus-4-1"}},
			{Name: "limited", Type: config.TypeAnthropic, BaseURL: limited.URL, Keys: key("k-l"),
				ModelMapping: map[string]string{"claude-haiku-*": "claude-haiku-4-5"}},
			{Name: "mm", Type: config.TypeMiniMax, BaseURL: mm.URL + "/anthropic", Keys: key("k-m"), Models: []string{"MiniMax-M2"}, Pricing: price},
			{Name: "mmbroken", Type: config.TypeMiniMax, BaseURL: broken.URL + "/anthropic", Keys: key("k-b"), Pricing: free,
				ModelMapping: map[string]string{"broken-*": "MiniMax-M2"}},
		},
		Routing: config.Routing{Strategy: "failover",
			CircuitBreaker: config.CircuitBreaker{FailureThreshold: 1, Cooldown: config.Duration(time.Hour)}},
	}
}

func TestMetricsCountAScriptedMixOfRequests(t *testing.T) {
	hold := make(chan struct{})
	r, base := metricRelay(t, metricMixConfig(t, hold))
	msg := func(model, extra string) string {
		return `{"model":"` + model + `","max_tokens":16` + extra + `,"messages":[{"role":"user","content":"hi"}]}`
	}

	// The stream is held after its first event, while /metrics counts it in flight.
	streamed := make(chan string, 1)
	go func() {
		resp, err := http.Post(base+"/v1/messages", "application/json", strings.NewReader(msg("claude-sonnet-4-5", `,"stream":true`)))
		if err != nil {
			streamed <- err.Error()
			return
		}
		defer resp.Body.Close()
		rd := bufio.NewReader(resp.Body)
		first, _ := rd.ReadString('\n')
		streamed <- first
		rest, _ := io.ReadAll(rd)
		streamed <- string(rest)
	}()
	if first := <-streamed; !strings.HasPrefix(first, "event: message_start") {
		t.Fatalf("the stream began with %q", first)
	}
	if n := scrape(t, base+"/metrics", nil)["ccrelay_streams_in_flight{}"]; n != 1 {
		t.Errorf("ccrelay_streams_in_flight = %v while a stream is relayed, want 1", n)
	}
	close(hold)
	if rest := <-streamed; !strings.Contains(rest, "message_stop") {
		t.Fatalf("the stream did not end: %q", rest)
	}

	for _, c := range []struct {
		name, path, body string
		status           int
	}{
		{"a success", "/v1/messages", msg("claude-sonnet-4-5", ""), 200},
		{"a failover from an unreachable provider", "/v1/messages", msg("claude-opus-4-5", ""), 200},
		{"the same with the unreachable provider's circuit open", "/v1/messages", msg("claude-opus-4-5", ""), 200},
		{"a 429", "/v1/messages", msg("claude-haiku-4-5", ""), 429},
		{"a stripped feature", "/v1/messages", msg("MiniMax-M2", `,"top_k":5`), 200},
		{"a refused feature", "/v1/messages", `{"model":"MiniMax-M2","max_tokens":16,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}`, 400},
		{"a repaired stream", "/v1/messages", msg("broken-1", `,"stream":true`), 200},
		{"a model nobody serves", "/v1/messages", msg("gpt-4o", ""), 404},
		{"count_tokens: an attempt but not a Messages request", "/v1/messages/count_tokens", msg("claude-sonnet-4-5", ""), 200},
	} {
		if status, body := metricDo(t, http.MethodPost, base+c.path, c.body, nil); status != c.status {
			t.Fatalf("%s: status %d, want %d: %s", c.name, status, c.status, body)
		}
	}
	r.metrics.reloaded(true)

	all := scrape(t, base+"/metrics", nil)
	got := only(all, "ccrelay_")
	// Durations and the repaired stream's estimated output vary: they must be positive.
	for _, k := range []string{
		`ccrelay_request_duration_seconds_sum{provider="anthropic",stream="false"}`,
		`ccrelay_request_duration_seconds_sum{provider="anthropic",stream="true"}`,
		`ccrelay_request_duration_seconds_sum{provider="mm",stream="false"}`,
		`ccrelay_request_duration_seconds_sum{provider="mmbroken",stream="true"}`,
		`ccrelay_request_duration_seconds_sum{provider="none",stream="false"}`,
		`ccrelay_time_to_first_token_seconds_sum{model="claude-sonnet-4-5",provider="anthropic"}`,
		`ccrelay_time_to_first_token_seconds_sum{model="broken-*",provider="mmbroken"}`,
		`ccrelay_tokens_total{model="broken-*",provider="mmbroken",type="output"}`,
	} {
		if got[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, got[k])
		}
		delete(got, k)
	}
	want := map[string]float64{
		`ccrelay_requests_total{model="claude-sonnet-4-5",provider="anthropic",status="200",stream="false"}`: 1,
		`ccrelay_requests_total{model="claude-sonnet-4-5",provider="anthropic",status="200",stream="true"}`:  1,
		`ccrelay_requests_total{model="claude-opus-*",provider="anthropic",status="200",stream="false"}`:     2,
		`ccrelay_requests_total{model="claude-haiku-*",provider="none",status="429",stream="false"}`:         1,
		`ccrelay_requests_total{model="MiniMax-M2",provider="mm",status="200",stream="false"}`:               1,
		`ccrelay_requests_total{model="MiniMax-M2",provider="none",status="400",stream="false"}`:             1,
		`ccrelay_requests_total{model="broken-*",provider="mmbroken",status="200",stream="true"}`:            1,
		`ccrelay_requests_total{model="other",provider="none",status="404",stream="false"}`:                  1,

		`ccrelay_request_duration_seconds_count{provider="anthropic",stream="false"}`: 3,
		`ccrelay_request_duration_seconds_count{provider="anthropic",stream="true"}`:  1,
		`ccrelay_request_duration_seconds_count{provider="none",stream="false"}`:      3,
		`ccrelay_request_duration_seconds_count{provider="mm",stream="false"}`:        1,
		`ccrelay_request_duration_seconds_count{provider="mmbroken",stream="true"}`:   1,

		`ccrelay_time_to_first_token_seconds_count{model="claude-sonnet-4-5",provider="anthropic"}`: 1,
		`ccrelay_time_to_first_token_seconds_count{model="broken-*",provider="mmbroken"}`:           1,

		`ccrelay_upstream_attempts_total{outcome="ok",provider="anthropic"}`:                         5,
		`ccrelay_upstream_attempts_total{outcome="unreachable",provider="down"}`:                     1,
		`ccrelay_upstream_attempts_total{outcome="circuit_open",provider="down"}`:                    1,
		`ccrelay_upstream_attempts_total{outcome="429",provider="limited"}`:                          1,
		`ccrelay_upstream_attempts_total{outcome="ok",provider="mm"}`:                                1,
		`ccrelay_upstream_attempts_total{outcome="ok",provider="mmbroken"}`:                          1,
		`ccrelay_failovers_total{from="down",to="anthropic"}`:                                        2,
		`ccrelay_tokens_total{model="claude-sonnet-4-5",provider="anthropic",type="input"}`:          8 + 10,
		`ccrelay_tokens_total{model="claude-sonnet-4-5",provider="anthropic",type="output"}`:         3 + 5,
		`ccrelay_tokens_total{model="claude-sonnet-4-5",provider="anthropic",type="cache_read"}`:     2000 + 500,
		`ccrelay_tokens_total{model="claude-sonnet-4-5",provider="anthropic",type="cache_creation"}`: 100,
		`ccrelay_tokens_total{model="claude-opus-*",provider="anthropic",type="input"}`:              2 * 8,
		`ccrelay_tokens_total{model="claude-opus-*",provider="anthropic",type="output"}`:             2 * 3,
		`ccrelay_tokens_total{model="claude-opus-*",provider="anthropic",type="cache_read"}`:         2 * 2000,
		`ccrelay_tokens_total{model="claude-opus-*",provider="anthropic",type="cache_creation"}`:     2 * 100,
		`ccrelay_tokens_total{model="MiniMax-M2",provider="mm",type="input"}`:                        38,
		`ccrelay_tokens_total{model="MiniMax-M2",provider="mm",type="output"}`:                       21,
		`ccrelay_tokens_total{model="MiniMax-M2",provider="mm",type="cache_read"}`:                   0,
		`ccrelay_tokens_total{model="MiniMax-M2",provider="mm",type="cache_creation"}`:               0,
		`ccrelay_tokens_total{model="broken-*",provider="mmbroken",type="input"}`:                    38,
		`ccrelay_tokens_total{model="broken-*",provider="mmbroken",type="cache_read"}`:               0,
		`ccrelay_tokens_total{model="broken-*",provider="mmbroken",type="cache_creation"}`:           0,
		`ccrelay_cost_usd_total{model="claude-sonnet-4-5",provider="anthropic"}`:                     float64(8+3+10+5) / 1000,
		`ccrelay_cost_usd_total{model="claude-opus-*",provider="anthropic"}`:                         float64(2*(8+3)) / 1000,
		`ccrelay_cost_usd_total{model="MiniMax-M2",provider="mm"}`:                                   float64(38+21) / 1000,

		`ccrelay_feature_actions_total{action="stripped",feature="top_k",provider="mm"}`:              1,
		`ccrelay_feature_actions_total{action="refused",feature="image_url",provider="mm"}`:           1,
		`ccrelay_feature_actions_total{action="repaired",feature="stream_usage",provider="mmbroken"}`: 1,
		`ccrelay_feature_actions_total{action="repaired",feature="stop_reason",provider="mmbroken"}`:  1,

		`ccrelay_key_state{key="0",provider="anthropic"}`: 0,
		`ccrelay_key_state{key="0",provider="down"}`:      0,
		`ccrelay_key_state{key="0",provider="limited"}`:   1,
		`ccrelay_key_state{key="0",provider="mm"}`:        0,
		`ccrelay_key_state{key="0",provider="mmbroken"}`:  0,
		`ccrelay_circuit_open{provider="anthropic"}`:      0,
		`ccrelay_circuit_open{provider="down"}`:           1,
		`ccrelay_circuit_open{provider="limited"}`:        0,
		`ccrelay_circuit_open{provider="mm"}`:             0,
		`ccrelay_circuit_open{provider="mmbroken"}`:       0,
		`ccrelay_streams_in_flight{}`:                     0,
		`ccrelay_config_reloads_total{result="ok"}`:       1,
		`ccrelay_config_reloads_total{result="error"}`:    0,
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("ccrelay series (-want +got):\n%s", diff)
	}
	for _, k := range []string{`go_goroutines{}`, `process_cpu_seconds_total{}`} {
		if _, ok := all[k]; !ok {
			t.Errorf("%s is missing: the Go and process collectors are not registered", k)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Instant(metricAnswer))
	cfgWith := func(auth config.Auth, metricsListen string) *config.Config {
		return &config.Config{
			Server:    config.Server{Auth: auth, MetricsListen: metricsListen},
			Providers: []config.Provider{{Name: "a", Type: config.TypeAnthropic, BaseURL: up.URL, Keys: []config.Key{{Key: "k"}}}},
			Routing:   config.Routing{Strategy: "failover"},
		}
	}
	for _, c := range []struct {
		name          string
		auth          config.Auth
		metricsListen string
		method        string
		header        map[string]string
		status        int
		body          string // in the error's message
	}{
		{name: "served without auth", method: http.MethodGet, status: 200},
		{name: "the relay's key as a bearer token", auth: config.Auth{APIKey: "secret"}, method: http.MethodGet,
			header: map[string]string{"Authorization": "Bearer secret"}, status: 200},
		{name: "the relay's key as x-api-key", auth: config.Auth{APIKey: "secret"}, method: http.MethodGet,
			header: map[string]string{"X-Api-Key": "secret"}, status: 200},
		{name: "no key where the relay has one", auth: config.Auth{APIKey: "secret"}, method: http.MethodGet,
			status: 401, body: "missing credentials"},
		{name: "a wrong key", auth: config.Auth{APIKey: "secret"}, method: http.MethodGet,
			header: map[string]string{"X-Api-Key": "guess"}, status: 401, body: "invalid x-api-key"},
		{name: "served on server.metrics_listen instead", metricsListen: "127.0.0.1:9464", method: http.MethodGet,
			status: 404, body: "server.metrics_listen (127.0.0.1:9464)"},
		{name: "POST", method: http.MethodPost, status: 405, body: "use GET"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, base := metricRelay(t, cfgWith(c.auth, c.metricsListen))
			status, body := metricDo(t, c.method, base+"/metrics", "", c.header)
			if status != c.status || !strings.Contains(body, c.body) {
				t.Fatalf("got %d %s; want %d with %q", status, body, c.status, c.body)
			}
			if status == 200 && !strings.Contains(body, "# TYPE ccrelay_streams_in_flight gauge") {
				t.Errorf("the exposition has no ccrelay_streams_in_flight:\n%s", body)
			}
			if status != 200 && gjson.Get(body, "type").Str != "error" {
				t.Errorf("the refusal is not Anthropic-shaped: %s", body)
			}
		})
	}

	// MetricsHandler, what server.metrics_listen serves, asks for no key, and sees the requests
	// of the main listener.
	r, base := metricRelay(t, cfgWith(config.Auth{APIKey: "secret"}, "127.0.0.1:0"))
	if status, body := metricDo(t, http.MethodPost, base+"/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"X-Api-Key": "secret"}); status != 200 {
		t.Fatalf("POST /v1/messages: %d %s", status, body)
	}
	side := httptest.NewServer(r.MetricsHandler())
	t.Cleanup(side.Close)
	if n := scrape(t, side.URL, nil)[`ccrelay_requests_total{model="other",provider="a",status="200",stream="false"}`]; n != 1 {
		t.Errorf("the metrics listener counts %v requests, want 1", n)
	}
}

func TestMetricsLabelsAreBoundedByTheConfiguration(t *testing.T) {
	cfg := &config.Config{
		Providers: []config.Provider{
			{Name: "a", Type: config.TypeAnthropic, BaseURL: "http://127.0.0.1:1", Keys: []config.Key{{Key: "k"}},
				ModelMapping: map[string]string{"claude-sonnet-4-5": "x", "claude-*": "y", "claude-haiku-*": "z"}, Models: []string{"opus-plain"}},
			{Name: "local", Type: config.TypeOllama, BaseURL: "http://127.0.0.1:2"},
		},
		Routing: config.Routing{Strategy: "failover"},
	}
	r, err := New(context.Background(), Options{Config: cfg, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	// What a zero-configuration Ollama discovered: its installed models and claude-*.
	r.upstreams[1].discovered.p.Store(&discovery{models: []string{"qwen3:8b"}, mapping: map[string]string{"local-*": "qwen3:8b"}})
	v := r.metrics.view.Load()
	for _, c := range []struct{ model, want string }{
		{"claude-sonnet-4-5", "claude-sonnet-4-5"},
		{"claude-haiku-4-5", "claude-haiku-*"},
		{"claude-opus-5-5", "claude-*"},
		{"opus-plain", "opus-plain"},
		{"qwen3:8b", "qwen3:8b"},
		{"local-anything", "local-*"},
		{"gpt-4o", "other"},
		{"", "other"},
	} {
		if got := v.modelLabel(c.model); got != c.want {
			t.Errorf("model label of %q = %q, want %q", c.model, got, c.want)
		}
	}
	for _, c := range []struct{ provider, want string }{{"a", "a"}, {"local", "local"}, {"", "none"}, {"gone", "none"}} {
		if got := v.providerLabel(c.provider); got != c.want {
			t.Errorf("provider label of %q = %q, want %q", c.provider, got, c.want)
		}
	}
	for _, c := range []struct {
		outcome string
		status  int
		want    string
	}{
		{"ok", 200, "ok"}, {"unreachable", 0, "unreachable"}, {"timeout", 0, "timeout"}, {"429", 429, "429"},
		{"529", 529, "529"}, {"5xx", 503, "5xx"}, {"4xx", 404, "4xx"}, {"circuit_open", 0, "circuit_open"},
		{"key_rejected", 401, "key_rejected"}, {"billing", 402, "key_rejected"}, {"keys_rejected", 0, "key_rejected"},
		{"keys_unavailable", 0, "429"}, {"count_tokens_unsupported", 404, "4xx"}, {"count_tokens_unsupported", 501, "5xx"},
	} {
		if got := outcomeLabel(c.outcome, c.status); got != c.want {
			t.Errorf("outcome label of %s/%d = %q, want %q", c.outcome, c.status, got, c.want)
		}
	}
	for _, c := range []struct{ action, want string }{
		{"refused", "refused"}, {"aborted", "refused"}, {"stripped", "stripped"}, {"dropped", "stripped"},
		{"removed", "stripped"}, {"repaired", "repaired"}, {"normalized", "repaired"}, {"clamped", "degraded"},
		{"estimated", "degraded"}, {"as_user", "degraded"},
	} {
		if got := actionWord(c.action); got != c.want {
			t.Errorf("action of %q = %q, want %q", c.action, got, c.want)
		}
	}
}

func TestMetricsGoOnAcrossAReload(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.Instant(metricAnswer))
	cfg := func(names ...string) *config.Config {
		c := &config.Config{Routing: config.Routing{Strategy: "failover"}}
		for _, n := range names {
			c.Providers = append(c.Providers, config.Provider{Name: n, Type: config.TypeAnthropic, BaseURL: up.URL,
				Keys: []config.Key{{Key: "k-" + n}}, Models: []string{"claude-sonnet-4-5"}})
		}
		return c
	}
	rl, err := NewReloader(context.Background(), Options{Config: cfg("a"), Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)
	body := `{"model":"claude-sonnet-4-5","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`
	metricDo(t, http.MethodPost, srv.URL+"/v1/messages", body, nil)
	if _, err := rl.Reload(context.Background(), cfg("b", "a"), ""); err != nil {
		t.Fatal(err)
	}
	metricDo(t, http.MethodPost, srv.URL+"/v1/messages", body, nil)
	got := only(scrape(t, srv.URL+"/metrics", nil), "ccrelay_requests_total")
	want := map[string]float64{
		`ccrelay_requests_total{model="claude-sonnet-4-5",provider="a",status="200",stream="false"}`: 1,
		`ccrelay_requests_total{model="claude-sonnet-4-5",provider="b",status="200",stream="false"}`: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests across a reload (-want +got):\n%s", diff)
	}
	if _, ok := scrape(t, httptest.NewServer(rl.MetricsHandler()).URL, nil)[`ccrelay_key_state{key="0",provider="b"}`]; !ok {
		t.Error("after the reload, /metrics does not show the new provider's key")
	}
}

// BenchmarkRelayWithMetrics is BenchmarkRelay's in-memory request (the real 49 KB Claude Code
// request through the handler, the upstream a RoundTripper) with the relay's metrics and
// without them (no observer: no Record is built), for the cost of the metrics per request:
//
//	go test ./relay -run '^$' -bench RelayWithMetrics -benchmem -count 10
func BenchmarkRelayWithMetrics(b *testing.B) {
	raw, err := os.ReadFile(relaytest.Fixture(b, "claude-code/claude-code-2.1.332__02-tool-roundtrip-req1.messages.json"))
	if err != nil {
		b.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(gjson.GetBytes(raw, "body").Raw)); err != nil {
		b.Fatal(err)
	}
	jsonBody := bytes.Replace(compact.Bytes(), []byte(`"stream":true`), []byte(`"stream":false`), 1)
	streamBody := bytes.Replace(compact.Bytes(), []byte(`"stream":false`), []byte(`"stream":true`), 1)
	for _, mode := range []struct {
		name string
		body []byte
	}{{"json", jsonBody}, {"stream", streamBody}} {
		for _, with := range []bool{false, true} {
			name := mode.name + "/without"
			if with {
				name = mode.name + "/with"
			}
			b.Run(name, func(b *testing.B) {
				cfg := &config.Config{
					Providers: []config.Provider{{Name: "fake", Type: config.TypeAnthropic, BaseURL: "http://upstream.invalid",
						Keys: []config.Key{{Key: "bench-key"}}, ModelMapping: map[string]string{"claude-*": "claude-opus-4-1"}}},
					Routing: config.Routing{Strategy: "failover"},
				}
				r, err := New(context.Background(), Options{Config: cfg, Transport: metricBenchUpstream{}, Getenv: func(string) string { return "" }})
				if err != nil {
					b.Fatal(err)
				}
				if !with {
					r.observers, r.metrics = nil, nil
				}
				serve := func() {
					req := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(mode.body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Anthropic-Version", "2023-06-01")
					w := &metricBenchWriter{h: http.Header{}}
					r.ServeHTTP(w, req)
					if w.status != 200 || w.n == 0 {
						b.Fatalf("status %d, %d bytes", w.status, w.n)
					}
				}
				serve()
				b.SetBytes(int64(len(mode.body)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					serve()
				}
			})
		}
	}
}

// metricBenchUpstream answers every request in memory: a stream of ten text deltas when the
// body asks for one, else a message, both with usage.
type metricBenchUpstream struct{}

var (
	metricBenchOnce   sync.Once
	metricBenchStream []byte
)

func (metricBenchUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	req.Body.Close()
	resp := &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Request: req}
	if !gjson.GetBytes(body, "stream").Bool() {
		resp.Header.Set("Content-Type", "application/json")
		resp.ContentLength = int64(len(metricAnswer))
		resp.Body = io.NopCloser(strings.NewReader(metricAnswer))
		return resp, nil
	}
	metricBenchOnce.Do(func() {
		var s strings.Builder
		s.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_b\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-opus-4-1\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":12000,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n")
		s.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
		for range 10 {
			s.WriteString("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + strings.Repeat("word ", 20) + "\"}}\n\n")
		}
		s.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
		s.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":201}}\n\n")
		s.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
		metricBenchStream = []byte(s.String())
	})
	resp.Header.Set("Content-Type", "text/event-stream")
	resp.ContentLength = -1
	resp.Body = io.NopCloser(bytes.NewReader(metricBenchStream))
	return resp, nil
}

// metricBenchWriter is a minimal http.ResponseWriter and http.Flusher.
type metricBenchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *metricBenchWriter) Header() http.Header { return w.h }

func (w *metricBenchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *metricBenchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	w.n += len(p)
	return len(p), nil
}

func (w *metricBenchWriter) Flush() {}

// BenchmarkMetricsObserve is the metrics' own cost per request: Observe of a streamed
// request's Record with a failover (two attempts), tokens priced from the table, against a
// relay whose configuration has a mapping with patterns.
func BenchmarkMetricsObserve(b *testing.B) {
	cfg := &config.Config{
		Providers: []config.Provider{
			{Name: "anthropic", Type: config.TypeAnthropic, BaseURL: "http://127.0.0.1:1", Keys: []config.Key{{Key: "k"}},
				ModelMapping: map[string]string{"claude-haiku-*": "h", "claude-*": "o"}},
			{Name: "zai", Type: config.TypeZAI, BaseURL: "http://127.0.0.1:2", Keys: []config.Key{{Key: "k"}},
				ModelMapping: map[string]string{"claude-*": "glm-4.6"}},
		},
		Routing: config.Routing{Strategy: "failover"},
	}
	r, err := New(context.Background(), Options{Config: cfg, Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	rec := &Record{Method: http.MethodPost, Path: "/v1/messages", Status: 200, Stream: true, Duration: 2 * time.Second,
		TTFB: 300 * time.Millisecond, Model: "claude-opus-5-5", UpstreamModel: "glm-4.6", Provider: "zai",
		Tokens:   Tokens{Input: 12, Output: 400, CacheRead: 40000, CacheCreation: 900, Known: true},
		Attempts: []Attempt{{Provider: "anthropic", Outcome: "529", Status: 529}, {Provider: "zai", Outcome: "ok", Status: 200}}}
	b.ReportAllocs()
	for range b.N {
		r.metrics.Observe(rec)
	}
}
