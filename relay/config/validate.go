package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Routing strategies (routing.strategy).
const (
	StrategyFailover           = "failover"
	StrategyRoundRobin         = "round_robin"
	StrategyWeightedRoundRobin = "weighted_round_robin"
	StrategyShuffle            = "shuffle"
	StrategyLeastLoaded        = "least_loaded"
	StrategyModelBased         = "model_based"
)

// Strategies lists the valid values of routing.strategy.
var Strategies = []string{StrategyFailover, StrategyRoundRobin, StrategyWeightedRoundRobin, StrategyShuffle, StrategyLeastLoaded, StrategyModelBased}

// Key strategies (routing.key_strategy); "" means round_robin.
const (
	KeyStrategyRoundRobin  = "round_robin"
	KeyStrategyLeastLoaded = "least_loaded"
	KeyStrategyRandom      = "random"
	KeyStrategyWeighted    = "weighted"
)

// KeyStrategies lists the valid values of routing.key_strategy.
var KeyStrategies = []string{KeyStrategyRoundRobin, KeyStrategyLeastLoaded, KeyStrategyRandom, KeyStrategyWeighted}

// ReloadModes lists the valid values of server.reload; "" means watch.
var ReloadModes = []string{"watch", "signal", "off"}

// LogLevels lists the valid values of server.log_level; "" means info.
var LogLevels = []string{"debug", "info", "warn", "error"}

// Count-token policies (routing.count_tokens); "" means estimate.
const (
	CountTokensEstimate       = "estimate"
	CountTokensRefuse         = "refuse"
	CountTokensProviderPrefix = "provider:"
)

// Validate checks a configuration whose defaults have been applied (see ApplyDefaults). It
// returns an *Error with every problem, or nil. Load calls it and adds file lines.
func (c *Config) Validate() error {
	problems, _ := c.check()
	if len(problems) == 0 {
		return nil
	}
	for i := range problems {
		problems[i].File = c.Source
	}
	return &Error{Problems: problems}
}

// checker collects the findings of check.
type checker struct {
	problems, warnings []Problem
}

// bad records a problem at path.
func (k *checker) bad(path, format string, args ...any) {
	k.problems = append(k.problems, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// warn records a warning at path.
func (k *checker) warn(path, format string, args ...any) {
	k.warnings = append(k.warnings, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// oneOf words "want one of a, b, c".
func oneOf(valid []string) string { return "want one of " + strings.Join(valid, ", ") }

// check returns the problems and the warnings of the configuration, with paths but no lines.
func (c *Config) check() (problems, warnings []Problem) {
	k := &checker{}
	c.checkServer(k)
	c.checkClientKeys(k)
	c.checkProviders(k)
	c.checkRouting(k)
	return k.problems, k.warnings
}

// checkServer checks the server section.
func (c *Config) checkServer(k *checker) {
	s := &c.Server
	if err := checkListen(s.Listen); err != nil {
		k.bad("server.listen", "%v", err)
	}
	if s.MaxBodyBytes <= 0 {
		k.bad("server.max_body_bytes", "want a number of bytes greater than 0, got %d", s.MaxBodyBytes)
	}
	if s.Reload != "" && !slices.Contains(ReloadModes, s.Reload) {
		k.bad("server.reload", "unknown reload mode %q; %s", s.Reload, oneOf(ReloadModes))
	}
	if s.LogLevel != "" && !slices.Contains(LogLevels, s.LogLevel) {
		k.bad("server.log_level", "unknown log level %q; %s", s.LogLevel, oneOf(LogLevels))
	}
	if rs := s.State.Redis; rs != nil {
		if err := checkRedisURL(rs.URL); err != nil {
			k.bad("server.state.redis.url", "%v", err)
		}
		if n := rs.Instances(); n < 1 {
			k.bad("server.state.redis.expected_instances", "want a number of instances of at least 1, got %d", n)
		}
		if p := rs.Prefix(); strings.ContainsAny(p, "{} \t\r\n") {
			k.bad("server.state.redis.key_prefix", "want a prefix without braces or spaces (the relay puts each key's hash tag in braces), got %q", p)
		}
	}
}

// checkRedisURL checks server.state.redis.url: redis:// or rediss:// with a host, or unix://
// with a path. Its errors never quote the URL, which may hold a password.
func checkRedisURL(s string) error {
	if s == "" {
		return fmt.Errorf("a Redis URL is required, such as redis://127.0.0.1:6379/0")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("want a URL such as redis://127.0.0.1:6379/0; this one does not parse")
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Hostname() == "" {
			return fmt.Errorf("want a host, as in redis://127.0.0.1:6379/0")
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("want a port number from 1 to 65535, got %q", p)
			}
		}
		if db := strings.Trim(u.Path, "/"); db != "" {
			if n, err := strconv.Atoi(db); err != nil || n < 0 {
				return fmt.Errorf("want a database number after the host, got %q", db)
			}
		}
	case "unix":
		if u.Path == "" {
			return fmt.Errorf("want a socket path, as in unix:///run/redis.sock")
		}
	default:
		return fmt.Errorf("want a redis://, rediss:// or unix:// URL, got scheme %q", u.Scheme)
	}
	return nil
}

// checkListen checks a host:port address.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port such as %q, got %q", DefaultListen, addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("want a port number from 0 to 65535, got %q", port)
	}
	return nil
}

// checkProviders checks the providers and the uniqueness of their names.
func (c *Config) checkProviders(k *checker) {
	if len(c.Providers) == 0 {
		k.bad("providers", "at least one provider is required")
		return
	}
	names := map[string]int{}
	enabled := 0
	for i := range c.Providers {
		p := &c.Providers[i]
		path := joinIndex("providers", i)
		if p.Name == "" {
			k.bad(path+".name", "name is required")
		} else if first, dup := names[p.Name]; dup {
			k.bad(path+".name", "duplicate provider name %q (also providers[%d])", p.Name, first)
		} else {
			names[p.Name] = i
		}
		if p.IsEnabled() {
			enabled++
		}
		p.check(k, path, c.Server.Auth.AllowSubscription)
	}
	if enabled == 0 {
		k.warn("providers", "every provider is disabled: the relay has nowhere to send requests")
	}
}

// check validates one provider at path.
func (p *Provider) check(k *checker, path string, allowSubscription bool) {
	switch {
	case p.Type == "":
		k.bad(path+".type", "type is required; %s", oneOf(Types))
	case !slices.Contains(Types, p.Type):
		msg := fmt.Sprintf("unknown provider type %q; %s", p.Type, oneOf(Types))
		if best := closest(p.Type, Types); best != "" {
			msg = fmt.Sprintf("unknown provider type %q; did you mean %q? (%s)", p.Type, best, oneOf(Types))
		}
		k.bad(path+".type", "%s", msg)
	}
	if p.BaseURL != "" {
		if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			k.bad(path+".base_url", "want an absolute http or https URL, got %q", p.BaseURL)
		} else {
			p.checkBaseURLPath(k, path, u.Path)
		}
	}
	if p.Priority != nil && *p.Priority < 0 {
		k.bad(path+".priority", "want 0 or more, got %d", *p.Priority)
	}
	if p.Weight < 0 {
		k.bad(path+".weight", "want 0 or more, got %d", p.Weight)
	}
	switch p.AzureAuth {
	case "", "api_key", "entra":
	default:
		k.bad(path+".azure_auth", "unknown azure_auth %q; want api_key or entra", p.AzureAuth)
	}
	for j, key := range p.Keys {
		kp := joinIndex(path+".keys", j)
		for _, n := range []struct {
			name string
			v    int
		}{{"rpm_limit", key.RPMLimit}, {"tpm_limit", key.TPMLimit}, {"priority", key.Priority}, {"weight", key.Weight}} {
			if n.v < 0 {
				k.bad(kp+"."+n.name, "want 0 or more, got %d", n.v)
			}
		}
		if key.Key == "" && p.IsEnabled() {
			k.warn(kp+".key", "the key is empty")
		}
	}
	for _, from := range slices.Sorted(maps.Keys(p.ModelMapping)) {
		if p.ModelMapping[from] == "" {
			k.bad(joinKey(path+".model_mapping", from), "want the provider's model name, got an empty string")
		}
	}
	if !p.IsEnabled() {
		return // a disabled provider may lack what it would need to serve
	}
	p.checkType(k, path, allowSubscription)
}

// checkBaseURLPath warns when a base_url's path already ends in the API path that the relay
// appends (/v1 or /v1/messages): the requests would go to /v1/v1/messages. Bedrock's paths
// (/model/{id}/invoke) have no /v1, so a bedrock base_url is left alone.
func (p *Provider) checkBaseURLPath(k *checker, path, urlPath string) {
	if p.Type == TypeBedrock {
		return
	}
	adds := "/v1/messages"
	if p.Type == TypeVertex {
		adds = "/v1/projects/…"
	}
	trimmed := strings.TrimRight(urlPath, "/")
	for _, suffix := range []string{"/v1/messages", "/v1"} {
		if strings.HasSuffix(trimmed, suffix) {
			k.warn(path+".base_url", "provider %q: base_url %q ends in %s, but ccrelay adds %s itself; remove %s",
				p.Name, p.BaseURL, suffix, adds, suffix)
			return
		}
	}
}

// checkType checks the keys that a provider type requires.
func (p *Provider) checkType(k *checker, path string, allowSubscription bool) {
	switch p.Type {
	case TypeBedrock:
		if p.AWSRegion == "" {
			k.bad(path+".aws_region", "aws_region is required for type bedrock (for example \"us-east-1\")")
		}
	case TypeVertex:
		if p.GCPProjectID == "" {
			k.bad(path+".gcp_project_id", "gcp_project_id is required for type vertex")
		}
		if p.GCPRegion == "" {
			k.bad(path+".gcp_region", "gcp_region is required for type vertex (for example \"us-east5\")")
		}
	case TypeAzure:
		if p.AzureResourceName == "" && p.BaseURL == "" {
			k.bad(path+".azure_resource_name", "type azure needs azure_resource_name or base_url")
		}
	}
	needsKey := Facts(p.Type).KeyRequired
	switch p.Type {
	case TypeAnthropic:
		needsKey = needsKey && !allowSubscription
	case TypeAzure:
		needsKey = needsKey && p.AzureAuth != "entra"
	}
	if needsKey && len(p.Keys) == 0 {
		k.warn(path+".keys", "no keys: requests to provider %q will not authenticate", p.Name)
	}
}

// checkRouting checks the routing section and its references to providers.
func (c *Config) checkRouting(k *checker) {
	r := &c.Routing
	if !slices.Contains(Strategies, r.Strategy) {
		k.bad("routing.strategy", "unknown strategy %q; %s", r.Strategy, oneOf(Strategies))
	}
	if r.KeyStrategy != "" && !slices.Contains(KeyStrategies, r.KeyStrategy) {
		k.bad("routing.key_strategy", "unknown key strategy %q; %s", r.KeyStrategy, oneOf(KeyStrategies))
	}
	if r.MaxAttempts < 0 {
		k.bad("routing.max_attempts", "want 0 or more, got %d", r.MaxAttempts)
	}
	if r.CircuitBreaker.FailureThreshold < 0 {
		k.bad("routing.circuit_breaker.failure_threshold", "want 0 or more, got %d", r.CircuitBreaker.FailureThreshold)
	}
	exists := func(name string) bool {
		return slices.ContainsFunc(c.Providers, func(p Provider) bool { return p.Name == name })
	}
	for _, prefix := range slices.Sorted(maps.Keys(r.ModelBased)) {
		pp := joinKey("routing.model_based", prefix)
		if len(r.ModelBased[prefix]) == 0 {
			k.bad(pp, "want a list of provider names, got an empty list")
		}
		for i, name := range r.ModelBased[prefix] {
			if !exists(name) {
				k.bad(joinIndex(pp, i), "no provider is named %q", name)
			}
		}
	}
	if r.DefaultProvider != "" && !exists(r.DefaultProvider) {
		k.bad("routing.default_provider", "no provider is named %q", r.DefaultProvider)
	}
	if r.Strategy == StrategyModelBased && len(r.ModelBased) == 0 && r.DefaultProvider == "" {
		k.bad("routing.model_based", "strategy model_based needs routing.model_based or routing.default_provider")
	}
	for i, sc := range r.Scenarios {
		pp := joinIndex("routing.scenarios", i)
		if !slices.Contains(Scenarios, sc.When) {
			k.bad(pp+".when", "unknown scenario %q; %s", sc.When, oneOf(Scenarios))
		}
		if len(sc.Providers) == 0 {
			k.bad(pp+".providers", "want a list of provider names, got none")
		}
		for j, name := range sc.Providers {
			if !exists(name) {
				k.bad(joinIndex(pp+".providers", j), "no provider is named %q", name)
			}
		}
	}
	for i, m := range r.BackgroundModels {
		if m == "" {
			k.bad(joinIndex("routing.background_models", i), "want a model name or pattern, got an empty string")
		}
	}
	if r.LongContextTokens < 0 {
		k.bad("routing.long_context_tokens", "want 0 or more, got %d", r.LongContextTokens)
	}
	switch ct := r.CountTokens; {
	case ct == "", ct == CountTokensEstimate, ct == CountTokensRefuse:
	case strings.HasPrefix(ct, CountTokensProviderPrefix):
		if name := strings.TrimPrefix(ct, CountTokensProviderPrefix); !exists(name) {
			k.bad("routing.count_tokens", "no provider is named %q", name)
		}
	default:
		k.bad("routing.count_tokens", "unknown count_tokens %q; want estimate, refuse or provider:NAME", ct)
	}
}
