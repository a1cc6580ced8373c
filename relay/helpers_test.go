package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/ccrelay/ccrelay/relay/sse"
)

// startRelay serves a relay built from cfg on 127.0.0.1 and returns its URL.
func startRelay(t testing.TB, cfg *config.Config) string {
	t.Helper()
	return startRelayEnv(t, cfg, nil)
}

// startRelayEnv is startRelay with the environment the providers see (nothing else of the
// process environment leaks in).
func startRelayEnv(t testing.TB, cfg *config.Config, env map[string]string) string {
	t.Helper()
	if cfg.Routing.Strategy == "" {
		cfg.Routing.Strategy = "failover"
	}
	tw := &testWriter{t: t}
	t.Cleanup(tw.close)
	logger := slog.New(slog.NewTextHandler(tw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := relay.New(context.Background(), relay.Options{Config: cfg, Logger: logger, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

// testWriter sends log lines to t.Log until the test ends: a line from a request still being
// served when the test finishes would make t.Log panic.
type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}

// providerFor returns a provider of type typ whose base URL points at the fake upstream.
func providerFor(typ, name, upstreamURL string, keys ...string) config.Provider {
	p := config.Provider{Name: name, Type: typ, BaseURL: upstreamURL}
	switch typ {
	case config.TypeZAI:
		p.BaseURL = upstreamURL + "/api/anthropic"
	case config.TypeMiniMax, config.TypeAzure:
		p.BaseURL = upstreamURL + "/anthropic"
	}
	for _, k := range keys {
		p.Keys = append(p.Keys, config.Key{Key: k})
	}
	return p
}

// upstreamPath is where each type's fake upstream receives POST /v1/messages.
func upstreamPath(typ string) string {
	switch typ {
	case config.TypeZAI:
		return "/api/anthropic/v1/messages"
	case config.TypeMiniMax, config.TypeAzure:
		return "/anthropic/v1/messages"
	}
	return "/v1/messages"
}

func configWith(ps ...config.Provider) *config.Config {
	return &config.Config{Providers: ps, Routing: config.Routing{Strategy: "failover"}}
}

// sdkClient is the official Anthropic Go SDK pointed at base, with no retries and no
// environment defaults, so the test sees exactly one request per call.
func sdkClient(base string, opts ...option.RequestOption) anthropic.Client {
	all := append([]option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(base),
		option.WithAPIKey("client-key-never-forwarded"),
		option.WithMaxRetries(0),
	}, opts...)
	return anthropic.NewClient(all...)
}

// rawBody sends the exact request bytes through the SDK.
func rawBody(body string) option.RequestOption {
	return option.WithRequestBody("application/json", []byte(body))
}

// post sends a raw POST and returns the response with its whole body.
func post(t testing.TB, url string, body []byte, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, b
}

// timedEvent is one SSE event and the moment the client read it.
type timedEvent struct {
	sse.Event
	at time.Time
}

// readEvents reads an SSE response event by event, stamping each with its arrival time, and
// checks the Anthropic stream grammar over the whole stream.
func readEvents(t testing.TB, body io.Reader) ([]timedEvent, error) {
	t.Helper()
	rd := sse.NewReader(bufio.NewReaderSize(body, 64))
	var out []timedEvent
	var chk sse.Checker
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return out, chk.End()
		}
		if err != nil {
			return out, err
		}
		ev = sse.Event{Name: ev.Name, Data: bytes.Clone(ev.Data), Raw: bytes.Clone(ev.Raw)}
		out = append(out, timedEvent{Event: ev, at: time.Now()})
		if err := chk.Feed(ev); err != nil {
			return out, err
		}
	}
}

// interaction loads a recorded interaction from fixtures/real-traffic.
func interaction(t testing.TB, rel string) *relaytest.Interaction {
	t.Helper()
	return relaytest.MustLoad(t, relaytest.Fixture(t, rel))
}

// asAPIError unwraps the SDK's API error.
func asAPIError(err error, target **anthropic.Error) bool { return errors.As(err, target) }

func eventNames(evs []timedEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Name
	}
	return out
}
