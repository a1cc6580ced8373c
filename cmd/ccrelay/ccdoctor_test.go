package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
)

// doctorRelay serves a relay built from the YAML configuration cfg (UPSTREAM and REFUSED are
// replaced by a fake Anthropic upstream that counts tokens and by an address nothing listens
// on) on 127.0.0.1, after its first health probes. It returns the relay's URL and a function
// that hides the varying addresses in output.
func doctorRelay(t *testing.T, cfg string) (base, refused string, hide func(string) string) {
	t.Helper()
	up := relaytest.NewUpstream(t, relaytest.Status(200, nil, `{"input_tokens":12}`))
	refused = relaytest.RefusedURL(t)
	cfg = strings.NewReplacer("UPSTREAM", up.URL, "REFUSED", refused).Replace(cfg)
	c, err := config.Parse([]byte(cfg), "relay.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := relay.New(ctx, relay.Options{Config: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(ctx)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	hide = strings.NewReplacer(srv.URL, "RELAY", up.URL, "UPSTREAM", refused, "REFUSED",
		strings.TrimPrefix(refused, "http://"), "REFUSED_ADDR").Replace
	return srv.URL, refused, hide
}

const doctorConfig = `server:
  auth:
    api_key: relay-key-0123456789
providers:
  - name: claude
    type: anthropic
    base_url: UPSTREAM
    keys: [{key: test-key}]
    models: [claude-opus-5-5, claude-sonnet-5-5]
    model_mapping:
      "claude-haiku-*": claude-haiku-4-5
`

func TestCCDoctor(t *testing.T) {
	for _, k := range []string{"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_MODEL",
		"ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL",
		"ANTHROPIC_SMALL_FAST_MODEL", "CLAUDE_CODE_SUBAGENT_MODEL", "CLAUDE_CONFIG_DIR"} {
		t.Setenv(k, "")
	}
	unreachable := doctorConfig + `  - name: glm
    type: zai
    base_url: REFUSED
    keys: [{key: test-key}]
    models: [glm-4.6]
`
	tests := []struct {
		name     string
		config   string
		settings string // RELAY is the relay's URL; "" writes no file
		code     int
		golden   string
	}{
		// claude-haiku-custom is not listed by /v1/models but matches claude-haiku-*: the doctor
		// finds its provider with a count_tokens request.
		{"every check passes", doctorConfig,
			`{"env": {"ANTHROPIC_BASE_URL": "RELAY", "ANTHROPIC_AUTH_TOKEN": "relay-key-0123456789", "ANTHROPIC_SMALL_FAST_MODEL": "claude-haiku-custom"}}`, 0, "cc-doctor-pass.golden"},
		{"a model no provider serves and an unreachable provider fail, each with its fix", unreachable,
			`{"model": "sonnet", "env": {"ANTHROPIC_BASE_URL": "RELAY", "ANTHROPIC_AUTH_TOKEN": "relay-key-0123456789", "ANTHROPIC_DEFAULT_SONNET_MODEL": "glm-4.6", "ANTHROPIC_SMALL_FAST_MODEL": "claude-3-5-haiku-latest"}}`,
			1, "cc-doctor-fail.golden"},
		{"a wrong token fails", doctorConfig,
			`{"env": {"ANTHROPIC_BASE_URL": "RELAY", "ANTHROPIC_AUTH_TOKEN": "ccrelay"}}`, 1, "cc-doctor-token.golden"},
		{"nothing answering at the URL fails", doctorConfig,
			`{"env": {"ANTHROPIC_BASE_URL": "REFUSED", "ANTHROPIC_AUTH_TOKEN": "relay-key-0123456789"}}`, 1, "cc-doctor-down.golden"},
		{"settings without the relay fail", doctorConfig, `{"env": {}}`, 1, "cc-doctor-unset.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, refused, hide := doctorRelay(t, tt.config)
			dir := t.TempDir()
			settings := filepath.Join(dir, "settings.json")
			content := strings.NewReplacer("RELAY", base, "REFUSED", refused).Replace(tt.settings)
			os.WriteFile(settings, []byte(content), 0o600)
			code, out, errs := runCLI(t, "cc", "doctor", "--settings", settings)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\n%s%s", code, tt.code, out, errs)
			}
			got := hide(strings.ReplaceAll(out+errs, dir, "DIR"))
			golden(t, tt.golden, "$ ccrelay cc doctor --settings DIR/settings.json\n"+got)
		})
	}
}

func TestCCDoctorModels(t *testing.T) {
	env := func(m map[string]string) ccEnv {
		return ccEnv{getenv: func(k string) string { return m[k] }}
	}
	names := func(ms []ccModel) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.id+"="+strings.Join(m.roles, "+"))
		}
		return strings.Join(s, " ")
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"Claude Code's defaults", nil,
			"claude-opus-5-5=main+opus claude-sonnet-5-5=sonnet claude-haiku-5-5=haiku+background"},
		{"ANTHROPIC_MODEL as an alias follows the alias's override",
			map[string]string{"ANTHROPIC_MODEL": "sonnet", "ANTHROPIC_DEFAULT_SONNET_MODEL": "glm-4.6"},
			"glm-4.6=main+sonnet claude-opus-5-5=opus claude-haiku-5-5=haiku+background"},
		{"the background and subagent models",
			map[string]string{"ANTHROPIC_SMALL_FAST_MODEL": "qwen3:8b", "CLAUDE_CODE_SUBAGENT_MODEL": "haiku", "ANTHROPIC_DEFAULT_HAIKU_MODEL": "glm-4.5-air"},
			"claude-opus-5-5=main+opus claude-sonnet-5-5=sonnet glm-4.5-air=haiku+subagents qwen3:8b=background"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(claudeCodeModels(env(tt.env), nil)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
