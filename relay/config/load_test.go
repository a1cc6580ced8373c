package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// env returns a lookup over vars.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// cmpIgnoreWarnings leaves Warnings out of a Config comparison.
var cmpIgnoreWarnings = cmpopts.IgnoreFields(Config{}, "Warnings")

// problemLines returns the lines of a loading error, or fails the test when err is no *Error.
func problemLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T (%v), want *Error", err, err)
	}
	return strings.Split(e.Error(), "\n")
}

// dedent drops the leading newline of a raw string literal and turns tabs into nothing, so that
// test files can be written indented with tabs and spaces inside.
func dedent(s string) string {
	s = strings.TrimPrefix(s, "\n")
	var out []string
	for _, l := range strings.Split(s, "\n") {
		out = append(out, strings.TrimLeft(l, "\t"))
	}
	return strings.Join(out, "\n")
}

func TestParseReportsEveryProblemWithFileLineAndPath(t *testing.T) {
	tests := []struct {
		name string
		file string
		src  string
		env  map[string]string
		want []string
	}{
		{
			name: "an unknown YAML key names its line and the closest known key",
			file: "c.yaml",
			src: `
			providers:
			- name: a
			  type: anthropic
			  keys:
			    - key: x
			      rpm_limt: 5
			`,
			want: []string{`c.yaml:6: providers[0].keys[0].rpm_limt: unknown key "rpm_limt"; did you mean "rpm_limit"?`},
		},
		{
			name: "an unknown TOML key names its line and the closest known key",
			file: "c.toml",
			src: `
			[[providers]]
			name = "a"
			type = "anthropic"

			[[providers.keys]]
			key = "x"
			rpm_limt = 5
			`,
			want: []string{`c.toml:7: providers[0].keys[0].rpm_limt: unknown key "rpm_limt"; did you mean "rpm_limit"?`},
		},
		{
			name: "an unknown key far from every known key lists the known keys",
			file: "c.yaml",
			src: `
			server:
			  colour: blue
			providers:
			- {name: a, type: ollama}
			`,
			want: []string{`c.yaml:2: server.colour: unknown key "colour"; known keys here: auth, fetch, listen, log_level, max_body_bytes, max_header_bytes, metrics_listen, reload, state, stream_keepalive, timeouts, usage_log`},
		},
		{
			name: "a wrong type names the full key path and what was expected",
			file: "c.yaml",
			src: `
			providers:
			- name: a
			  type: ollama
			- name: b
			  type: anthropic
			  keys:
			    - key: x
			      rpm_limit: "abc"
			`,
			want: []string{`c.yaml:8: providers[1].keys[0].rpm_limit: want an integer, got string "abc"`},
		},
		{
			name: "a wrong type in TOML names the full key path",
			file: "c.toml",
			src: `
			[[providers]]
			name = "a"
			type = "ollama"

			[[providers]]
			name = "b"
			type = "anthropic"
			enabled = "yes"
			keys = [{key = "x", rpm_limit = "abc"}]
			`,
			want: []string{
				`c.toml:8: providers[1].enabled: want true or false, got string "yes"`,
				`c.toml:9: providers[1].keys[0].rpm_limit: want an integer, got string "abc"`,
			},
		},
		{
			name: "all problems are collected, decoding and validation alike, in line order",
			file: "c.yaml",
			src: `
			server:
			  listen: nowhere
			  max_body_byte: 10
			providers:
			- name: a
			  type: antropic
			  weight: -1
			  keys: "sk-not-a-list"
			routing:
			  strategy: fastest
			  failover_timeout: 30
			`,
			want: []string{
				`c.yaml:2: server.listen: want host:port such as "127.0.0.1:8787", got "nowhere"`,
				`c.yaml:3: server.max_body_byte: unknown key "max_body_byte"; did you mean "max_body_bytes"?`,
				`c.yaml:6: providers[0].type: unknown provider type "antropic"; did you mean "anthropic"? (want one of anthropic, zai, minimax, ollama, bedrock, azure, vertex)`,
				`c.yaml:7: providers[0].weight: want 0 or more, got -1`,
				`c.yaml:8: providers[0].keys: want a list, got string "sk-not-a-list"`,
				`c.yaml:10: routing.strategy: unknown strategy "fastest"; want one of failover, round_robin, weighted_round_robin, shuffle, least_loaded, model_based`,
				`c.yaml:11: routing.failover_timeout: want a duration such as "30s" or "2m", got integer 30`,
			},
		},
		{
			name: "a TOML [providers] table instead of [[providers]] says how to write a list",
			file: "c.toml",
			src: `
			[providers]
			name = "a"
			type = "ollama"
			`,
			want: []string{
				`c.toml:1: providers: want a list, got a map (in TOML, start each entry with a [[providers]] header)`,
			},
		},
		{
			name: "a YAML provider written as a map says how to write a list",
			file: "c.yaml",
			src: `
			providers:
			  name: a
			  type: ollama
			`,
			want: []string{
				`c.yaml:1: providers: want a list, got a map (in YAML, start each entry with "- ")`,
			},
		},
		{
			name: "each wrong type says what it got",
			file: "c.yaml",
			src: `
			server:
			  listen: [a]
			  max_body_bytes: 1.5
			  auth: {allow_subscription: "true"}
			  timeouts: {dial: 2024-06-01}
			providers:
			- {name: a, type: ollama, keys: [{key: k, rpm_limit: 99999999999999999999}]}
			routing:
			  debug: 1
			  key_strategy: {a: b}
			  max_wait: "soon"
			`,
			want: []string{
				`c.yaml:2: server.listen: want a string, got a list`,
				`c.yaml:3: server.max_body_bytes: want an integer, got number 1.5`,
				`c.yaml:4: server.auth.allow_subscription: want true or false, got string "true"`,
				`c.yaml:5: server.timeouts.dial: want a duration such as "30s" or "2m", got "2024-06-01"`,
				`c.yaml:7: providers[0].keys[0].rpm_limit: integer 99999999999999999999 is out of range`,
				`c.yaml:9: routing.debug: want true or false, got integer 1`,
				`c.yaml:10: routing.key_strategy: want a string, got a map`,
				`c.yaml:11: routing.max_wait: want a duration such as "30s" or "2m", got "soon"`,
			},
		},
		{
			name: "TOML values keep their types: a number is not a string",
			file: "c.toml",
			src: `
			[[providers]]
			name = 123
			type = "ollama"
			base_url = 1979-05-27
			`,
			want: []string{
				`c.toml:2: providers[0].name: want a string, got integer 123`,
				`c.toml:4: providers[0].base_url: want a string, got date 1979-05-27`,
			},
		},
		{
			name: "a long string is shortened in messages",
			file: "c.yaml",
			src: `
			providers: "sk-ant-api03-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			`,
			want: []string{`c.yaml:1: providers: want a list, got string "sk-ant-api03-aaaaaaaaaaaaaaaaaaaaaaaaaaa…"`},
		},
		{
			name: "a second YAML document is an error",
			file: "c.yaml",
			src: `
			providers: []
			---
			providers: []
			`,
			want: []string{`c.yaml:2: a configuration file holds one YAML document; remove the second "---" document`},
		},
		{
			name: "a YAML file that is a list is an error",
			file: "c.yaml",
			src: `
			- name: a
			`,
			want: []string{`c.yaml:1: want a map, got a list`},
		},
		{
			name: "a missing environment variable names the key path",
			file: "c.yaml",
			src: `
			providers:
			- name: anthropic
			  type: anthropic
			  keys:
			    - key: "${ANTHROPIC_API_KEY}"
			`,
			want: []string{`c.yaml:5: providers[0].keys[0].key: environment variable ANTHROPIC_API_KEY is not set`},
		},
		{
			name: "a missing environment variable in TOML names the key path",
			file: "c.toml",
			src: `
			[[providers]]
			name = "anthropic"
			type = "anthropic"
			[[providers.keys]]
			key = "${ANTHROPIC_API_KEY}"
			`,
			want: []string{`c.toml:5: providers[0].keys[0].key: environment variable ANTHROPIC_API_KEY is not set`},
		},
		{
			name: "a malformed variable reference is an error",
			file: "c.yaml",
			src: `
			providers:
			- name: a
			  type: ollama
			  base_url: "${OLLAMA_URL"
			`,
			want: []string{`c.yaml:4: providers[0].base_url: unterminated "${OLLAMA_URL": write ${NAME} or ${NAME:-default}`},
		},
		{
			name: "a duplicate YAML key is an error",
			file: "c.yaml",
			src: `
			providers:
			- name: a
			  type: ollama
			  name: b
			`,
			want: []string{`c.yaml:4: providers[0].name: duplicate key "name" (first set on line 2)`},
		},
		{
			name: "YAML whose indentation was lost says where the key belongs",
			file: "c.yaml",
			src: `
			server:
			auth:
			  allow_subscription: true
			providers:
			- name: a
			  type: ollama
			routing:
			strategy: failover
			`,
			want: []string{
				`c.yaml:2: auth: unknown key "auth" here; it belongs at server.auth (check the indentation or the table header)`,
				`c.yaml:8: strategy: unknown key "strategy" here; it belongs at routing.strategy (check the indentation or the table header)`,
			},
		},
		{
			name: "a top-level TOML [model_mapping] says it belongs in a provider",
			file: "c.toml",
			src: `
			[[providers]]
			name = "zai"
			type = "zai"

			[model_mapping]
			"claude-sonnet-4-5" = "GLM-4.7"
			`,
			want: []string{`c.toml:5: model_mapping: unknown key "model_mapping" here; it belongs at providers[].model_mapping (check the indentation or the table header)`},
		},
		{
			name: "a provider key that TOML put inside [[providers.keys]] says how to move it",
			file: "c.toml",
			src: `
			[[providers]]
			name = "zai"
			type = "zai"

			[[providers.keys]]
			key = "k"
			base_url = "https://api.z.ai/api/anthropic"
			`,
			want: []string{`c.toml:7: providers[0].keys[0].base_url: unknown key "base_url"; "base_url" is a provider key, and TOML put it inside [[providers.keys]]: move the line above the first [[providers.keys]] table`},
		},
		{
			name: "models both in the provider and inside [[providers.keys]] is an error",
			file: "c.toml",
			src: `
			[[providers]]
			name = "zai"
			type = "zai"
			models = ["a"]

			[[providers.keys]]
			key = "k"
			models = ["b"]
			`,
			want: []string{`c.toml:8: providers[0].keys[0].models: TOML put "models" inside [[providers.keys]], and the provider already has models (line 4): keep one models = [...] line, above the first [[providers.keys]] (or [providers.model_mapping]) table`},
		},
		{
			name: "a YAML syntax error names its line",
			file: "c.yaml",
			src: `
			providers:
			- name: a
			   type: ollama
			`,
			want: []string{`c.yaml:3: invalid YAML: mapping values are not allowed in this context`},
		},
		{
			name: "a TOML syntax error names its line",
			file: "c.toml",
			src: `
			[[providers]]
			name = "a"
			type = ollama
			`,
			want: []string{`c.toml:3: invalid TOML: expected value but found "ollama" instead`},
		},
		{
			name: "an empty file has no providers",
			file: "c.yaml",
			src:  "",
			want: []string{`c.yaml: providers: at least one provider is required`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(dedent(tt.src)), tt.file, env(tt.env))
			if diff := cmp.Diff(tt.want, problemLines(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDecodesValues(t *testing.T) {
	ten := 10
	tests := []struct {
		name string
		file string
		src  string
		env  map[string]string
		want func(*Config)
	}{
		{
			name: "a disabled provider with a missing variable is fine",
			file: "c.yaml",
			src: `
			providers:
			- name: a
			  type: ollama
			- name: b
			  type: bedrock
			  enabled: false
			  aws_region: "${AWS_REGION}"
			  keys:
			    - key: "${NOT_SET}"
			`,
			want: func(c *Config) {
				c.Providers = []Provider{
					{Name: "a", Type: TypeOllama},
					{Name: "b", Type: TypeBedrock, Enabled: new(false), Keys: []Key{{}}},
				}
			},
		},
		{
			name: "a disabled provider in TOML with enabled after the key is fine",
			file: "c.toml",
			src: `
			[[providers]]
			name = "a"
			type = "ollama"
			[[providers]]
			name = "b"
			type = "zai"
			[[providers.keys]]
			key = "${ZAI_API_KEY}"
			[[providers]]
			name = "c"
			type = "ollama"
			`,
			env: map[string]string{"ZAI_API_KEY": "z"},
			want: func(c *Config) {
				c.Providers = []Provider{
					{Name: "a", Type: TypeOllama},
					{Name: "b", Type: TypeZAI, Keys: []Key{{Key: "z"}}},
					{Name: "c", Type: TypeOllama},
				}
			},
		},
		{
			name: "a lone dollar and $VAR without braces are left alone, defaults apply",
			file: "c.yaml",
			src: `
			server:
			  auth:
			    api_key: "pa$$word $HOME $"
			providers:
			- name: a
			  type: ollama
			  base_url: "${OLLAMA_URL:-http://127.0.0.1:11434}"
			  keys:
			    - key: "${EMPTY:-fallback}"
			    - key: "${SET:-unused}-${SET}"
			`,
			env: map[string]string{"EMPTY": "", "SET": "v", "HOME": "/root"},
			want: func(c *Config) {
				c.Server.Auth.APIKey = "pa$$word $HOME $"
				c.Providers = []Provider{{Name: "a", Type: TypeOllama, BaseURL: "http://127.0.0.1:11434",
					Keys: []Key{{Key: "fallback"}, {Key: "v-v"}}}}
			},
		},
		{
			name: "variables are expanded in values and never in keys",
			file: "c.yaml",
			src: `
			providers:
			- name: a
			  type: ollama
			  model_mapping:
			    "${FROM}": "${TO}"
			  models: ["${TO}"]
			`,
			env: map[string]string{"FROM": "x", "TO": "qwen3:8b"},
			want: func(c *Config) {
				c.Providers = []Provider{{Name: "a", Type: TypeOllama,
					ModelMapping: map[string]string{"${FROM}": "qwen3:8b"}, Models: []string{"qwen3:8b"}}}
			},
		},
		{
			name: "every key of the schema decodes",
			file: "c.yaml",
			src: `
			server:
			  listen: "0.0.0.0:9000"
			  auth: {api_key: "relay-key", allow_subscription: true}
			  timeouts: {dial: 5s, tls_handshake: 6s, response_header: 2m, stream_idle: "${IDLE:-10m}"}
			  max_body_bytes: 1e6
			  log_level: debug
			providers:
			- name: az
			  type: azure
			  priority: 10
			  weight: 3
			  azure_resource_name: res
			  azure_api_version: 2024-06-01
			  azure_auth: entra
			  azure_token_command: "az account get-access-token"
			  features: {thinking: strip}
			  keys:
			    - {key: k1, rpm_limit: 1, tpm_limit: 2, priority: 3, weight: 4}
			- name: br
			  type: bedrock
			  aws_region: us-west-2
			  aws_profile: dev
			  aws_session_token: t
			  aws_bearer_token: b
			routing:
			  strategy: model_based
			  key_strategy: weighted
			  max_attempts: 4
			  failover_timeout: 30s
			  max_wait: 1s
			  debug: true
			  model_based:
			    claude-: [az, br]
			  default_provider: br
			  circuit_breaker: {failure_threshold: 3, cooldown: 45s}
			  count_tokens: "provider:az"
			`,
			want: func(c *Config) {
				c.Server = Server{Listen: "0.0.0.0:9000", Auth: Auth{APIKey: "relay-key", AllowSubscription: true},
					Timeouts: Timeouts{Dial: Duration(5 * time.Second), TLSHandshake: Duration(6 * time.Second),
						ResponseHeader: Duration(2 * time.Minute), StreamIdle: Duration(10 * time.Minute)},
					MaxBodyBytes: 1000000, LogLevel: "debug"}
				c.Providers = []Provider{
					{Name: "az", Type: TypeAzure, Priority: &ten, Weight: 3, AzureResourceName: "res",
						AzureAPIVersion: "2024-06-01", AzureAuth: "entra", AzureTokenCommand: "az account get-access-token",
						Features: map[string]string{"thinking": "strip"},
						Keys:     []Key{{Key: "k1", RPMLimit: 1, TPMLimit: 2, Priority: 3, Weight: 4}}},
					{Name: "br", Type: TypeBedrock, AWSRegion: "us-west-2", AWSProfile: "dev", AWSSessionToken: "t", AWSBearerToken: "b"},
				}
				c.Routing = Routing{Strategy: StrategyModelBased, KeyStrategy: KeyStrategyWeighted, MaxAttempts: 4,
					FailoverTimeout: Duration(30 * time.Second), MaxWait: Duration(time.Second), Debug: true,
					ModelBased: map[string][]string{"claude-": {"az", "br"}}, DefaultProvider: "br",
					CircuitBreaker: CircuitBreaker{FailureThreshold: 3, Cooldown: Duration(45 * time.Second)},
					CountTokens:    "provider:az"}
			},
		},
		{
			name: "YAML anchors and merge keys are followed, explicit keys win",
			file: "c.yml",
			src: `
			providers:
			- name: a
			  type: zai
			  keys:
			    - &base {key: k1, rpm_limit: 5, priority: 1}
			    - <<: *base
			      key: k2
			`,
			want: func(c *Config) {
				c.Providers = []Provider{{Name: "a", Type: TypeZAI,
					Keys: []Key{{Key: "k1", RPMLimit: 5, Priority: 1}, {Key: "k2", RPMLimit: 5, Priority: 1}}}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(dedent(tt.src)), tt.file, env(tt.env))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			want := &Config{Source: tt.file}
			tt.want(want)
			want.ApplyDefaults()
			if diff := cmp.Diff(want, got, cmpIgnoreWarnings); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}
