package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
)

// serveLog runs serve in process on 127.0.0.1 with cfgPath and returns its address and its
// log, which the test reads as it grows.
func serveLog(t *testing.T, cfgPath string) (string, func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var mu sync.Mutex
	var logs strings.Builder
	errw := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	})
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"ccrelay", "serve", "--config", cfgPath, "--listen", "127.0.0.1:0"}, lineWriter{pw}, errw)
		pw.Close()
	}()
	t.Cleanup(func() { cancel(); <-done })
	re := regexp.MustCompile(`^ccrelay: listening on (http://127\.0\.0\.1:\d+)$`)
	sc := bufio.NewScanner(pr)
	addr := ""
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		t.Fatal("serve never printed its address")
	}
	return addr, func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestServeReloadsTheConfigurationWhenTheFileChanges(t *testing.T) {
	old := watchInterval.Swap(int64(20 * time.Millisecond))
	t.Cleanup(func() { watchInterval.Store(old) })
	up := relaytest.NewUpstream(t, relaytest.Instant(`{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`))
	cfgPath := filepath.Join(t.TempDir(), "ccrelay.yaml")
	write := func(target string) {
		os.WriteFile(cfgPath, []byte("server:\n  log_level: info\nproviders:\n  - name: \"a\"\n    type: \"anthropic\"\n    base_url: \""+up.URL+"\"\n    keys: [{key: \"k\"}]\n    model_mapping: {\"claude-*\": \""+target+"\"}\n"), 0o644)
	}
	write("model-one")
	addr, logs := serveLog(t, cfgPath)
	ask := func() string {
		resp, err := http.Post(addr+"/v1/messages", "application/json", strings.NewReader(`{"model":"claude-opus-5-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		reqs := up.Requests()
		return gjson.GetBytes(reqs[len(reqs)-1].Body, "model").Str
	}
	if m := ask(); m != "model-one" {
		t.Fatalf("asked for %q", m)
	}
	write("model-two")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs(), "configuration reloaded") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if m := ask(); m != "model-two" {
		t.Fatalf("after the edit the upstream was asked for %q; log:\n%s", m, logs())
	}
	if !strings.Contains(logs(), `change="providers changed: a"`) {
		t.Errorf("the reload line does not name the change:\n%s", logs())
	}
	// An invalid edit is reported with its line and key path, and the old configuration stays.
	os.WriteFile(cfgPath, []byte("providers:\n  - name: \"a\"\n    type: \"anthropc\"\n"), 0o644)
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(logs(), "configuration not reloaded") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs(), "providers[0].type") || !strings.Contains(logs(), "ccrelay.yaml:3") {
		t.Errorf("the invalid edit's problem lacks its line and key path:\n%s", logs())
	}
	if m := ask(); m != "model-two" {
		t.Errorf("after an invalid edit the upstream was asked for %q, want the previous configuration's model-two", m)
	}
}
