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
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/relaytest"
)

func TestServeMetricsOnTheMainListenerOrMetricsListen(t *testing.T) {
	const answer = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":8,"output_tokens":3}}`
	up := relaytest.NewUpstream(t, relaytest.Instant(answer))
	for _, c := range []struct {
		name          string
		metricsListen string
		// mainStatus is what GET /metrics gets on the main listener.
		mainStatus int
	}{
		{"on the main listener", "", http.StatusOK},
		{"on server.metrics_listen", "127.0.0.1:0", http.StatusNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfgPath := filepath.Join(t.TempDir(), "ccrelay.yaml")
			server := ""
			if c.metricsListen != "" {
				server = "server:\n  metrics_listen: \"" + c.metricsListen + "\"\n"
			}
			err := os.WriteFile(cfgPath, []byte(server+`providers:
  - name: "a"
    type: "anthropic"
    base_url: "`+up.URL+`"
    keys: [{key: "k"}]
    models: ["claude-sonnet-4-5"]
`), 0o644)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			done := make(chan int)
			go func() {
				done <- run(ctx, []string{"ccrelay", "serve", "--config", cfgPath, "--listen", "127.0.0.1:0"}, lineWriter{pw}, io.Discard)
				pw.Close()
			}()
			t.Cleanup(func() {
				cancel()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Error("serve did not shut down")
				}
			})
			listening := regexp.MustCompile(`^ccrelay: listening on (http://127\.0\.0\.1:\d+)$`)
			metricsOn := regexp.MustCompile(`^ccrelay: metrics on (http://127\.0\.0\.1:\d+/metrics)$`)
			base, metricsURL := "", ""
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				if m := listening.FindStringSubmatch(sc.Text()); m != nil {
					base = m[1]
				}
				if m := metricsOn.FindStringSubmatch(sc.Text()); m != nil {
					metricsURL = m[1]
				}
				// The metrics line follows the listening lines, which end with the command line.
				if metricsURL != "" || c.metricsListen == "" && strings.HasPrefix(sc.Text(), "ccrelay: run Claude Code with: ") {
					break
				}
			}
			go io.Copy(io.Discard, pr)
			if base == "" || c.metricsListen != "" && metricsURL == "" {
				t.Fatalf("serve printed no address: listening on %q, metrics on %q", base, metricsURL)
			}
			if metricsURL == "" {
				metricsURL = base + "/metrics"
			}

			resp, err := http.Post(base+"/v1/messages", "application/json",
				strings.NewReader(`{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("POST /v1/messages: %d", resp.StatusCode)
			}
			if status, _ := metricsGet(t, base+"/metrics"); status != c.mainStatus {
				t.Errorf("GET /metrics on the main listener: %d, want %d", status, c.mainStatus)
			}
			status, body := metricsGet(t, metricsURL)
			want := `ccrelay_requests_total{model="claude-sonnet-4-5",provider="a",status="200",stream="false"} 1`
			if status != 200 || !strings.Contains(body, want) {
				t.Errorf("GET %s: %d, want 200 with %s:\n%s", metricsURL, status, want, body)
			}
		})
	}
}

// metricsGet GETs url and returns the status and the body.
func metricsGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
