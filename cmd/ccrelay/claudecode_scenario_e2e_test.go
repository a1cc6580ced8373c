package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// scriptedUpstream is a fake Anthropic Messages upstream for real Claude Code: the main agent's
// first turn gets a call of the Agent tool (a subagent on the haiku model), a subagent's or a
// haiku request gets a short text, and a turn that carries the tool's result gets the final
// answer. Every answer is streamed, as Claude Code asks. It records what it was sent.
type scriptedUpstream struct {
	name string
	srv  *http.Server
	url  string

	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	path, model, agent string
}

func startScriptedUpstream(t *testing.T, name string) *scriptedUpstream {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &scriptedUpstream{name: name, url: "http://" + ln.Addr().String()}
	u.srv = &http.Server{Handler: u}
	go u.srv.Serve(ln)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

func (u *scriptedUpstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

func (u *scriptedUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	model := gjson.GetBytes(body, "model").Str
	agent := r.Header.Get("X-Claude-Code-Agent-Id")
	u.mu.Lock()
	u.seen = append(u.seen, seenRequest{path: r.URL.Path, model: model, agent: agent})
	u.mu.Unlock()
	if r.Header.Get("X-Api-Key") == "" && r.Header.Get("Authorization") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"no key"}}`)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/count_tokens") {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"input_tokens":%d}`, len(body)/4)
		return
	}
	if !gjson.ValidBytes(body) || model == "" || !gjson.GetBytes(body, "messages").IsArray() {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad body"}}`)
		return
	}
	hasResult := strings.Contains(string(body), `"tool_result"`)
	w.Header().Set("Content-Type", "text/event-stream")
	ev := func(name, data string) {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
		w.(http.Flusher).Flush()
	}
	ev("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_%s_%d","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"output_tokens":1}}}`, u.name, time.Now().UnixNano(), model, len(body)/4))
	text := func(s, stop string) {
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%q}}`, s))
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
		ev("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":12}}`, stop))
		ev("message_stop", `{"type":"message_stop"}`)
	}
	switch {
	case agent != "" || strings.Contains(model, "haiku") || strings.Contains(model, "glm"):
		text("Hi from the subagent.", "end_turn")
	case hasResult:
		text("Done: the subagent said hi.", "end_turn")
	default:
		input := `{"description":"Say hi","prompt":"Say hi and nothing else.","subagent_type":"general-purpose","model":"haiku"}`
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_01Scenario","name":"Agent","input":{}}}`)
		ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":%q}}`, input))
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40}}`)
		ev("message_stop", `{"type":"message_stop"}`)
	}
}

// TestClaudeCodeScenarioRouting runs the real Claude Code, headless, through serve with the
// issue's two rules: subagents and background (haiku) requests go to the cheap provider, the
// main turns to Anthropic. The main agent is scripted to start a subagent on haiku, a request in
// both scenarios: with the subagent rule first it is routed as a subagent, with the background
// rule first as background. Skipped when claude is not on PATH.
func TestClaudeCodeScenarioRouting(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Claude Code; skipped with -short")
	}
	claude, err := exec.LookPath("claude")
	if err != nil {
		t.Skip("claude (Claude Code) is not on PATH; install it with npm install -g @anthropic-ai/claude-code")
	}
	for _, first := range []string{"subagent", "background"} {
		t.Run(first+" rule first", func(t *testing.T) { claudeCodeScenarios(t, claude, first) })
	}
}

func claudeCodeScenarios(t *testing.T, claude, first string) {
	rules := "    - {when: subagent, providers: [zai]}\n    - {when: background, providers: [zai]}\n"
	if first == "background" {
		rules = "    - {when: background, providers: [zai]}\n    - {when: subagent, providers: [zai]}\n"
	}
	anth := startScriptedUpstream(t, "anthropic")
	cheap := startScriptedUpstream(t, "zai")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ccrelay.yaml")
	os.WriteFile(cfg, []byte(`
server:
  listen: 127.0.0.1:0
  log_level: info
providers:
  - name: anthropic
    type: anthropic
    base_url: `+anth.url+`
    keys: [{key: sk-ant-test}]
  - name: zai
    type: zai
    base_url: `+cheap.url+`/api/anthropic
    keys: [{key: zai-test}]
    model_mapping: {"claude-*": glm-4.6}
routing:
  scenarios:
`+rules), 0o644)
	for _, k := range []string{"ANTHROPIC_API_KEY", "ZAI_API_KEY", "MINIMAX_API_KEY", "CCRELAY_CONFIG"} {
		t.Setenv(k, "")
	}
	base, serveLogs := serveLog(t, cfg) // reload_test.go

	home := filepath.Join(dir, "home")
	os.MkdirAll(home, 0o755)
	cctx, ccancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer ccancel()
	cmd := exec.CommandContext(cctx, claude, "-p", "Use a subagent to say hi.", "--output-format", "json", "--allowedTools", "Agent")
	cmd.Dir = home
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "ANTHROPIC_BASE_URL=" + base, "ANTHROPIC_AUTH_TOKEN=anything",
		"DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_MAX_RETRIES=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	t.Logf("claude -p stdout:\n%s\nstderr:\n%s\nserve's log:\n%s", out.String(), errOut.String(), serveLogs())
	if err != nil {
		t.Fatalf("claude -p: %v", err)
	}
	var res struct {
		IsError bool   `json:"is_error"`
		Result  string `json:"result"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.IsError || !strings.Contains(res.Result, "the subagent said hi") {
		t.Errorf("Claude Code's result: %v is_error=%v %q", err, res.IsError, res.Result)
	}

	// What each provider was sent: main turns (no agent id, not haiku) at Anthropic only; the
	// subagent's requests and any haiku request at the cheap provider only.
	var mainTurns, cheapTurns int
	for _, s := range anth.requests() {
		if s.agent != "" || strings.Contains(s.model, "haiku") {
			t.Errorf("anthropic was sent a subagent or background request: %+v", s)
		}
		if strings.HasSuffix(s.path, "/v1/messages") {
			mainTurns++
		}
	}
	for _, s := range cheap.requests() {
		if s.model != "glm-4.6" {
			t.Errorf("zai was sent model %q, want the mapped glm-4.6", s.model)
		}
		cheapTurns++
	}
	if mainTurns < 2 || cheapTurns < 1 {
		t.Errorf("anthropic served %d main turns (want ≥ 2: the Agent call and the answer), zai %d (want ≥ 1: the subagent)", mainTurns, cheapTurns)
	}
	// The access log says which rule routed each request to the cheap provider.
	scenarios := map[string]int{}
	for line := range strings.Lines(serveLogs()) {
		f := accessFields(line)
		if f["msg"] != "request" || f["path"] != "/v1/messages" {
			continue
		}
		switch f["provider"] {
		case "zai":
			if f["scenario"] != "subagent" && f["scenario"] != "background" {
				t.Errorf("zai served a request no rule sent it: %s", line)
			}
			scenarios[f["scenario"]]++
		case "anthropic":
			if f["scenario"] != "" {
				t.Errorf("anthropic served a request a rule routed: %s", line)
			}
		}
	}
	if scenarios[first] == 0 {
		t.Errorf("no request was routed by the %s rule, the first (access lines by scenario: %v)", first, scenarios)
	}
	t.Logf("main turns at anthropic: %d; at zai by scenario: %v", mainTurns, scenarios)
}
