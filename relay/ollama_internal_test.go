package relay

import (
	"net/url"
	"slices"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
)

func TestNewDiscoveryChoosesWhatClaudeModelsAreServedWith(t *testing.T) {
	installed := []string{"qwen3-coder:30b", "qwen3:latest", "llama3.2:3b"}
	firstWhy := "the model Ollama lists first, the last pulled or created; set CCRELAY_OLLAMA_MODEL to choose"
	tests := []struct {
		name      string
		installed []string
		want      string
		prev      *discovery
		target    string
		why       string
		missing   bool
	}{
		{"nothing installed", nil, "", nil, "", "", false},
		{"the first listed", installed, "", nil, "qwen3-coder:30b", firstWhy, false},
		{"the environment, exact", installed, "llama3.2:3b", nil, "llama3.2:3b", envOllamaModel, false},
		{"the environment, without :latest", installed, "qwen3", nil, "qwen3:latest", envOllamaModel, false},
		{"the environment, not installed", installed, "gpt-oss:20b", nil, "gpt-oss:20b", envOllamaModel, true},
		{"the earlier choice stays while installed", installed, "", &discovery{target: "llama3.2:3b", why: firstWhy}, "llama3.2:3b", firstWhy, false},
		{"an earlier choice no longer installed", installed, "", &discovery{target: "gone:1b", why: firstWhy}, "qwen3-coder:30b", firstWhy, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDiscovery(tt.installed, tt.want, tt.prev)
			if d.target != tt.target || d.why != tt.why || d.missing != tt.missing {
				t.Errorf("target %q (%s) missing=%v, want %q (%s) missing=%v", d.target, d.why, d.missing, tt.target, tt.why, tt.missing)
			}
			if len(tt.installed) == 0 {
				if len(d.mapping) != 0 || len(d.models) != 0 {
					t.Errorf("nothing installed serves %v %v", d.mapping, d.models)
				}
				return
			}
			if d.mapping["claude-*"] != tt.target {
				t.Errorf("mapping %v", d.mapping)
			}
			if !slices.Contains(d.models, "qwen3") || !slices.Contains(d.models, "qwen3:latest") {
				t.Errorf("models %q: an installed model is served with and without :latest", d.models)
			}
		})
	}
}

func TestParameterIntAndCanonicalModel(t *testing.T) {
	params := "num_ctx                        4096\nstop                           \"<|end|>\"\ntemperature                    0.7"
	if n := parameterInt(params, "num_ctx"); n != 4096 {
		t.Errorf("num_ctx = %d", n)
	}
	if n := parameterInt(`stop                           "<|end|>"`, "num_ctx"); n != 0 {
		t.Errorf("num_ctx without the parameter = %d", n)
	}
	for in, want := range map[string]string{
		"qwen3": "qwen3:latest", "qwen3:8b": "qwen3:8b", "hf.co/user/model": "hf.co/user/model:latest",
		"localhost:5000/m": "localhost:5000/m:latest", "hf.co/user/model:Q4_K_M": "hf.co/user/model:Q4_K_M",
	} {
		if got := canonicalModel(in); got != want {
			t.Errorf("canonicalModel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSuggestContext(t *testing.T) {
	for _, tt := range []struct{ need, trained, want int }{
		{10000, 0, 32768},
		{12563, 32768, 32768},
		{30000, 131072, 65536},
		{30000, 40960, 40960},
		{60000, 40960, 131072}, // the model cannot take it; advice says so instead
	} {
		if got := suggestContext(tt.need, tt.trained); got != tt.want {
			t.Errorf("suggestContext(%d, %d) = %d, want %d", tt.need, tt.trained, got, tt.want)
		}
	}
}

// The TCP probe of providers without a health endpoint dials the host of their address, on the
// scheme's port when the address has none (bedrock, azure and vertex: 443).
func TestProbeAddressOfEachProviderType(t *testing.T) {
	for _, tt := range []struct{ typ, address, want string }{
		{config.TypeBedrock, "https://bedrock-runtime.eu-central-1.amazonaws.com", "bedrock-runtime.eu-central-1.amazonaws.com:443"},
		{config.TypeAzure, "https://res.services.ai.azure.com", "res.services.ai.azure.com:443"},
		{config.TypeVertex, "https://europe-west1-aiplatform.googleapis.com", "europe-west1-aiplatform.googleapis.com:443"},
		{config.TypeAnthropic, "https://api.anthropic.com", "api.anthropic.com:443"},
		{config.TypeOllama, "http://localhost", "localhost:80"},
		{config.TypeZAI, "http://127.0.0.1:8080", "127.0.0.1:8080"},
		{config.TypeMiniMax, "https://[::1]", "[::1]:443"},
	} {
		u, err := url.Parse(tt.address)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostPort(u); got != tt.want {
			t.Errorf("%s %s: dials %q, want %q", tt.typ, tt.address, got, tt.want)
		}
	}
}
