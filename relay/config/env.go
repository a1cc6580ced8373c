package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// envNameRE matches a valid environment variable name.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${VAR} and ${VAR:-default} in s. The default is used when VAR is unset or
// empty. A lone "$" and "$VAR" without braces are left alone. expand returns the names of the
// unset variables that had no default (they expand to "").
func expand(s string, lookup func(string) (string, bool)) (string, []string, error) {
	if !strings.Contains(s, "${") {
		return s, nil, nil
	}
	var b strings.Builder
	var unset []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), unset, nil
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", nil, fmt.Errorf("unterminated %q: write ${NAME} or ${NAME:-default}", s[i:])
		}
		inner := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(inner, ":-")
		if !envNameRE.MatchString(name) {
			return "", nil, fmt.Errorf("invalid environment variable name %q in %q", name, "${"+inner+"}")
		}
		v, ok := lookup(name)
		switch {
		case hasDef && (!ok || v == ""):
			b.WriteString(def)
		case !ok:
			unset = append(unset, name)
		default:
			b.WriteString(v)
		}
		s = s[i+end+1:]
	}
}

// envProviders lists the providers FromEnv builds, in failover order.
var envProviders = []struct {
	variable, name, typ string
	priority            int
}{
	{"ANTHROPIC_API_KEY", "anthropic", TypeAnthropic, 3},
	{"ZAI_API_KEY", "zai", TypeZAI, 2},
	{"MINIMAX_API_KEY", "minimax", TypeMiniMax, 1},
}

// envOllamaURL is where FromEnv expects a local Ollama.
const envOllamaURL = "http://127.0.0.1:11434"

// FromEnv returns the configuration used when there is no configuration file: one provider per
// set (non-empty) variable among ANTHROPIC_API_KEY, ZAI_API_KEY and MINIMAX_API_KEY, then a local
// ollama at http://127.0.0.1:11434, in that failover order (their keys have priorities 3, 2, 1
// and 0). Defaults are applied. When no key is set, Warnings says that only ollama is served.
func FromEnv(lookup func(string) (string, bool)) *Config {
	cfg := &Config{}
	for _, e := range envProviders {
		v, ok := lookup(e.variable)
		if !ok || v == "" {
			continue
		}
		cfg.Providers = append(cfg.Providers, Provider{
			Name:    e.name,
			Type:    e.typ,
			BaseURL: DefaultBaseURL(e.typ),
			Keys:    []Key{{Key: v, Priority: e.priority}},
		})
	}
	if len(cfg.Providers) == 0 {
		cfg.Warnings = append(cfg.Warnings, "no configuration file and no provider API key in the environment: serving ollama only ("+envOllamaURL+")")
	}
	cfg.Providers = append(cfg.Providers, Provider{
		Name:    "ollama",
		Type:    TypeOllama,
		BaseURL: envOllamaURL,
		Keys:    []Key{{Key: "ollama", Priority: 0}},
	})
	cfg.ApplyDefaults()
	return cfg
}

// Summary returns one line per provider for start-up printing: name, type, endpoint, number of
// keys, models listed and mapped, and priority. It never shows a key or a password.
func (c *Config) Summary() []string {
	out := make([]string, 0, len(c.Providers))
	for i := range c.Providers {
		p := &c.Providers[i]
		keys := "1 key"
		if len(p.Keys) != 1 {
			keys = fmt.Sprintf("%d keys", len(p.Keys))
		}
		line := fmt.Sprintf("%s: type %s, %s, %s, %d models listed, %d mapped, priority %d",
			p.Name, p.Type, p.endpoint(), keys, len(p.Models), len(p.ModelMapping), p.EffectivePriority())
		if !p.IsEnabled() {
			line += ", disabled"
		}
		out = append(out, line)
	}
	return out
}

// endpoint describes where the provider's requests go, for Summary.
func (p *Provider) endpoint() string {
	if p.BaseURL != "" {
		return redactURL(p.BaseURL)
	}
	if u := DefaultBaseURL(p.Type); u != "" {
		return u + " (default)"
	}
	switch p.Type {
	case TypeBedrock:
		if p.AWSRegion != "" {
			return "https://bedrock-runtime." + p.AWSRegion + ".amazonaws.com (derived)"
		}
	case TypeAzure:
		if p.AzureResourceName != "" {
			return "https://" + p.AzureResourceName + ".services.ai.azure.com/anthropic (derived)"
		}
	case TypeVertex:
		switch p.GCPRegion {
		case "":
		case "global":
			return "https://aiplatform.googleapis.com (derived)"
		default:
			return "https://" + p.GCPRegion + "-aiplatform.googleapis.com (derived)"
		}
	}
	return "no endpoint"
}

// redactURL shows scheme, host and path of a URL, dropping user information and the query,
// which may carry credentials.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid base_url)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}
