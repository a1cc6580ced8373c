package relay_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

func TestOllamaStartLineWarnsAboutASmallContext(t *testing.T) {
	f := newFakeOllama(t, scripted) // num_ctx 4096, as the real scripted model
	s := startStarted(t, zeroConfig(t, f.srv.URL), nil)
	for _, want := range []string{"context 4096 tokens (num_ctx in its Modelfile)", "warning: Ollama gives \"scripted:latest\" a context of 4096 tokens"} {
		if !strings.Contains(s.startText(), want) {
			t.Errorf("Start's lines lack %q:\n%s", want, s.startText())
		}
	}
}

func TestOllamaConfiguredModelsAreNotDiscovered(t *testing.T) {
	f := newFakeOllama(t, scripted, scriptedThink)
	cfg := zeroConfig(t, f.srv.URL)
	cfg.Providers[0].ModelMapping = map[string]string{"claude-*": "scripted-think"}
	s := startStarted(t, cfg, nil)
	if strings.Contains(s.startText(), "claude-* → ") {
		t.Errorf("a configured mapping was replaced by discovery:\n%s", s.startText())
	}
	if _, err := ask(s.url, "claude-opus-5-5"); err != nil {
		t.Fatal(err)
	}
	if _, err := ask(s.url, "scripted"); err == nil {
		t.Errorf("a model the configuration does not serve was served")
	}
	if got := f.askedModels(); !slices.Equal(got, []string{"scripted-think"}) {
		t.Errorf("Ollama was asked for %q", got)
	}
	// The configured pattern lists the Claude names it maps, and nothing else: not the
	// installed models (the configuration's mapping replaces discovery).
	if ids := modelIDs(t, s.url); !slices.Contains(ids, "claude-opus-5-5") || slices.Contains(ids, "claude-*") || slices.ContainsFunc(ids, func(id string) bool { return !strings.HasPrefix(id, "claude-") }) {
		t.Errorf("/v1/models = %q, want the Claude names of the configured mapping only", ids)
	}
}

func TestNothingIsAskedBeforeStart(t *testing.T) {
	f := newFakeOllama(t, scripted)
	base := startRelay(t, zeroConfig(t, f.srv.URL))
	_, err := ask(base, "claude-opus-5-5")
	var apiErr *anthropic.Error
	if !asAPIError(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("err = %v; without Start the open provider forwards the name as is", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.native) != 0 {
		t.Errorf("the relay called Ollama's native API %d times without Start", len(f.native))
	}
}
