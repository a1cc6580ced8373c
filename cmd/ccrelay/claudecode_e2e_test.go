package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/relaytest"
)

// ollamaVersion returns the version of the Ollama answering at base, or "" when none does.
func ollamaVersion(base string) string {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/api/version")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var v struct {
		Version string `json:"version"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		return ""
	}
	return v.Version
}

// accessFields reads the key=value pairs of one access line (slog's text format).
func accessFields(line string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`).FindAllStringSubmatch(line, -1) {
		out[m[1]] = strings.Trim(m[2], `"`)
	}
	return out
}

// TestClaudeCodeThroughZeroConfigServeToARealOllama runs the real Claude Code, headless, against
// serve started without a configuration file and without provider keys, in front of a real
// Ollama whose scripted model answers (../shared/tools/ollama-local/setup.sh builds one). It is
// skipped when claude is not on PATH or no Ollama answers at 127.0.0.1:11434, or at
// $CCRELAY_TEST_OLLAMA_URL (then serve gets a configuration file with that Ollama alone, as
// open as zero configuration's).
func TestClaudeCodeThroughZeroConfigServeToARealOllama(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Claude Code and a real Ollama; skipped with -short")
	}
	claude, err := exec.LookPath("claude")
	if err != nil {
		t.Skip("claude (Claude Code) is not on PATH; install it with npm install -g @anthropic-ai/claude-code")
	}
	ollamaURL := strings.TrimRight(os.Getenv("CCRELAY_TEST_OLLAMA_URL"), "/")
	if ollamaURL == "" {
		ollamaURL = "http://127.0.0.1:11434"
	}
	version := ollamaVersion(ollamaURL)
	if version == "" {
		t.Skipf("no Ollama answers GET %s/api/version; start one (../shared/tools/ollama-local/setup.sh) or set CCRELAY_TEST_OLLAMA_URL", ollamaURL)
	}
	t.Logf("Ollama %s at %s, %s", version, ollamaURL, claude)

	// serve's environment: no configuration file anywhere, no provider key, the scripted model.
	dir := t.TempDir()
	for _, k := range []string{"ANTHROPIC_API_KEY", "ZAI_API_KEY", "MINIMAX_API_KEY", "CCRELAY_CONFIG"} {
		t.Setenv(k, "")
	}
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("CCRELAY_OLLAMA_MODEL", "scripted")
	args := []string{"ccrelay", "serve", "--listen", "127.0.0.1:0", "--log-level", "info"}
	if ollamaURL != "http://127.0.0.1:11434" {
		cfg := filepath.Join(dir, "ccrelay.yaml")
		os.WriteFile(cfg, []byte("providers:\n  - name: ollama\n    type: ollama\n    base_url: "+ollamaURL+"\n"), 0o644)
		args = append(args, "--config", cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr relaytest.LogBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("serve did not shut down")
		}
		t.Logf("serve's output:\n%s\nserve's log:\n%s", stdout.String(), stderr.String())
	})
	listen := regexp.MustCompile(`ccrelay: listening on (http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := listen.FindStringSubmatch(stdout.String()); m != nil && strings.Contains(stdout.String(), "ccrelay: health: ") {
			base = m[1] // listening, and Start has reported
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", stdout.String())
		}
	}
	if !strings.Contains(stdout.String(), "ollama: claude-* → scripted:latest (CCRELAY_OLLAMA_MODEL)") {
		t.Errorf("serve did not print the claude-* mapping:\n%s", stdout.String())
	}

	home := filepath.Join(dir, "home")
	os.MkdirAll(home, 0o755)
	cctx, ccancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer ccancel()
	cmd := exec.CommandContext(cctx, claude, "-p", "say hello", "--output-format", "json")
	cmd.Dir = home
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "ANTHROPIC_BASE_URL=" + base, "ANTHROPIC_AUTH_TOKEN=anything",
		"DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_MAX_RETRIES=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err = cmd.Run()
	t.Logf("claude -p took %s; stdout:\n%s\nstderr:\n%s", time.Since(start).Round(time.Millisecond), out.String(), errOut.String())
	if err != nil {
		t.Fatalf("claude -p: %v", err)
	}
	var res struct {
		IsError    bool                       `json:"is_error"`
		Result     string                     `json:"result"`
		ModelUsage map[string]json.RawMessage `json:"modelUsage"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("claude -p output is not its JSON result: %v", err)
	}
	// The scripted model greets, or, as Claude Code offers a Bash tool, calls it (echo) and then
	// closes with its answer after the tool result.
	scripted := []string{"Hello! I am ccrelay's scripted test model", "The tool returned its result"}
	if res.IsError || !strings.Contains(res.Result, scripted[0]) && !strings.Contains(res.Result, scripted[1]) {
		t.Errorf("Claude Code's result is not the scripted model's answer: is_error=%v result=%q", res.IsError, res.Result)
	}

	// The relay's access log: each of Claude Code's requests for its model was served by
	// ollama with the scripted model.
	var served []string
	for line := range strings.Lines(stderr.String()) {
		f := accessFields(line)
		if f["msg"] != "request" || f["path"] != "/v1/messages" {
			continue
		}
		if f["status"] != "200" || f["provider"] != "ollama" || f["upstream_model"] != "scripted:latest" || !strings.HasPrefix(f["model"], "claude-") {
			t.Errorf("access line: %s", line)
		}
		served = append(served, f["model"])
	}
	if len(served) == 0 {
		t.Fatalf("the access log has no POST /v1/messages:\n%s", stderr.String())
	}
	for m := range res.ModelUsage {
		found := false
		for _, s := range served {
			found = found || s == m
		}
		if !found {
			t.Errorf("Claude Code used %q, which the access log does not show served (served: %q)", m, served)
		}
	}
}
