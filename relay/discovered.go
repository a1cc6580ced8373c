package relay

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
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

	// installed are the models as Ollama lists them, most recently modified first; empty when
	// Ollama answered that none is installed (the provider then serves nothing).
	installed []string
	// target is what claude-* is mapped to, and why it was chosen.
	target, why string
	// missing is true when CCRELAY_OLLAMA_MODEL names a model that is not installed.
	missing bool
}

// discoveredState holds an upstream's discovery; nil until something was discovered.
type discoveredState struct {
	p atomic.Pointer[discovery]
	// ollama is the native API state of an ollama provider; nil until Relay.Start.
	ollama atomic.Pointer[ollamaState]
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

// Environment variable and defaults of Ollama discovery.
const (
	// envOllamaModel chooses the model claude-* is mapped to on a discovered Ollama.
	envOllamaModel = "CCRELAY_OLLAMA_MODEL"
	// discoveredPattern is the client-side names a discovered Ollama serves with its chosen
	// model: every Claude model Claude Code asks for (its main and its small fast model).
	discoveredPattern = "claude-*"
	// suggestedPull is the model the relay suggests pulling when none is installed.
	suggestedPull = "qwen3-coder:30b"
)

// discoverable reports whether the relay discovers u's models: an ollama provider whose
// configuration lists no models and no mapping (zero configuration builds exactly that).
func discoverable(cfg config.Provider) bool {
	return cfg.Type == config.TypeOllama && len(cfg.Models) == 0 && len(cfg.ModelMapping) == 0
}

// newDiscovery builds the discovery from the installed models. claude-* goes to
// CCRELAY_OLLAMA_MODEL when set (even when it is not installed: the operator chose it, and the
// request then fails with Ollama's "not found"), else to the model chosen before if it is
// still installed, else to the first model Ollama lists.
func newDiscovery(installed []string, want string, prev *discovery) *discovery {
	d := &discovery{installed: installed}
	if len(installed) == 0 {
		return d
	}
	switch {
	case want != "":
		d.target, d.why, d.missing = want, envOllamaModel, true
		for _, m := range installed {
			if sameOllamaModel(m, want) {
				d.target, d.missing = m, false
				break
			}
		}
	case prev != nil && prev.why != envOllamaModel && slices.Contains(installed, prev.target):
		d.target, d.why = prev.target, prev.why
	default:
		d.target, d.why = installed[0], "the model Ollama lists first, the last pulled or created; set "+envOllamaModel+" to choose"
	}
	d.mapping = map[string]string{discoveredPattern: d.target}
	for _, m := range installed {
		d.models = append(d.models, m)
		if short, ok := strings.CutSuffix(m, ":latest"); ok && !slices.Contains(installed, short) {
			d.models = append(d.models, short) // Ollama reads "qwen3" as "qwen3:latest"
		}
	}
	return d
}

// same reports whether two discoveries serve the same names the same way.
func (d *discovery) same(o *discovery) bool {
	return o != nil && slices.Equal(d.installed, o.installed) && d.target == o.target && d.missing == o.missing
}

// discoverOllama asks the provider for its installed models, learns their context lengths and
// installs the discovery. It returns lines describing the discovery when it changed.
func (r *Relay) discoverOllama(ctx context.Context, u *upstream, o *ollamaState) ([]string, error) {
	installed, err := o.api.tags(ctx)
	if err != nil {
		return nil, err
	}
	prev := u.discovered.p.Load()
	d := newDiscovery(installed, r.env(envOllamaModel), prev)
	o.learnContexts(ctx, installed)
	u.discovered.p.Store(d)
	if d.same(prev) {
		return nil, nil
	}
	return describeDiscovery(u, o, d), nil
}

// describeDiscovery says what a discovered Ollama serves, for start-up and the log.
func describeDiscovery(u *upstream, o *ollamaState, d *discovery) []string {
	name := u.cfg.Name
	if len(d.installed) == 0 {
		return []string{fmt.Sprintf("%s: Ollama at %s has no model installed, so it cannot serve Claude Code: pull one, for example \"ollama pull %s\" (no restart needed: ccrelay looks again on the next request and at every health check)",
			name, o.api.base, suggestedPull)}
	}
	line := fmt.Sprintf("%s: %s → %s (%s)", name, discoveredPattern, d.target, d.why)
	if lim, ok := o.limit(d.target); ok {
		line += fmt.Sprintf(", context %d tokens (%s)", lim.tokens, lim.short())
	}
	lines := []string{line, fmt.Sprintf("%s: also serves the installed models under their own names: %s", name, strings.Join(d.installed, ", "))}
	if d.missing {
		lines = append(lines, fmt.Sprintf("%s: warning: %s=%s is not installed in Ollama (installed: %s); requests for %s fail until you run \"ollama pull %s\"",
			name, envOllamaModel, d.target, strings.Join(d.installed, ", "), discoveredPattern, d.target))
	} else if lim, ok := o.limit(d.target); ok && lim.tokens < claudeCodeContext {
		lines = append(lines, fmt.Sprintf("%s: warning: %s", name, lim.advice(d.target, claudeCodeContext)))
	}
	return lines
}

// rediscoverLazily asks every discoverable Ollama with nothing discovered for its models, once
// Start has run (before it, the transport may be a test's replayer that must see no extra
// request).
func (r *Relay) rediscoverLazily(ctx context.Context) {
	if !r.bg.started.Load() {
		return
	}
	for _, u := range r.upstreams {
		o := u.discovered.ollama.Load()
		if o == nil || !o.discover {
			continue
		}
		if d := u.discovered.p.Load(); d != nil && len(d.installed) > 0 {
			continue
		}
		o.rediscover(ctx, false, r.now, func(ctx context.Context) {
			lines, err := r.discoverOllama(ctx, u, o)
			if err != nil {
				r.log.Debug("ollama discovery", "provider", u.cfg.Name, "error", shortErr(err))
			}
			for _, l := range lines {
				r.log.Info(l)
			}
		})
	}
}

// env reads the relay's environment (Options.Getenv, else the process's).
func (r *Relay) env(name string) string {
	if r.getenv != nil {
		return r.getenv(name)
	}
	return os.Getenv(name)
}
