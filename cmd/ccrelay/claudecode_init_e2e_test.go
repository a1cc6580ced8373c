package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClaudeCodeAfterCCInit is the one-command setup, end to end: serve with a relay key,
// `ccrelay cc init`, then the real Claude Code with nothing in its environment but HOME and
// PATH (no ANTHROPIC_* variable): it reaches the relay with the relay's key, and its prompt is
// answered. Then `ccrelay cc remove` restores the settings file byte for byte. Skipped when
// claude is not on PATH.
func TestClaudeCodeAfterCCInit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Claude Code; skipped with -short")
	}
	claude, err := exec.LookPath("claude")
	if err != nil {
		t.Skip("claude (Claude Code) is not on PATH; install it with npm install -g @anthropic-ai/claude-code")
	}
	up := startScriptedUpstream(t, "anthropic")
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	settings := filepath.Join(home, ".claude", "settings.json")
	os.MkdirAll(filepath.Dir(settings), 0o755)
	before := []byte("{\n  \"theme\": \"dark\",\n  \"env\": {\n    \"DISABLE_AUTOUPDATER\": \"1\"\n  }\n}\n")
	os.WriteFile(settings, before, 0o644)
	cfg := filepath.Join(dir, "ccrelay.yaml")
	os.WriteFile(cfg, []byte(`
server:
  listen: 127.0.0.1:0
  auth: {api_key: relay-secret-for-the-test}
providers:
  - name: anthropic
    type: anthropic
    base_url: `+up.url+`
    keys: [{key: sk-ant-test}]
`), 0o644)
	for _, k := range []string{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "CCRELAY_CONFIG", "CLAUDE_CONFIG_DIR"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", home)

	base, serveLogs := serveLog(t, cfg) // reload_test.go

	var out bytes.Buffer
	if code := run(context.Background(), []string{"ccrelay", "cc", "init", "--config", cfg, "--url", base}, &out, &out); code != 0 {
		t.Fatalf("cc init: exit %d\n%s", code, out.String())
	}
	t.Logf("cc init:\n%s", out.String())

	cctx, ccancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer ccancel()
	cmd := exec.CommandContext(cctx, claude, "-p", "say hi", "--output-format", "json")
	cmd.Dir = home
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	var cout, cerr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &cout, &cerr
	err = cmd.Run()
	t.Logf("claude -p stdout:\n%s\nstderr:\n%s\nserve's log:\n%s", cout.String(), cerr.String(), serveLogs())
	if err != nil {
		t.Fatalf("claude -p: %v", err)
	}
	var res struct {
		IsError bool   `json:"is_error"`
		Result  string `json:"result"`
	}
	if err := json.Unmarshal(cout.Bytes(), &res); err != nil || res.IsError || res.Result == "" {
		t.Errorf("Claude Code's result: %v is_error=%v %q", err, res.IsError, res.Result)
	}
	if len(up.requests()) == 0 {
		t.Error("the upstream saw no request")
	}
	for line := range strings.Lines(serveLogs()) {
		if f := accessFields(line); f["msg"] == "request" && f["status"] != "200" {
			t.Errorf("a request was not answered 200: %s", line)
		}
	}

	out.Reset()
	if code := run(context.Background(), []string{"ccrelay", "cc", "remove"}, &out, &out); code != 0 {
		t.Fatalf("cc remove: exit %d\n%s", code, out.String())
	}
	if after, _ := os.ReadFile(settings); !bytes.Equal(after, before) {
		t.Errorf("after cc remove the settings are\n%s\nwant\n%s", after, before)
	}
}
