//go:build unix

package usagelog_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/pricing"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/ccrelay/ccrelay/relay/usagelog"
)

// memTransport answers every request with one recorded answer, from memory: the relay's own
// work is then all there is to a request, and the usage log's share of it is the largest.
type memTransport struct {
	status int
	header http.Header
	body   []byte
}

func (m *memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{StatusCode: m.status, Header: m.header.Clone(), Body: io.NopCloser(bytes.NewReader(m.body)),
		ContentLength: -1, Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

type noopObserver struct{}

func (noopObserver) Observe(*relay.Record) {}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkUsageLog relays a recorded answer (non-streamed and streamed) through three relays
// in turn, by blocks of 256 requests so that the noise of a shared machine falls on all alike:
// without observer (off), with one that does nothing (noop: the relay's own accounting, the
// Record) and with the usage log (on). It reports the process's CPU time per request of each
// (the usage log's writer goroutine included, drained at the end of each block), the usage
// log's share (log-%: on against noop, relative to off) and the accounting's (accounting-%).
func BenchmarkUsageLog(b *testing.B) {
	for _, fx := range []struct{ name, fixture string }{
		{"json", "anthropic/langchaingo/TestClient_CreateMessage.0.json"},
		{"stream", "anthropic/fantasy/claude-sonnet-4.tool_streaming.1.json"},
	} {
		ix := relaytest.MustLoad(b, relaytest.Fixture(b, fx.fixture))
		tr := &memTransport{status: ix.Response.Status, header: http.Header{}, body: ix.Response.Body}
		for k, v := range ix.Response.Headers {
			if !strings.EqualFold(k, "Content-Length") && !strings.EqualFold(k, "Transfer-Encoding") && !strings.EqualFold(k, "Content-Encoding") {
				tr.header[http.CanonicalHeaderKey(k)] = v
			}
		}
		b.Run(fx.name, func(b *testing.B) {
			cfg := &config.Config{Providers: []config.Provider{{Name: "claude", Type: config.TypeAnthropic, BaseURL: "http://upstream.invalid", Keys: []config.Key{{Key: "k"}}}}}
			off, err := relay.New(context.Background(), relay.Options{Config: cfg, Transport: tr})
			if err != nil {
				b.Fatal(err)
			}
			bk, err := pricing.NewBook(cfg.Providers, nil)
			if err != nil {
				b.Fatal(err)
			}
			l, err := usagelog.Open(filepath.Join(b.TempDir(), "usage.jsonl"), usagelog.Options{Book: bk})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			on, err := relay.New(context.Background(), relay.Options{Config: cfg, Transport: tr, Observers: []relay.Observer{l}})
			if err != nil {
				b.Fatal(err)
			}
			noop, err := relay.New(context.Background(), relay.Options{Config: cfg, Transport: tr, Observers: []relay.Observer{noopObserver{}}})
			if err != nil {
				b.Fatal(err)
			}
			relays := [3]*relay.Relay{off, noop, on}
			serve := func(r *relay.Relay) {
				req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(ix.Request.Body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Claude-Code-Session-Id", "8e7474d9-6a9a-4f2c-98a1-555c7dfa4b07")
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			const block = 256
			var cpu [3]time.Duration
			var n [3]int
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				k := (i / block) % 3
				if i%block == 0 {
					cpu[k] -= cpuTime()
				}
				serve(relays[k])
				n[k]++
				if i++; i%block == 0 {
					if k == 2 {
						l.Reopen() // the writer has caught up: its CPU time falls in this block
					}
					cpu[k] += cpuTime()
				}
			}
			b.StopTimer()
			if i%block != 0 {
				cpu[(i/block)%3] += cpuTime()
			}
			if n[2] == 0 {
				return // b.N too small to measure all three
			}
			var ns [3]float64
			for k := range ns {
				ns[k] = float64(cpu[k]) / float64(n[k])
			}
			b.ReportMetric(ns[0], "off-cpu-ns/op")
			b.ReportMetric(ns[1], "noop-cpu-ns/op")
			b.ReportMetric(ns[2], "on-cpu-ns/op")
			b.ReportMetric(100*(ns[2]-ns[1])/ns[0], "log-%")
			b.ReportMetric(100*(ns[1]-ns[0])/ns[0], "accounting-%")
			if d := l.Dropped(); d > 0 {
				b.Errorf("%d lines dropped", d)
			}
		})
	}
}

// BenchmarkUsageLogLine is the usage log's whole cost of one request, measured alone: Observe
// on the request's goroutine, then pricing, encoding and writing by the writer (Close drains
// it inside the timing), in the process's CPU time per line. Set against BenchmarkUsageLog's
// cpu-ns/op of a relayed request it is the log's share, with less noise than the difference
// of two relay runs. Every 16384 lines Reopen waits for the writer to catch up (a tight loop
// of Observe outruns any writer).
func BenchmarkUsageLogLine(b *testing.B) {
	bk, err := pricing.NewBook(providers, nil)
	if err != nil {
		b.Fatal(err)
	}
	l, err := usagelog.Open(filepath.Join(b.TempDir(), "usage.jsonl"), usagelog.Options{Book: bk, Buffer: 1 << 15})
	if err != nil {
		b.Fatal(err)
	}
	rec := records[0]
	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		l.Observe(&rec)
		if n++; n%16384 == 0 {
			l.Reopen()
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	if n := l.Dropped(); n > 0 {
		b.Errorf("%d lines dropped", n)
	}
}
