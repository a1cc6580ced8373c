package relay

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/ccrelay/ccrelay/relay/keys"
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

// modelList lists each enabled provider's models and the client-side names of its
// model_mapping, in provider order, without duplicates (the first provider wins).
func (r *Relay) modelList() []modelInfo {
	var out []modelInfo
	seen := map[string]bool{}
	for _, u := range r.upstreams {
		keys := make([]string, 0, len(u.cfg.ModelMapping))
		for k := range u.cfg.ModelMapping {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				out = append(out, modelInfo{Type: "model", ID: k, DisplayName: k, CreatedAt: unknownCreated,
					Description: "served by " + u.cfg.Name + " (" + u.cfg.Type + ") as " + u.cfg.ModelMapping[k]})
			}
		}
		for _, m := range u.cfg.Models {
			if !seen[m] {
				seen[m] = true
				out = append(out, modelInfo{Type: "model", ID: m, DisplayName: m, CreatedAt: unknownCreated,
					Description: "served by " + u.cfg.Name + " (" + u.cfg.Type + ")"})
			}
		}
	}
	return out
}

// serveModels answers GET /v1/models (paged with limit, after_id, before_id) and
// GET /v1/models/{id}.
func (r *Relay) serveModels(w *recorder, req *http.Request, id string) {
	all := r.modelList()
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
	State               string          `json:"state"`
	ConsecutiveFailures int             `json:"consecutive_failures"`
	KeysAvailable       int             `json:"keys_available"`
	KeysCooling         int             `json:"keys_cooling"`
	KeysDisabled        int             `json:"keys_disabled"`
	Keys                []keys.KeyState `json:"keys"`
	InFlight            int64           `json:"in_flight"`
	Models              int             `json:"models"`
	Mapped              int             `json:"mapped_models"`
	// Features counts the feature matrix's actions on this provider since start:
	// "cache_control=stripped", "tool_choice_any=refused", ...
	Features map[string]int64 `json:"features"`
}

// canServe reports whether the provider could take a request now.
func (p providerStatus) canServe() bool {
	return p.State != route.Open && (len(p.Keys) == 0 || p.KeysAvailable > 0)
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
			Features: u.countsSnapshot(),
		}
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

func (r *Relay) serveProviders(w *recorder, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Data     []providerStatus `json:"data"`
		Strategy string           `json:"strategy"`
	}{r.providerStatuses(), r.cfg.Routing.Strategy})
}

// serveHealth answers 200 while at least one provider can serve, 503 otherwise.
func (r *Relay) serveHealth(w *recorder, _ *http.Request) {
	ps := r.providerStatuses()
	status, word := http.StatusOK, "ok"
	serving := 0
	for _, p := range ps {
		if p.canServe() {
			serving++
		}
	}
	if serving == 0 {
		status, word = http.StatusServiceUnavailable, "unavailable"
	}
	writeJSON(w, status, struct {
		Status    string           `json:"status"`
		Providers []providerStatus `json:"providers"`
	}{word, ps})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
