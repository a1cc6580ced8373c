package usagelog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/pricing"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/ccrelay/ccrelay/relay/usagelog"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var providers = []config.Provider{
	{Name: "claude", Type: config.TypeAnthropic},
	{Name: "glm", Type: config.TypeZAI},
	{Name: "local", Type: config.TypeOllama},
}

func book(t testing.TB, log *slog.Logger) *pricing.Book {
	t.Helper()
	b, err := pricing.NewBook(providers, log)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func open(t testing.TB, path string, opts usagelog.Options) *usagelog.Log {
	t.Helper()
	if opts.Book == nil {
		opts.Book = book(t, nil)
	}
	l, err := usagelog.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var t0 = time.Date(2026, 12, 5, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))

// records covers the shapes of line: priced, with the cache counts, degraded, failed over,
// unpriced, refused before any provider, count_tokens with a skipped provider.
var records = []relay.Record{
	{Time: t0, ID: "req_1", Method: "POST", Path: "/v1/messages", Status: 200, Stream: true,
		Duration: 2345678 * time.Microsecond, TTFB: 456789 * time.Microsecond,
		Model: "claude-sonnet-4-5", UpstreamModel: "claude-sonnet-4-5-20250929", Provider: "claude",
		UpstreamID: "req_011CUp", Session: "8e7474d9-6a9a-4f2c-98a1-555c7dfa4b07",
		Tokens:   relay.Tokens{Input: 8, Output: 300, CacheRead: 20000, CacheCreation: 1000, Known: true},
		Attempts: []relay.Attempt{{Provider: "down", Key: 0, Outcome: "unreachable"}, {Provider: "claude", Key: 1, Outcome: "ok", Status: 200}}},
	{Time: t0.Add(time.Second), ID: "req_2", Method: "POST", Path: "/v1/messages", Status: 200,
		Duration: 900 * time.Millisecond, TTFB: 899 * time.Millisecond,
		Model: "claude-haiku-5-5", UpstreamModel: "glm-4.5-air", Provider: "glm", Client: "alice",
		Tokens:   relay.Tokens{Input: 1200, Output: 80, CacheRead: 3000, Known: true},
		Attempts: []relay.Attempt{{Provider: "claude", Key: -1, Outcome: "circuit_open"}, {Provider: "glm", Key: 0, Outcome: "ok", Status: 200}},
		Degraded: []string{"cache_control=stripped", "stream_usage=repaired"}},
	{Time: t0.Add(2 * time.Second), ID: "req_3", Method: "POST", Path: "/v1/messages", Status: 200,
		Duration: time.Second, TTFB: time.Second, Model: "claude-opus-5-5", UpstreamModel: "glm-9", Provider: "glm",
		Tokens:   relay.Tokens{Input: 10, Output: 10, Known: true},
		Attempts: []relay.Attempt{{Provider: "glm", Key: 0, Outcome: "ok", Status: 200}}},
	{Time: t0.Add(3 * time.Second), ID: "req_4", Method: "POST", Path: "/v1/messages", Status: 400,
		Duration: 150 * time.Microsecond, TTFB: 140 * time.Microsecond},
	{Time: t0.Add(4 * time.Second), ID: "req_5", Method: "POST", Path: "/v1/messages/count_tokens", Status: 200,
		Duration: 3 * time.Millisecond, TTFB: 3 * time.Millisecond, Model: "claude-sonnet-4-5", UpstreamModel: "qwen3:8b", Provider: "local",
		Attempts: []relay.Attempt{{Provider: "glm", Key: -1, Outcome: "count_tokens_unsupported"}, {Provider: "local", Key: -1, Outcome: "ok", Status: 200}}},
}

func TestEachRecordIsOneLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.jsonl")
	var logs bytes.Buffer
	l := open(t, path, usagelog.Options{Book: book(t, slog.New(slog.NewTextHandler(&logs, nil)))})
	for i := range records {
		l.Observe(&records[i])
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "usage.golden.jsonl"), string(got))
	for i, line := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		var back usagelog.Line
		if err := json.Unmarshal([]byte(line), &back); err != nil {
			t.Errorf("line %d: %v", i+1, err)
		}
	}
	if n := strings.Count(logs.String(), "no price for this model"); n != 1 || !strings.Contains(logs.String(), "model=glm-9") {
		t.Errorf("the unknown model is not flagged once:\n%s", logs.String())
	}
}

// TestALineIsOnDiskWithinTheFlushInterval: a crash loses at most FlushEvery of lines.
func TestALineIsOnDiskWithinTheFlushInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.jsonl")
	l := open(t, path, usagelog.Options{FlushEvery: 50 * time.Millisecond})
	l.Observe(&records[0])
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if bytes.Count(b, []byte("\n")) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the line is not on disk after 5s without Close (%q)", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// blockingHandler is a slog handler that blocks until released: it stalls the writer while it
// flags an unknown model.
type blockingHandler struct {
	slog.Handler
	entered chan struct{}
	release chan struct{}
}

func (h *blockingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *blockingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.entered <- struct{}{}
	<-h.release
	return nil
}

func TestAFullBufferDropsLinesWithoutBlocking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.jsonl")
	h := &blockingHandler{Handler: slog.DiscardHandler, entered: make(chan struct{}), release: make(chan struct{})}
	var logs relaytest.LogBuffer
	l := open(t, path, usagelog.Options{Book: book(t, slog.New(h)), Buffer: 2, FlushEvery: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	l.Observe(&records[2]) // unknown model: the writer stalls on the flag
	<-h.entered
	start := time.Now()
	for range 10 {
		l.Observe(&records[0])
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("10 Observe calls took %s with the writer stalled", d)
	}
	if n := l.Dropped(); n != 8 {
		t.Errorf("dropped %d lines, want 8 (10 observed, 2 buffered)", n)
	}
	close(h.release)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "dropped=8") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if n := bytes.Count(b, []byte("\n")); n != 3 {
		t.Errorf("%d lines written, want 3", n)
	}
	if !strings.Contains(logs.String(), "lines dropped") || !strings.Contains(logs.String(), "dropped=8") {
		t.Errorf("the drops are not logged:\n%s", logs.String())
	}
}

func TestReopenStartsANewFileAfterARotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "usage.jsonl")
	l := open(t, path, usagelog.Options{})
	l.Observe(&records[0])
	l.Observe(&records[1])
	// A rotation renames the file while the log is open; the lines still queued go to it.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Observe(&records[2])
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := requestIDs(t, path+".1"); got != "req_1 req_2" {
		t.Errorf("rotated file holds %q", got)
	}
	if got := requestIDs(t, path); got != "req_3" {
		t.Errorf("new file holds %q", got)
	}
	if err := l.Reopen(); err == nil {
		t.Error("Reopen after Close succeeded")
	}
	l.Observe(&records[0]) // after Close: ignored, no panic
}

func TestReopenReportsAnUnopenableFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "usage.jsonl")
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	l := open(t, path, usagelog.Options{})
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err == nil {
		t.Fatal("Reopen into a removed directory succeeded")
	}
	l.Observe(&records[0])
	if err := l.Close(); err == nil {
		t.Error("Close reports no error for a line that could not be written")
	}
	if _, err := usagelog.Open(path, usagelog.Options{Book: book(t, nil)}); err == nil {
		t.Error("Open into a removed directory succeeded")
	}
}

func TestConcurrentObserveAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.jsonl")
	l := open(t, path, usagelog.Options{Buffer: 100_000})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				rec := records[(g+i)%len(records)]
				l.Observe(&rec)
			}
		})
	}
	for range 5 {
		if err := l.Reopen(); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if n := int64(bytes.Count(b, []byte("\n"))) + l.Dropped(); n != 4000 {
		t.Errorf("%d lines written or dropped, want 4000", n)
	}
}

// TestARelayedRequestIsLogged runs the relay with the log as its observer: the line carries
// the usage of the upstream's answer, priced.
func TestARelayedRequestIsLogged(t *testing.T) {
	const answer = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":8,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":3}}`
	up := relaytest.NewUpstream(t, relaytest.Instant(answer))
	path := filepath.Join(t.TempDir(), "usage.jsonl")
	cfg := &config.Config{Providers: []config.Provider{{Name: "claude", Type: config.TypeAnthropic, BaseURL: up.URL, Keys: []config.Key{{Key: "k"}}}}}
	b, err := pricing.NewBook(cfg.Providers, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, path, usagelog.Options{Book: b})
	r, err := relay.New(context.Background(), relay.Options{Config: cfg, Observers: []relay.Observer{l}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("POST", srv.URL+"/v1/messages", strings.NewReader(`{"model":"claude-sonnet-4-5-20250929","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("X-Claude-Code-Session-Id", "sess-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1", len(lines))
	}
	got := lines[0]
	// 8×3 + 3×15 + 2000×0.30 + 100×3.75 = 1044 µ$
	if got.Provider != "claude" || got.Session != "sess-1" || got.Status != 200 || got.Input != 8 || got.Output != 3 ||
		got.CacheRead != 2000 || got.CacheCreation != 100 || got.Attempts != 1 || got.Unpriced ||
		got.CostUSD < 0.001044-1e-12 || got.CostUSD > 0.001044+1e-12 || !strings.HasPrefix(got.RequestID, "req_") {
		t.Errorf("line %+v", got)
	}
}

func readLines(t *testing.T, path string) []usagelog.Line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []usagelog.Line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l usagelog.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

func requestIDs(t *testing.T, path string) string {
	var ids []string
	for _, l := range readLines(t, path) {
		ids = append(ids, l.RequestID)
	}
	return strings.Join(ids, " ")
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run go test -update to accept):\n%s", path, got)
	}
}

// TestPricesIsAskedForEachLine: with Options.Prices, a line is priced with the book of the
// moment it is written (serve's book follows configuration reloads).
func TestPricesIsAskedForEachLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.jsonl")
	before := book(t, nil)
	after, err := pricing.NewBook([]config.Provider{{Name: "claude", Type: config.TypeAnthropic, Pricing: &config.Pricing{Input: new(1.0)}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[pricing.Book]
	cur.Store(before)
	l := open(t, path, usagelog.Options{Prices: cur.Load})
	rec := relay.Record{ID: "req_1", Provider: "claude", UpstreamModel: "claude-sonnet-4-5", Tokens: relay.Tokens{Input: 1_000_000}}
	l.Observe(&rec)
	if err := l.Reopen(); err != nil { // the writer has written the first line when Reopen returns
		t.Fatal(err)
	}
	cur.Store(after)
	l.Observe(&rec)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 2 || lines[0].CostUSD != 3 || lines[1].CostUSD != 1 {
		t.Errorf("lines %+v, want a cost of 3 then 1", lines)
	}
}
