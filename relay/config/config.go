// Package config loads, expands and validates ccrelay's configuration.
//
// A configuration comes from a YAML or a TOML file (chosen by extension) in the schema of the
// product's provider documentation, or, when there is no file, from the environment (FromEnv).
// Decoding is strict: an unknown key is an error that names the file, the line and the closest
// known key.
package config

import (
	"fmt"
	"time"
)

// Default values used when a key is absent.
const (
	DefaultListen       = "127.0.0.1:8787"
	DefaultMaxBodyBytes = 32 << 20
	// DefaultMaxHeaderBytes is server.max_header_bytes when unset.
	DefaultMaxHeaderBytes = 64 << 10

	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 120 * time.Second
	DefaultStreamIdleTimeout     = 300 * time.Second
	// DefaultStreamKeepalive is server.stream_keepalive when absent.
	DefaultStreamKeepalive = 15 * time.Second
	DefaultHealthInterval  = 30 * time.Second
)

// Provider types known to the relay.
const (
	TypeAnthropic = "anthropic"
	TypeZAI       = "zai"
	TypeMiniMax   = "minimax"
	TypeOllama    = "ollama"
	TypeBedrock   = "bedrock"
	TypeAzure     = "azure"
	TypeVertex    = "vertex"
)

// Types lists every provider type in documentation order.
var Types = []string{TypeAnthropic, TypeZAI, TypeMiniMax, TypeOllama, TypeBedrock, TypeAzure, TypeVertex}

// DefaultBaseURL returns the documented base URL of a provider type, or "" when the URL is
// derived from other keys (bedrock, azure, vertex).
func DefaultBaseURL(typ string) string { return Facts(typ).DefaultBaseURL }

// Config is the whole configuration.
type Config struct {
	Server    Server     `yaml:"server" toml:"server"`
	Providers []Provider `yaml:"providers" toml:"providers"`
	Routing   Routing    `yaml:"routing" toml:"routing"`

	// Source is the file the configuration came from, or "" when it was built from the environment.
	Source string `yaml:"-" toml:"-"`
	// Warnings are non-fatal findings of loading (for example a misplaced key that was accepted).
	Warnings []string `yaml:"-" toml:"-"`
	// Lines are the lines of Source's keys, for the problems found after loading (Problem).
	Lines Lines `yaml:"-" toml:"-" json:"-"`
}

// Lines maps the key paths of a configuration file to their lines. It is not part of a
// configuration's value: any two Lines are Equal.
type Lines struct{ m map[string]int }

// Equal reports true: where a key was written does not change the configuration.
func (Lines) Equal(Lines) bool { return true }

// Problem returns a problem at a key path of c, located in c.Source at the key's line (or its
// closest ancestor's) when c was loaded from a file. Validation that another package owns (the
// feature overrides, checked by features.ValidateConfig) reports its findings with it.
func (c *Config) Problem(path, msg string) Problem {
	d := decoder{lines: c.Lines.m}
	return Problem{File: c.Source, Line: d.lineOf(path), Path: path, Msg: msg}
}

// Server configures the listening side.
type Server struct {
	Listen       string   `yaml:"listen" toml:"listen"`
	Auth         Auth     `yaml:"auth" toml:"auth"`
	Timeouts     Timeouts `yaml:"timeouts" toml:"timeouts"`
	MaxBodyBytes int64    `yaml:"max_body_bytes" toml:"max_body_bytes"`
	// MaxHeaderBytes bounds the size of a request's headers; 0 means 64 KiB. Larger headers
	// get an Anthropic-shaped 431.
	MaxHeaderBytes int    `yaml:"max_header_bytes" toml:"max_header_bytes"`
	LogLevel       string `yaml:"log_level" toml:"log_level"`
	// Reload says when serve reloads a configuration file: watch (default: when the file
	// changes, and on SIGHUP), signal (on SIGHUP only) or off.
	Reload string `yaml:"reload" toml:"reload"`
	// StreamKeepalive is how long a stream may send nothing to the client, once its first
	// event is out, before the relay sends a ping event (as Anthropic's API does), so that a
	// proxy in front does not cut a silent thinking phase; nil (absent) means 15s, 0 disables.
	StreamKeepalive *Duration `yaml:"stream_keepalive" toml:"stream_keepalive"`
	// Fetch bounds the relay's own fetches of image and PDF URLs, used only where a provider's
	// features override sets image_url or pdf_url to degrade (fetch and inline as base64).
	Fetch Fetch `yaml:"fetch" toml:"fetch"`
	// MetricsListen, when set, is the address (host:port) where GET /metrics is served, instead
	// of on the main listener.
	MetricsListen string `yaml:"metrics_listen" toml:"metrics_listen"`
	// UsageLog is the file that receives one JSON line per finished request (tokens, cost,
	// attempts, timings); "" writes none. It is reopened on SIGHUP, for log rotation.
	UsageLog string `yaml:"usage_log" toml:"usage_log"`
	// State says where the relay keeps the state that must hold across instances (rate
	// buckets, cooldowns, rejected keys, circuits, affinity); absent: in process.
	State State `yaml:"state" toml:"state"`
}

// Defaults of server.state.redis.
const (
	DefaultStateKeyPrefix = "ccrelay:"
	DefaultStateTimeout   = 50 * time.Millisecond
)

// State configures shared state (server.state).
type State struct {
	// Redis, when set, shares the state of every instance configured with the same Redis and
	// key prefix.
	Redis *RedisState `yaml:"redis" toml:"redis"`
}

// RedisState is server.state.redis.
type RedisState struct {
	// URL is the Redis server: redis://[user:password@]host:port[/db], rediss:// for TLS, or
	// unix:///path. It may hold a password: the relay never logs it.
	URL string `yaml:"url" toml:"url"`
	// KeyPrefix starts every key the relay writes; absent: "ccrelay:". Instances that must share
	// their state use the same prefix.
	KeyPrefix *string `yaml:"key_prefix" toml:"key_prefix"`
	// ExpectedInstances is how many instances normally share the state; absent: 1. While Redis
	// is unreachable each instance serves on local state with every limit divided by it.
	ExpectedInstances *int `yaml:"expected_instances" toml:"expected_instances"`
	// Timeout bounds one call to Redis; absent: 50ms. A call that takes longer counts as Redis
	// being unreachable.
	Timeout Duration `yaml:"timeout" toml:"timeout"`
}

// Prefix returns key_prefix, or its default when absent.
func (r *RedisState) Prefix() string {
	if r.KeyPrefix == nil {
		return DefaultStateKeyPrefix
	}
	return *r.KeyPrefix
}

// Instances returns expected_instances, or 1 when absent.
func (r *RedisState) Instances() int {
	if r.ExpectedInstances == nil {
		return 1
	}
	return *r.ExpectedInstances
}

// Fetch configures fetch-and-inline of URL sources. Private, loopback and link-local
// addresses are always refused.
type Fetch struct {
	// AllowHosts lists the hosts that may be fetched; empty means any public host.
	AllowHosts []string `yaml:"allow_hosts" toml:"allow_hosts"`
	// MaxBytes caps one fetched file; 0 means 5 MiB.
	MaxBytes int64 `yaml:"max_bytes" toml:"max_bytes"`
	// Timeout bounds one fetch; 0 means 10s.
	Timeout Duration `yaml:"timeout" toml:"timeout"`
}

// Auth configures how clients authenticate to the relay.
type Auth struct {
	// APIKey, when set, must be sent by clients as x-api-key or Authorization: Bearer.
	// It is never forwarded upstream.
	APIKey string `yaml:"api_key" toml:"api_key"`
	// AllowSubscription passes a client's Authorization: Bearer token (a Claude subscription
	// token) through to providers of type anthropic, and only to them.
	AllowSubscription bool `yaml:"allow_subscription" toml:"allow_subscription"`
	// Keys are the named client keys (clientkeys.go), each with its models, limits and
	// budget; with any of them (or APIKey), a client must send one. (omitempty keeps the
	// configuration dumps of the tests' fixtures as they were.)
	Keys []ClientKey `yaml:"keys" toml:"keys" json:",omitempty"`
}

// Timeouts bound each phase of an upstream exchange. A zero value means the default.
// There is deliberately no whole-response timeout: it would cut long streams.
type Timeouts struct {
	Dial           Duration `yaml:"dial" toml:"dial"`
	TLSHandshake   Duration `yaml:"tls_handshake" toml:"tls_handshake"`
	ResponseHeader Duration `yaml:"response_header" toml:"response_header"`
	StreamIdle     Duration `yaml:"stream_idle" toml:"stream_idle"`
}

// Provider is one configured upstream.
type Provider struct {
	Name    string `yaml:"name" toml:"name"`
	Type    string `yaml:"type" toml:"type"`
	Enabled *bool  `yaml:"enabled" toml:"enabled"`
	BaseURL string `yaml:"base_url" toml:"base_url"`

	Keys         []Key             `yaml:"keys" toml:"keys"`
	ModelMapping map[string]string `yaml:"model_mapping" toml:"model_mapping"`
	Models       []string          `yaml:"models" toml:"models"`

	// Priority orders providers in failover; nil means the highest priority of its keys.
	Priority *int `yaml:"priority" toml:"priority"`
	// Weight is used by weighted strategies; 0 means 1.
	Weight int `yaml:"weight" toml:"weight"`

	// Features overrides cells of the feature matrix for this provider: feature name → action.
	Features map[string]string `yaml:"features" toml:"features"`

	// Pricing overrides the built-in price table (relay/pricing) for this provider's models;
	// nil uses the table.
	Pricing *Pricing `yaml:"pricing" toml:"pricing"`

	// bedrock
	AWSRegion          string `yaml:"aws_region" toml:"aws_region"`
	AWSAccessKeyID     string `yaml:"aws_access_key_id" toml:"aws_access_key_id"`
	AWSSecretAccessKey string `yaml:"aws_secret_access_key" toml:"aws_secret_access_key"`
	AWSSessionToken    string `yaml:"aws_session_token" toml:"aws_session_token"`
	AWSProfile         string `yaml:"aws_profile" toml:"aws_profile"`
	AWSBearerToken     string `yaml:"aws_bearer_token" toml:"aws_bearer_token"`

	// azure
	AzureResourceName string `yaml:"azure_resource_name" toml:"azure_resource_name"`
	AzureAPIVersion   string `yaml:"azure_api_version" toml:"azure_api_version"`
	AzureAuth         string `yaml:"azure_auth" toml:"azure_auth"` // "api_key" (default) or "entra"
	AzureTokenCommand string `yaml:"azure_token_command" toml:"azure_token_command"`

	// vertex
	GCPProjectID string `yaml:"gcp_project_id" toml:"gcp_project_id"`
	GCPRegion    string `yaml:"gcp_region" toml:"gcp_region"`
}

// IsEnabled reports whether the provider takes traffic; an absent enabled key means true.
func (p *Provider) IsEnabled() bool { return p.Enabled == nil || *p.Enabled }

// EffectivePriority is the provider's priority, or the highest of its keys' when unset.
func (p *Provider) EffectivePriority() int {
	if p.Priority != nil {
		return *p.Priority
	}
	best := 0
	for i, k := range p.Keys {
		if i == 0 || k.Priority > best {
			best = k.Priority
		}
	}
	return best
}

// Pricing is a provider's own prices, in USD per million tokens. The rates apply to every
// model of the provider; Models sets them per upstream model id. A rate left out is the
// built-in table's for that model (0 when the table does not know the model).
type Pricing struct {
	Input        *float64 `yaml:"input" toml:"input"`
	Output       *float64 `yaml:"output" toml:"output"`
	CacheWrite5m *float64 `yaml:"cache_write_5m" toml:"cache_write_5m"`
	CacheWrite1h *float64 `yaml:"cache_write_1h" toml:"cache_write_1h"`
	CacheRead    *float64 `yaml:"cache_read" toml:"cache_read"`
	// Models sets rates per upstream model id (as sent upstream, e.g. "claude-sonnet-4-5").
	Models map[string]PriceRates `yaml:"models" toml:"models"`
}

// Rates returns the provider-wide rates.
func (p *Pricing) Rates() PriceRates {
	return PriceRates{Input: p.Input, Output: p.Output, CacheWrite5m: p.CacheWrite5m, CacheWrite1h: p.CacheWrite1h, CacheRead: p.CacheRead}
}

// PriceRates are the five token rates of a price, in USD per million tokens; nil is unset.
type PriceRates struct {
	Input        *float64 `yaml:"input" toml:"input"`
	Output       *float64 `yaml:"output" toml:"output"`
	CacheWrite5m *float64 `yaml:"cache_write_5m" toml:"cache_write_5m"`
	CacheWrite1h *float64 `yaml:"cache_write_1h" toml:"cache_write_1h"`
	CacheRead    *float64 `yaml:"cache_read" toml:"cache_read"`
}

// Key is one upstream credential of a provider's pool.
type Key struct {
	Key      string `yaml:"key" toml:"key"`
	RPMLimit int    `yaml:"rpm_limit" toml:"rpm_limit"`
	TPMLimit int    `yaml:"tpm_limit" toml:"tpm_limit"`
	Priority int    `yaml:"priority" toml:"priority"`
	Weight   int    `yaml:"weight" toml:"weight"`
}

// Routing configures how a request chooses among providers.
type Routing struct {
	// Strategy is failover (default), round_robin, weighted_round_robin, shuffle, least_loaded
	// or model_based.
	Strategy string `yaml:"strategy" toml:"strategy"`
	// KeyStrategy picks a key within one priority of a provider's pool: round_robin (default),
	// least_loaded, random or weighted.
	KeyStrategy string `yaml:"key_strategy" toml:"key_strategy"`
	// MaxAttempts bounds the upstream attempts of one request; 0 means one per key and provider.
	MaxAttempts int `yaml:"max_attempts" toml:"max_attempts"`
	// FailoverTimeout bounds the time spent failing over before the first byte; 0 means no bound.
	FailoverTimeout Duration `yaml:"failover_timeout" toml:"failover_timeout"`
	// MaxWait bounds how long a request may wait for a rate-limited key; 0 means never wait.
	MaxWait Duration `yaml:"max_wait" toml:"max_wait"`
	// KeyRetry is how long a key the provider rejected (401, 403, billing) stays out of
	// rotation before one request may probe it; it doubles after each failed probe up to 30m;
	// 0 means 1m.
	KeyRetry Duration `yaml:"key_retry" toml:"key_retry"`
	// Debug adds the reasons of failed attempts to the x-ccrelay-attempts header.
	Debug bool `yaml:"debug" toml:"debug"`
	// ModelBased maps a model-name prefix to an ordered list of provider names (model_based).
	ModelBased map[string][]string `yaml:"model_based" toml:"model_based"`
	// DefaultProvider serves models that match no model_based prefix.
	DefaultProvider string `yaml:"default_provider" toml:"default_provider"`
	// CircuitBreaker configures the per-provider breaker.
	CircuitBreaker CircuitBreaker `yaml:"circuit_breaker" toml:"circuit_breaker"`
	// CountTokens says what to do with count_tokens on a provider without it: estimate
	// (default), refuse, or provider:NAME.
	CountTokens string `yaml:"count_tokens" toml:"count_tokens"`
	// HealthInterval is how often the relay probes each provider's reachability (and retries
	// discovering a local Ollama's models); nil (absent) means DefaultHealthInterval, 0 disables.
	HealthInterval *Duration `yaml:"health_interval" toml:"health_interval"`
	// Scenarios send requests of a kind (a subagent's, a background model's, a long context…)
	// to chosen providers; the first rule whose scenario the request is in wins, and a request
	// in none is routed as without rules.
	Scenarios []Scenario `yaml:"scenarios" toml:"scenarios"`
	// BackgroundModels are the model patterns (exact, prefix-*, *) of the background scenario;
	// empty means claude-haiku-*.
	BackgroundModels []string `yaml:"background_models" toml:"background_models"`
	// LongContextTokens is the estimated input size above which a request is in the
	// long_context scenario; 0 means 60000.
	LongContextTokens int `yaml:"long_context_tokens" toml:"long_context_tokens"`
}

// Scenario is one rule of routing.scenarios.
type Scenario struct {
	// When is the scenario: subagent, background, long_context, thinking, web_search or image.
	When string `yaml:"when" toml:"when"`
	// Providers are the providers that serve the scenario, in failover order. The feature
	// matrix still applies: one that would refuse the request is skipped.
	Providers []string `yaml:"providers" toml:"providers"`
	// Model, when set, is the client-side model name to route the request as (mapped by the
	// providers' model_mapping like any client model).
	Model string `yaml:"model" toml:"model"`
}

// The scenarios of routing.scenarios.
const (
	ScenarioSubagent    = "subagent"
	ScenarioBackground  = "background"
	ScenarioLongContext = "long_context"
	ScenarioThinking    = "thinking"
	ScenarioWebSearch   = "web_search"
	ScenarioImage       = "image"
)

// Scenarios lists the scenario names routing.scenarios accepts.
var Scenarios = []string{ScenarioSubagent, ScenarioBackground, ScenarioLongContext, ScenarioThinking, ScenarioWebSearch, ScenarioImage}

// Defaults of scenario detection.
const (
	DefaultBackgroundModel   = "claude-haiku-*"
	DefaultLongContextTokens = 60000
)

// CircuitBreaker configures when a provider is taken out of rotation.
type CircuitBreaker struct {
	// FailureThreshold is the number of consecutive failures that opens the circuit; 0 means 5.
	FailureThreshold int `yaml:"failure_threshold" toml:"failure_threshold"`
	// Cooldown is how long an open circuit waits before letting one probe through; 0 means 30s.
	Cooldown Duration `yaml:"cooldown" toml:"cooldown"`
}

// Duration is a time.Duration written as a Go duration string ("30s", "2m").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Or returns d, or def when d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration parses a Go duration string into a Duration.
func ParseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as \"30s\" or \"2m\", got %q", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("want a positive duration, got %q", s)
	}
	return Duration(v), nil
}
