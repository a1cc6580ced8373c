package relay_test

// Benchmarks of the relay's hot path, with the real 49 KB Claude Code request
// (fixtures/real-traffic/claude-code/claude-code-2.1.332__02-tool-roundtrip-req1.messages.json,
// compacted as scripts/bench/load sends it).
//
//	go test ./relay -run '^$' -bench . -benchmem
//
// BenchmarkRelay and BenchmarkFloor are the same request through ccrelay's handler and through
// the benchmark floor (scripts/bench/floor: a bare httputil.ReverseProxy that reads the body
// into memory), so their ratio is the in-process counterpart of scripts/bench/run.sh's:
//
//   - mem: the handler alone. The client is a direct ServeHTTP call with a minimal
//     ResponseWriter and the upstream an in-memory RoundTripper that consumes the request body
//     and answers with canned bytes, so every allocation counted is the handler's own (plus
//     the request struct and header map a server would allocate anyway).
//   - loopback: the whole stack on 127.0.0.1 (client, relay server, relay transport, fake
//     upstream server, all in this process).
//
// Besides -benchmem's B/op and allocs/op they report:
//
//   - body-allocs/op: bytes allocated per request divided by the body size. The requirement is
//     "no allocation proportional to the body size beyond the one body buffer per request".
//     The relay reads bodies into pooled buffers (relay/body/buffer.go), so for its mem variants it
//     stays well under 1.0 (the floor allocates one buffer per request: about 1.0).
//   - flushes/op: Flush calls that reached the ResponseWriter (one per write syscall on a real
//     connection).
//
// The stream variants come in two upstream deliveries: "paced" (each event in its own read,
// as from an upstream that flushes per event and a relay that keeps up) and "burst" (the whole
// stream in one read, as when events arrive faster than the relay reads them: the common case
// under load). BenchmarkRelayStreamEvents relays long streams to isolate the per-event cost.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

const benchFixture = "claude-code/claude-code-2.1.332__02-tool-roundtrip-req1.messages.json"

// benchRequest is the fixture's request: the compacted body with "stream" set each way, the
// client headers (credentials and hop-by-hop headers removed, x-api-key replaced) and the path.
type benchRequest struct {
	stream, json []byte
	header       http.Header
	path         string
}

var (
	benchReqOnce sync.Once
	benchReq     benchRequest
	benchReqErr  error
)

func loadBenchRequest(b *testing.B) benchRequest {
	b.Helper()
	path := relaytest.Fixture(b, benchFixture)
	benchReqOnce.Do(func() {
		var fx struct {
			Query   string              `json:"query"`
			Headers map[string][]string `json:"headers"`
			Body    json.RawMessage     `json:"body"`
		}
		data, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(data, &fx)
		}
		var compact bytes.Buffer
		if err == nil {
			err = json.Compact(&compact, fx.Body)
		}
		if err != nil {
			benchReqErr = err
			return
		}
		body := compact.Bytes()
		r := benchRequest{header: http.Header{}, path: "/v1/messages"}
		if fx.Query != "" {
			r.path += "?" + fx.Query
		}
		if r.stream, err = sjson.SetBytes(bytes.Clone(body), "stream", true); err != nil {
			benchReqErr = err
			return
		}
		if r.json, err = sjson.SetBytes(bytes.Clone(body), "stream", false); err != nil {
			benchReqErr = err
			return
		}
		for k, vs := range fx.Headers {
			switch strings.ToLower(k) {
			case "host", "content-length", "connection", "x-api-key", "authorization", "accept-encoding":
				continue
			}
			for _, v := range vs {
				r.header.Add(k, v)
			}
		}
		r.header.Set("X-Api-Key", "bench-client-key")
		r.header.Set("Content-Type", "application/json")
		benchReq = r
	})
	if benchReqErr != nil {
		b.Fatalf("fixture %s: %v", benchFixture, benchReqErr)
	}
	if !gjson.GetBytes(benchReq.stream, "stream").Bool() || gjson.GetBytes(benchReq.json, "stream").Bool() {
		b.Fatal("fixture: could not set stream")
	}
	return benchReq
}

// ---------------------------------------------------------------- canned upstream replies

// cannedReply is what the fake upstream answers, shaped like scripts/bench/upstream's: the SSE
// grammar with n content_block_delta events of 100 bytes of text, or a JSON message with 1,000
// bytes of text.
type cannedReply struct {
	events [][]byte // one SSE event each
	stream []byte   // all events
	json   []byte
}

var (
	cannedMu sync.Mutex
	canned   = map[int]*cannedReply{}
)

func reply(deltas int) *cannedReply {
	cannedMu.Lock()
	defer cannedMu.Unlock()
	if c, ok := canned[deltas]; ok {
		return c
	}
	text := func(n int) string {
		return strings.Repeat("The quick brown fox jumps over the lazy dog. ", n/45+1)[:n]
	}
	type m = map[string]any
	ev := func(name string, data any) []byte {
		d, _ := json.Marshal(data)
		return []byte("event: " + name + "\ndata: " + string(d) + "\n\n")
	}
	usage := m{"input_tokens": 12000, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}
	c := &cannedReply{}
	c.events = append(c.events,
		ev("message_start", m{"type": "message_start", "message": m{"id": "msg_bench_01", "type": "message",
			"role": "assistant", "model": "claude-opus-5-5", "content": []any{}, "stop_reason": nil,
			"stop_sequence": nil, "usage": usage}}),
		ev("content_block_start", m{"type": "content_block_start", "index": 0, "content_block": m{"type": "text", "text": ""}}))
	delta := ev("content_block_delta", m{"type": "content_block_delta", "index": 0, "delta": m{"type": "text_delta", "text": text(100)}})
	for range deltas {
		c.events = append(c.events, delta)
	}
	c.events = append(c.events,
		ev("content_block_stop", m{"type": "content_block_stop", "index": 0}),
		ev("message_delta", m{"type": "message_delta", "delta": m{"stop_reason": "end_turn", "stop_sequence": nil},
			"usage": m{"output_tokens": deltas + 1}}),
		ev("message_stop", m{"type": "message_stop"}))
	c.stream = bytes.Join(c.events, nil)
	c.json, _ = json.Marshal(m{"id": "msg_bench_01", "type": "message", "role": "assistant", "model": "claude-opus-5-5",
		"content": []any{m{"type": "text", "text": text(1000)}}, "stop_reason": "end_turn", "stop_sequence": nil,
		"usage": m{"input_tokens": 12000, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 251}})
	canned[deltas] = c
	return c
}

// ---------------------------------------------------------------- in-memory upstream

// memUpstream is an http.RoundTripper standing in for the network and the provider: it
// consumes the request body (as the transport's write loop would) and answers with the canned
// reply, SSE when the request says "stream": true.
type memUpstream struct {
	reply *cannedReply
	burst bool // the whole SSE body in one Read, instead of one event per Read
}

func (m *memUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	var n int64
	if req.Body != nil {
		n, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	if n != req.ContentLength {
		return nil, fmt.Errorf("memUpstream: read %d body bytes, Content-Length %d", n, req.ContentLength)
	}
	resp := &http.Response{
		Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, 4), Request: req,
	}
	resp.Header["Request-Id"] = []string{"req_bench"}
	if req.Header.Get("Accept") == "text/event-stream" || req.Header.Get("X-Bench-Stream") == "1" {
		resp.Header["Content-Type"] = []string{"text/event-stream; charset=utf-8"}
		resp.ContentLength = -1
		if m.burst {
			resp.Body = io.NopCloser(&onceReader{b: m.reply.stream})
		} else {
			resp.Body = &eventReader{events: m.reply.events}
		}
	} else {
		resp.Header["Content-Type"] = []string{"application/json"}
		resp.ContentLength = int64(len(m.reply.json))
		resp.Body = io.NopCloser(bytes.NewReader(m.reply.json))
	}
	return resp, nil
}

// eventReader returns one event per Read, like a connection to an upstream that flushes each
// event and a relay that keeps up.
type eventReader struct {
	events [][]byte
	cur    []byte
}

func (r *eventReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if len(r.events) == 0 {
			return 0, io.EOF
		}
		r.cur, r.events = r.events[0], r.events[1:]
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *eventReader) Close() error { return nil }

// onceReader returns everything it holds as fast as the caller's buffer allows.
type onceReader struct{ b []byte }

func (r *onceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// benchWriter is a minimal http.ResponseWriter and http.Flusher.
type benchWriter struct {
	h       http.Header
	status  int
	n       int64
	flushes int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	w.n += int64(len(p))
	return len(p), nil
}
func (w *benchWriter) Flush() { w.flushes++ }

// ---------------------------------------------------------------- handlers under test

func relayConfig(upstreamURL string) *config.Config {
	return &config.Config{
		Server: config.Server{Listen: "127.0.0.1:0"},
		Providers: []config.Provider{{Name: "fake", Type: config.TypeAnthropic, BaseURL: upstreamURL,
			Keys: []config.Key{{Key: "bench-key"}}}},
		Routing: config.Routing{Strategy: "failover"},
	}
}

// newRelay builds ccrelay's handler with its per-request log line going to io.Discard through
// the same TextHandler as `ccrelay serve` (so the formatting cost is counted, not the write).
func newRelay(b *testing.B, upstreamURL string, rt http.RoundTripper) http.Handler {
	b.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h, err := relay.New(context.Background(), relay.Options{Config: relayConfig(upstreamURL), Transport: rt,
		Logger: logger, Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// floorTransport is scripts/bench/floor's transport.
func floorTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4096, IdleConnTimeout: 90 * time.Second, DisableCompression: true,
		ResponseHeaderTimeout: 120 * time.Second,
	}
}

type floorPool struct{ p sync.Pool }

func (f *floorPool) Get() []byte  { return *(f.p.Get().(*[]byte)) }
func (f *floorPool) Put(x []byte) { f.p.Put(&x) }

// newFloor is scripts/bench/floor's handler: read the body into memory, then ReverseProxy with
// FlushInterval -1, a pooled copy buffer and the x-api-key swap.
func newFloor(b *testing.B, upstreamURL string, rt http.RoundTripper) http.Handler {
	b.Helper()
	target, err := url.Parse(upstreamURL)
	if err != nil {
		b.Fatal(err)
	}
	bp := &floorPool{}
	bp.p.New = func() any { x := make([]byte, 32<<10); return &x }
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set("X-Api-Key", "bench-key")
			pr.Out.Header.Del("Authorization")
		},
		Transport: rt, FlushInterval: -1, BufferPool: bp,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > 0 {
			body := make([]byte, r.ContentLength)
			if _, err := io.ReadFull(r.Body, body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		rp.ServeHTTP(w, r)
	})
}

// ---------------------------------------------------------------- measurement helpers

// allocMeter reports bytes allocated per op relative to the body size, and the process CPU
// time per op (cpu-ns/op: unlike ns/op, it does not count time spent waiting for a CPU on a
// busy machine; it does count the GC's background work and, in the loopback variants, the
// client's and the fake upstream's).
type allocMeter struct {
	start uint64
	cpu   time.Duration
	body  int
}

func startAllocMeter(b *testing.B, body int) *allocMeter {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ResetTimer()
	return &allocMeter{start: ms.TotalAlloc, cpu: processCPU(), body: body}
}

func (m *allocMeter) report(b *testing.B) {
	b.StopTimer()
	cpu := processCPU() - m.cpu
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.TotalAlloc-m.start)/float64(b.N)/float64(m.body), "body-allocs/op")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// serveMem runs one request through h in memory and checks the answer.
func serveMem(b *testing.B, h http.Handler, base *http.Request, body []byte, stream bool, wantBytes int) *benchWriter {
	r := new(http.Request)
	*r = *base
	r.Body = io.NopCloser(bytes.NewReader(body))
	w := &benchWriter{h: make(http.Header)}
	h.ServeHTTP(w, r)
	if w.status != 200 || int(w.n) != wantBytes {
		b.Fatalf("status %d, %d bytes (want 200, %d bytes); stream=%v", w.status, w.n, wantBytes, stream)
	}
	return w
}

func memRequest(b *testing.B, req benchRequest, body []byte, stream bool) *http.Request {
	r, err := http.NewRequest(http.MethodPost, "http://relay.invalid"+req.path, nil)
	if err != nil {
		b.Fatal(err)
	}
	r.Header = req.header.Clone()
	if stream {
		// memUpstream cannot read the body it has consumed, so it learns the mode from the
		// client's Accept, which the relay forwards.
		r.Header.Set("Accept", "text/event-stream")
	}
	r.ContentLength = int64(len(body))
	r.RemoteAddr = "127.0.0.1:40000"
	return r
}

type handlerFactory func(b *testing.B, upstreamURL string, rt http.RoundTripper) http.Handler

// benchMem runs BenchmarkRelay's and BenchmarkFloor's in-memory sub-benchmarks.
func benchMem(b *testing.B, newHandler handlerFactory) {
	req := loadBenchRequest(b)
	for _, bc := range []struct {
		name   string
		stream bool
		burst  bool
	}{
		{"mem/json", false, false},
		{"mem/stream-paced", true, false},
		{"mem/stream-burst", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rep := reply(20)
			h := newHandler(b, "http://upstream.invalid", &memUpstream{reply: rep, burst: bc.burst})
			body, want := req.json, len(rep.json)
			if bc.stream {
				body, want = req.stream, len(rep.stream)
			}
			base := memRequest(b, req, body, bc.stream)
			serveMem(b, h, base, body, bc.stream, want) // warm up
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			flushes := 0
			m := startAllocMeter(b, len(body))
			for range b.N {
				flushes += serveMem(b, h, base, body, bc.stream, want).flushes
			}
			m.report(b)
			b.ReportMetric(float64(flushes)/float64(b.N), "flushes/op")
		})
	}
}

// loopbackUpstream is a fast fake Anthropic upstream on 127.0.0.1 (scripts/bench/upstream's
// replies, written and flushed event by event).
func loopbackUpstream(b *testing.B, rep *cannedReply) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if n != r.ContentLength {
			http.Error(w, "short body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Request-Id", "req_bench")
		if r.Header.Get("Accept") != "text/event-stream" {
			w.Header().Set("Content-Type", "application/json")
			w.Write(rep.json)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		for _, ev := range rep.events {
			w.Write(ev)
			rc.Flush()
		}
	}))
	b.Cleanup(srv.Close)
	return srv
}

// benchLoopback runs the whole stack on 127.0.0.1 with concurrency 1 (b.N requests one after
// another); allocations of the client and the fake upstream are included.
func benchLoopback(b *testing.B, newHandler handlerFactory, rt func() http.RoundTripper) {
	req := loadBenchRequest(b)
	for _, bc := range []struct {
		name   string
		stream bool
	}{{"loopback/json", false}, {"loopback/stream", true}} {
		b.Run(bc.name, func(b *testing.B) {
			rep := reply(20)
			up := loopbackUpstream(b, rep)
			front := httptest.NewServer(newHandler(b, up.URL, rt()))
			b.Cleanup(front.Close)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
			b.Cleanup(client.CloseIdleConnections)
			body, want := req.json, len(rep.json)
			if bc.stream {
				body, want = req.stream, len(rep.stream)
			}
			do := func() {
				r, _ := http.NewRequest(http.MethodPost, front.URL+req.path, bytes.NewReader(body))
				r.Header = req.header.Clone()
				if bc.stream {
					r.Header.Set("Accept", "text/event-stream")
				}
				resp, err := client.Do(r)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || int(n) != want {
					b.Fatalf("status %d, %d bytes (want %d), err %v", resp.StatusCode, n, want, err)
				}
			}
			do()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			m := startAllocMeter(b, len(body))
			for range b.N {
				do()
			}
			m.report(b)
		})
	}
}

// BenchmarkRelay is one whole request through ccrelay's handler.
func BenchmarkRelay(b *testing.B) {
	benchMem(b, newRelay)
	// nil: relay.New's own tuned transport.
	benchLoopback(b, newRelay, func() http.RoundTripper { return nil })
}

// BenchmarkFloor is the same request through the benchmark floor, for the ratio.
func BenchmarkFloor(b *testing.B) {
	benchMem(b, newFloor)
	benchLoopback(b, newFloor, func() http.RoundTripper { return floorTransport() })
}

// BenchmarkRelayBodyScaling sends the fixture with its messages repeated 1, 2 and 4 times
// (the messages are ~10 KB of the 49 KB: 49, 59 and 79 KB) through the handler in memory
// (JSON). The body buffer is pooled, so nothing the relay allocates is proportional to the
// body: B/op stays flat as the body grows (nonbody-B/op is B/op less the one body buffer the
// runtime would allocate when pooling is off: len+1 bytes rounded up to whole 8 KB pages).
func BenchmarkRelayBodyScaling(b *testing.B) {
	req := loadBenchRequest(b)
	msgs := gjson.GetBytes(req.json, "messages").Raw
	inner := msgs[1 : len(msgs)-1]
	for _, times := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("x%d", times), func(b *testing.B) {
			body := req.json
			if times > 1 {
				many := "[" + strings.TrimSuffix(strings.Repeat(inner+",", times), ",") + "]"
				var err error
				if body, err = sjson.SetRawBytes(bytes.Clone(req.json), "messages", []byte(many)); err != nil {
					b.Fatal(err)
				}
			}
			rep := reply(20)
			h := newRelay(b, "http://upstream.invalid", &memUpstream{reply: rep})
			base := memRequest(b, req, body, false)
			serveMem(b, h, base, body, false, len(rep.json))
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			for range b.N {
				serveMem(b, h, base, body, false, len(rep.json))
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			perOp := float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(b.N)
			buffer := (len(body) + 1 + 8191) &^ 8191
			b.ReportMetric(float64(len(body)), "body-B")
			if perOp > float64(buffer) {
				perOp -= float64(buffer) // a body buffer was allocated per request: not pooled
			}
			b.ReportMetric(perOp, "nonbody-B/op")
		})
	}
}

// BenchmarkRelayStreamEvents relays streams of 20 and 1,000 deltas through the handler (in
// memory) and reports the cost per relayed event: the long stream makes the per-request part
// negligible, so its ns/event and allocs/event are the SSE path's per-event cost.
func BenchmarkRelayStreamEvents(b *testing.B) {
	req := loadBenchRequest(b)
	for _, target := range []struct {
		name string
		new  handlerFactory
	}{{"relay", newRelay}, {"floor", newFloor}} {
		for _, deltas := range []int{20, 1000} {
			for _, burst := range []bool{false, true} {
				delivery := "paced"
				if burst {
					delivery = "burst"
				}
				b.Run(fmt.Sprintf("%s/deltas=%d/%s", target.name, deltas, delivery), func(b *testing.B) {
					rep := reply(deltas)
					h := target.new(b, "http://upstream.invalid", &memUpstream{reply: rep, burst: burst})
					base := memRequest(b, req, req.stream, true)
					serveMem(b, h, base, req.stream, true, len(rep.stream))
					events := len(rep.events)
					b.ReportAllocs()
					var ms0, ms1 runtime.MemStats
					runtime.ReadMemStats(&ms0)
					flushes := 0
					cpu0 := processCPU()
					b.ResetTimer()
					for range b.N {
						flushes += serveMem(b, h, base, req.stream, true, len(rep.stream)).flushes
					}
					b.StopTimer()
					cpu := processCPU() - cpu0
					runtime.ReadMemStats(&ms1)
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*events), "cpu-ns/event")
					b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*events), "allocs/event")
					b.ReportMetric(float64(flushes)/float64(b.N*events), "flushes/event")
				})
			}
		}
	}
}

// BenchmarkModelRewrite measures mapping the model of the 49 KB body (plan's
// sjson.SetBytes(body, "model", upstreamModel)), which must copy the body once (the original
// stays for the other candidates) and nothing more. body-allocs/op is bytes allocated divided
// by the body size.
func BenchmarkModelRewrite(b *testing.B) {
	req := loadBenchRequest(b)
	body := req.stream
	orig := gjson.GetBytes(body, "model")
	for _, bc := range []struct {
		name string
		f    func([]byte) ([]byte, error)
	}{
		{"sjson.SetBytes", func(in []byte) ([]byte, error) { return sjson.SetBytes(in, "model", "glm-4.7") }},
		{"sjson.SetBytesOptions/optimistic", func(in []byte) ([]byte, error) {
			return sjson.SetBytesOptions(in, "model", "glm-4.7", &sjson.Options{Optimistic: true})
		}},
		{"sjson.SetRawBytes/quoted", func(in []byte) ([]byte, error) {
			return sjson.SetRawBytes(in, "model", []byte(`"glm-4.7"`))
		}},
		{"splice", func(in []byte) ([]byte, error) {
			// One exact-size copy: the value's offset from gjson, the new value quoted.
			r := gjson.GetBytes(in, "model")
			if r.Index <= 0 {
				return nil, fmt.Errorf("no model")
			}
			q, _ := json.Marshal("glm-4.7")
			out := make([]byte, 0, len(in)-len(r.Raw)+len(q))
			out = append(out, in[:r.Index]...)
			out = append(out, q...)
			return append(out, in[r.Index+len(r.Raw):]...), nil
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			out, err := bc.f(body)
			if err != nil {
				b.Fatal(err)
			}
			if got := gjson.GetBytes(out, "model").Str; got != "glm-4.7" {
				b.Fatalf("model %q", got)
			}
			if !bytes.Equal(body, req.stream) || gjson.GetBytes(body, "model").Raw != orig.Raw {
				b.Fatal("the original body was modified")
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			m := startAllocMeter(b, len(body))
			for range b.N {
				if _, err := bc.f(body); err != nil {
					b.Fatal(err)
				}
			}
			m.report(b)
		})
	}
}

// BenchmarkInspectBody measures the per-request body inspection that admit and plan do today on
// the 49 KB body, step by step, against a single top-level pass that finds the same fields.
func BenchmarkInspectBody(b *testing.B) {
	req := loadBenchRequest(b)
	body := req.stream
	steps := []struct {
		name string
		f    func() bool
	}{
		{"gjson.ValidBytes", func() bool { return gjson.ValidBytes(body) }},
		{"gjson.GetManyBytes(model,messages,stream,metadata.user_id)", func() bool {
			res := gjson.GetManyBytes(body, "model", "messages", "stream", "metadata.user_id")
			return res[1].IsArray()
		}},
		{"bytes.Contains(signature|redacted_thinking)", func() bool {
			return !bytes.Contains(body, []byte(`"signature"`)) && !bytes.Contains(body, []byte(`"redacted_thinking"`))
		}},
		{"one-pass-top-level-ForEach", func() bool {
			var model, stream, user bool
			var messagesArray bool
			gjson.Parse(unsafeString(body)).ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "model":
					model = v.Type == gjson.String
				case "messages":
					messagesArray = v.IsArray()
				case "stream":
					stream = v.Type == gjson.True
				case "metadata":
					user = v.Get("user_id").Exists()
				}
				return true
			})
			return model && messagesArray && stream && user
		}},
	}
	for _, s := range steps {
		b.Run(s.name, func(b *testing.B) {
			if !s.f() {
				b.Fatal("unexpected result on the fixture")
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				s.f()
			}
		})
	}
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
