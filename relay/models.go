package relay

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/keys"
	"github.com/ccrelay/ccrelay/relay/pricing"
	"github.com/ccrelay/ccrelay/relay/route"
)

// modelInfo is one entry of GET /v1/models, in Anthropic's shape plus a description that
// Claude Code's gateway model discovery reads.
type modelInfo struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
	Description string `json:"description,omitempty"`
}

// unknownCreated is the created_at of every listed model: the relay does not know when a
// provider's model was released, and says so with the zero time rather than inventing a date.
const unknownCreated = "1970-01-01T00:00:00Z"

// modelList lists every client-side model name some enabled provider serves, in provider
// order, without duplicates (the first provider wins): the exact names of each model_mapping
// and models list, and the Claude model ids the relay knows (its price table) for each mapping
// pattern ("claude-haiku-*") and for a Claude platform that serves any name as is. A provider
// whose models were discovered (discovered.go) lists its discovered mapping and the models as
// the provider lists them. Claude Code's model picker (gateway model discovery) keeps the ids
// that start with claude or anthropic and shows display_name, which says where each goes:
// "Claude Sonnet 4.5 → glm-4.6 via zai".
func (r *Relay) modelList() []modelInfo {
	var out []modelInfo
	seen := map[string]bool{}
	add := func(u *upstream, id, upstreamID, how string) {
		if seen[id] {
			return
		}
		seen[id] = true
		display, desc := modelDisplayName(id)+" via "+u.cfg.Name, "served by "+u.cfg.Name+" ("+u.cfg.Type+how+")"
		if upstreamID != id {
			display = modelDisplayName(id) + " → " + upstreamID + " via " + u.cfg.Name
			desc += " as " + upstreamID
		}
		out = append(out, modelInfo{Type: "model", ID: id, DisplayName: display, CreatedAt: unknownCreated, Description: desc})
	}
	for _, u := range r.upstreams {
		mapping, models, how := u.cfg.ModelMapping, u.cfg.Models, ""
		if d := u.discovered.p.Load(); d != nil && len(mapping) == 0 && len(models) == 0 {
			mapping, models, how = d.mapping, d.installed, ", discovered"
		}
		keys := make([]string, 0, len(mapping))
		for k := range mapping {
			if !config.IsModelPattern(k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			add(u, k, mapping[k], how)
		}
		open := len(mapping) == 0 && len(models) == 0 && claudePlatform(u.cfg.Type)
		if open || len(keys) < len(mapping) {
			for _, id := range knownClaudeModels {
				if m, _, ok := config.MapModel(mapping, id); ok {
					add(u, id, m, how)
				} else if open {
					add(u, id, id, how)
				}
			}
		}
		for _, m := range models {
			add(u, m, m, how)
		}
	}
	return out
}

// knownClaudeModels are the Claude model ids of the relay's price table, newest family first
// (opus, sonnet, haiku, then the others), each family newest version first: the names a
// mapping pattern or an open Claude platform expands to in GET /v1/models.
var knownClaudeModels = func() []string {
	ids := slices.Collect(maps.Keys(pricing.Table(config.TypeAnthropic)))
	family := func(id string) int {
		for i, f := range []string{"claude-opus-", "claude-sonnet-", "claude-haiku-"} {
			if strings.HasPrefix(id, f) {
				return i
			}
		}
		return 3
	}
	slices.SortFunc(ids, func(a, b string) int {
		if fa, fb := family(a), family(b); fa != fb {
			return fa - fb
		}
		return strings.Compare(b, a)
	})
	return ids
}()

// modelDisplayName is the name people call a Claude model id by: "claude-sonnet-4-5" is
// "Claude Sonnet 4.5", "claude-3-5-haiku-20241022" "Claude 3.5 Haiku". Other ids are kept.
func modelDisplayName(id string) string {
	if !strings.HasPrefix(id, "claude-") {
		return id
	}
	var b strings.Builder
	b.WriteString("Claude")
	prevNum := false
	for _, part := range strings.Split(id, "-")[1:] {
		num := part != "" && strings.Trim(part, "0123456789") == ""
		switch {
		case num && len(part) >= 8:
			continue // a date suffix
		case num && prevNum:
			b.WriteString(".")
		default:
			b.WriteString(" ")
			if !num && part != "" {
				part = strings.ToUpper(part[:1]) + part[1:]
			}
		}
		b.WriteString(part)
		prevNum = num
	}
	return b.String()
}

// serveModels answers GET /v1/models (paged with limit, after_id, before_id) and
// GET /v1/models/{id}.
func (r *Relay) serveModels(w *recorder, req *http.Request, id string) {
	all := r.modelList()
	// A client key with models patterns sees only the models it may use. The list needs no
	// key (as before client keys), so a request without a valid one sees every model.
	if apiKey, bearer := clientCredential(req.Header); apiKey != "" || bearer != "" {
		if k, _, e := r.clients.Authenticate(apiKey, bearer); e == nil && len(k.Models()) > 0 {
			w.client = k.Name
			all = slices.DeleteFunc(slices.Clone(all), func(m modelInfo) bool { return !k.Allows(m.ID) })
		}
	}
	if id != "" {
		for _, m := range all {
			if m.ID == id {
				writeJSON(w, http.StatusOK, m)
				return
			}
		}
		writeError(w, errorf(http.StatusNotFound, "model %q is not served by any provider", id))
		return
	}
	q := req.URL.Query()
	limit := 20
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, errorf(http.StatusBadRequest, "limit: want an integer from 1 to 1000, got %q", s))
			return
		}
		limit = n
	}
	page := all
	if after := q.Get("after_id"); after != "" {
		i := slices.IndexFunc(all, func(m modelInfo) bool { return m.ID == after })
		page = all[i+1:] // i == -1 gives the whole list, as if no cursor was sent
	} else if before := q.Get("before_id"); before != "" {
		if i := slices.IndexFunc(all, func(m modelInfo) bool { return m.ID == before }); i >= 0 {
			page = all[max(0, i-limit):i]
		}
	}
	hasMore := len(page) > limit
	if hasMore {
		page = page[:limit]
	}
	resp := struct {
		Data    []modelInfo `json:"data"`
		HasMore bool        `json:"has_more"`
		FirstID *string     `json:"first_id"`
		LastID  *string     `json:"last_id"`
	}{Data: page, HasMore: hasMore}
	if resp.Data == nil {
		resp.Data = []modelInfo{}
	}
	if len(page) > 0 {
		resp.FirstID, resp.LastID = &page[0].ID, &page[len(page)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

// providerStatus is one entry of GET /v1/providers and /health.
type providerStatus struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Address  string `json:"address"`
	Priority int    `json:"priority"`
	// State is the circuit breaker's: closed, open or half-open.
	State               string `json:"state"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	// LastFailure is the cause of the last failed attempt while the circuit counts failures
	// ("unreachable at http://127.0.0.1:11434 (connection refused)"); RetryAt is when an open
	// circuit lets a probe through.
	LastFailure   string          `json:"last_failure,omitempty"`
	RetryAt       string          `json:"retry_at,omitempty"`
	KeysAvailable int             `json:"keys_available"`
	KeysCooling   int             `json:"keys_cooling"`
	KeysDisabled  int             `json:"keys_disabled"`
	Keys          []keys.KeyState `json:"keys"`
	InFlight      int64           `json:"in_flight"`
	Models        int             `json:"models"`
	Mapped        int             `json:"mapped_models"`
	// Features counts the feature matrix's actions on this provider since start:
	// "cache_control=stripped", "tool_choice_any=refused", ...
	Features map[string]int64 `json:"features"`
	// Reachability is what the last health probe found: reachable, unreachable, or unknown
	// (not probed: before Relay.Start, or with routing.health_interval 0s).
	Reachability string `json:"reachability"`
	// LastError is why the last probe failed; CheckedAt is when it ran (RFC 3339).
	LastError string `json:"last_error,omitempty"`
	CheckedAt string `json:"checked_at,omitempty"`
	// Discovered is what the relay learned from an ollama provider itself.
	Discovered *discoveredStatus `json:"discovered,omitempty"`
}

// discoveredStatus is an ollama provider's discovery in /v1/providers and /health.
type discoveredStatus struct {
	// Version is Ollama's (GET /api/version).
	Version string `json:"version,omitempty"`
	// Installed are the models Ollama lists; Mapping is what claude-* is served with.
	Installed []string          `json:"installed,omitempty"`
	Mapping   map[string]string `json:"mapping,omitempty"`
	// Context is the context length the relay knows for each model, in tokens.
	Context map[string]int `json:"context,omitempty"`
}

// providerHealth is a provider in /health when server.auth is configured and the client did not
// send the key: its state, without address, keys or error text.
type providerHealth struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	State        string `json:"state"`
	Reachability string `json:"reachability"`
}

// canServe reports whether the provider could take a request now: its circuit is not open, a
// key is available, and the last probe did not find it unreachable.
func (p providerStatus) canServe() bool {
	return p.State != route.Open && (len(p.Keys) == 0 || p.KeysAvailable > 0) && p.Reachability != reachUnreachable
}

func (r *Relay) providerStatuses() []providerStatus {
	circuits := map[string]route.ProviderState{}
	for _, c := range r.router.Snapshot() {
		circuits[c.Name] = c
	}
	out := make([]providerStatus, 0, len(r.upstreams))
	for _, u := range r.upstreams {
		c := circuits[u.cfg.Name]
		ps := providerStatus{
			Name: u.cfg.Name, Type: u.cfg.Type, Address: u.p.Address,
			Priority: u.cfg.EffectivePriority(), State: c.State, ConsecutiveFailures: c.ConsecutiveFailures,
			Keys: u.pool.Snapshot(), InFlight: u.inFlight.Load(),
			Models: len(u.cfg.Models), Mapped: len(u.cfg.ModelMapping),
			Features: u.countsSnapshot(), LastFailure: c.LastError,
		}
		if !c.RetryAt.IsZero() {
			ps.RetryAt = c.RetryAt.UTC().Format(time.RFC3339)
		}
		var pr *probeResult
		ps.Reachability, pr = u.health.reachability()
		if pr != nil {
			ps.LastError, ps.CheckedAt = pr.err, pr.at.UTC().Format(time.RFC3339)
		}
		ps.Discovered = discoveredStatusOf(u)
		for _, k := range ps.Keys {
			switch {
			case k.Disabled:
				ps.KeysDisabled++
			case k.Available:
				ps.KeysAvailable++
			default:
				ps.KeysCooling++
			}
		}
		out = append(out, ps)
	}
	return out
}

// discoveredStatusOf describes what the relay learned from an ollama provider; nil for others.
func discoveredStatusOf(u *upstream) *discoveredStatus {
	o := u.discovered.ollama.Load()
	if o == nil {
		return nil
	}
	ds := &discoveredStatus{Context: map[string]int{}}
	if d := u.discovered.p.Load(); d != nil {
		ds.Installed, ds.Mapping = d.installed, d.mapping
	}
	models := ds.Installed
	if !o.discover {
		models = configuredModels(u.cfg)
	}
	for _, m := range models {
		if l, ok := o.limit(m); ok {
			ds.Context[m] = l.tokens
		}
	}
	o.mu.Lock()
	ds.Version = o.version
	o.mu.Unlock()
	return ds
}

// serveProviders answers GET /v1/providers. With server.auth configured it needs the client's
// key, as /v1/messages does: it shows addresses, keys' states and errors.
func (r *Relay) serveProviders(w *recorder, req *http.Request) {
	if e := r.authError(req); e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Data     []providerStatus `json:"data"`
		Strategy string           `json:"strategy"`
		Config   configInfo       `json:"config"`
	}{r.providerStatuses(), r.cfg.Routing.Strategy, r.configInfo()})
}

// serveHealth answers 200 while at least one provider can serve (and was not found
// unreachable), 503 otherwise. It needs no key; with server.auth configured, a client without
// the key sees only the status and each provider's state, without addresses or error text.
func (r *Relay) serveHealth(w *recorder, req *http.Request) {
	ps := r.providerStatuses()
	status, word := http.StatusOK, "ok"
	serving := 0
	for _, p := range ps {
		if p.canServe() {
			serving++
		}
	}
	shared, degraded := r.sharedHealth(req.Context())
	if serving == 0 {
		status, word = http.StatusServiceUnavailable, "unavailable"
	} else if degraded != "" {
		word = "degraded"
	}
	if r.authError(req) != nil {
		brief := make([]providerHealth, len(ps))
		for i, p := range ps {
			brief[i] = providerHealth{Name: p.Name, Type: p.Type, State: p.State, Reachability: p.Reachability}
		}
		writeJSON(w, status, struct {
			Status    string           `json:"status"`
			Degraded  string           `json:"degraded,omitempty"`
			Providers []providerHealth `json:"providers"`
		}{word, degraded, brief})
		return
	}
	writeJSON(w, status, struct {
		Status      string           `json:"status"`
		Degraded    string           `json:"degraded,omitempty"`
		SharedState *sharedHealth    `json:"shared_state,omitempty"`
		Providers   []providerStatus `json:"providers"`
	}{word, degraded, shared, ps})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
