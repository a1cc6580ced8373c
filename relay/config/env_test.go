package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpand(t *testing.T) {
	lookup := env(map[string]string{"A": "1", "EMPTY": "", "URL": "http://h:1"})
	tests := []struct {
		name    string
		in      string
		want    string
		unset   []string
		wantErr string
	}{
		{name: "text without references is unchanged", in: "plain", want: "plain"},
		{name: "a braced variable is replaced", in: "x-${A}-y", want: "x-1-y"},
		{name: "a lone dollar is left alone", in: "$", want: "$"},
		{name: "a variable without braces is left alone", in: "$A and $ and $$", want: "$A and $ and $$"},
		{name: "a default is used when the variable is unset", in: "${X:-def}", want: "def"},
		{name: "a default is used when the variable is empty", in: "${EMPTY:-def}", want: "def"},
		{name: "a default is not used when the variable is set", in: "${URL:-def}", want: "http://h:1"},
		{name: "a default may be empty", in: "${X:-}", want: ""},
		{name: "a default may hold colons and dashes", in: "${X:-http://localhost:11434}", want: "http://localhost:11434"},
		{name: "a set but empty variable without default is empty", in: "[${EMPTY}]", want: "[]"},
		{name: "unset variables are reported", in: "${X}${A}${Y}", want: "1", unset: []string{"X", "Y"}},
		{name: "an unterminated reference is an error", in: "a${X", wantErr: `unterminated "${X": write ${NAME} or ${NAME:-default}`},
		{name: "an invalid name is an error", in: "${1X}", wantErr: `invalid environment variable name "1X" in "${1X}"`},
		{name: "an empty name is an error", in: "${}", wantErr: `invalid environment variable name "" in "${}"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unset, err := expand(tt.in, lookup)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if diff := cmp.Diff(tt.unset, unset); diff != "" {
				t.Errorf("unset (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	anthropic := Provider{Name: "anthropic", Type: TypeAnthropic, BaseURL: "https://api.anthropic.com", Keys: []Key{{Key: "a", Priority: 3}}}
	zai := Provider{Name: "zai", Type: TypeZAI, BaseURL: "https://api.z.ai/api/anthropic", Keys: []Key{{Key: "z", Priority: 2}}}
	minimax := Provider{Name: "minimax", Type: TypeMiniMax, BaseURL: "https://api.minimax.io/anthropic", Keys: []Key{{Key: "m", Priority: 1}}}
	ollama := Provider{Name: "ollama", Type: TypeOllama, BaseURL: "http://127.0.0.1:11434", Keys: []Key{{Key: "ollama", Priority: 0}}}
	onlyOllama := "no configuration file and no provider API key in the environment: serving ollama only (http://127.0.0.1:11434)"
	tests := []struct {
		name     string
		env      map[string]string
		want     []Provider
		warnings []string
	}{
		{name: "nothing set serves ollama only, with a warning", want: []Provider{ollama}, warnings: []string{onlyOllama}},
		{name: "empty variables count as unset", env: map[string]string{"ANTHROPIC_API_KEY": "", "ZAI_API_KEY": ""}, want: []Provider{ollama}, warnings: []string{onlyOllama}},
		{name: "anthropic only", env: map[string]string{"ANTHROPIC_API_KEY": "a"}, want: []Provider{anthropic, ollama}},
		{name: "zai and minimax", env: map[string]string{"MINIMAX_API_KEY": "m", "ZAI_API_KEY": "z"}, want: []Provider{zai, minimax, ollama}},
		{name: "all three in failover order", env: map[string]string{"MINIMAX_API_KEY": "m", "ZAI_API_KEY": "z", "ANTHROPIC_API_KEY": "a"}, want: []Provider{anthropic, zai, minimax, ollama}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := FromEnv(env(tt.env))
			want := &Config{Providers: tt.want, Warnings: tt.warnings}
			want.ApplyDefaults()
			if diff := cmp.Diff(want, cfg); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("validate: %v", err)
			}
			for i := 1; i < len(cfg.Providers); i++ {
				if cfg.Providers[i-1].EffectivePriority() <= cfg.Providers[i].EffectivePriority() {
					t.Errorf("providers %d and %d are not in descending priority", i-1, i)
				}
			}
		})
	}
}

func TestSummaryDescribesProvidersWithoutSecrets(t *testing.T) {
	prio := 7
	cfg := &Config{Providers: []Provider{
		{Name: "anthropic", Type: TypeAnthropic, Keys: []Key{{Key: "sk-ant-secret", Priority: 2}, {Key: "sk-ant-other", Priority: 1}},
			Models: []string{"a", "b"}},
		{Name: "proxy", Type: TypeZAI, BaseURL: "https://user:hunter2@proxy.example/api?key=sk-query", Keys: []Key{{Key: "zk"}},
			ModelMapping: map[string]string{"x": "y"}, Priority: &prio},
		{Name: "br", Type: TypeBedrock, AWSRegion: "us-east-1", AWSSecretAccessKey: "aws-secret"},
		{Name: "az", Type: TypeAzure, AzureResourceName: "res", Enabled: new(false)},
		{Name: "vx", Type: TypeVertex, GCPRegion: "us-east5"},
		{Name: "vg", Type: TypeVertex, GCPRegion: "global"},
		{Name: "bad", Type: TypeBedrock},
	}}
	want := []string{
		"anthropic: type anthropic, https://api.anthropic.com (default), 2 keys, 2 models listed, 0 mapped, priority 2",
		"proxy: type zai, https://proxy.example/api, 1 key, 0 models listed, 1 mapped, priority 7",
		"br: type bedrock, https://bedrock-runtime.us-east-1.amazonaws.com (derived), 0 keys, 0 models listed, 0 mapped, priority 0",
		"az: type azure, https://res.services.ai.azure.com/anthropic (derived), 0 keys, 0 models listed, 0 mapped, priority 0, disabled",
		"vx: type vertex, https://us-east5-aiplatform.googleapis.com (derived), 0 keys, 0 models listed, 0 mapped, priority 0",
		"vg: type vertex, https://aiplatform.googleapis.com (derived), 0 keys, 0 models listed, 0 mapped, priority 0",
		"bad: type bedrock, no endpoint, 0 keys, 0 models listed, 0 mapped, priority 0",
	}
	got := cfg.Summary()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	all := strings.Join(got, "\n")
	for _, secret := range []string{"sk-ant", "hunter2", "sk-query", "zk", "aws-secret"} {
		if strings.Contains(all, secret) {
			t.Errorf("summary shows %q", secret)
		}
	}
}
