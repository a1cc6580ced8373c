package relay

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
)

// Reloader is the http.Handler of a relay whose configuration can change while it serves.
// Each configuration is a *Relay of its own: a request is served from start to end by the
// relay that was current when it arrived, so requests in flight (long streams included)
// finish on the old configuration while new ones use the new. State survives what did not
// change (see adopt): a provider with the same name and type keeps its circuit breaker,
// counters and discovery, and each key with the same value its rate buckets, cooldown and
// rejection; session and thinking affinity are kept whole. A removed provider drains with
// the old relay; an added one starts fresh.
type Reloader struct {
	cur  atomic.Pointer[Relay]
	opts Options

	mu       sync.Mutex // serializes reloads
	ctx      context.Context
	stopBG   context.CancelFunc // ends the current relay's background work (Start)
	started  bool
	reloaded func(ok bool) // told of every reload besides the metrics, when set
}

// count counts a reload in the current relay's metrics (ccrelay_config_reloads_total) and
// tells OnReload's function.
func (rl *Reloader) count(ok bool) {
	if m := rl.cur.Load().metrics; m != nil {
		m.reloaded(ok)
	}
	if rl.reloaded != nil {
		rl.reloaded(ok)
	}
}

// NewReloader builds the first relay from opts.
func NewReloader(ctx context.Context, opts Options) (*Reloader, error) {
	r, err := New(ctx, opts)
	if err != nil {
		return nil, err
	}
	rl := &Reloader{opts: opts}
	rl.cur.Store(r)
	return rl, nil
}

// ServeHTTP serves the request with the current relay.
func (rl *Reloader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rl.cur.Load().ServeHTTP(w, req)
}

// Close closes the current relay's connections to its shared state (Relay.Close).
func (rl *Reloader) Close() error { return rl.cur.Load().Close() }

// Current returns the relay that serves new requests.
func (rl *Reloader) Current() *Relay { return rl.cur.Load() }

// ServerMaxHeaderBytes is the current relay's (see Relay.ServerMaxHeaderBytes).
func (rl *Reloader) ServerMaxHeaderBytes() int { return rl.cur.Load().ServerMaxHeaderBytes() }

// Start starts the current relay's background work (Relay.Start) until ctx is done; each
// reload starts the new relay's and stops the old one's.
func (rl *Reloader) Start(ctx context.Context) []string {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.ctx, rl.started = ctx, true
	bg, stop := context.WithCancel(ctx)
	rl.stopBG = stop
	return rl.cur.Load().Start(bg)
}

// OnReload sets a function told of every reload, ok or failed (the metrics' count).
func (rl *Reloader) OnReload(f func(ok bool)) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.reloaded = f
}

// Failed counts a reload that did not get as far as Reload (the file could not be read or is
// invalid).
func (rl *Reloader) Failed() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.count(false)
}

// Reload swaps in a relay built from cfg, which the caller has loaded and validated, and says
// what changed. When the relay cannot be built, the old one keeps serving and the error says
// why.
func (rl *Reloader) Reload(ctx context.Context, cfg *config.Config, hash string) (string, error) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	old := rl.cur.Load()
	opts := rl.opts
	opts.Config, opts.ConfigHash, opts.previous = cfg, hash, old
	if opts.Transport == nil && reflect.DeepEqual(cfg.Server.Timeouts, old.cfg.Server.Timeouts) {
		opts.Transport = old.transport // keep the warm connections
	}
	r, err := New(ctx, opts)
	if err != nil {
		rl.count(false)
		return "", err
	}
	rl.cur.Store(r)
	if old.state != r.state {
		old.Close() // a new server.state: requests in flight on the old one finish on local state
	}
	if rl.started {
		rl.stopBG()
		bg, stop := context.WithCancel(rl.ctx)
		rl.stopBG = stop
		go r.Start(bg)
	}
	rl.count(true)
	return describeChange(old.cfg, cfg), nil
}

// adopt carries prev's state over to r for what did not change (see Reloader).
func (r *Relay) adopt(prev *Relay) {
	r.affinity, r.sigs = prev.affinity, prev.sigs
	r.router.Adopt(prev.router)
	for _, u := range r.upstreams {
		i := slices.IndexFunc(prev.upstreams, func(o *upstream) bool { return o.cfg.Name == u.cfg.Name && o.cfg.Type == u.cfg.Type })
		if i < 0 {
			continue
		}
		o := prev.upstreams[i]
		if slices.Equal(o.cfg.Keys, u.cfg.Keys) && prev.cfg.Routing.KeyStrategy == r.cfg.Routing.KeyStrategy &&
			prev.cfg.Routing.KeyRetry == r.cfg.Routing.KeyRetry {
			u.pool = o.pool // the same keys: one pool, which requests in flight keep teaching
		} else {
			u.pool.Adopt(o.pool)
		}
		u.counts = o.countsSnapshot()
		u.health.p.Store(o.health.p.Load())
		if reflect.DeepEqual(o.cfg, u.cfg) {
			u.discovered.p.Store(o.discovered.p.Load())
		}
	}
}

// describeChange names what a reload changed: providers added, removed and changed, and the
// other sections.
func describeChange(old, cfg *config.Config) string {
	var added, removed, changed []string
	for _, p := range cfg.Providers {
		i := slices.IndexFunc(old.Providers, func(o config.Provider) bool { return o.Name == p.Name })
		switch {
		case i < 0:
			added = append(added, p.Name)
		case !reflect.DeepEqual(old.Providers[i], p):
			changed = append(changed, p.Name)
		}
	}
	for _, o := range old.Providers {
		if !slices.ContainsFunc(cfg.Providers, func(p config.Provider) bool { return p.Name == o.Name }) {
			removed = append(removed, o.Name)
		}
	}
	var parts []string
	for _, s := range []struct {
		what  string
		names []string
	}{{"providers added", added}, {"providers removed", removed}, {"providers changed", changed}} {
		if len(s.names) > 0 {
			parts = append(parts, s.what+": "+strings.Join(s.names, ", "))
		}
	}
	if !reflect.DeepEqual(old.Routing, cfg.Routing) {
		parts = append(parts, "routing changed")
	}
	if !reflect.DeepEqual(old.Server, cfg.Server) {
		parts = append(parts, "server changed")
	}
	if len(parts) == 0 {
		return "nothing changed"
	}
	return strings.Join(parts, "; ")
}

// configInfo is the configuration's source, content hash and load time, for /v1/providers.
type configInfo struct {
	Source   string `json:"source"`
	Hash     string `json:"hash,omitempty"`
	LoadedAt string `json:"loaded_at"`
}

func (r *Relay) configInfo() configInfo {
	src := r.cfg.Source
	if src == "" {
		src = "environment (no configuration file)"
	}
	return configInfo{Source: src, Hash: r.configHash, LoadedAt: r.started.UTC().Format(time.RFC3339)}
}

// String is for logs.
func (c configInfo) String() string { return fmt.Sprintf("%s (%s)", c.Source, c.Hash) }
