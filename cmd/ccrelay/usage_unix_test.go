//go:build unix

package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/relaytest"
)

// TestServeReopensTheUsageLogOnSIGHUP: logrotate moves the file and sends SIGHUP; serve goes
// on in a new file at the configured path.
func TestServeReopensTheUsageLogOnSIGHUP(t *testing.T) {
	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/langchaingo/TestClient_CreateMessage.0.json"))
	up := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ix))
	dir := t.TempDir()
	logPath := filepath.Join(dir, "usage.jsonl")
	cfgPath := filepath.Join(dir, "ccrelay.yaml")
	os.WriteFile(cfgPath, []byte("server:\n  usage_log: "+logPath+"\n  reload: signal\nproviders:\n  - name: claude\n    type: anthropic\n    base_url: "+up.URL+"\n    keys: [{key: test}]\n"), 0o644)
	addr, stop := startServe(t, cfgPath)
	post := func() {
		t.Helper()
		resp, err := http.Post(addr+"/v1/messages", "application/json", strings.NewReader(ix.Request.Body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	post()
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(logPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new usage log 5s after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	post()
	stop()
	for _, p := range []string{logPath + ".1", logPath} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b, []byte("\n")); n != 1 || !bytes.Contains(b, []byte(`"provider":"claude"`)) {
			t.Errorf("%s holds %d lines:\n%s", filepath.Base(p), n, b)
		}
	}
}
