// Command cc-versions records what one installed version of Claude Code sends through ccrelay.
// scripts/cc-versions/run.sh installs each version from npm and runs it; see README.md there.
//
// For one version it starts, all on 127.0.0.1:
//
//   - a fake Anthropic upstream (fake.go) that answers /v1/messages (streamed or not) and
//     /v1/messages/count_tokens; to a request that offers the Bash tool and asks to run
//     `echo hi` it answers a Bash tool_use, and after the tool_result a final text;
//   - `ccrelay serve` (the binary given with -ccrelay) with a configuration whose only provider
//     is that upstream (type anthropic) and whose server.auth.api_key is a test key;
//   - a recording front: a reverse proxy to serve that keeps every request Claude Code sends
//     (method, path, query, headers, body) and the status the relay answered.
//
// It then sets Claude Code up with `ccrelay cc init` (in a temporary CLAUDE_CONFIG_DIR and
// HOME: the user's own settings play no part, and Claude Code finds the relay through the
// settings file alone) and runs it headless once per scenario:
//
//	plain    claude -p "say hi" --output-format json
//	bash     claude -p "Run this shell command with the Bash tool: echo hi" --output-format json --allowedTools Bash
//	context  claude -p "/context" --output-format json
//
// with DISABLE_TELEMETRY, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC and an HTTPS proxy that does
// not exist (127.0.0.1:9), so that nothing leaves the machine. Each request is written to
// <out>/<version>/<scenario>-<n>.json with its provenance, and <out>/<version>/run.json says
// what each run did (exit status, Claude Code's result, how many requests).
//
// The recordings keep the structure of what Claude Code sent and not its prose, as
// fixtures/real-traffic/claude-code does: strings over 80 characters under the keys text,
// description, content and thinking are replaced by filler of the same length and line count
// (Claude Code's system prompt and tool descriptions are not ours to publish, and the system
// prompt holds the machine's paths), the body is re-indented (body_len is the size sent), and
// credentials are replaced by REDACTED.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// scenario is one headless run of Claude Code.
type scenario struct {
	Name string   `json:"name"`
	Args []string `json:"args"`
}

var scenarios = []scenario{
	{"plain", []string{"-p", "say hi", "--output-format", "json"}},
	{"bash", []string{"-p", "Run this shell command with the Bash tool: echo hi", "--output-format", "json", "--allowedTools", "Bash"}},
	{"context", []string{"-p", "/context", "--output-format", "json"}},
}

// relayKey is the test key the relay requires (scrubbed from the recordings all the same).
const relayKey = "cc-versions-relay-key"

func main() {
	claude := flag.String("claude", "", "the Claude Code executable to run (required)")
	version := flag.String("version", "", "its version, as npm names it (required)")
	ccrelay := flag.String("ccrelay", "", "the ccrelay binary (required)")
	out := flag.String("out", "fixtures/claude-code", "where the recordings go (<out>/<version>/)")
	only := flag.String("scenarios", "plain,bash,context", "the scenarios to run")
	timeout := flag.Duration("timeout", 3*time.Minute, "bound on one run of Claude Code")
	flag.Parse()
	if *claude == "" || *version == "" || *ccrelay == "" {
		flag.Usage()
		os.Exit(2)
	}
	log.SetFlags(0)
	log.SetPrefix("cc-versions " + *version + ": ")
	if err := record(*claude, *version, *ccrelay, *out, strings.Split(*only, ","), *timeout); err != nil {
		log.Fatal(err)
	}
}

// captured is one request Claude Code sent, with the relay's answer.
type captured struct {
	scenario string
	n        int
	at       time.Time
	method   string
	path     string
	query    string
	header   http.Header
	body     []byte
	status   int
	provider string
}

// front is the recording reverse proxy in front of ccrelay serve.
type front struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	cur   string
	seq   map[string]int
	reqs  []*captured
}

type ctxKey struct{}

func newFront(target *url.URL) *front {
	f := &front{seq: map[string]int{}}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if c, ok := resp.Request.Context().Value(ctxKey{}).(*captured); ok {
				f.mu.Lock()
				c.status, c.provider = resp.StatusCode, resp.Header.Get("X-Ccrelay-Provider")
				f.mu.Unlock()
			}
			return nil
		},
	}
	return f
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	f.mu.Lock()
	f.seq[f.cur]++
	c := &captured{scenario: f.cur, n: f.seq[f.cur], at: time.Now().UTC(), method: r.Method, path: r.URL.Path,
		query: r.URL.RawQuery, header: r.Header.Clone(), body: body}
	f.reqs = append(f.reqs, c)
	f.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
}

// start sets the scenario the next requests belong to, and returns how many were recorded.
func (f *front) start(name string) {
	f.mu.Lock()
	f.cur = name
	f.mu.Unlock()
}

func (f *front) of(name string) []*captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*captured
	for _, c := range f.reqs {
		if c.scenario == name {
			out = append(out, c)
		}
	}
	return out
}

// serveLoopback serves h on a new 127.0.0.1 port.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// runResult is what one scenario's run did, for run.json.
type runResult struct {
	Scenario string   `json:"scenario"`
	Command  string   `json:"command"`
	ExitCode int      `json:"exit_code"`
	IsError  *bool    `json:"is_error,omitempty"`
	Result   string   `json:"result,omitempty"`
	NumTurns int      `json:"num_turns,omitempty"`
	Requests int      `json:"requests"`
	Files    []string `json:"files"`
	// Replayed is the request the conformance case cc-<version>-<scenario> replays.
	Replayed  string  `json:"replayed,omitempty"`
	Stderr    string  `json:"stderr,omitempty"`
	Note      string  `json:"note,omitempty"`
	DurationS float64 `json:"duration_s"`
}

func record(claude, version, ccrelayBin, out string, only []string, timeout time.Duration) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "cc-versions-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	home, cfgDir, work := filepath.Join(tmp, "home"), filepath.Join(tmp, "claude-config"), filepath.Join(tmp, "work")
	for _, d := range []string{home, cfgDir, work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}

	upURL, stopUp, err := serveLoopback(fakeUpstream{})
	if err != nil {
		return err
	}
	defer stopUp()
	cfg := filepath.Join(tmp, "ccrelay.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
  auth:
    api_key: %q
routing:
  health_interval: 0s
providers:
  - name: fake-anthropic
    type: anthropic
    base_url: %q
    keys: [{key: "fake-upstream-key"}]
`, relayKey, upURL)), 0o600)

	// ccrelay serve, until this run ends.
	sctx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	serve := exec.CommandContext(sctx, ccrelayBin, "serve", "--config", cfg)
	serve.Env = append(os.Environ(), "CCRELAY_CONFIG=")
	serve.Cancel = func() error { return serve.Process.Signal(os.Interrupt) }
	stdout, _ := serve.StdoutPipe()
	var serveLog bytes.Buffer
	serve.Stderr = &serveLog
	if err := serve.Start(); err != nil {
		return fmt.Errorf("start ccrelay serve: %w", err)
	}
	defer func() {
		stopServe()
		serve.Wait()
	}()
	relayURL, err := listening(stdout)
	if err != nil {
		return fmt.Errorf("ccrelay serve: %w\n%s", err, serveLog.String())
	}
	target, _ := url.Parse(relayURL)
	fr := newFront(target)
	frontURL, stopFront, err := serveLoopback(fr)
	if err != nil {
		return err
	}
	defer stopFront()
	log.Printf("fake upstream %s, ccrelay serve %s, recording front %s", upURL, relayURL, frontURL)

	// Claude Code learns the relay from its settings only, written by ccrelay cc init.
	settings := filepath.Join(cfgDir, "settings.json")
	initOut, err := exec.Command(ccrelayBin, "cc", "init", "--settings", settings, "--url", frontURL, "--config", cfg).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ccrelay cc init: %w\n%s", err, initOut)
	}

	dir := filepath.Join(out, version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range old {
		os.Remove(f)
	}
	date := time.Now().UTC()
	manifest := struct {
		Provenance string      `json:"provenance"`
		Version    string      `json:"claude_code_version"`
		Recorded   string      `json:"recorded"`
		Setup      string      `json:"setup"`
		Env        []string    `json:"env"`
		Runs       []runResult `json:"runs"`
	}{
		Provenance: "recorded from real Claude Code " + version + " through ccrelay against a fake upstream",
		Version:    version, Recorded: date.Format(time.RFC3339),
		Setup: "npm install @anthropic-ai/claude-code@" + version + " into a temporary prefix; ccrelay serve (one anthropic provider: the fake upstream of scripts/cc-versions/fake.go) behind a recording proxy; " +
			"Claude Code configured by `ccrelay cc init --settings $CLAUDE_CONFIG_DIR/settings.json` alone, in a temporary HOME and CLAUDE_CONFIG_DIR",
		Env: claudeEnv("$TMP/home", "$TMP/claude-config", ""),
	}
	for _, sc := range scenarios {
		if !contains(only, sc.Name) {
			continue
		}
		fr.start(sc.Name)
		rr := runClaude(ctx, claude, sc, home, cfgDir, work, timeout)
		time.Sleep(500 * time.Millisecond) // late requests of the run
		fr.start("")
		best := 0
		for _, c := range fr.of(sc.Name) {
			name := fmt.Sprintf("%s-%d.json", sc.Name, c.n)
			if better(sc.Name, c, best) {
				rr.Replayed, best = name, len(c.body)
			}
			data, err := recordFile(c, version, date, rr.Command)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				return err
			}
			rr.Files = append(rr.Files, name)
			rr.Requests++
		}
		if rr.Requests == 0 {
			rr.Note = "Claude Code sent no request in this run"
		}
		log.Printf("%s: exit %d, %d requests, result %q", sc.Name, rr.ExitCode, rr.Requests, clip(rr.Result, 80))
		manifest.Runs = append(manifest.Runs, rr)
	}
	data, _ := json.MarshalIndent(manifest, "", "  ")
	return os.WriteFile(filepath.Join(dir, "run.json"), append(data, '\n'), 0o644)
}

// better reports whether c is a better request to replay for the scenario than the one
// chosen so far (whose body had best bytes): the last /v1/messages request of plain and bash
// (for bash, the one that carries the tool_result), the largest count_tokens request of
// context.
func better(scenario string, c *captured, best int) bool {
	if scenario == "context" {
		return c.path == "/v1/messages/count_tokens" && len(c.body) > best
	}
	return c.path == "/v1/messages"
}

// listening reads serve's output until it says where it listens.
func listening(r io.Reader) (string, error) {
	re := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, r)
			return m[1], nil
		}
	}
	return "", fmt.Errorf("it never said where it listens")
}

// claudeEnv is Claude Code's whole environment: nothing of the caller's but PATH, and nothing
// that could reach the internet.
func claudeEnv(home, cfgDir, path string) []string {
	env := []string{
		"HOME=" + home, "CLAUDE_CONFIG_DIR=" + cfgDir,
		"DISABLE_TELEMETRY=1", "DISABLE_ERROR_REPORTING=1", "DISABLE_AUTOUPDATER=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "CLAUDE_CODE_MAX_RETRIES=1",
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost",
		"TERM=dumb",
	}
	if path != "" {
		env = append(env, "PATH="+path)
	}
	return env
}

func runClaude(ctx context.Context, claude string, sc scenario, home, cfgDir, work string, timeout time.Duration) runResult {
	rr := runResult{Scenario: sc.Name, Command: "claude " + quoteArgs(sc.Args)}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, claude, sc.Args...)
	cmd.Dir = work
	cmd.Env = claudeEnv(home, cfgDir, os.Getenv("PATH"))
	cmd.Stdin = strings.NewReader("")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	rr.DurationS = time.Since(start).Round(100 * time.Millisecond).Seconds()
	rr.ExitCode = cmd.ProcessState.ExitCode()
	if err != nil && rr.ExitCode == 0 {
		rr.ExitCode = -1
	}
	var res struct {
		IsError  *bool  `json:"is_error"`
		Result   string `json:"result"`
		NumTurns int    `json:"num_turns"`
	}
	if json.Unmarshal(stdout.Bytes(), &res) == nil {
		// The first line only: /context answers a long table of the installation's skills.
		first, _, _ := strings.Cut(res.Result, "\n")
		rr.IsError, rr.Result, rr.NumTurns = res.IsError, clip(first, 200), res.NumTurns
	} else {
		rr.Result = clip(strings.TrimSpace(stdout.String()), 2000)
	}
	rr.Stderr = clip(strings.TrimSpace(stderr.String()), 2000)
	if err != nil && cctx.Err() != nil {
		rr.Note = "timed out after " + timeout.String()
	}
	return rr
}

func quoteArgs(args []string) string {
	var b []string
	for _, a := range args {
		if strings.ContainsAny(a, " \"'/") {
			a = fmt.Sprintf("%q", a)
		}
		b = append(b, a)
	}
	return strings.Join(b, " ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
