package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/pricing"
	"github.com/ccrelay/ccrelay/relay/relaytest"
)

// fixedNow sets the usage command's clock for the test.
func fixedNow(t *testing.T, at time.Time) {
	old := now
	now = func() time.Time { return at }
	t.Cleanup(func() { now = old })
}

func TestUsageTable(t *testing.T) {
	fixedNow(t, time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name   string
		args   []string
		golden string
	}{
		{"by provider, the last 24 hours", []string{"--log", "testdata/usage.jsonl"}, "usage-by-provider.golden"},
		{"by upstream model, all", []string{"--log", "testdata/usage.jsonl", "--since", "0", "--by", "model"}, "usage-by-model.golden"},
		{"by session", []string{"--log", "testdata/usage.jsonl", "--by", "session", "--since", "7d"}, "usage-by-session.golden"},
		{"by day", []string{"--log", "testdata/usage.jsonl", "--by", "day", "--since", "0"}, "usage-by-day.golden"},
		{"by client key", []string{"--log", "testdata/usage.jsonl", "--by", "client", "--since", "0"}, "usage-by-client.golden"},
		{"the last hour", []string{"--log", "testdata/usage.jsonl", "--since", "1h"}, "usage-last-hour.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, append([]string{"usage"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if want := "ccrelay: testdata/usage.jsonl: 1 lines are not usage log lines and were skipped\n"; errs != want {
				t.Errorf("stderr %q, want %q", errs, want)
			}
			golden(t, tc.golden, out)
		})
	}
}

func TestUsageRefusesWhatItCannotRead(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CCRELAY_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	noLog := filepath.Join(dir, "no-log.yaml")
	os.WriteFile(noLog, []byte("providers:\n  - {name: local, type: ollama}\n"), 0o644)
	withLog := filepath.Join(dir, "log.yaml")
	os.WriteFile(withLog, []byte("server:\n  usage_log: testdata/usage.jsonl\nproviders:\n  - {name: local, type: ollama}\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"an unknown group", []string{"--log", "testdata/usage.jsonl", "--by", "colour"}, 2, `--by "colour": want provider, model, session, client or day`},
		{"a bad duration", []string{"--log", "testdata/usage.jsonl", "--since", "yesterday"}, 2, `--since "yesterday"`},
		{"a missing file", []string{"--log", filepath.Join(dir, "none.jsonl")}, 1, "no such file"},
		{"a configuration without usage_log", []string{"--config", noLog}, 2, "has no server.usage_log: pass --log PATH"},
		{"the configuration's usage_log", []string{"--config", withLog, "--since", "0"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, append([]string{"usage"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, tc.code, tc.want)
			}
			if code == 0 && !strings.Contains(out, "TOTAL") {
				t.Errorf("no table:\n%s", out)
			}
		})
	}
}

// ccRequest is a request Claude Code sent, from fixtures/real-traffic/claude-code.
type ccRequest struct {
	Path    string              `json:"path"`
	Headers map[string][]string `json:"headers"`
	Body    json.RawMessage     `json:"body"`
}

func loadCCRequest(t *testing.T, name string) ccRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(relaytest.Fixture(t, "claude-code/README.md")), name))
	if err != nil {
		t.Fatal(err)
	}
	var r ccRequest
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// reported is the usage an upstream's answer reports: a JSON message's usage object, or for
// a stream message_start's usage updated by message_delta's (whose counts are cumulative).
func reported(t *testing.T, ix *relaytest.Interaction) pricing.Tokens {
	t.Helper()
	type usage struct {
		Input         *int `json:"input_tokens"`
		Output        *int `json:"output_tokens"`
		CacheRead     *int `json:"cache_read_input_tokens"`
		CacheCreation *int `json:"cache_creation_input_tokens"`
	}
	var got pricing.Tokens
	apply := func(u *usage) {
		for _, f := range []struct {
			src *int
			dst *int
		}{{u.Input, &got.Input}, {u.Output, &got.Output}, {u.CacheRead, &got.CacheRead}, {u.CacheCreation, &got.CacheCreation}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
	}
	var msg struct {
		Type    string `json:"type"`
		Usage   *usage `json:"usage"`
		Message struct {
			Usage *usage `json:"usage"`
		} `json:"message"`
	}
	if !ix.IsSSE() {
		if err := json.Unmarshal(ix.Response.Body, &msg); err != nil {
			t.Fatal(err)
		}
		if msg.Type == "message" && msg.Usage != nil {
			apply(msg.Usage)
		}
		return got
	}
	sc := bufio.NewScanner(strings.NewReader(string(ix.Response.Body)))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		msg.Usage, msg.Message.Usage = nil, nil
		if err := json.Unmarshal([]byte(data), &msg); err != nil {
			t.Fatal(err)
		}
		switch {
		case msg.Type == "message_start" && msg.Message.Usage != nil:
			apply(msg.Message.Usage)
		case msg.Type == "message_delta" && msg.Usage != nil:
			apply(msg.Usage)
		}
	}
	return got
}

// TestUsageTotalsEqualWhatTheUpstreamReported is the cross-check: serve, with a usage log,
// relays Claude Code's recorded requests (three sessions and a count_tokens of a fourth) and
// a cached non-streamed request, answered by Anthropic's recorded answers; ccrelay usage
// --by session then gives, per session and in total, the sum of the usage objects of those
// answers, and the cost of that usage at the table's prices.
func TestUsageTotalsEqualWhatTheUpstreamReported(t *testing.T) {
	type exchange struct {
		req     ccRequest
		session string
		answer  string // under fixtures/real-traffic/anthropic
	}
	cached := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/pydantic-ai/test_anthropic_cache_count_tokens.1.json"))
	exchanges := []exchange{
		{req: loadCCRequest(t, "claude-code-2.1.332__02-tool-roundtrip-req1.messages.json"), answer: "fantasy/claude-sonnet-4.tool_streaming.0.json"},
		{req: loadCCRequest(t, "claude-code-2.1.332__03-tool-roundtrip-req2-tool_result.messages.json"), answer: "fantasy/claude-sonnet-4.tool_streaming.1.json"},
		{req: loadCCRequest(t, "claude-code-2.1.332__04-context-count_tokens-small.json"), answer: "pydantic-ai/test_anthropic_cache_count_tokens.0.json"},
		{req: loadCCRequest(t, "claude-code-2.1.332__01-p-say-hi.messages.json"), answer: "fantasy/claude-sonnet-4.simple_streaming.0.json"},
		{req: loadCCRequest(t, "claude-code-2.1.332__06-interactive-say-hi.messages.json"), answer: "fantasy/claude-sonnet-4.thinking-streaming.0.json"},
		{req: ccRequest{Path: "/v1/messages", Body: json.RawMessage(cached.Request.Body),
			Headers: map[string][]string{"x-claude-code-session-id": {"cached-session"}, "anthropic-version": {"2023-06-01"}}},
			answer: "pydantic-ai/test_anthropic_cache_count_tokens.1.json"},
	}
	var answers []*relaytest.Interaction
	want := map[string]pricing.Tokens{}
	var wantTotal pricing.Tokens
	var wantCost float64
	for i := range exchanges {
		e := &exchanges[i]
		ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/"+e.answer))
		answers = append(answers, ix)
		e.session = e.req.Headers["x-claude-code-session-id"][0]
		u := reported(t, ix)
		w := want[e.session]
		w.Input, w.Output, w.CacheRead, w.CacheCreation = w.Input+u.Input, w.Output+u.Output, w.CacheRead+u.CacheRead, w.CacheCreation+u.CacheCreation
		want[e.session] = w
		wantTotal.Input, wantTotal.Output = wantTotal.Input+u.Input, wantTotal.Output+u.Output
		wantTotal.CacheRead, wantTotal.CacheCreation = wantTotal.CacheRead+u.CacheRead, wantTotal.CacheCreation+u.CacheCreation
		var body struct{ Model string }
		json.Unmarshal(e.req.Body, &body)
		cost, known := pricing.Cost("anthropic", body.Model, u, nil)
		if !known {
			t.Fatalf("no price for %s", body.Model)
		}
		wantCost += cost
	}
	if wantTotal.Output == 0 || wantTotal.CacheRead == 0 || len(want) != 5 {
		t.Fatalf("the recorded answers report too little to check: %+v over %d sessions", wantTotal, len(want))
	}

	up := relaytest.NewUpstream(t, relaytest.Replay(answers...))
	dir := t.TempDir()
	logPath := filepath.Join(dir, "usage.jsonl")
	cfgPath := filepath.Join(dir, "ccrelay.yaml")
	os.WriteFile(cfgPath, []byte("server:\n  usage_log: "+logPath+"\nproviders:\n  - name: claude\n    type: anthropic\n    base_url: "+up.URL+"\n    keys: [{key: test}]\n"), 0o644)
	addr, stop := startServe(t, cfgPath)
	for i, e := range exchanges {
		req, _ := http.NewRequest("POST", addr+e.req.Path+"?beta=true", strings.NewReader(string(e.req.Body)))
		for _, h := range []string{"anthropic-version", "anthropic-beta", "x-claude-code-session-id", "x-app", "user-agent"} {
			for _, v := range e.req.Headers[h] {
				req.Header.Add(h, v)
			}
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("exchange %d: %d %s", i, resp.StatusCode, b)
		}
	}
	stop() // serve closes the usage log as it shuts down: every line is written

	code, out, errs := runCLI(t, "usage", "--log", logPath, "--by", "session", "--since", "0")
	if code != 0 || errs != "" {
		t.Fatalf("usage: exit %d, %s", code, errs)
	}
	t.Logf("ccrelay usage --by session:\n%s", out)
	rows := usageRows(t, out)
	for s, w := range want {
		if got := rows[s]; got.tokens != w {
			t.Errorf("session %s: usage %+v, the upstream reported %+v", s, got.tokens, w)
		}
	}
	total := rows["TOTAL"]
	if total.tokens != wantTotal || total.requests != len(exchanges) {
		t.Errorf("total: %d requests, %+v; want %d, %+v", total.requests, total.tokens, len(exchanges), wantTotal)
	}
	if math.Abs(total.cost-wantCost) > 1e-6 {
		t.Errorf("total cost %.6f, want %.6f", total.cost, wantCost)
	}
}

type usageTotals struct {
	requests int
	tokens   pricing.Tokens
	cost     float64
}

// usageRows parses the table ccrelay usage prints.
func usageRows(t *testing.T, out string) map[string]usageTotals {
	t.Helper()
	rows := map[string]usageTotals{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) != 7 {
			continue
		}
		n := make([]int, 5)
		for i := range n {
			n[i], _ = strconv.Atoi(f[i+1])
		}
		cost, _ := strconv.ParseFloat(strings.TrimSuffix(f[6], "*"), 64)
		rows[f[0]] = usageTotals{requests: n[0], tokens: pricing.Tokens{Input: n[1], Output: n[2], CacheRead: n[3], CacheCreation: n[4]}, cost: cost}
	}
	return rows
}

// startServe runs serve with the configuration at cfgPath on 127.0.0.1 and returns its address
// and a function that shuts it down and waits for it.
func startServe(t *testing.T, cfgPath string) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"ccrelay", "serve", "--config", cfgPath, "--listen", "127.0.0.1:0"}, lineWriter{pw}, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	re := regexp.MustCompile(`^ccrelay: listening on (http://127\.0\.0\.1:\d+)$`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
		if strings.HasPrefix(sc.Text(), "ccrelay: run Claude Code with: ") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		cancel()
		t.Fatal("serve never printed its address")
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited with %d", code)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not shut down")
		}
	}
	t.Cleanup(stop)
	return addr, stop
}
