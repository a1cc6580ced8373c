package relay_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
)

// startedRelay is a relay served on 127.0.0.1 after Relay.Start.
type startedRelay struct {
	url   string
	lines []string   // what Start returned
	logs  *logBuffer // the relay's log, every level
	clock *testClock
}

// testClock is the relay's clock: real time plus what the test skipped.
type testClock struct{ skipped atomic.Int64 }

func (c *testClock) now() time.Time                { return time.Now().Add(time.Duration(c.skipped.Load())) }
func (c *testClock) skip(d time.Duration)          { c.skipped.Add(int64(d)) }
func healthEvery(d time.Duration) *config.Duration { v := config.Duration(d); return &v }

// zeroConfig is the configuration serve builds without a file and without provider keys
// (config.FromEnv), with its one Ollama pointed at ollamaURL.
func zeroConfig(t testing.TB, ollamaURL string) *config.Config {
	t.Helper()
	cfg := config.FromEnv(func(string) (string, bool) { return "", false })
	if len(cfg.Providers) != 1 || cfg.Providers[0].Type != config.TypeOllama {
		t.Fatalf("zero configuration: want one ollama provider, got %+v", cfg.Providers)
	}
	cfg.Providers[0].BaseURL = ollamaURL
	return cfg
}

// startStarted builds a relay from cfg with env as its environment, serves it on 127.0.0.1 and
// calls Start, as serve does.
func startStarted(t testing.TB, cfg *config.Config, env map[string]string) *startedRelay {
	t.Helper()
	tw := &testWriter{t: t}
	t.Cleanup(tw.close)
	s := &startedRelay{logs: &logBuffer{}, clock: &testClock{}}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(s.logs, tw), &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := relay.New(context.Background(), relay.Options{
		Config: cfg, Logger: logger, Getenv: func(k string) string { return env[k] }, Now: s.clock.now,
	})
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	s.lines = r.Start(ctx)
	for _, l := range s.lines {
		t.Logf("start: %s", l)
	}
	return s
}

// startText is Start's lines as one text.
func (s *startedRelay) startText() string { return strings.Join(s.lines, "\n") }

// ask sends one non-streamed message for model with the official SDK.
func ask(base, model string) (*anthropic.Message, error) {
	client := sdkClient(base)
	return client.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model:     anthropic.Model(model),
		MaxTokens: 64,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("say hello"))},
	})
}

// scriptedAnswer is what the recorded scripted model answers.
const scriptedAnswer = "Hello! I am ccrelay's scripted test model, served by a real Ollama server."

func textOf(m *anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// modelIDs lists GET /v1/models with the SDK.
func modelIDs(t testing.TB, base string) []string {
	t.Helper()
	client := sdkClient(base)
	page, err := client.Models.List(context.Background(), anthropic.ModelListParams{Limit: anthropic.Int(100)})
	if err != nil {
		t.Fatalf("list models: %v", err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	return ids
}

var (
	scripted      = fakeModel{name: "scripted:latest", trained: 32768, numCtx: 4096}
	scriptedThink = fakeModel{name: "scripted-think:latest", trained: 32768, numCtx: 4096}
)

// waitFor polls cond for up to 5 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
