package relay_test

import (
	"context"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/google/go-cmp/cmp"
)

// TestModelDiscoveryForClaudeCode lists models as Claude Code's gateway model discovery does
// (GET /v1/models?limit=1000, ids starting with claude or anthropic kept): mapping patterns
// expand to the Claude names the relay knows, an open Claude platform lists them all, and each
// display_name says where the name goes.
func TestModelDiscoveryForClaudeCode(t *testing.T) {
	z := providerFor(config.TypeZAI, "zai", "http://127.0.0.1:1", "z")
	z.ModelMapping = map[string]string{"claude-haiku-*": "glm-4.5-air", "claude-sonnet-4-5": "glm-4.6"}
	a := providerFor(config.TypeAnthropic, "anthropic", "http://127.0.0.1:1", "a")
	base := startRelay(t, configWith(z, a))

	client := sdkClient(base)
	page, err := client.Models.List(context.Background(), anthropic.ModelListParams{Limit: anthropic.Int(1000)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var ids []string
	for _, m := range page.Data {
		got[m.ID] = m.DisplayName
		ids = append(ids, m.ID)
		if !strings.HasPrefix(m.ID, "claude") {
			t.Errorf("%q: Claude Code's picker drops ids that do not start with claude", m.ID)
		}
		if strings.Contains(m.ID, "*") {
			t.Errorf("%q: a pattern listed as a model id", m.ID)
		}
	}
	want := map[string]string{
		"claude-sonnet-4-5": "Claude Sonnet 4.5 → glm-4.6 via zai",
		"claude-haiku-5-5":  "Claude Haiku 5.5 → glm-4.5-air via zai",
		"claude-haiku-4-5":  "Claude Haiku 4.5 → glm-4.5-air via zai",
		"claude-opus-5-5":   "Claude Opus 5.5 via anthropic",
		"claude-sonnet-5-5": "Claude Sonnet 5.5 via anthropic",
		"claude-3-5-haiku":  "Claude 3.5 Haiku via anthropic", // claude-haiku-* does not match it
	}
	for id, display := range want {
		if got[id] != display {
			t.Errorf("%s: display_name %q, want %q", id, got[id], display)
		}
	}
	// Every listed name is served: asking for it reaches a provider, not the relay's 404.
	if page.HasMore || len(ids) < 20 {
		t.Errorf("%d models, has_more %v: want every known Claude name in one page", len(ids), page.HasMore)
	}
	if diff := cmp.Diff([]string{"claude-sonnet-4-5", "claude-haiku-5-5", "claude-haiku-4-5"}, ids[:3]); diff != "" {
		t.Errorf("order: the first provider's names first, exact names before expanded ones (-want +got):\n%s", diff)
	}
}
