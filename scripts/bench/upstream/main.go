// Command upstream is a fast fake Anthropic Messages API server for ccrelay's benchmarks.
//
// It answers, on loopback:
//
//	POST /v1/messages               JSON, or SSE when the body has "stream": true
//	POST /v1/messages/count_tokens  {"input_tokens": body_len/4}
//	GET  /v1/models                 a one-model list
//	GET  /_bench/stats              request counters (for the driver's sanity checks)
//	GET  /api/version, /api/tags, /api/ps, POST /api/show
//	                                Ollama's native API, as a local Ollama with one model
//	                                installed answers it (-ollama-model; empty: 404), so that an
//	                                ollama provider pointed here is healthy (not counted in
//	                                the request counters)
//
// The SSE reply has the real event grammar: message_start, content_block_start, N ×
// content_block_delta (each carrying a text delta of B bytes), content_block_stop,
// message_delta, message_stop (and optionally a ping after content_block_start).
//
// The shape of a reply is chosen by flags (the defaults of this process) and can be overridden
// per request by query parameters or headers (query wins):
//
//	bench_events / X-Bench-Events         number of content_block_delta events
//	bench_bytes  / X-Bench-Bytes          bytes of text per delta
//	bench_gap    / X-Bench-Gap            delay between deltas (Go duration)
//	bench_ttfb   / X-Bench-Ttfb           delay before the response headers (Go duration)
//	bench_json_bytes / X-Bench-Json-Bytes bytes of text in a JSON (non-stream) reply
//
// The benchmark driver does not rely on the overrides (a relay may drop unknown query
// parameters or headers); it starts one process per reply shape instead.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type shape struct {
	events    int
	bytes     int
	gap       time.Duration
	ttfb      time.Duration
	jsonBytes int
}

type server struct {
	def         shape
	ping        bool
	model       string
	ollamaModel string

	cache sync.Map // renderKey -> *rendered

	requests, streams, jsons, counts, errors atomic.Int64
	ollamaNative                             atomic.Int64
	bodyBytes                                atomic.Int64
	open, maxOpen                            atomic.Int64
}

type renderKey struct{ events, bytes, jsonBytes int }

type rendered struct {
	head  []byte // message_start + content_block_start (+ ping)
	delta []byte // one content_block_delta event
	tail  []byte // content_block_stop + message_delta + message_stop
	json  []byte // the non-stream reply
}

func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "listen address (loopback)")
	events := flag.Int("events", 20, "content_block_delta events per stream")
	evBytes := flag.Int("bytes", 100, "bytes of text per content_block_delta")
	gap := flag.Duration("gap", 0, "delay between content_block_delta events")
	ttfb := flag.Duration("ttfb", 0, "delay before the response headers")
	jsonBytes := flag.Int("json-bytes", 1000, "bytes of text in a JSON (non-stream) reply")
	ping := flag.Bool("ping", false, "send a ping event after content_block_start")
	model := flag.String("model", "claude-opus-5-5", "model name in replies")
	maxLife := flag.Duration("max-lifetime", 30*time.Minute, "exit by itself after this long (safety bound)")
	ollamaModel := flag.String("ollama-model", "qwen3:32b", "the model Ollama's native API says is installed (empty: no native API)")
	flag.Parse()

	s := &server{
		def:         shape{events: *events, bytes: *evBytes, gap: *gap, ttfb: *ttfb, jsonBytes: *jsonBytes},
		ping:        *ping,
		model:       *model,
		ollamaModel: *ollamaModel,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", s.messages)
	mux.HandleFunc("POST /v1/messages/count_tokens", s.countTokens)
	mux.HandleFunc("GET /v1/models", s.models)
	mux.HandleFunc("GET /_bench/stats", s.stats)
	if s.ollamaModel != "" {
		mux.HandleFunc("GET /api/version", s.ollama)
		mux.HandleFunc("GET /api/tags", s.ollama)
		mux.HandleFunc("GET /api/ps", s.ollama)
		mux.HandleFunc("POST /api/show", s.ollama)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("upstream: %v", err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(os.Stderr, "upstream: ", log.LstdFlags),
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		select {
		case <-sig:
		case <-time.After(*maxLife):
			log.Printf("upstream: max lifetime %v reached, exiting", *maxLife)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		os.Exit(0)
	}()
	log.Printf("upstream: listening on %s (events=%d bytes=%d gap=%v ttfb=%v json-bytes=%d)",
		ln.Addr(), *events, *evBytes, *gap, *ttfb, *jsonBytes)
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatalf("upstream: %v", err)
	}
}

// shapeFor applies the per-request overrides to the process defaults.
func (s *server) shapeFor(r *http.Request) shape {
	sh := s.def
	q := r.URL.Query()
	get := func(name string) string {
		if v := q.Get("bench_" + name); v != "" {
			return v
		}
		return r.Header.Get("X-Bench-" + strings.ReplaceAll(name, "_", "-"))
	}
	if v, err := strconv.Atoi(get("events")); err == nil && v >= 0 {
		sh.events = v
	}
	if v, err := strconv.Atoi(get("bytes")); err == nil && v >= 0 {
		sh.bytes = v
	}
	if v, err := strconv.Atoi(get("json_bytes")); err == nil && v >= 0 {
		sh.jsonBytes = v
	}
	if v, err := time.ParseDuration(get("gap")); err == nil && v >= 0 {
		sh.gap = v
	}
	if v, err := time.ParseDuration(get("ttfb")); err == nil && v >= 0 {
		sh.ttfb = v
	}
	return sh
}

func (s *server) render(sh shape) *rendered {
	k := renderKey{sh.events, sh.bytes, sh.jsonBytes}
	if v, ok := s.cache.Load(k); ok {
		return v.(*rendered)
	}
	text := func(n int) string {
		const filler = "The quick brown fox jumps over the lazy dog. "
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(filler)
		}
		return b.String()[:n]
	}
	ev := func(name string, data any) []byte {
		d, _ := json.Marshal(data)
		return []byte("event: " + name + "\ndata: " + string(d) + "\n\n")
	}
	type m = map[string]any
	usageIn := m{"input_tokens": 12000, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}
	var head bytes.Buffer
	head.Write(ev("message_start", m{"type": "message_start", "message": m{
		"id": "msg_bench_01", "type": "message", "role": "assistant", "model": s.model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": usageIn,
	}}))
	head.Write(ev("content_block_start", m{"type": "content_block_start", "index": 0,
		"content_block": m{"type": "text", "text": ""}}))
	if s.ping {
		head.Write(ev("ping", m{"type": "ping"}))
	}
	delta := ev("content_block_delta", m{"type": "content_block_delta", "index": 0,
		"delta": m{"type": "text_delta", "text": text(sh.bytes)}})
	var tail bytes.Buffer
	tail.Write(ev("content_block_stop", m{"type": "content_block_stop", "index": 0}))
	tail.Write(ev("message_delta", m{"type": "message_delta",
		"delta": m{"stop_reason": "end_turn", "stop_sequence": nil},
		"usage": m{"output_tokens": sh.events + 1}}))
	tail.Write(ev("message_stop", m{"type": "message_stop"}))
	js, _ := json.Marshal(m{
		"id": "msg_bench_01", "type": "message", "role": "assistant", "model": s.model,
		"content":     []any{m{"type": "text", "text": text(sh.jsonBytes)}},
		"stop_reason": "end_turn", "stop_sequence": nil,
		"usage": m{"input_tokens": 12000, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
			"output_tokens": sh.jsonBytes/4 + 1},
	})
	rd := &rendered{head: head.Bytes(), delta: delta, tail: tail.Bytes(), json: js}
	v, _ := s.cache.LoadOrStore(k, rd)
	return v.(*rendered)
}

// wantsStream finds the top-level "stream": true|false without parsing the whole body.
// Nested keys named "stream" (a tool schema property) hold objects, not booleans.
func wantsStream(body []byte) bool {
	key := []byte(`"stream"`)
	for off := 0; ; {
		i := bytes.Index(body[off:], key)
		if i < 0 {
			return false
		}
		j := off + i + len(key)
		for j < len(body) && (body[j] == ' ' || body[j] == '\n' || body[j] == '\r' || body[j] == '\t') {
			j++
		}
		if j < len(body) && body[j] == ':' {
			j++
			for j < len(body) && (body[j] == ' ' || body[j] == '\n' || body[j] == '\r' || body[j] == '\t') {
				j++
			}
			if bytes.HasPrefix(body[j:], []byte("true")) {
				return true
			}
			if bytes.HasPrefix(body[j:], []byte("false")) {
				return false
			}
		}
		off = j
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func (s *server) readBody(r *http.Request) ([]byte, *[]byte, error) {
	bp := bufPool.Get().(*[]byte)
	buf := bytes.NewBuffer((*bp)[:0])
	_, err := buf.ReadFrom(r.Body)
	*bp = buf.Bytes()
	s.bodyBytes.Add(int64(buf.Len()))
	return buf.Bytes(), bp, err
}

func (s *server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *server) messages(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	body, bp, err := s.readBody(r)
	if err != nil {
		bufPool.Put(bp)
		s.errors.Add(1)
		http.Error(w, `{"type":"error","error":{"type":"invalid_request_error","message":"body read failed"}}`, http.StatusBadRequest)
		return
	}
	stream := wantsStream(body)
	bufPool.Put(bp)

	sh := s.shapeFor(r)
	rd := s.render(sh)
	ctx := r.Context()
	if !s.sleep(ctx, sh.ttfb) {
		return
	}
	h := w.Header()
	h.Set("Request-Id", "req_bench_01")
	h.Set("Anthropic-Organization-Id", "bench")

	if !stream {
		s.jsons.Add(1)
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(rd.json)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(rd.json)
		return
	}

	s.streams.Add(1)
	n := s.open.Add(1)
	for {
		m := s.maxOpen.Load()
		if n <= m || s.maxOpen.CompareAndSwap(m, n) {
			break
		}
	}
	defer s.open.Add(-1)

	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	flush := func() {
		if fl != nil {
			fl.Flush()
		}
	}
	if _, err := w.Write(rd.head); err != nil {
		return
	}
	flush()
	for i := 0; i < sh.events; i++ {
		if i > 0 && !s.sleep(ctx, sh.gap) {
			return
		}
		if _, err := w.Write(rd.delta); err != nil {
			return
		}
		flush()
	}
	_, _ = w.Write(rd.tail)
	flush()
}

func (s *server) countTokens(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.counts.Add(1)
	body, bp, err := s.readBody(r)
	n := len(body)
	bufPool.Put(bp)
	if err != nil {
		s.errors.Add(1)
		http.Error(w, `{"type":"error","error":{"type":"invalid_request_error","message":"body read failed"}}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"input_tokens":%d}`, n/4)
}

func (s *server) models(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"data":[{"type":"model","id":%q,"display_name":%q,"created_at":"2026-01-01T00:00:00Z"}],"has_more":false,"first_id":%q,"last_id":%q}`,
		s.model, s.model, s.model, s.model)
}

func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int64{
		"requests":      s.requests.Load(),
		"streams":       s.streams.Load(),
		"json":          s.jsons.Load(),
		"count_tokens":  s.counts.Load(),
		"errors":        s.errors.Load(),
		"body_bytes":    s.bodyBytes.Load(),
		"open_streams":  s.open.Load(),
		"max_open":      s.maxOpen.Load(),
		"ollama_native": s.ollamaNative.Load(),
	})
}

// ollama answers Ollama's native API as a local Ollama with one model installed and loaded
// (the shapes of Ollama's API documentation, with the fields ccrelay reads).
func (s *server) ollama(w http.ResponseWriter, r *http.Request) {
	s.ollamaNative.Add(1)
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	}
	const ctxLen = 262144
	m := s.ollamaModel
	var v any
	switch r.URL.Path {
	case "/api/version":
		v = map[string]any{"version": "0.14.3"}
	case "/api/tags":
		v = map[string]any{"models": []any{map[string]any{"name": m, "model": m, "modified_at": "2026-11-01T00:00:00Z",
			"size": 20000000000, "details": map[string]any{"format": "gguf", "family": "qwen3", "parameter_size": "32.8B"}}}}
	case "/api/ps":
		v = map[string]any{"models": []any{map[string]any{"name": m, "model": m, "context_length": ctxLen}}}
	case "/api/show":
		v = map[string]any{"parameters": fmt.Sprintf("num_ctx                        %d", ctxLen),
			"model_info": map[string]any{"general.architecture": "qwen3", "qwen3.context_length": ctxLen}}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
