package relay

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/pricing"
	"github.com/ccrelay/ccrelay/relay/route"
	"github.com/ccrelay/ccrelay/relay/state"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values the metrics use when nothing configured fits.
const (
	// labelOther is the model label of a client-side name that no provider configures.
	labelOther = "other"
	// labelNone is the provider label of a request no provider answered.
	labelNone = "none"
)

// Histogram buckets, in seconds: the OpenTelemetry GenAI semantic conventions' advisory
// buckets (gen_ai.client.operation.duration, doubling from 10 ms, with two more doublings for
// Claude Code's long streams; gen_ai.server.time_to_first_token).
var (
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84, 327.68}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
)

// metrics is a relay's Prometheus instrumentation, in a registry of its own (a process may
// hold many relays: the tests build hundreds). A reloaded configuration's relay takes over its
// predecessor's metrics, so that counters go on across reloads. The per-request series are
// counted by Observe from each request's Record; the state of keys, circuits and the feature
// matrix's counters is read from the current relay only when /metrics is scraped
// (stateCollector), so it costs requests nothing.
//
// Every label is bounded by the configuration: provider is a configured provider's name
// ("none" when no provider answered), model a client-side name the configuration lists (an
// exact model_mapping key or models entry, or a model a local Ollama was found to have), the
// pattern key that matches it ("claude-*"), or "other".
type metrics struct {
	// view is the current relay and what its configuration bounds the labels with.
	view    atomic.Pointer[metricsView]
	reg     *prometheus.Registry
	handler http.Handler

	requests  *prometheus.CounterVec   // provider, model, status, stream
	duration  *prometheus.HistogramVec // provider, stream
	ttft      *prometheus.HistogramVec // provider, model
	attempts  *prometheus.CounterVec   // provider, outcome
	failovers *prometheus.CounterVec   // from, to
	tokens    *prometheus.CounterVec   // provider, model, type
	cost      *prometheus.CounterVec   // provider, model
	reloads   *prometheus.CounterVec   // result

	// The client keys' series (server.auth.keys), apart from the per-provider ones so that
	// the client label does not multiply their cardinality.
	clientRequests *prometheus.CounterVec // client, status
	clientTokens   *prometheus.CounterVec // client, type
	clientCost     *prometheus.CounterVec // client

	// streams is the number of streams being relayed (relayStream).
	streams atomic.Int64

	// answers caches the series of each label set an answer was counted under (answerKey →
	// *answerSeries): one map lookup per request instead of one label lookup per series.
	// Series are never deleted, and the label values are bounded (metricsView), so the cache
	// is too.
	answers sync.Map
}

// answerKey is the labels of one answer's series.
type answerKey struct {
	provider, model string
	status          int
	stream          bool
}

// answerSeries are an answer's series for one answerKey. requests and duration are observed
// for every answer; the others are made on first use, so that an answer without tokens or a
// price does not create series of zeros.
type answerSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer

	ttftOnce sync.Once
	ttft     prometheus.Observer

	tokensOnce sync.Once
	tokens     [4]prometheus.Counter // input, output, cache_read, cache_creation

	costOnce sync.Once
	cost     prometheus.Counter
}

// answerSeriesOf returns the series of k, made on first use.
func (m *metrics) answerSeriesOf(k answerKey) *answerSeries {
	if s, ok := m.answers.Load(k); ok {
		return s.(*answerSeries)
	}
	stream := strconv.FormatBool(k.stream)
	s := &answerSeries{
		requests: m.requests.WithLabelValues(k.provider, k.model, strconv.Itoa(k.status), stream),
		duration: m.duration.WithLabelValues(k.provider, stream),
	}
	got, _ := m.answers.LoadOrStore(k, s)
	return got.(*answerSeries)
}

// metricsView is a relay and the label sets of its configuration.
type metricsView struct {
	r *Relay
	// providers are the enabled providers' names.
	providers map[string]bool
	// exact are the client-side names configured as they are (model_mapping keys without '*',
	// models entries); patterns the model_mapping keys ending in '*', longest prefix first.
	exact    map[string]bool
	patterns []string
	// prices prices the tokens of ccrelay_cost_usd_total (the price table under the providers'
	// pricing:); nil prices nothing.
	prices *pricing.Book
	// clients are the names of the configured client keys (server.auth.keys): the only
	// values of the client label.
	clients map[string]bool
}

// newMetrics returns the metrics of a new relay: prev's (the relay r replaces on a reload),
// now reading r, or else new metrics registered, with the Go and process collectors, on a
// registry of their own.
func newMetrics(r, prev *Relay) *metrics {
	var m *metrics
	if prev != nil {
		m = prev.metrics
	}
	if m == nil {
		m = buildMetrics()
	}
	v := &metricsView{r: r, providers: map[string]bool{}, exact: map[string]bool{}, clients: map[string]bool{}}
	for _, k := range r.cfg.Server.Auth.Keys {
		v.clients[k.Name] = true
	}
	for _, u := range r.upstreams {
		v.providers[u.cfg.Name] = true
		for k := range u.cfg.ModelMapping {
			if config.IsModelPattern(k) {
				v.patterns = append(v.patterns, k)
			} else {
				v.exact[k] = true
			}
		}
		for _, name := range u.cfg.Models {
			v.exact[name] = true
		}
	}
	sortPatterns(v.patterns)
	book, err := pricing.NewBook(r.cfg.Providers, r.log)
	if err != nil {
		r.log.Warn("no cost in the metrics", "error", err)
	}
	v.prices = book
	m.view.Store(v)
	return m
}

// buildMetrics makes the series and registers them.
func buildMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ccrelay_requests_total",
		Help: "Messages API requests (POST /v1/messages) answered, by the provider that answered, the client-side model, the HTTP status and whether the answer was streamed.",
	}, []string{"provider", "model", "status", "stream"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ccrelay_request_duration_seconds",
		Help:    "Time from a Messages API request's arrival to the end of its answer (a stream's last event), in seconds.",
		Buckets: durationBuckets,
	}, []string{"provider", "stream"})
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ccrelay_time_to_first_token_seconds",
		Help:    "Time from a streamed request's arrival to the first byte of its answer sent to the client (the message_start event), for 200 streams, in seconds.",
		Buckets: ttftBuckets,
	}, []string{"provider", "model"})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ccrelay_upstream_attempts_total",
		Help: "Upstream attempts and skips, by provider and outcome: ok, unreachable, timeout, 429, 4xx, 5xx, 529, circuit_open, key_rejected.",
	}, []string{"provider", "outcome"})
	m.failovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ccrelay_failovers_total",
		Help: "Moves of a request from a provider that failed (or was skipped) to the next one.",
	}, []string{"from", "to"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ccrelay_tokens_total",
		Help: "Tokens the providers reported, by type: input (without the cache counts), output, cache_read, cache_creation.",
	}, []string{"provider", "model", "type"})
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ccrelay_cost_usd_total",
		Help: "Cost of the tokens the providers reported, in US dollars, at the price table's list prices or the providers' pricing: (a model without a price adds nothing).",
	}, []string{"provider", "model"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ccrelay_config_reloads_total",
		Help: "Configuration reloads, by result: ok or error.",
	}, []string{"result"})
	m.clientRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ccrelay_client_requests_total",
		Help: "Messages API requests by client key (server.auth.keys) and HTTP status: its refusals too (401 expired, 402 over budget, 403 model not allowed, 429 over a limit).",
	}, []string{"client", "status"})
	m.clientTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ccrelay_client_tokens_total",
		Help: "Tokens the providers reported, by client key and type: input (without the cache counts), output, cache_read, cache_creation.",
	}, []string{"client", "type"})
	m.clientCost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ccrelay_client_cost_usd_total",
		Help: "Cost of the tokens the providers reported, by client key, in US dollars, priced as ccrelay_cost_usd_total.",
	}, []string{"client"})
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	streams := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ccrelay_streams_in_flight",
		Help: "SSE streams being relayed to clients now.",
	}, func() float64 { return float64(m.streams.Load()) })

	m.reg.MustRegister(m.requests, m.duration, m.ttft, m.attempts, m.failovers, m.tokens, m.cost, m.reloads,
		m.clientRequests, m.clientTokens, m.clientCost,
		streams, newStateCollector(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// sortPatterns orders model_mapping patterns longest prefix first (then by name), so that the
// first that matches is the one MapModel would choose.
func sortPatterns(p []string) {
	sort.Slice(p, func(i, j int) bool {
		if len(p[i]) != len(p[j]) {
			return len(p[i]) > len(p[j])
		}
		return p[i] < p[j]
	})
}

// Observe counts a finished request: its upstream attempts and failovers (Messages API and
// count_tokens calls alike), and for POST /v1/messages the request, its duration, its time to
// the first byte, its tokens and their cost.
func (m *metrics) Observe(rec *Record) {
	v := m.view.Load()
	m.observeAttempts(v, rec.Attempts)
	if rec.Method != http.MethodPost || !strings.HasSuffix(rec.Path, "/v1/messages") {
		return
	}
	provider, model := v.providerLabel(rec.Provider), v.modelLabel(rec.Model)
	as := m.answerSeriesOf(answerKey{provider: provider, model: model, status: rec.Status, stream: rec.Stream})
	as.requests.Inc()
	client := rec.Client
	if !v.clients[client] {
		client = ""
	}
	if client != "" {
		m.clientRequests.WithLabelValues(client, strconv.Itoa(rec.Status)).Inc()
	}
	as.duration.Observe(rec.Duration.Seconds())
	if rec.Stream && rec.Status == http.StatusOK && rec.TTFB > 0 {
		as.ttftOnce.Do(func() { as.ttft = m.ttft.WithLabelValues(provider, model) })
		as.ttft.Observe(rec.TTFB.Seconds())
	}
	if t := rec.Tokens; t.Known {
		as.tokensOnce.Do(func() {
			for i, typ := range [...]string{"input", "output", "cache_read", "cache_creation"} {
				as.tokens[i] = m.tokens.WithLabelValues(provider, model, typ)
			}
		})
		as.tokens[0].Add(float64(t.Input))
		as.tokens[1].Add(float64(t.Output))
		as.tokens[2].Add(float64(t.CacheRead))
		as.tokens[3].Add(float64(t.CacheCreation))
		if client != "" {
			m.clientTokens.WithLabelValues(client, "input").Add(float64(t.Input))
			m.clientTokens.WithLabelValues(client, "output").Add(float64(t.Output))
			m.clientTokens.WithLabelValues(client, "cache_read").Add(float64(t.CacheRead))
			m.clientTokens.WithLabelValues(client, "cache_creation").Add(float64(t.CacheCreation))
		}
		if v.prices != nil && provider != labelNone {
			pt := pricing.Tokens{Input: t.Input, Output: t.Output, CacheRead: t.CacheRead, CacheCreation: t.CacheCreation}
			if usd, _ := v.prices.Cost(rec.Provider, rec.UpstreamModel, pt); usd > 0 {
				as.costOnce.Do(func() { as.cost = m.cost.WithLabelValues(provider, model) })
				as.cost.Add(usd)
				if client != "" {
					m.clientCost.WithLabelValues(client).Add(usd)
				}
			}
		}
	}
}

// observeAttempts counts each attempt by outcome, and a failover at each change of provider
// between consecutive attempts.
func (m *metrics) observeAttempts(v *metricsView, as []Attempt) {
	for i, a := range as {
		p := v.providerLabel(a.Provider)
		m.attempts.WithLabelValues(p, outcomeLabel(a.Outcome, a.Status)).Inc()
		if i > 0 && as[i-1].Provider != a.Provider {
			m.failovers.WithLabelValues(v.providerLabel(as[i-1].Provider), p).Inc()
		}
	}
}

// outcomeLabel is an attempt's outcome in the bounded words of ccrelay_upstream_attempts_total:
// a key refused for billing and a provider whose every key was rejected count as key_rejected,
// a provider whose every key is rate limited or cooling down as 429, and anything else by its
// status.
func outcomeLabel(outcome string, status int) string {
	switch outcome {
	case "ok", "unreachable", "timeout", "429", "4xx", "5xx", "529", "circuit_open", "key_rejected":
		return outcome
	case "billing", "keys_rejected":
		return "key_rejected"
	case "keys_unavailable":
		return "429"
	}
	if g := statusGroup(status); g != "" {
		return g
	}
	return "unreachable"
}

// providerLabel is name when it is an enabled provider's, "none" otherwise.
func (v *metricsView) providerLabel(name string) string {
	if v.providers[name] {
		return name
	}
	return labelNone
}

// modelLabel bounds a client-side model name: the name itself when a provider configures it
// (or discovered it: a local Ollama's installed models), else the longest model_mapping
// pattern that matches it ("claude-*"), else "other".
func (v *metricsView) modelLabel(model string) string {
	if model == "" {
		return labelOther
	}
	if v.exact[model] {
		return model
	}
	for _, p := range v.patterns {
		if strings.HasPrefix(model, p[:len(p)-1]) {
			return p
		}
	}
	for _, u := range v.r.upstreams {
		d := u.discovered.p.Load()
		if d == nil {
			continue
		}
		for _, name := range d.models {
			if name == model {
				return model
			}
		}
		if _, key, ok := config.MapModel(d.mapping, model); ok {
			return key
		}
	}
	return labelOther
}

// streamStarted counts a stream in flight (relayStream); it does nothing on a nil metrics.
func (m *metrics) streamStarted() {
	if m != nil {
		m.streams.Add(1)
	}
}

// streamEnded counts the end of a stream that streamStarted counted.
func (m *metrics) streamEnded() {
	if m != nil {
		m.streams.Add(-1)
	}
}

// reloaded counts a configuration reload, successful or not.
func (m *metrics) reloaded(ok bool) {
	result := "ok"
	if !ok {
		result = "error"
	}
	m.reloads.WithLabelValues(result).Inc()
}

// MetricsHandler serves the relay's metrics in the Prometheus exposition formats, without
// client authentication: it is what server.metrics_listen serves at GET /metrics.
func (r *Relay) MetricsHandler() http.Handler {
	if r.metrics == nil {
		return http.NotFoundHandler()
	}
	return r.metrics.handler
}

// MetricsHandler is the current relay's (see Relay.MetricsHandler); every relay of a Reloader
// shares the same metrics.
func (rl *Reloader) MetricsHandler() http.Handler { return rl.Current().MetricsHandler() }

// serveMetrics answers GET /metrics on the main listener. With server.auth configured it needs
// the client's key, as /v1/providers does; with server.metrics_listen set the metrics are
// served there instead, and here the answer is a 404 that says so.
func (r *Relay) serveMetrics(w *recorder, req *http.Request) {
	switch {
	case r.metrics == nil:
		writeError(w, errorf(http.StatusNotFound, "this relay serves no metrics"))
	case r.cfg.Server.MetricsListen != "":
		writeError(w, errorf(http.StatusNotFound, "metrics are served on server.metrics_listen (%s), not on this listener", r.cfg.Server.MetricsListen))
	default:
		if e := r.authError(req); e != nil {
			writeError(w, e)
			return
		}
		r.metrics.handler.ServeHTTP(w, req)
	}
}

// stateCollector reads, at scrape time, what the relay keeps as state: each key's state, each
// circuit, and the feature matrix's counters of /v1/providers.
type stateCollector struct {
	m                          *metrics
	keyState, circuit, feature *prometheus.Desc
	sharedUp, sharedFallbacks  *prometheus.Desc
}

func newStateCollector(m *metrics) *stateCollector {
	return &stateCollector{
		m: m,
		keyState: prometheus.NewDesc("ccrelay_key_state",
			"State of each key of a provider's pool, by its index in the configuration: 0 available, 1 cooling down (rate limited), 2 disabled (rejected by the provider).",
			[]string{"provider", "key"}, nil),
		circuit: prometheus.NewDesc("ccrelay_circuit_open",
			"1 while a provider's circuit breaker is open (half-open included: it lets one probe through), 0 when closed.",
			[]string{"provider"}, nil),
		feature: prometheus.NewDesc("ccrelay_feature_actions_total",
			"What the relay did about a feature a provider cannot serve as asked, by action: refused, stripped, degraded, repaired.",
			[]string{"provider", "feature", "action"}, nil),
		sharedUp: prometheus.NewDesc("ccrelay_shared_state_up",
			"1 while the shared state (server.state.redis) is reachable, 0 while the relay serves on local state with each limit divided by expected_instances. Absent without server.state.",
			nil, nil),
		sharedFallbacks: prometheus.NewDesc("ccrelay_shared_state_fallbacks_total",
			"Shared-state operations served from local state because Redis was unreachable.",
			nil, nil),
	}
}

// Describe sends the descriptions of the collector's series.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.keyState
	ch <- c.circuit
	ch <- c.feature
	ch <- c.sharedUp
	ch <- c.sharedFallbacks
}

// Collect reads the current relay's key pools, circuits and feature counters.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.m.view.Load().r
	if st, ok := r.state.(*state.Redis); ok && r.shared != nil {
		up := 0.0
		if st.Up() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.sharedUp, prometheus.GaugeValue, up)
		ch <- prometheus.MustNewConstMetric(c.sharedFallbacks, prometheus.CounterValue, float64(st.Fallbacks()))
	}
	open := map[string]bool{}
	for _, s := range r.router.Snapshot() {
		open[s.Name] = s.State != route.Closed
	}
	for _, u := range r.upstreams {
		name := u.cfg.Name
		for _, k := range u.pool.Snapshot() {
			state := 1.0
			switch {
			case k.Disabled:
				state = 2
			case k.Available:
				state = 0
			}
			ch <- prometheus.MustNewConstMetric(c.keyState, prometheus.GaugeValue, state, name, strconv.Itoa(k.Index))
		}
		v := 0.0
		if open[name] {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.circuit, prometheus.GaugeValue, v, name)
		actions := map[[2]string]int64{}
		for note, n := range u.countsSnapshot() {
			feature, action, ok := strings.Cut(note, "=")
			if !ok {
				continue
			}
			actions[[2]string{feature, actionWord(action)}] += n
		}
		for fa, n := range actions {
			ch <- prometheus.MustNewConstMetric(c.feature, prometheus.CounterValue, float64(n), name, fa[0], fa[1])
		}
	}
}

// actionWord groups the actions of the relay's notes ("cache_control=stripped",
// "error=normalized:…") into refused, stripped, degraded and repaired.
func actionWord(action string) string {
	switch action {
	case "refused", "aborted":
		return "refused"
	case "stripped", "removed", "dropped":
		return "stripped"
	case "repaired", "normalized":
		return "repaired"
	}
	return "degraded" // clamped, as_user, as_text, estimated, inlined, not_enforced, ...
}
