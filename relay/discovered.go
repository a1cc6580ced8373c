package relay

import (
	"sync/atomic"

	"github.com/ccrelay/ccrelay/relay/config"
)

// discovery is what the relay learned from a provider itself at run time (Ollama's installed
// models), used when the configuration lists no models and no mapping for it.
type discovery struct {
	// models are the provider's own model ids, served under their own names.
	models []string
	// mapping maps client-side names (patterns allowed, as in model_mapping) to models.
	mapping map[string]string
}

// discoveredState holds an upstream's discovery; nil until something was discovered.
type discoveredState struct {
	p atomic.Pointer[discovery]
}

// hasDiscovery reports whether the relay discovered anything for u.
func (u *upstream) hasDiscovery() bool { return u.discovered.p.Load() != nil }

// discoveredServes is serves for what was discovered.
func (u *upstream) discoveredServes(model string) (string, bool) {
	d := u.discovered.p.Load()
	if d == nil {
		return model, false
	}
	p := config.Provider{Models: d.models, ModelMapping: d.mapping}
	if m, ok := p.Serves(model); ok && (len(d.models) > 0 || len(d.mapping) > 0) {
		return m, true
	}
	return model, false
}
