// Package relay is ccrelay's HTTP edge: it serves the Anthropic Messages API and relays each
// request to the configured providers. The same *Relay is the http.Handler of the server, the
// CLI and the tests.
//
// relay.go is the edge (New, ServeHTTP, the path mux). A Messages request then goes through
// eight steps, one file each, read in this order (request.go's serveMessages is the outline):
//
//	admit.go    client auth and client-key policy, one bounded read of the body (relay/body)
//	inspect.go  the body's top-level facts: valid, model, stream, the features it uses
//	route.go    the providers that serve the model, the scenario rule, in the router's order
//	prepare.go  each candidate made ready when reached: matrix decision, edits, model mapping
//	attempt.go  one upstream call at a time; before the first byte, failures move on
//	commit.go   the one point after which the relay never fails over
//	stream.go   each event copied and flushed as it arrives, repaired, kept alive
//	account.go  one place settles each attempt (key, health) and each request (metrics, logs)
package relay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ccrelay/ccrelay/relay/clientkey"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/fetch"
	"github.com/ccrelay/ccrelay/relay/keys"
	"github.com/ccrelay/ccrelay/relay/pricing"
	"github.com/ccrelay/ccrelay/relay/provider"
	"github.com/ccrelay/ccrelay/relay/route"
	"github.com/ccrelay/ccrelay/relay/state"
)

// Options configures New. Only Config is required.
type Options struct {
	Config *config.Config
	// Transport is the only door to the network: a tuned *http.Transport when nil, a go-vcr
	// recorder or replayer in the conformance suite.
	Transport http.RoundTripper
	// Logger receives the relay's diagnostics, and the access line of each request unless
	// AccessLog is set; nil discards.
	Logger *slog.Logger
	// ConfigHash is a digest of the configuration's content, shown in /v1/providers.
	ConfigHash string
	// previous is the relay this one replaces on a reload (Reloader): its state is carried
	// over for what did not change.
	previous *Relay
	// Observers receive the record of each finished request (account.go): metrics, the usage
	// log.
	Observers []Observer
	// AccessLog, when set, receives the access line of each request (accesslog.go), formatted
	// by the relay in slog's text format, when Logger is enabled for the line's level.
	AccessLog io.Writer
	// Getenv reads the environment for provider credentials; nil means os.Getenv.
	Getenv func(string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// State is where limits shared across instances are counted (client keys' rates,
	// requests in flight and spend): a Redis-backed store shared by every relay of a team, or
	// nil for an in-process one (on a reload, the previous relay's).
	State state.Store
	// stateProbe is how often an unreachable Redis is probed; 0 means state.DefaultProbeEvery.
	// Tests shorten it.
	stateProbe time.Duration
}

// Relay is the http.Handler that serves the Anthropic Messages API.
type Relay struct {
	cfg       *config.Config
	transport http.RoundTripper
	log       *slog.Logger
	access    io.Writer // Options.AccessLog
	now       func() time.Time
	upstreams []*upstream // enabled providers, in configuration order
	router    *route.Router
	affinity  *route.Affinity
	sigs      *route.Signatures
	fetcher   *fetch.Inliner
	maxBody   int64
	maxHeader int // server.max_header_bytes
	// configHash is Options.ConfigHash.
	configHash string
	observers  []Observer
	// metrics are the relay's Prometheus series (metrics.go), one of its observers.
	metrics *metrics
	// keepalive is server.stream_keepalive: a ping after this long without an event to the
	// client; 0 disables.
	keepalive time.Duration
	idle      time.Duration
	started   time.Time
	// sticky is false when session affinity cannot choose anything: one provider with one
	// key. The affinity table is then neither read nor written.
	sticky bool
	// getenv is Options.Getenv (CCRELAY_OLLAMA_MODEL); nil means os.Getenv.
	getenv func(string) string
	// bg is the state of what Start runs (health.go).
	bg background
	// state is where state shared across instances lives: Options.State; else, with
	// server.state.redis, a Redis store; else an in-process one (on a reload, the previous
	// relay's when server.state did not change).
	state state.Store
	// shared mirrors the state of the key pools, the router and the affinity tables through
	// state (shared.go); nil without server.state.redis, and then nothing of theirs is shared.
	shared *shared
	// stateProbe is Options.stateProbe.
	stateProbe time.Duration
	// ownState reports that the relay opened state (and Close closes it).
	ownState bool
	// clients are the client keys (server.auth.api_key and keys) with their policy; prices
	// prices requests for the keys' budgets (nil when no key has one).
	clients *clientkey.Table
	prices  *pricing.Book
}

// upstream is one enabled provider with its runtime state.
type upstream struct {
	cfg config.Provider
	row *features.Row // the provider's feature matrix row with its overrides
	// deep reports that the row acts on nested features: planning this provider needs the
	// walk of every message and tool (inbound.usesFor).
	deep     bool
	p        *provider.Provider
	pool     *keys.Pool
	inFlight atomic.Int64
	// discovered is what the relay learned from the provider at run time (discovered.go).
	discovered discoveredState
	// health is the provider's reachability as the last probe found it (health.go).
	health healthState
	// keyIDs name the provider's keys in the shared state (shared.go), in configuration
	// order; nil without server.state.
	keyIDs []string

	// counts are the feature-matrix counters shown in /v1/providers: "feature=action" of every
	// strip and degradation, and "feature=refused" of every refusal.
	countsMu sync.Mutex
	counts   map[string]int64
}

// count adds one to each note's counter; a note's detail after ':' is left out of the key.
func (u *upstream) count(notes ...string) {
	u.countsMu.Lock()
	defer u.countsMu.Unlock()
	if u.counts == nil {
		u.counts = map[string]int64{}
	}
	for _, n := range notes {
		if i := strings.IndexByte(n, ':'); i > 0 {
			n = n[:i]
		}
		u.counts[n]++
	}
}

// countsSnapshot copies the counters.
func (u *upstream) countsSnapshot() map[string]int64 {
	u.countsMu.Lock()
	defer u.countsMu.Unlock()
	out := make(map[string]int64, len(u.counts))
	for k, v := range u.counts {
		out[k] = v
	}
	return out
}

// New builds a relay from a validated configuration.
func New(ctx context.Context, opts Options) (*Relay, error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, fmt.Errorf("relay: no configuration")
	}
	// A configuration built in code (not by config.Load and the CLI) gets the same check of its
	// feature overrides as a file: an unknown feature or action is an error, not a pass.
	if err := features.ValidateConfig(cfg); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r := &Relay{
		cfg:        cfg,
		transport:  opts.Transport,
		log:        opts.Logger,
		access:     opts.AccessLog,
		observers:  opts.Observers,
		configHash: opts.ConfigHash,
		now:        opts.Now,
		getenv:     opts.Getenv,
		stateProbe: opts.stateProbe,
		maxBody:    cfg.Server.MaxBodyBytes,
		idle:       cfg.Server.Timeouts.StreamIdle.Or(config.DefaultStreamIdleTimeout),
	}
	if r.maxBody <= 0 {
		r.maxBody = config.DefaultMaxBodyBytes
	}
	r.keepalive = config.DefaultStreamKeepalive
	if ka := cfg.Server.StreamKeepalive; ka != nil {
		r.keepalive = ka.D()
	}
	r.maxHeader = cfg.Server.MaxHeaderBytes
	if r.maxHeader <= 0 {
		r.maxHeader = config.DefaultMaxHeaderBytes
	}
	if r.transport == nil {
		r.transport = NewTransport(cfg.Server.Timeouts)
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.started = r.now()
	if err := r.openState(opts.State, opts.previous); err != nil {
		return nil, err
	}
	r.clients = clientkey.New(cfg.Server.Auth, r.state, r.now)
	for _, k := range cfg.Server.Auth.Keys {
		if k.BudgetUSD.Daily > 0 || k.BudgetUSD.Monthly > 0 {
			// Unknown models are logged by the metrics' book; this one stays quiet.
			if b, err := pricing.NewBook(cfg.Providers, nil); err == nil {
				r.prices = b
			}
			break
		}
	}
	env := provider.Env{Getenv: opts.Getenv, Transport: r.transport}
	for _, pc := range cfg.Providers {
		if !pc.IsEnabled() {
			continue
		}
		p, err := provider.New(ctx, pc, env)
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		pool := keys.NewPool(pc.Name, pc.Keys, cfg.Routing.KeyStrategy, r.now, keys.WithKeyRetry(cfg.Routing.KeyRetry.D()))
		row := features.NewRow(pc.Type, pc.Features)
		r.upstreams = append(r.upstreams, &upstream{cfg: pc, row: row, deep: row.NeedsDeep(), p: p, pool: pool})
	}
	cands := make([]route.Candidate, 0, len(r.upstreams))
	for _, u := range r.upstreams {
		cands = append(cands, route.Candidate{
			Name: u.cfg.Name, Priority: u.cfg.EffectivePriority(), Weight: u.cfg.Weight,
			InFlight: func() int { return int(u.inFlight.Load()) },
		})
	}
	r.sticky = len(r.upstreams) > 1 || len(r.upstreams) == 1 && r.upstreams[0].pool.Len() > 1
	r.router = route.NewRouter(cfg.Routing, cands, r.now, nil)
	r.affinity = route.NewAffinity(0, 0, r.now)
	r.sigs = route.NewSignatures(0)
	r.fetcher = &fetch.Inliner{
		MaxBytes:   cfg.Server.Fetch.MaxBytes,
		Timeout:    cfg.Server.Fetch.Timeout.D(),
		AllowHosts: cfg.Server.Fetch.AllowHosts,
	}
	if opts.previous != nil {
		r.adopt(opts.previous)
	}
	if r.cfg.Server.State.Redis != nil {
		r.shared = newShared(r, r.state)
	}
	r.metrics = newMetrics(r, opts.previous)
	r.observers = append(r.observers[:len(r.observers):len(r.observers)], r.metrics)
	return r, nil
}

// Start runs the first health probe of every provider and the first discovery of a local
// Ollama's models (bounded to a couple of seconds in all), then probes every provider every
// routing.health_interval until ctx is done. It returns lines for the operator: what claude-*
// is mapped to, what is unreachable, what to fix. New starts nothing: a relay that is never
// started (the tests that replay recorded traffic) sends nothing of its own upstream.
func (r *Relay) Start(ctx context.Context) []string { return r.start(ctx) }

// NewTransport returns the tuned transport used to reach providers. It has no whole-response
// timeout, which would cut long streams; the stream idle timeout is enforced by the relay.
func NewTransport(t config.Timeouts) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   t.Dial.Or(config.DefaultDialTimeout),
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:   t.TLSHandshake.Or(config.DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout: t.ResponseHeader.Or(config.DefaultResponseHeaderTimeout),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// ServeHTTP routes on the path only: the query (Claude Code sends ?beta=true) is ignored, and
// a path prefix in front of /v1 (ANTHROPIC_BASE_URL=http://host/prefix) is accepted.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := r.now()
	id := newRequestID()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	if len(r.observers) > 0 {
		rec.now = r.now
	}
	rec.Header().Set("Request-Id", id)
	rec.Header().Set(hdrRequestID, id)
	if n := headerBytes(req); n > r.maxHeader {
		writeError(rec, errorf(http.StatusRequestHeaderFieldsTooLarge,
			"request headers are %d bytes, over the relay's limit of %d bytes (server.max_header_bytes); send fewer or shorter headers (ANTHROPIC_CUSTOM_HEADERS?) or raise the limit", n, r.maxHeader))
	} else {
		r.dispatch(rec, req)
	}
	d := r.now().Sub(start)
	r.logRequest(req, rec, id, d)
	r.account(req, rec, id, start, d)
}

// dispatch hands a request to its handler by path and method (the path mux).
func (r *Relay) dispatch(w *recorder, req *http.Request) {
	path := req.URL.Path
	if i := strings.Index(path, "/v1/"); i > 0 {
		path = path[i:]
	}
	var allow string
	switch {
	case path == "/v1/messages":
		allow = http.MethodPost
		if req.Method == allow {
			r.serveMessages(w, req, provider.OpMessages)
			return
		}
	case path == "/v1/messages/count_tokens":
		allow = http.MethodPost
		if req.Method == allow {
			r.serveMessages(w, req, provider.OpCountTokens)
			return
		}
	case path == "/v1/models" || strings.HasPrefix(path, "/v1/models/"):
		allow = http.MethodGet
		if req.Method == allow {
			r.serveModels(w, req, strings.TrimPrefix(strings.TrimPrefix(path, "/v1/models"), "/"))
			return
		}
	case path == "/v1/providers":
		allow = http.MethodGet
		if req.Method == allow {
			r.serveProviders(w, req)
			return
		}
	case req.URL.Path == "/health" || path == "/v1/health":
		allow = http.MethodGet
		if req.Method == allow || req.Method == http.MethodHead {
			r.serveHealth(w, req)
			return
		}
	case strings.HasSuffix(req.URL.Path, "/api/hello") || req.URL.Path == "/" && req.Method == http.MethodHead:
		// Claude Code's connectivity preflight: HEAD /api/hello at ANTHROPIC_BASE_URL (and
		// HEAD / from some versions); a 404 makes it report the endpoint as down
		// (router-for-me/CLIProxyAPI#5905, headroomlabs-ai/headroom#2032). Logged at debug.
		allow = http.MethodGet
		if req.Method == allow || req.Method == http.MethodHead {
			w.probe = true
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
			return
		}
	case req.URL.Path == "/metrics":
		allow = http.MethodGet
		if req.Method == allow {
			r.serveMetrics(w, req)
			return
		}
	default:
		writeError(w, errorf(http.StatusNotFound, "no route for %s %s; ccrelay serves POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models, GET /v1/providers and GET /health", req.Method, req.URL.Path))
		return
	}
	w.Header().Set("Allow", allow)
	writeError(w, errorf(http.StatusMethodNotAllowed, "method %s is not allowed on %s; use %s", req.Method, path, allow))
}

// ServerMaxHeaderBytes is the http.Server's MaxHeaderBytes for this relay: four times
// server.max_header_bytes, so that headers over the relay's limit reach the relay, which refuses
// them with an Anthropic-shaped 431 (net/http's own refusal is plain text).
func (r *Relay) ServerMaxHeaderBytes() int { return 4 * r.maxHeader }

// headerBytes is the size of a request's header as sent on HTTP/1.1: the request line and each
// "Name: value\r\n".
func headerBytes(req *http.Request) int {
	n := len(req.Method) + len(req.RequestURI) + len(req.Proto) + 4
	for k, vs := range req.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// logRequest writes the one line per request. It never logs credentials.
func (r *Relay) logRequest(req *http.Request, w *recorder, id string, d time.Duration) {
	level := slog.LevelInfo
	switch {
	case w.status >= 500:
		level = slog.LevelWarn
	case w.probe:
		level = slog.LevelDebug
	}
	ctx := req.Context()
	if !r.log.Enabled(ctx, level) {
		return
	}
	h := w.Header()
	l := accessLine{
		at: r.now(), warn: level == slog.LevelWarn, id: id, method: req.Method, path: req.URL.Path,
		status: w.status, model: w.model, upstreamModel: w.upstreamModel, scenario: w.scenario, provider: h.Get(hdrProvider),
		client:   w.client,
		attempts: h.Get(hdrAttempts), failed: w.failed,
		degraded: h.Get(hdrDegraded), bytes: w.written, duration: d.Round(time.Microsecond),
	}
	if w.repaired != "" {
		if l.degraded != "" {
			l.degraded += "; "
		}
		l.degraded += w.repaired
	}
	if r.access != nil {
		writeAccessLine(r.access, &l)
		return
	}
	// LogAttrs with typed attributes: no interface boxing of the ints and the duration, and
	// the record's attributes fit its inline array.
	if l.scenario != "" || l.client != "" {
		// A client key or a scenario rule to name: the attributes that are set, in a slice.
		attrs := make([]slog.Attr, 0, 14)
		attrs = append(attrs, slog.String("id", l.id), slog.String("method", l.method), slog.String("path", l.path),
			slog.Int("status", l.status))
		if l.client != "" {
			attrs = append(attrs, slog.String("client", l.client))
		}
		attrs = append(attrs, slog.String("model", l.model), slog.String("upstream_model", l.upstreamModel))
		if l.scenario != "" {
			attrs = append(attrs, slog.String("scenario", l.scenario))
		}
		attrs = append(attrs, slog.String("provider", l.provider), slog.String("attempts", l.attempts), slog.String("failed", l.failed),
			slog.String("degraded", l.degraded),
			slog.Int64("bytes", l.bytes), slog.Duration("duration", l.duration))
		r.log.LogAttrs(ctx, level, "request", attrs...)
		return
	}
	r.log.LogAttrs(ctx, level, "request",
		slog.String("id", l.id), slog.String("method", l.method), slog.String("path", l.path),
		slog.Int("status", l.status), slog.String("model", l.model), slog.String("upstream_model", l.upstreamModel),
		slog.String("provider", l.provider), slog.String("attempts", l.attempts), slog.String("failed", l.failed),
		slog.String("degraded", l.degraded),
		slog.Int64("bytes", l.bytes), slog.Duration("duration", l.duration))
}

// recorder remembers the status and size of a response. Like every ResponseWriter wrapper of
// the relay it implements Flush and Unwrap, so streams are never buffered.
type recorder struct {
	http.ResponseWriter
	status      int
	written     int64
	wroteHeader bool
	// For the access line: the client's model, the upstream model of the answer, and the
	// failed attempts ("provider=reason,...").
	model, upstreamModel, failed string
	// committed is set at the commit point (commit.go): the answer is going to the client,
	// and the relay must not fail over any more.
	committed bool
	// probe marks a client's connectivity probe (HEAD /api/hello), logged at debug only.
	probe bool
	// scenario is the routing.scenarios rule's scenario that routed the request ("": none).
	scenario string
	// repaired is what the stream repair changed after the headers were out (the trailer).
	repaired string

	// For accounting (account.go), set as the request goes: whether it streams, Claude
	// Code's session, the client key's name, the provider's request id, the usage, the
	// attempts, what was changed, and when the first byte went out.
	stream     bool
	session    string
	client     string
	upstreamID string
	tokens     Tokens
	attempts   []Attempt
	notes      []string
	firstAt    time.Time
	now        func() time.Time
}

func (w *recorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	w.wroteHeader = true
	if w.firstAt.IsZero() && w.now != nil {
		w.firstAt = w.now()
	}
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

// Flush sends buffered data to the client.
func (w *recorder) Flush() {
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer for http.ResponseController.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
