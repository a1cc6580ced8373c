package relay_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

func TestZeroConfigOllamaServesClaudeModelsWithAnInstalledModel(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		wantTarget string
		wantWhy    string
	}{
		{"the model Ollama lists first", nil, "scripted:latest", "the model Ollama lists first"},
		{"CCRELAY_OLLAMA_MODEL chooses", map[string]string{"CCRELAY_OLLAMA_MODEL": "scripted-think"}, "scripted-think:latest", "(CCRELAY_OLLAMA_MODEL)"},
		{"CCRELAY_OLLAMA_MODEL with its tag", map[string]string{"CCRELAY_OLLAMA_MODEL": "scripted-think:latest"}, "scripted-think:latest", "(CCRELAY_OLLAMA_MODEL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeOllama(t, scripted, scriptedThink)
			s := startStarted(t, zeroConfig(t, f.srv.URL), tt.env)
			if want := "ollama: claude-* → " + tt.wantTarget + " "; !strings.Contains(s.startText(), want) || !strings.Contains(s.startText(), tt.wantWhy) {
				t.Errorf("Start's lines do not say %q (%s):\n%s", want, tt.wantWhy, s.startText())
			}

			for _, model := range []string{"claude-opus-5-5", "claude-haiku-4-5"} {
				msg, err := ask(s.url, model)
				if err != nil {
					t.Fatalf("%s: %v", model, err)
				}
				if textOf(msg) != scriptedAnswer {
					t.Errorf("%s: answer %q, want the fake's %q", model, textOf(msg), scriptedAnswer)
				}
			}
			// Installed models are served under their own names too, and nothing else is.
			if _, err := ask(s.url, "scripted-think"); err != nil {
				t.Errorf("an installed model by its own name: %v", err)
			}
			_, err := ask(s.url, "gpt-4o")
			var apiErr *anthropic.Error
			if !asAPIError(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || !strings.Contains(apiErr.Error(), "claude-*") {
				t.Errorf("a model Ollama does not have: err = %v, want the relay's 404 listing what it serves", err)
			}
			want := []string{tt.wantTarget, tt.wantTarget, "scripted-think"}
			if got := f.askedModels(); !slices.Equal(got, want) {
				t.Errorf("Ollama was asked for %q, want %q", got, want)
			}

			ids := modelIDs(t, s.url)
			for _, id := range []string{"claude-opus-5-5", "claude-haiku-5-5", "scripted:latest", "scripted-think:latest"} {
				if !slices.Contains(ids, id) {
					t.Errorf("/v1/models = %q, lacks %q", ids, id)
				}
			}
		})
	}
}

func TestZeroConfigOllamaStreamsToTheSDK(t *testing.T) {
	f := newFakeOllama(t, scripted)
	s := startStarted(t, zeroConfig(t, f.srv.URL), nil)
	msg, _ := streamedMessage(t, s.url, `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"say hello"}]}`)
	if textOf(&msg) != scriptedAnswer || msg.Model != "scripted:latest" {
		t.Errorf("streamed message: model %q text %q", msg.Model, textOf(&msg))
	}
}

func TestOllamaModelChosenButNotInstalled(t *testing.T) {
	f := newFakeOllama(t, scripted)
	s := startStarted(t, zeroConfig(t, f.srv.URL), map[string]string{"CCRELAY_OLLAMA_MODEL": "qwen3:8b"})
	for _, want := range []string{"claude-* → qwen3:8b", "warning: CCRELAY_OLLAMA_MODEL=qwen3:8b is not installed", `"ollama pull qwen3:8b"`} {
		if !strings.Contains(s.startText(), want) {
			t.Errorf("Start's lines lack %q:\n%s", want, s.startText())
		}
	}
	_, err := ask(s.url, "claude-opus-5-5")
	var apiErr *anthropic.Error
	if !asAPIError(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || !strings.Contains(apiErr.Error(), "model 'qwen3:8b' not found") {
		t.Errorf("err = %v, want Ollama's 404 naming qwen3:8b", err)
	}
}

func TestOllamaWithNoModelInstalled(t *testing.T) {
	f := newFakeOllama(t)
	cfg := zeroConfig(t, f.srv.URL)
	cfg.Routing.HealthInterval = healthEvery(50 * time.Millisecond)
	s := startStarted(t, cfg, nil)
	for _, want := range []string{"has no model installed", `"ollama pull qwen3-coder:30b"`} {
		if !strings.Contains(s.startText(), want) {
			t.Errorf("Start's lines lack %q:\n%s", want, s.startText())
		}
	}
	_, err := ask(s.url, "claude-opus-5-5")
	var apiErr *anthropic.Error
	if !asAPIError(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound ||
		!strings.Contains(apiErr.Error(), "has no model installed") || !strings.Contains(apiErr.Error(), "ollama pull") {
		t.Fatalf("err = %v, want a 404 saying no model is installed and how to pull one", err)
	}
	if got := f.askedModels(); len(got) != 0 {
		t.Errorf("Ollama was asked for %q; nothing should be sent", got)
	}

	f.install(scripted) // ollama pull; the next health check finds it
	waitFor(t, "the pulled model to be discovered", func() bool { return slices.Contains(modelIDs(t, s.url), "claude-opus-5-5") })
	if msg, err := ask(s.url, "claude-opus-5-5"); err != nil || textOf(msg) != scriptedAnswer {
		t.Fatalf("after the pull: %v", err)
	}
	// The line is logged just after the discovery is in place.
	waitFor(t, "the log to say what claude-* is now served with", func() bool {
		return strings.Contains(s.logs.String(), "claude-* → scripted:latest")
	})
}

func TestOllamaDownAtStartIsDiscoveredOnTheNextHealthCheck(t *testing.T) {
	addr := freeAddr(t)
	cfg := zeroConfig(t, "http://"+addr)
	cfg.Routing.HealthInterval = healthEvery(50 * time.Millisecond)
	s := startStarted(t, cfg, nil)
	if !strings.Contains(s.startText(), "Ollama is not answering at http://"+addr) {
		t.Errorf("Start's lines do not say Ollama is down:\n%s", s.startText())
	}
	h := getHealth(t, s.url, nil)
	if h.status != http.StatusServiceUnavailable || h.Providers[0].Reachability != "unreachable" || !strings.Contains(h.Providers[0].LastError, "connection refused") {
		t.Errorf("/health with Ollama down: %d %+v", h.status, h.Providers)
	}

	f := newFakeOllamaUnstarted(t, scripted)
	f.startOn(addr)
	waitFor(t, "Ollama to be discovered", func() bool { return slices.Contains(modelIDs(t, s.url), "claude-opus-5-5") })
	if msg, err := ask(s.url, "claude-opus-5-5"); err != nil || textOf(msg) != scriptedAnswer {
		t.Fatalf("once Ollama is up: %v", err)
	}
	if h := getHealth(t, s.url, nil); h.status != http.StatusOK || h.Providers[0].Reachability != "reachable" {
		t.Errorf("/health with Ollama up: %d %+v", h.status, h.Providers)
	}
	waitFor(t, "the log to tell that Ollama came up and what it serves", func() bool {
		logs := s.logs.String()
		return strings.Contains(logs, "provider reachable") && strings.Contains(logs, "claude-* → scripted:latest")
	})
}

func TestOllamaDownAtStartIsDiscoveredByARequest(t *testing.T) {
	addr := freeAddr(t)
	cfg := zeroConfig(t, "http://"+addr)
	cfg.Routing.HealthInterval = healthEvery(0) // no health checks: only requests ask again
	s := startStarted(t, cfg, nil)
	f := newFakeOllamaUnstarted(t, scripted)
	f.startOn(addr)

	// Within a few seconds of the last attempt a request does not ask again: Ollama is open
	// then, and gets the model name as it is.
	_, err := ask(s.url, "claude-opus-5-5")
	var apiErr *anthropic.Error
	if !asAPIError(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || !strings.Contains(apiErr.Error(), "model 'claude-opus-5-5' not found") {
		t.Errorf("right after the failed discovery: err = %v, want Ollama's own 404", err)
	}
	s.clock.skip(6 * time.Second)
	if msg, err := ask(s.url, "claude-opus-5-5"); err != nil || textOf(msg) != scriptedAnswer {
		t.Fatalf("a request after the bound: %v", err)
	}
	if got, want := f.askedModels(), []string{"claude-opus-5-5", "scripted:latest"}; !slices.Equal(got, want) {
		t.Errorf("Ollama was asked for %q, want %q", got, want)
	}
}

// bigBody is a Claude Code-sized request: a system prompt of about 20k tokens.
func bigBody(model string) []byte {
	b, _ := json.Marshal(map[string]any{
		"model": model, "max_tokens": 64,
		"system":   strings.Repeat("You are Claude Code. Follow the instructions. ", 1800),
		"messages": []map[string]any{{"role": "user", "content": "say hello"}},
	})
	return b
}

func TestOllamaContextWarningIsLoggedOncePerModel(t *testing.T) {
	tests := []struct {
		name     string
		model    fakeModel
		loaded   int // the context Ollama loaded the model with before start; 0: not loaded
		want     []string
		wantNone bool
	}{
		{"Ollama's default context", fakeModel{name: "qwen3:8b", trained: 40960}, 0,
			[]string{"context of 4096 tokens", "Ollama's default", "OLLAMA_CONTEXT_LENGTH=32768 ollama serve"}, false},
		{"num_ctx in the Modelfile", fakeModel{name: "qwen3:8b", trained: 40960, numCtx: 8192}, 0,
			[]string{"context of 8192 tokens", "num_ctx in the model's Modelfile", "PARAMETER num_ctx 32768"}, false},
		{"a model trained for less", fakeModel{name: "qwen3:8b", trained: 8192}, 0,
			[]string{"trained for only 8192 tokens", "CCRELAY_OLLAMA_MODEL"}, false},
		{"the loaded model's context is large enough", fakeModel{name: "qwen3:8b", trained: 40960}, 40960, nil, true},
		{"the loaded model's context is too small", fakeModel{name: "qwen3:8b", trained: 40960}, 2048,
			[]string{"context of 2048 tokens", "reported by Ollama for the loaded model", "OLLAMA_CONTEXT_LENGTH"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeOllama(t, tt.model)
			if tt.loaded > 0 {
				f.loaded[tt.model.name] = tt.loaded
			}
			s := startStarted(t, zeroConfig(t, f.srv.URL), nil)
			small, _ := json.Marshal(map[string]any{"model": "claude-opus-5-5", "max_tokens": 64,
				"messages": []map[string]any{{"role": "user", "content": "say hello"}}})
			if resp, b := post(t, s.url+"/v1/messages", small, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("small request: %d %s", resp.StatusCode, b)
			}
			if strings.Contains(s.logs.String(), "input tokens") {
				t.Fatalf("a small request was warned about:\n%s", s.logs.String())
			}
			for range 2 {
				if resp, b := post(t, s.url+"/v1/messages", bigBody("claude-opus-5-5"), nil); resp.StatusCode != http.StatusOK {
					t.Fatalf("big request: %d %s", resp.StatusCode, b)
				}
			}
			logs := s.logs.String()
			n := strings.Count(logs, "input tokens")
			if tt.wantNone {
				if n != 0 {
					t.Errorf("warned although the context is large enough:\n%s", logs)
				}
				return
			}
			if n != 1 {
				t.Errorf("warned %d times, want once:\n%s", n, logs)
			}
			for _, w := range append(tt.want, `model=qwen3:8b`, "level=WARN", "silently cuts") {
				if !strings.Contains(logs, w) {
					t.Errorf("the warning lacks %q:\n%s", w, logs)
				}
			}
		})
	}
}
