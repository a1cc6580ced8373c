package relay_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
)

func TestClaudeCodeConnectivityProbe(t *testing.T) {
	cfg := configWith(providerFor(config.TypeAnthropic, "anthropic", "http://127.0.0.1:1", "k"))
	cfg.Server.Auth.APIKey = "relay-key" // the probe carries no credential, and needs none
	base, logs := startRelayLog(t, cfg, nil)
	cases := []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodHead, "/api/hello", 200, ""},
		{http.MethodGet, "/api/hello", 200, `{"status":"ok"}`},
		{http.MethodHead, "/prefix/api/hello", 200, ""},
		{http.MethodHead, "/", 200, ""},
		{http.MethodPost, "/api/hello", 405, ""},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || tc.body != "" && string(b) != tc.body {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, resp.StatusCode, b, tc.status, tc.body)
		}
	}
	// Probes are logged at debug, like health checks would be noise at info.
	if n := len(logs.lines("msg=request", "/api/hello status=200", "level=DEBUG")); n != 3 {
		t.Errorf("%d debug access lines for the GET/HEAD probes, want 3:\n%s", n, logs)
	}
}
