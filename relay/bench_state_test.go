package relay_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkRelayStateRedis measures what server.state.redis adds to a request: the same
// request (the real 49 KB Claude Code request, non-streamed, with a Claude Code session id)
// through a relay with in-process state and through one sharing its state on a real Redis
// (relaytest.StartRedis, on loopback), the whole stack on 127.0.0.1, one request at a time.
// The configuration is what shared state costs most with: two providers (so that session
// affinity is read and written), a key with rpm and tpm limits (so that every attempt is
// admitted by the shared state: the circuit, the key's cooldown and rejection, both rates).
//
//	go test ./relay -run '^$' -bench BenchmarkRelayStateRedis -benchtime 2000x
//
// The local and redis sub-benchmarks report each relay's latency percentiles (p50-ns, p99-ns);
// interleaved sends one request to each in turn, so that both see the same machine at the same
// moment, and reports both medians, added-p50-ns (the difference of the medians: what Redis
// adds; the goal is at most 300,000 ns) and ping-p50-ns, the median of a plain PING to the same
// Redis in between: what one round trip costs on this machine at this moment. A request does
// one round trip (shared.admit); the binding's refresh and the tpm correction ride along or
// wait (see shared.go).
func BenchmarkRelayStateRedis(b *testing.B) {
	srv := relaytest.StartRedis(b)
	req := loadBenchRequest(b)
	rep := reply(20)
	up := loopbackUpstream(b, rep)
	local := stateBenchRelay(b, up.URL, "")
	shared := stateBenchRelay(b, up.URL, srv.URL)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	do := func(b *testing.B, base string) time.Duration {
		r, _ := http.NewRequest(http.MethodPost, base+req.path, bytes.NewReader(req.json))
		r.Header = req.header.Clone()
		r.Header.Set("X-Claude-Code-Session-Id", "bench-session-0001")
		start := time.Now()
		resp, err := client.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil || resp.StatusCode != 200 || int(n) != len(rep.json) {
			b.Fatalf("status %d, %d bytes (want %d), err %v", resp.StatusCode, n, len(rep.json), err)
		}
		return d
	}
	for _, bc := range []struct{ name, base string }{{"local", local}, {"redis", shared}} {
		b.Run(bc.name, func(b *testing.B) {
			do(b, bc.base)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				lat = append(lat, do(b, bc.base))
			}
			b.ReportMetric(float64(percentile(lat, 50)), "p50-ns")
			b.ReportMetric(float64(percentile(lat, 99)), "p99-ns")
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		// ping is one round trip to the same Redis from this process (a PING): what the
		// machine makes one round trip cost, which the added latency cannot go below.
		rc := redis.NewClient(&redis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(srv.URL, "redis://"), "/0")})
		defer rc.Close()
		ping := func() time.Duration {
			start := time.Now()
			if err := rc.Ping(context.Background()).Err(); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		do(b, local)
		do(b, shared)
		ping()
		ls := make([]time.Duration, 0, b.N)
		rs := make([]time.Duration, 0, b.N)
		ps := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			if i%2 == 0 {
				ls = append(ls, do(b, local))
				rs = append(rs, do(b, shared))
			} else {
				rs = append(rs, do(b, shared))
				ls = append(ls, do(b, local))
			}
			ps = append(ps, ping())
		}
		l, r := percentile(ls, 50), percentile(rs, 50)
		b.ReportMetric(float64(l), "local-p50-ns")
		b.ReportMetric(float64(r), "redis-p50-ns")
		b.ReportMetric(float64(r-l), "added-p50-ns")
		b.ReportMetric(float64(percentile(ps, 50)), "ping-p50-ns")
	})
}

// stateBenchRelay serves a relay for BenchmarkRelayStateRedis: with its state on the Redis at
// redisURL, or in process when it is "".
func stateBenchRelay(b *testing.B, upstreamURL, redisURL string) string {
	b.Helper()
	key := config.Key{Key: "bench-key", RPMLimit: 1 << 30, TPMLimit: 1 << 40}
	cfg := &config.Config{
		Server: config.Server{Listen: "127.0.0.1:0"},
		Providers: []config.Provider{
			{Name: "primary", Type: config.TypeAnthropic, BaseURL: upstreamURL, Keys: []config.Key{key}},
			{Name: "backup", Type: config.TypeAnthropic, BaseURL: upstreamURL, Keys: []config.Key{{Key: "bench-key-2"}}},
		},
		Routing: config.Routing{Strategy: "failover"},
	}
	if redisURL != "" {
		cfg.Server.State.Redis = &config.RedisState{URL: redisURL}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r, err := relay.New(context.Background(), relay.Options{Config: cfg, Logger: logger, Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	front := httptest.NewServer(r)
	b.Cleanup(front.Close)
	return front.URL
}

// percentile returns the p-th percentile of ds (which it sorts).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, len(ds)*p/100)]
}
