package relay_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
)

// healthView is GET /health as a client reads it.
type healthView struct {
	status    int
	raw       string
	Status    string `json:"status"`
	Providers []struct {
		Name         string `json:"name"`
		Type         string `json:"type"`
		Address      string `json:"address"`
		State        string `json:"state"`
		Reachability string `json:"reachability"`
		LastError    string `json:"last_error"`
		CheckedAt    string `json:"checked_at"`
		Discovered   *struct {
			Version string         `json:"version"`
			Context map[string]int `json:"context"`
		} `json:"discovered"`
	} `json:"providers"`
}

// getWith sends a GET with the given headers and returns the status and body.
func getWith(t testing.TB, url string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getHealth(t testing.TB, base string, header map[string]string) healthView {
	t.Helper()
	var h healthView
	h.status, h.raw = getWith(t, base+"/health", header)
	if err := json.Unmarshal([]byte(h.raw), &h); err != nil {
		t.Fatalf("/health body %q: %v", h.raw, err)
	}
	return h
}

// liveUpstream is a server that accepts connections (the TCP probe only connects).
func liveUpstream(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestHealthTellsWhetherProvidersAnswer(t *testing.T) {
	type want struct {
		status int
		word   string
		reach  []string
	}
	tests := []struct {
		name      string
		providers func(t *testing.T) []config.Provider
		start     bool
		want      want
	}{
		{"before Start nothing is probed", func(t *testing.T) []config.Provider {
			return []config.Provider{providerFor(config.TypeAnthropic, "anthropic", "http://"+freeAddr(t), "k")}
		}, false, want{200, "ok", []string{"unknown"}}},
		{"the only provider answers", func(t *testing.T) []config.Provider {
			return []config.Provider{providerFor(config.TypeAnthropic, "anthropic", liveUpstream(t), "k")}
		}, true, want{200, "ok", []string{"reachable"}}},
		{"the only provider is down", func(t *testing.T) []config.Provider {
			return []config.Provider{providerFor(config.TypeZAI, "zai", "http://"+freeAddr(t), "k")}
		}, true, want{503, "unavailable", []string{"unreachable"}}},
		{"Ollama down, another provider up", func(t *testing.T) []config.Provider {
			return []config.Provider{
				providerFor(config.TypeMiniMax, "minimax", liveUpstream(t), "k"),
				providerFor(config.TypeOllama, "ollama", "http://"+freeAddr(t), "ollama"),
			}
		}, true, want{200, "ok", []string{"reachable", "unreachable"}}},
		{"Ollama answers /api/version", func(t *testing.T) []config.Provider {
			return []config.Provider{providerFor(config.TypeOllama, "ollama", newFakeOllama(t, scripted).srv.URL, "ollama")}
		}, true, want{200, "ok", []string{"reachable"}}},
		{"a server that is not Ollama", func(t *testing.T) []config.Provider {
			return []config.Provider{providerFor(config.TypeOllama, "ollama", liveUpstream(t), "ollama")}
		}, true, want{503, "unavailable", []string{"unreachable"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configWith(tt.providers(t)...)
			cfg.Routing.HealthInterval = healthEvery(time.Hour)
			var base string
			if tt.start {
				base = startStarted(t, cfg, nil).url
			} else {
				base = startRelay(t, cfg)
			}
			h := getHealth(t, base, nil)
			if h.status != tt.want.status || h.Status != tt.want.word {
				t.Errorf("/health: %d %q, want %d %q\n%s", h.status, h.Status, tt.want.status, tt.want.word, h.raw)
			}
			if len(h.Providers) != len(tt.want.reach) {
				t.Fatalf("/health lists %d providers, want %d", len(h.Providers), len(tt.want.reach))
			}
			for i, p := range h.Providers {
				if p.Reachability != tt.want.reach[i] {
					t.Errorf("%s: reachability %q, want %q", p.Name, p.Reachability, tt.want.reach[i])
				}
				switch p.Reachability {
				case "unreachable":
					if p.LastError == "" || p.CheckedAt == "" {
						t.Errorf("%s: unreachable without last_error and checked_at: %+v", p.Name, p)
					}
				case "reachable":
					if p.LastError != "" || p.CheckedAt == "" {
						t.Errorf("%s: reachable with last_error %q, checked_at %q", p.Name, p.LastError, p.CheckedAt)
					}
				}
				if p.Type == config.TypeOllama && p.Reachability == "reachable" && (p.Discovered == nil || p.Discovered.Version != "0.17.4") {
					t.Errorf("%s: Ollama's version is not shown: %+v", p.Name, p.Discovered)
				}
			}
		})
	}
}

func TestHealthShowsTheLastErrorOfADownProvider(t *testing.T) {
	cfg := configWith(providerFor(config.TypeAnthropic, "anthropic", "http://"+freeAddr(t), "k"))
	cfg.Routing.HealthInterval = healthEvery(time.Hour)
	s := startStarted(t, cfg, nil)
	h := getHealth(t, s.url, nil)
	if !strings.Contains(h.Providers[0].LastError, "connection refused") {
		t.Errorf("last_error %q does not say why", h.Providers[0].LastError)
	}
	if !strings.Contains(s.startText(), "health: anthropic unreachable (") {
		t.Errorf("Start's lines do not report the down provider:\n%s", s.startText())
	}
}

func TestProvidersNeedTheKeyWhenAuthIsConfigured(t *testing.T) {
	tests := []struct {
		name    string
		authKey string
		header  map[string]string
		status  int
		message string
	}{
		{"no auth configured, no key", "", nil, 200, ""},
		{"auth configured, no key", "relay-secret", nil, 401, "missing credentials"},
		{"auth configured, wrong key", "relay-secret", map[string]string{"X-Api-Key": "guess"}, 401, "invalid x-api-key"},
		{"auth configured, x-api-key", "relay-secret", map[string]string{"X-Api-Key": "relay-secret"}, 200, ""},
		{"auth configured, bearer", "relay-secret", map[string]string{"Authorization": "Bearer relay-secret"}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configWith(providerFor(config.TypeAnthropic, "anthropic", "http://"+freeAddr(t), "upstream-key-1"))
			cfg.Server.Auth.APIKey = tt.authKey
			base := startRelay(t, cfg)
			status, body := getWith(t, base+"/v1/providers", tt.header)
			if status != tt.status {
				t.Fatalf("/v1/providers: %d, want %d: %s", status, tt.status, body)
			}
			if tt.status == 200 {
				if !strings.Contains(body, `"address":"http://127.0.0.1:`) {
					t.Errorf("/v1/providers does not show the address: %s", body)
				}
				return
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Type != "error" || e.Error.Type != "authentication_error" || !strings.Contains(e.Error.Message, tt.message) {
				t.Errorf("refusal is not Anthropic's authentication_error naming %q: %s", tt.message, body)
			}
			if strings.Contains(body, "127.0.0.1") {
				t.Errorf("the refusal shows the address: %s", body)
			}
		})
	}
}

func TestHealthWithAuthShowsOnlyStates(t *testing.T) {
	addr := freeAddr(t)
	cfg := configWith(
		providerFor(config.TypeAnthropic, "anthropic", "http://"+addr, "upstream-key-1"),
		providerFor(config.TypeOllama, "ollama", newFakeOllama(t, scripted).srv.URL, "ollama"),
	)
	cfg.Server.Auth.APIKey = "relay-secret"
	cfg.Routing.HealthInterval = healthEvery(time.Hour)
	s := startStarted(t, cfg, nil)

	h := getHealth(t, s.url, nil)
	if h.status != http.StatusOK || h.Status != "ok" {
		t.Errorf("/health without the key: %d %q", h.status, h.Status)
	}
	_, port, _ := strings.Cut(addr, ":")
	for _, secret := range []string{"127.0.0.1", port, "refused", "upstream-key", "address", "keys", "last_error", "installed"} {
		if strings.Contains(h.raw, secret) {
			t.Errorf("/health without the key shows %q: %s", secret, h.raw)
		}
	}
	if len(h.Providers) != 2 || h.Providers[0].Reachability != "unreachable" || h.Providers[1].Reachability != "reachable" || h.Providers[0].State == "" {
		t.Errorf("/health without the key lacks the states: %s", h.raw)
	}

	full := getHealth(t, s.url, map[string]string{"X-Api-Key": "relay-secret"})
	if full.Providers[0].Address != "http://"+addr || !strings.Contains(full.Providers[0].LastError, "refused") {
		t.Errorf("/health with the key does not show everything: %s", full.raw)
	}
}

func TestAProviderTheProbeFoundUnreachableIsTriedLast(t *testing.T) {
	backup := relaytest.NewUpstream(t, relaytest.Instant(okMessage))
	first := 2
	down := providerFor(config.TypeAnthropic, "down", "http://"+freeAddr(t), "k")
	down.Priority = &first
	cfg := configWith(down, providerFor(config.TypeAnthropic, "backup", backup.URL, "k"))
	cfg.Routing.HealthInterval = healthEvery(time.Hour)
	s := startStarted(t, cfg, nil)
	resp, body := post(t, s.url+"/v1/messages", []byte(okBody), nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ccrelay-Provider") != "backup" || resp.Header.Get("X-Ccrelay-Attempts") != "1" {
		t.Errorf("got %d from %q after %s attempts: %s; want backup at once", resp.StatusCode,
			resp.Header.Get("X-Ccrelay-Provider"), resp.Header.Get("X-Ccrelay-Attempts"), body)
	}
}
