package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/config"
)

// Reachability of a provider, as /health and /v1/providers show it.
const (
	reachUnknown     = "unknown" // not probed (before Start, or health checks disabled)
	reachReachable   = "reachable"
	reachUnreachable = "unreachable"
)

// Bounds of the health checks.
const (
	// startBound bounds Start's first probes and discovery together.
	startBound = 2 * time.Second
	// probeTimeout bounds one periodic probe.
	probeTimeout = 5 * time.Second
)

// probeResult is the outcome of a provider's last probe.
type probeResult struct {
	ok  bool
	err string // why it failed, when it did
	at  time.Time
}

// healthState holds a provider's last probe result; nil until probed.
type healthState struct {
	p atomic.Pointer[probeResult]
}

// unreachable reports whether the last health probe of u failed.
func (u *upstream) unreachable() bool {
	pr := u.health.p.Load()
	return pr != nil && !pr.ok
}

// reachability returns the provider's reachability and its last probe, nil when never probed.
func (h *healthState) reachability() (string, *probeResult) {
	pr := h.p.Load()
	switch {
	case pr == nil:
		return reachUnknown, nil
	case pr.ok:
		return reachReachable, pr
	}
	return reachUnreachable, pr
}

// set records a probe's outcome and reports whether the reachability changed.
func (h *healthState) set(err error, at time.Time) bool {
	pr := &probeResult{ok: err == nil, at: at}
	if err != nil {
		pr.err = shortErr(err)
	}
	old := h.p.Swap(pr)
	return old == nil || old.ok != pr.ok
}

// background is the state of what Relay.Start runs.
type background struct {
	// started is set by Start; requests may then ask a discoverable Ollama for its models.
	started atomic.Bool
}

// healthInterval is routing.health_interval: absent means the default, 0 disables.
func (r *Relay) healthInterval() time.Duration {
	if p := r.cfg.Routing.HealthInterval; p != nil {
		return p.D()
	}
	return config.DefaultHealthInterval
}

// start is Relay.Start.
func (r *Relay) start(ctx context.Context) []string {
	if !r.bg.started.CompareAndSwap(false, true) {
		return nil
	}
	for _, u := range r.upstreams {
		if u.cfg.Type == config.TypeOllama {
			u.discovered.ollama.Store(newOllamaState(newOllamaAPI(u.cfg, r.transport), discoverable(u.cfg)))
		}
	}
	iv := r.healthInterval()
	first, cancel := context.WithTimeout(ctx, startBound)
	lines := r.checkAll(first, iv > 0, true)
	cancel()
	if l := r.sharedLine(); l != "" {
		lines = append(lines, l)
	}
	if iv <= 0 {
		return append(lines, "health: provider checks are disabled (routing.health_interval: 0s); /health shows every provider as unknown")
	}
	var states []string
	for _, u := range r.upstreams {
		st, pr := u.health.reachability()
		if pr != nil && !pr.ok {
			st += " (" + pr.err + ")"
		}
		states = append(states, u.cfg.Name+" "+st)
	}
	lines = append(lines, fmt.Sprintf("health: %s; checked every %s (routing.health_interval)", strings.Join(states, ", "), iv))
	go r.healthLoop(ctx, iv)
	return lines
}

// healthLoop probes every provider every interval until ctx is done.
func (r *Relay) healthLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.checkAll(ctx, true, false)
		}
	}
}

// checkAll checks every provider at once and returns, at start, the lines to print in
// configuration order; later, what changed is logged instead.
func (r *Relay) checkAll(ctx context.Context, probe, atStart bool) []string {
	out := make([][]string, len(r.upstreams))
	var wg sync.WaitGroup
	for i, u := range r.upstreams {
		wg.Go(func() { out[i] = r.check(ctx, u, probe, atStart) })
	}
	wg.Wait()
	var lines []string
	for _, l := range out {
		lines = append(lines, l...)
	}
	return lines
}

// check probes one provider and, for an ollama provider that answers, discovers its models
// (when the configuration leaves it open) and learns the context of its models.
func (r *Relay) check(ctx context.Context, u *upstream, probe, atStart bool) []string {
	var lines []string
	say := func(l []string) {
		if atStart {
			lines = append(lines, l...)
			return
		}
		for _, s := range l {
			r.log.Info(s)
		}
	}
	var perr error
	if probe {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		perr = r.probe(pctx, u)
		cancel()
		if u.health.set(perr, r.now()) && !atStart {
			if perr != nil {
				r.log.Warn("provider unreachable", "provider", u.cfg.Name, "address", u.p.Address, "error", shortErr(perr))
			} else {
				r.log.Info("provider reachable", "provider", u.cfg.Name, "address", u.p.Address)
			}
		}
	}
	o := u.discovered.ollama.Load()
	if o == nil {
		return nil
	}
	notAnswering := func(err error) {
		if atStart && o.discover {
			lines = append(lines, fmt.Sprintf("%s: Ollama is not answering at %s (%s); ccrelay asks for its models again when it answers (at each health check and on a request), and until then forwards model names as they are",
				u.cfg.Name, o.api.base, shortErr(err)))
		}
	}
	if perr != nil {
		notAnswering(perr)
		return lines
	}
	if !o.discover {
		o.learnContexts(ctx, configuredModels(u.cfg))
		return lines
	}
	o.rediscover(ctx, true, r.now, func(ctx context.Context) {
		dl, err := r.discoverOllama(ctx, u, o)
		if err != nil {
			notAnswering(err)
			return
		}
		say(dl)
	})
	return lines
}

// configuredModels lists the upstream model ids a provider's configuration names.
func configuredModels(cfg config.Provider) []string {
	out := append([]string(nil), cfg.Models...)
	for _, m := range cfg.ModelMapping {
		out = append(out, m)
	}
	return out
}

// probe checks that a provider answers, without its key: Ollama's GET /api/version, else a
// TCP connection to the provider's host (through the proxy the transport would use).
func (r *Relay) probe(ctx context.Context, u *upstream) error {
	if o := u.discovered.ollama.Load(); o != nil {
		v, err := o.api.version(ctx)
		if err == nil {
			o.mu.Lock()
			o.version = v
			o.mu.Unlock()
		}
		return err
	}
	target, err := url.Parse(u.p.Address)
	if err != nil || target.Host == "" {
		return fmt.Errorf("no address to probe")
	}
	if t, ok := r.transport.(*http.Transport); ok && t.Proxy != nil {
		if pu, err := t.Proxy(&http.Request{URL: target, Header: http.Header{}}); err == nil && pu != nil {
			target = pu
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostPort(target))
	if err != nil {
		return err
	}
	return conn.Close()
}

// hostPort is a URL's host with its port, the scheme's default when absent.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "443"
	if u.Scheme == "http" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// shortErr is an error without the method and URL net/http puts in front.
func shortErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// authError checks the client's credential as admit does: nil when no client key is
// configured (server.auth.api_key, server.auth.keys) or the request carries a valid one as
// x-api-key or Authorization: Bearer, an Anthropic 401 otherwise.
func (r *Relay) authError(req *http.Request) *apierr.Error {
	apiKey, bearer := clientCredential(req.Header)
	_, _, e := r.clients.Authenticate(apiKey, bearer)
	return e
}
