package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateReportsEachRule(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "duplicate provider names",
			src: `
			providers:
			- {name: a, type: ollama}
			- {name: a, type: zai, keys: [{key: k}]}
			`,
			want: []string{`c.yaml:3: providers[1].name: duplicate provider name "a" (also providers[0])`},
		},
		{
			name: "a missing name and a missing type",
			src: `
			providers:
			- base_url: http://localhost:11434
			`,
			want: []string{
				`c.yaml:2: providers[0].name: name is required`,
				`c.yaml:2: providers[0].type: type is required; want one of anthropic, zai, minimax, ollama, bedrock, azure, vertex`,
			},
		},
		{
			name: "an unknown type far from every type lists the valid ones",
			src: `
			providers:
			- {name: a, type: openai}
			`,
			want: []string{`c.yaml:2: providers[0].type: unknown provider type "openai"; want one of anthropic, zai, minimax, ollama, bedrock, azure, vertex`},
		},
		{
			name: "a base URL that is not absolute http or https",
			src: `
			providers:
			- {name: a, type: ollama, base_url: "localhost:11434"}
			- {name: b, type: ollama, base_url: "/v1"}
			- {name: c, type: ollama, base_url: "ftp://host"}
			`,
			want: []string{
				`c.yaml:2: providers[0].base_url: want an absolute http or https URL, got "localhost:11434"`,
				`c.yaml:3: providers[1].base_url: want an absolute http or https URL, got "/v1"`,
				`c.yaml:4: providers[2].base_url: want an absolute http or https URL, got "ftp://host"`,
			},
		},
		{
			name: "cloud providers need their region, project or resource",
			src: `
			providers:
			- name: br
			  type: bedrock
			- name: vx
			  type: vertex
			- name: az
			  type: azure
			  keys: [{key: k}]
			`,
			want: []string{
				`c.yaml:2: providers[0].aws_region: aws_region is required for type bedrock (for example "us-east-1")`,
				`c.yaml:4: providers[1].gcp_project_id: gcp_project_id is required for type vertex`,
				`c.yaml:4: providers[1].gcp_region: gcp_region is required for type vertex (for example "us-east5")`,
				`c.yaml:6: providers[2].azure_resource_name: type azure needs azure_resource_name or base_url`,
			},
		},
		{
			name: "a disabled cloud provider may lack its region",
			src: `
			providers:
			- {name: a, type: ollama}
			- {name: br, type: bedrock, enabled: false}
			`,
		},
		{
			name: "negative limits, priorities and weights",
			src: `
			providers:
			- name: a
			  type: zai
			  priority: -1
			  keys:
			    - {key: k, rpm_limit: -1, tpm_limit: -2, priority: -3, weight: -4}
			`,
			want: []string{
				`c.yaml:4: providers[0].priority: want 0 or more, got -1`,
				`c.yaml:6: providers[0].keys[0].rpm_limit: want 0 or more, got -1`,
				`c.yaml:6: providers[0].keys[0].tpm_limit: want 0 or more, got -2`,
				`c.yaml:6: providers[0].keys[0].priority: want 0 or more, got -3`,
				`c.yaml:6: providers[0].keys[0].weight: want 0 or more, got -4`,
			},
		},
		{
			name: "server.state.redis needs a Redis URL and at least one instance, and never quotes the URL",
			src: `
			providers:
			- {name: a, type: ollama}
			server:
			  state:
			    redis: {url: "http://user:s3cret@cache:6379", expected_instances: 0, key_prefix: "{x}"}
			`,
			want: []string{
				`c.yaml:5: server.state.redis.url: want a redis://, rediss:// or unix:// URL, got scheme "http"`,
				`c.yaml:5: server.state.redis.expected_instances: want a number of instances of at least 1, got 0`,
				`c.yaml:5: server.state.redis.key_prefix: want a prefix without braces or spaces (the relay puts each key's hash tag in braces), got "{x}"`,
			},
		},
		{
			name: "a Redis URL without a host, with a bad port or database",
			src: `
			providers:
			- {name: a, type: ollama}
			server:
			  state:
			    redis:
			      url: "redis://:pw@cache:99999/x"
			`,
			want: []string{`c.yaml:6: server.state.redis.url: want a port number from 1 to 65535, got "99999"`},
		},
		{
			name: "a valid server.state.redis",
			src: `
			providers:
			- {name: a, type: ollama}
			server:
			  state:
			    redis: {url: "redis://:pw@cache:6379/2", key_prefix: "team-a:", expected_instances: 3, timeout: 20ms}
			`,
		},
		{
			name: "a bad strategy lists the valid ones",
			src: `
			providers:
			- {name: a, type: ollama}
			routing:
			  strategy: random
			  key_strategy: fastest
			`,
			want: []string{
				`c.yaml:4: routing.strategy: unknown strategy "random"; want one of failover, round_robin, weighted_round_robin, shuffle, least_loaded, model_based`,
				`c.yaml:5: routing.key_strategy: unknown key strategy "fastest"; want one of round_robin, least_loaded, random, weighted`,
			},
		},
		{
			name: "model_based and default_provider name existing providers",
			src: `
			providers:
			- {name: a, type: ollama}
			routing:
			  strategy: model_based
			  model_based:
			    claude-: [a, b]
			    glm-: []
			  default_provider: c
			  count_tokens: "provider:d"
			`,
			want: []string{
				`c.yaml:6: routing.model_based.claude-[1]: no provider is named "b"`,
				`c.yaml:7: routing.model_based.glm-: want a list of provider names, got an empty list`,
				`c.yaml:8: routing.default_provider: no provider is named "c"`,
				`c.yaml:9: routing.count_tokens: no provider is named "d"`,
			},
		},
		{
			name: "scenario rules name known scenarios and existing providers",
			src: `
			providers:
			- {name: a, type: ollama}
			routing:
			  scenarios:
			  - {when: background, providers: [a]}
			  - {when: backgrund, providers: [a, z]}
			  - when: subagent
			    providers: []
			  background_models: [""]
			  long_context_tokens: -1
			`,
			want: []string{
				`c.yaml:6: routing.scenarios[1].when: unknown scenario "backgrund"; want one of subagent, background, long_context, thinking, web_search, image`,
				`c.yaml:6: routing.scenarios[1].providers[1]: no provider is named "z"`,
				`c.yaml:8: routing.scenarios[2].providers: want a list of provider names, got none`,
				`c.yaml:9: routing.background_models[0]: want a model name or pattern, got an empty string`,
				`c.yaml:10: routing.long_context_tokens: want 0 or more, got -1`,
			},
		},
		{
			name: "strategy model_based needs a table or a default",
			src: `
			providers:
			- {name: a, type: ollama}
			routing: {strategy: model_based}
			`,
			want: []string{`c.yaml:3: routing.model_based: strategy model_based needs routing.model_based or routing.default_provider`},
		},
		{
			name: "server listen, body limit, log level and count_tokens",
			src: `
			server:
			  listen: "127.0.0.1"
			  max_body_bytes: -5
			  log_level: verbose
			providers:
			- {name: a, type: ollama}
			routing:
			  count_tokens: guess
			`,
			want: []string{
				`c.yaml:2: server.listen: want host:port such as "127.0.0.1:8787", got "127.0.0.1"`,
				`c.yaml:3: server.max_body_bytes: want a number of bytes greater than 0, got -5`,
				`c.yaml:4: server.log_level: unknown log level "verbose"; want one of debug, info, warn, error`,
				`c.yaml:8: routing.count_tokens: unknown count_tokens "guess"; want estimate, refuse or provider:NAME`,
			},
		},
		{
			name: "a port out of range",
			src: `
			server: {listen: ":70000"}
			providers:
			- {name: a, type: ollama}
			`,
			want: []string{`c.yaml:1: server.listen: want a port number from 0 to 65535, got "70000"`},
		},
		{
			name: "valid values pass",
			src: `
			server: {listen: ":8787", log_level: warn}
			providers:
			- {name: a, type: ollama}
			- {name: b, type: azure, base_url: "https://example.services.ai.azure.com/anthropic", azure_auth: entra}
			routing: {strategy: shuffle, key_strategy: least_loaded, count_tokens: "provider:a", default_provider: b}
			`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(dedent(tt.src)), "c.yaml", nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if diff := cmp.Diff(tt.want, problemLines(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateWorksOnAConfigBuiltByHand(t *testing.T) {
	cfg := &Config{Providers: []Provider{{Name: "a", Type: TypeOllama}, {Name: "a", Type: "nope"}}}
	cfg.ApplyDefaults()
	err := cfg.Validate()
	want := []string{
		`providers[1].name: duplicate provider name "a" (also providers[0])`,
		`providers[1].type: unknown provider type "nope"; want one of anthropic, zai, minimax, ollama, bedrock, azure, vertex`,
	}
	if diff := cmp.Diff(want, problemLines(t, err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestLoadWarnsAboutLikelyMistakes(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "a provider that needs a key has none",
			src: `
			providers:
			- {name: z, type: zai}
			- {name: a, type: anthropic}
			`,
			want: []string{
				`c.yaml:2: providers[0].keys: no keys: requests to provider "z" will not authenticate`,
				`c.yaml:3: providers[1].keys: no keys: requests to provider "a" will not authenticate`,
			},
		},
		{
			name: "anthropic without keys is fine with subscription pass-through",
			src: `
			server: {auth: {allow_subscription: true}}
			providers:
			- {name: a, type: anthropic}
			`,
		},
		{
			name: "every provider is disabled and a key expanded to nothing",
			src: `
			providers:
			- name: a
			  type: zai
			  enabled: false
			  keys: [{key: "${Z:-}"}]
			`,
			want: []string{`c.yaml:1: providers: every provider is disabled: the relay has nowhere to send requests`},
		},
		{
			name: "a base_url that ends in the path the relay adds",
			src: `
			providers:
			- {name: a, type: anthropic, keys: [{key: k}], base_url: "https://api.anthropic.com/v1"}
			- {name: z, type: zai, keys: [{key: k}], base_url: "https://api.z.ai/api/anthropic/v1/"}
			- {name: m, type: minimax, keys: [{key: k}], base_url: "https://api.minimax.io/anthropic/v1/messages"}
			- name: o
			  type: ollama
			  base_url: "http://localhost:11434/v1"
			- {name: v, type: vertex, gcp_project_id: p, gcp_region: global, base_url: "https://aiplatform.googleapis.com/v1"}
			`,
			want: []string{
				`c.yaml:2: providers[0].base_url: provider "a": base_url "https://api.anthropic.com/v1" ends in /v1, but ccrelay adds /v1/messages itself; remove /v1`,
				`c.yaml:3: providers[1].base_url: provider "z": base_url "https://api.z.ai/api/anthropic/v1/" ends in /v1, but ccrelay adds /v1/messages itself; remove /v1`,
				`c.yaml:4: providers[2].base_url: provider "m": base_url "https://api.minimax.io/anthropic/v1/messages" ends in /v1/messages, but ccrelay adds /v1/messages itself; remove /v1/messages`,
				`c.yaml:7: providers[3].base_url: provider "o": base_url "http://localhost:11434/v1" ends in /v1, but ccrelay adds /v1/messages itself; remove /v1`,
				`c.yaml:8: providers[4].base_url: provider "v": base_url "https://aiplatform.googleapis.com/v1" ends in /v1, but ccrelay adds /v1/projects/… itself; remove /v1`,
			},
		},
		{
			name: "base URLs whose paths only look like the API path",
			src: `
			providers:
			- {name: a, type: anthropic, keys: [{key: k}], base_url: "https://gateway.example/anthropic/v1beta"}
			- {name: b, type: anthropic, keys: [{key: k}], base_url: "https://gateway.example/v1/anthropic"}
			- {name: c, type: bedrock, aws_region: us-east-1, base_url: "https://bedrock-proxy.example/v1"}
			- {name: d, type: ollama, base_url: "http://localhost:11434/?v=/v1"}
			`,
		},
		{
			name: "an empty key of an enabled provider",
			src: `
			providers:
			- name: a
			  type: zai
			  keys: [{key: "${Z:-}"}]
			`,
			want: []string{`c.yaml:4: providers[0].keys[0].key: the key is empty`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(dedent(tt.src)), "c.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
