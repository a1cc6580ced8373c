// Command load is a bounded load generator for the Anthropic Messages API (ccrelay benchmarks).
//
// It sends the real Claude Code request (headers, query and ~49 KB body of a recorded fixture)
// with a fixed concurrency, until a request count OR a time limit is reached, whichever comes
// first, and stops by itself: new requests stop at -d, requests still in flight are cancelled
// at -d + -grace and counted as errors ("timeout").
//
// Modes: json ("stream": false), stream ("stream": true, SSE), count_tokens.
//
// It reports latency (whole response), TTFB (first response byte), time to first SSE event,
// SSE inter-arrival of content_block_delta events, req/s and errors; and, for the processes
// named by -pids, the CPU they spent during the measured phase (utime+stime delta from
// /proc/PID/stat) and their memory (VmRSS samples, VmHWM from /proc/PID/status).
// -json prints one JSON object (for the driver); otherwise a short text report.
//
// With several -url (comma-separated) it interleaves: the requests alternate between the
// targets, and it prints one report per target (a JSON array).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ccrelay/ccrelay/scripts/bench/session"
)

const defaultFixture = "fixtures/real-traffic/claude-code/claude-code-2.1.332__02-tool-roundtrip-req1.messages.json"

type config struct {
	mode, fixture, key         string
	bases, labels              []string
	c, n, warmup, expectEvents int
	d, grace, expectGap, ramp  time.Duration
	pids                       []proc
	clkTck                     float64
}

type proc struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
}

// Dist is a latency distribution in milliseconds.
type Dist struct {
	N    int     `json:"n"`
	Min  float64 `json:"min_ms"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
}

// ProcReport is what a watched process spent during the measured phase.
type ProcReport struct {
	Name          string  `json:"name"`
	PID           int     `json:"pid"`
	CPUSec        float64 `json:"cpu_sec"`
	CPUPerReqUS   float64 `json:"cpu_per_req_us"`
	RSSBeforeKB   int64   `json:"rss_before_kb"`
	RSSPeakKB     int64   `json:"rss_peak_kb"`     // max VmRSS sampled during the phase
	RSSAllOpenKB  int64   `json:"rss_all_open_kb"` // max VmRSS sampled while all -c streams were open
	RSSAfterKB    int64   `json:"rss_after_kb"`
	HWMKB         int64   `json:"hwm_kb"`             // VmHWM after the phase (lifetime peak)
	GrowthPerOpen float64 `json:"growth_per_open_kb"` // (RSSAllOpen - RSSBefore) / c
	Error         string  `json:"error,omitempty"`
}

// Report is the result of one run.
type Report struct {
	Label        string         `json:"label,omitempty"`
	URL          string         `json:"url"`
	Interleaved  bool           `json:"interleaved,omitempty"` // requests alternated with other targets
	Mode         string         `json:"mode"`
	BodyBytes    int            `json:"body_bytes"`
	Concurrency  int            `json:"concurrency"`
	Limit        int            `json:"limit_requests"`
	LimitSec     float64        `json:"limit_sec"`
	Warmup       int            `json:"warmup"`
	Sent         int            `json:"sent"`
	OK           int            `json:"ok"`
	Errors       int            `json:"errors"`
	ErrorKinds   map[string]int `json:"error_kinds,omitempty"`
	ErrorSamples []string       `json:"error_samples,omitempty"`
	StoppedBy    string         `json:"stopped_by"` // "count" or "time"
	ElapsedSec   float64        `json:"elapsed_sec"`
	RPS          float64        `json:"rps"`
	Latency      Dist           `json:"latency"`
	TTFB         Dist           `json:"ttfb"`
	FirstEvent   Dist           `json:"first_event"`
	Events       int            `json:"events_per_stream_min"`
	Gap          Dist           `json:"gap"` // inter-arrival of content_block_delta (only with -expect-gap)
	ExpectGapMS  float64        `json:"expect_gap_ms,omitempty"`
	GapsBunched  int            `json:"gaps_bunched"` // gaps < expect-gap/4: events delivered together
	AllOpen      bool           `json:"all_open"`     // all -c streams were open at the same time
	AllOpenAfter float64        `json:"all_open_after_sec,omitempty"`
	Procs        []ProcReport   `json:"procs,omitempty"`
}

func main() {
	var cfg config
	var pids, urls, labels string
	flag.StringVar(&urls, "url", "http://127.0.0.1:18080", "target base URL (the fixture's path and query are appended); "+
		"several, comma-separated: requests alternate between them (random order each cycle) and -n is per target")
	flag.StringVar(&cfg.mode, "mode", "json", "json | stream | count_tokens")
	flag.StringVar(&cfg.fixture, "fixture", defaultFixture, "recorded Claude Code request (JSON with headers, query, body)")
	flag.StringVar(&cfg.key, "key", "bench-client-key", "x-api-key sent by the client")
	flag.StringVar(&labels, "label", "", "label copied into the report (comma-separated, one per -url)")
	flag.IntVar(&cfg.c, "c", 1, "concurrency (workers)")
	flag.IntVar(&cfg.n, "n", 1000, "requests per target (measured phase); the run stops at -n or -d, whichever first")
	flag.DurationVar(&cfg.d, "d", 10*time.Second, "time limit of the measured phase (no new requests after it)")
	flag.DurationVar(&cfg.grace, "grace", 5*time.Second, "in-flight requests are cancelled at -d plus this")
	flag.DurationVar(&cfg.ramp, "ramp", 0, "start the workers of the measured phase evenly over this time instead of at once")
	flag.IntVar(&cfg.warmup, "warmup", 0, "unmeasured requests before the measured phase (same concurrency)")
	flag.IntVar(&cfg.expectEvents, "expect-events", 0, "stream: content_block_delta events each stream must have (0: do not check)")
	flag.DurationVar(&cfg.expectGap, "expect-gap", 0, "stream: expected gap between deltas; enables inter-arrival statistics")
	flag.StringVar(&pids, "pids", "", "processes to measure, name=pid[,name=pid...]")
	flag.Float64Var(&cfg.clkTck, "clk-tck", 100, "clock ticks per second of /proc/PID/stat")
	asJSON := flag.Bool("json", false, "print the report as JSON (an array when there are several -url)")
	flag.Parse()

	cfg.bases = strings.Split(urls, ",")
	cfg.labels = make([]string, len(cfg.bases))
	if labels != "" {
		l := strings.Split(labels, ",")
		if len(l) != len(cfg.bases) {
			fatalf("-label needs one label per -url")
		}
		copy(cfg.labels, l)
	}

	if cfg.c < 1 || cfg.n < 1 || cfg.d <= 0 {
		fatalf("-c, -n and -d must be positive")
	}
	if cfg.mode != "json" && cfg.mode != "stream" && cfg.mode != "count_tokens" {
		fatalf("unknown -mode %q", cfg.mode)
	}
	for _, p := range strings.Split(pids, ",") {
		if p == "" {
			continue
		}
		name, v, ok := strings.Cut(p, "=")
		pid, err := strconv.Atoi(v)
		if !ok || err != nil {
			fatalf("bad -pids entry %q", p)
		}
		cfg.pids = append(cfg.pids, proc{name, pid})
	}

	req, err := loadFixture(cfg.fixture, cfg.mode)
	if err != nil {
		fatalf("%v", err)
	}
	reps := run(cfg, req)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		if len(reps) == 1 {
			_ = enc.Encode(reps[0])
		} else {
			_ = enc.Encode(reps)
		}
	} else {
		for _, r := range reps {
			printText(r)
		}
	}
}

func fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "load: "+f+"\n", a...)
	os.Exit(2)
}

// ---------------------------------------------------------------- the request

type request struct {
	path   string // path?query
	header http.Header
	body   []byte
}

func loadFixture(path, mode string) (*request, error) {
	path = session.FindUp(path) // the default fixture path works from anywhere in the repository
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fixture: %w", err)
	}
	var fx struct {
		Path    string              `json:"path"`
		Query   string              `json:"query"`
		Headers map[string][]string `json:"headers"`
		Body    json.RawMessage     `json:"body"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		return nil, fmt.Errorf("fixture %s: %w", path, err)
	}
	body := []byte(fx.Body)
	if len(body) > 0 && body[0] == '"' { // a body recorded as a string
		var s string
		if err := json.Unmarshal(body, &s); err != nil {
			return nil, fmt.Errorf("fixture body: %w", err)
		}
		body = []byte(s)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return nil, fmt.Errorf("fixture body is not JSON: %w", err)
	}
	body = compact.Bytes()

	p := fx.Path
	if p == "" {
		p = "/v1/messages"
	}
	switch mode {
	case "json":
		body = setStream(body, false)
	case "stream":
		body = setStream(body, true)
	case "count_tokens":
		// count_tokens takes {model, messages, system, tools, ...}: keep those of the fixture.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, err
		}
		keep := map[string]json.RawMessage{}
		for _, k := range []string{"model", "messages", "system", "tools", "thinking", "tool_choice"} {
			if v, ok := m[k]; ok {
				keep[k] = v
			}
		}
		body, _ = json.Marshal(keep)
		p = strings.TrimSuffix(p, "/count_tokens") + "/count_tokens"
	}
	if fx.Query != "" {
		p += "?" + fx.Query
	}
	h := http.Header{}
	for k, vs := range fx.Headers {
		switch strings.ToLower(k) {
		case "host", "content-length", "connection", "transfer-encoding", "keep-alive",
			"x-api-key", "authorization", "proxy-connection", "te", "upgrade":
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	return &request{path: p, header: h, body: body}, nil
}

// setStream sets the top-level "stream" boolean (the first "stream" key holding a boolean),
// or adds it.
func setStream(body []byte, v bool) []byte {
	val := []byte("false")
	if v {
		val = []byte("true")
	}
	key := []byte(`"stream":`)
	for off := 0; ; {
		i := bytes.Index(body[off:], key)
		if i < 0 {
			break
		}
		j := off + i + len(key)
		var old []byte
		switch {
		case bytes.HasPrefix(body[j:], []byte("true")):
			old = []byte("true")
		case bytes.HasPrefix(body[j:], []byte("false")):
			old = []byte("false")
		}
		if old != nil {
			out := make([]byte, 0, len(body)+1)
			out = append(out, body[:j]...)
			out = append(out, val...)
			return append(out, body[j+len(old):]...)
		}
		off = j
	}
	end := bytes.LastIndexByte(body, '}')
	out := make([]byte, 0, len(body)+16)
	out = append(out, body[:end]...)
	out = append(out, `,"stream":`...)
	out = append(out, val...)
	return append(out, body[end:]...)
}

// ---------------------------------------------------------------- running

type sample struct {
	lat, ttfb, first time.Duration
	hasFirst         bool
}

// acc accumulates the results of one target in one worker.
type acc struct {
	samples    []sample
	gaps       []time.Duration
	minEvents  int
	errKinds   map[string]int
	errSamples []string
	sent       int
}

type worker struct {
	accs []*acc // one per target
	br   *bufio.Reader
	buf  bytes.Buffer
}

type runner struct {
	cfg    config
	req    *request
	urls   []string
	client *http.Client

	open    atomic.Int64 // streams that got their first event and are not finished
	everAll atomic.Bool
}

// run returns one report per target. With several targets (-url a,b,c) the requests of the
// run go to the targets in turn, in a new random order every cycle of k requests, so that all
// targets see the same machine conditions (for sequential latency and light streaming loads;
// not for throughput, where the targets would compete for the CPU).
func run(cfg config, req *request) []Report {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   cfg.c + 16,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     false,
		DisableCompression:    true,
		ResponseHeaderTimeout: 0, // bounded by the run's context
	}
	if cfg.c <= 256 {
		tr.WriteBufferSize = 64 << 10
		tr.ReadBufferSize = 64 << 10
	}
	defer tr.CloseIdleConnections()
	r := &runner{cfg: cfg, req: req, client: &http.Client{Transport: tr}}
	for _, b := range cfg.bases {
		r.urls = append(r.urls, strings.TrimSuffix(b, "/")+req.path)
	}
	k := len(r.urls)

	if cfg.warmup > 0 {
		wc := min(cfg.c, cfg.warmup)
		ctx, cancel := context.WithTimeout(context.Background(), cfg.d+cfg.grace)
		r.phase(ctx, wc, cfg.warmup*k, time.Now().Add(cfg.d), false)
		cancel()
	}

	// Measured phase. Process statistics are measured only for a single target.
	pids := cfg.pids
	if k > 1 {
		pids = nil
	}
	before := make([]procSnap, len(pids))
	for i, p := range pids {
		before[i] = snap(p.PID)
	}
	var samp *sampler
	if len(pids) > 0 {
		samp = startSampler(pids, &r.open, int64(cfg.c))
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.d+cfg.grace)
	start := time.Now()
	ws, last, byTime := r.phase(ctx, cfg.c, cfg.n*k, start.Add(cfg.d), true)
	cancel()
	var samples sampled
	if samp != nil {
		samples = samp.stop()
	}
	elapsed := last.Sub(start)
	if elapsed <= 0 {
		elapsed = time.Since(start)
	}

	reps := make([]Report, k)
	for ti := range reps {
		rep := &reps[ti]
		*rep = Report{
			Label: cfg.labels[ti], URL: r.urls[ti], Mode: cfg.mode, BodyBytes: len(req.body),
			Concurrency: cfg.c, Limit: cfg.n, LimitSec: cfg.d.Seconds(), Warmup: cfg.warmup,
			Interleaved: k > 1,
		}
		var lat, ttfb, first, gaps []time.Duration
		var busy time.Duration
		rep.ErrorKinds = map[string]int{}
		rep.Events = -1
		for _, w := range ws {
			a := w.accs[ti]
			rep.Sent += a.sent
			for _, s := range a.samples {
				lat = append(lat, s.lat)
				busy += s.lat
				ttfb = append(ttfb, s.ttfb)
				if s.hasFirst {
					first = append(first, s.first)
				}
			}
			gaps = append(gaps, a.gaps...)
			for kind, v := range a.errKinds {
				rep.ErrorKinds[kind] += v
				rep.Errors += v
			}
			for _, s := range a.errSamples {
				if len(rep.ErrorSamples) < 5 {
					rep.ErrorSamples = append(rep.ErrorSamples, s)
				}
			}
			if len(a.samples) > 0 && (rep.Events < 0 || a.minEvents < rep.Events) {
				rep.Events = a.minEvents
			}
		}
		if rep.Events < 0 {
			rep.Events = 0
		}
		if len(rep.ErrorKinds) == 0 {
			rep.ErrorKinds = nil
		}
		rep.OK = len(lat)
		rep.StoppedBy = "count"
		if byTime {
			rep.StoppedBy = "time"
		}
		rep.ElapsedSec = elapsed.Seconds()
		rep.RPS = float64(rep.OK) / elapsed.Seconds()
		if k > 1 && busy > 0 {
			// Interleaved: the rate this target alone would serve at this concurrency.
			rep.RPS = float64(rep.OK) * float64(cfg.c) / busy.Seconds()
		}
		rep.Latency = dist(lat)
		rep.TTFB = dist(ttfb)
		rep.FirstEvent = dist(first)
		if cfg.expectGap > 0 {
			rep.Gap = dist(gaps)
			rep.ExpectGapMS = ms(cfg.expectGap)
			for _, g := range gaps {
				if g < cfg.expectGap/4 {
					rep.GapsBunched++
				}
			}
		}
	}
	if k == 1 {
		rep := &reps[0]
		rep.AllOpen = r.everAll.Load()
		if rep.AllOpen && !samples.allOpenAt.IsZero() {
			rep.AllOpenAfter = samples.allOpenAt.Sub(start).Seconds()
		}
		for i, p := range pids {
			after := snap(p.PID)
			pr := ProcReport{Name: p.Name, PID: p.PID, RSSBeforeKB: before[i].rssKB, RSSAfterKB: after.rssKB, HWMKB: after.hwmKB}
			if before[i].err != nil || after.err != nil {
				pr.Error = fmt.Sprint(errors.Join(before[i].err, after.err))
			}
			pr.CPUSec = float64(after.ticks-before[i].ticks) / cfg.clkTck
			if rep.OK > 0 {
				pr.CPUPerReqUS = pr.CPUSec / float64(rep.OK) * 1e6
			}
			pr.RSSPeakKB = max(samples.peak[i], after.rssKB)
			pr.RSSAllOpenKB = samples.allOpen[i]
			if pr.RSSAllOpenKB > 0 {
				pr.GrowthPerOpen = float64(pr.RSSAllOpenKB-pr.RSSBeforeKB) / float64(cfg.c)
			}
			rep.Procs = append(rep.Procs, pr)
		}
	}
	return reps
}

// phase runs up to n requests with c workers, issuing none after stopAt. It returns the
// workers, the time of the last completion and whether time stopped it.
func (r *runner) phase(ctx context.Context, c, n int, stopAt time.Time, measured bool) ([]*worker, time.Time, bool) {
	var next atomic.Int64
	var byTime atomic.Bool
	var lastMu sync.Mutex
	var last time.Time
	k := len(r.urls)
	seed := uint64(time.Now().UnixNano())
	ws := make([]*worker, c)
	var wg sync.WaitGroup
	for i := range ws {
		w := &worker{br: bufio.NewReaderSize(nil, 16<<10)}
		for range k {
			w.accs = append(w.accs, &acc{errKinds: map[string]int{}, samples: make([]sample, 0, n/(c*k)+1)})
		}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			if measured && r.cfg.ramp > 0 {
				// -ramp: worker i starts i/c of the way through the ramp, so that the streams
				// open over that time instead of in the same instant.
				time.Sleep(r.cfg.ramp * time.Duration(i) / time.Duration(c))
			}
			for {
				idx := next.Add(1) - 1
				if idx >= int64(n) {
					return
				}
				if !time.Now().Before(stopAt) || ctx.Err() != nil {
					byTime.Store(true)
					return
				}
				// Request idx goes to a target by a random order per cycle of k requests, so
				// each target gets the same number of requests whatever the concurrency.
				ti := 0
				if k > 1 {
					ti = rand.New(rand.NewPCG(seed, uint64(idx)/uint64(k))).Perm(k)[idx%int64(k)]
				}
				a := w.accs[ti]
				a.sent++
				r.do(ctx, w, a, r.urls[ti], c)
				if measured {
					t := time.Now()
					lastMu.Lock()
					if t.After(last) {
						last = t
					}
					lastMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return ws, last, byTime.Load()
}

func (a *acc) fail(kind string, err error) {
	a.errKinds[kind]++
	if len(a.errSamples) < 3 {
		msg := kind
		if err != nil {
			msg += ": " + err.Error()
		}
		a.errSamples = append(a.errSamples, msg)
	}
}

// SSE event types the loader cares about.
const (
	evOther = iota
	evDelta
	evStop
)

func eventType(b []byte) int {
	switch string(b) {
	case "content_block_delta":
		return evDelta
	case "message_stop":
		return evStop
	}
	return evOther
}

func (r *runner) do(ctx context.Context, w *worker, a *acc, url string, c int) {
	var ttfb time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { ttfb = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, url, bytes.NewReader(r.req.body))
	if err != nil {
		a.fail("request", err)
		return
	}
	req.Header = r.req.header.Clone()
	req.Header.Set("X-Api-Key", r.cfg.key)

	start := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			a.fail("timeout", err)
		} else {
			a.fail("transport", err)
		}
		return
	}
	defer resp.Body.Close()
	if ttfb.IsZero() {
		ttfb = time.Now()
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		a.fail("status_"+strconv.Itoa(resp.StatusCode), errors.New(strings.TrimSpace(string(b))))
		return
	}

	if r.cfg.mode != "stream" {
		w.buf.Reset()
		if _, err := w.buf.ReadFrom(resp.Body); err != nil {
			if ctx.Err() != nil {
				a.fail("timeout", err)
			} else {
				a.fail("read", err)
			}
			return
		}
		end := time.Now()
		b := w.buf.Bytes()
		want := []byte(`"content"`)
		if r.cfg.mode == "count_tokens" {
			want = []byte(`"input_tokens"`)
		}
		if !json.Valid(b) || !bytes.Contains(b, want) {
			a.fail("bad_body", fmt.Errorf("%.200q", b))
			return
		}
		a.samples = append(a.samples, sample{lat: end.Sub(start), ttfb: ttfb.Sub(start)})
		return
	}

	// SSE.
	br := w.br
	br.Reset(resp.Body)
	var (
		typ       = -1 // type of the event being read, -1: none yet
		pending   bool
		events    int
		deltas    int
		stopped   bool
		first     time.Time
		lastDelta time.Time
		opened    bool
	)
	dispatch := func(now time.Time) {
		if !pending {
			return
		}
		pending = false
		events++
		if first.IsZero() {
			first = now
			if !opened {
				opened = true
				if r.open.Add(1) == int64(c) {
					r.everAll.Store(true)
				}
			}
		}
		switch typ {
		case evDelta:
			deltas++
			if r.cfg.expectGap > 0 && !lastDelta.IsZero() {
				a.gaps = append(a.gaps, now.Sub(lastDelta))
			}
			lastDelta = now
		case evStop:
			stopped = true
		}
		typ = -1
	}
	defer func() {
		if opened {
			r.open.Add(-1)
		}
	}()
	var readErr error
	for {
		line, err := br.ReadSlice('\n')
		long := false
		if err == bufio.ErrBufferFull {
			long, err = true, nil
		}
		now := time.Now()
		trimmed := bytes.TrimRight(line, "\r\n")
		switch {
		case len(trimmed) == 0 && len(line) > 0:
			dispatch(now)
		case bytes.HasPrefix(trimmed, []byte("event:")):
			typ = eventType(bytes.TrimSpace(trimmed[len("event:"):]))
			pending = true
		case bytes.HasPrefix(trimmed, []byte("data:")):
			pending = true
			if typ < 0 {
				if i := bytes.Index(trimmed, []byte(`"type":"`)); i >= 0 {
					rest := trimmed[i+len(`"type":"`):]
					if j := bytes.IndexByte(rest, '"'); j >= 0 {
						typ = eventType(rest[:j])
					}
				}
			}
		}
		for long && err == nil { // skip the rest of a line longer than the buffer
			_, err = br.ReadSlice('\n')
			long = err == bufio.ErrBufferFull
			if long {
				err = nil
			}
		}
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			dispatch(time.Now())
			break
		}
		if stopped {
			break
		}
	}
	end := time.Now()
	if stopped && readErr == nil {
		// Read on to the end of the body, as an SDK client does, so that the connection is
		// reused: closing it right after message_stop would make every next request open a
		// new connection (the measured latency still ends at message_stop).
		io.Copy(io.Discard, io.LimitReader(br, 1<<20))
	}
	switch {
	case readErr != nil && ctx.Err() != nil:
		a.fail("timeout", readErr)
	case readErr != nil:
		a.fail("read", readErr)
	case !stopped:
		a.fail("no_message_stop", fmt.Errorf("%d events", events))
	case r.cfg.expectEvents > 0 && deltas != r.cfg.expectEvents:
		a.fail("delta_count", fmt.Errorf("got %d content_block_delta, want %d", deltas, r.cfg.expectEvents))
	default:
		if len(a.samples) == 0 || deltas < a.minEvents {
			a.minEvents = deltas
		}
		a.samples = append(a.samples, sample{lat: end.Sub(start), ttfb: ttfb.Sub(start), first: first.Sub(start), hasFirst: true})
	}
}

// ---------------------------------------------------------------- /proc

type procSnap struct {
	ticks        int64
	rssKB, hwmKB int64
	err          error
}

func snap(pid int) procSnap {
	var s procSnap
	s.ticks, s.err = cpuTicks(pid)
	var err error
	s.rssKB, s.hwmKB, err = memKB(pid)
	s.err = errors.Join(s.err, err)
	return s
}

// cpuTicks is utime+stime of a process (all its threads), in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + s, errors.Join(err1, err2)
}

// memKB returns VmRSS and VmHWM of a process.
func memKB(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if k == "VmRSS" || k == "VmHWM" {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if k == "VmRSS" {
				rss = n
			} else {
				hwm = n
			}
		}
	}
	return rss, hwm, nil
}

type sampled struct {
	peak, allOpen []int64
	allOpenAt     time.Time
}

type sampler struct {
	done chan struct{}
	out  chan sampled
}

// startSampler samples VmRSS of the processes every 25 ms; allOpen keeps the maximum of the
// samples taken while all c streams were open at once.
func startSampler(ps []proc, open *atomic.Int64, c int64) *sampler {
	s := &sampler{done: make(chan struct{}), out: make(chan sampled, 1)}
	go func() {
		res := sampled{peak: make([]int64, len(ps)), allOpen: make([]int64, len(ps))}
		t := time.NewTicker(25 * time.Millisecond)
		defer t.Stop()
		for {
			all := open.Load() >= c
			for i, p := range ps {
				rss, _, err := memKB(p.PID)
				if err != nil {
					continue
				}
				res.peak[i] = max(res.peak[i], rss)
				if all {
					res.allOpen[i] = max(res.allOpen[i], rss)
				}
			}
			if all && res.allOpenAt.IsZero() {
				res.allOpenAt = time.Now()
			}
			select {
			case <-s.done:
				s.out <- res
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() sampled {
	close(s.done)
	return <-s.out
}

// ---------------------------------------------------------------- output

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func dist(v []time.Duration) Dist {
	if len(v) == 0 {
		return Dist{}
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	var sum time.Duration
	for _, x := range v {
		sum += x
	}
	pct := func(p float64) float64 { // nearest rank
		i := int(p*float64(len(v))+0.999999) - 1
		i = max(0, min(i, len(v)-1))
		return ms(v[i])
	}
	return Dist{
		N: len(v), Min: ms(v[0]), Mean: ms(sum / time.Duration(len(v))),
		P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: ms(v[len(v)-1]),
	}
}

func printText(r Report) {
	if r.Label != "" {
		fmt.Printf("[%s] ", r.Label)
	}
	fmt.Printf("%s %s  c=%d  body=%d B  sent=%d ok=%d errors=%d (stopped by %s after %.2fs)\n",
		r.Mode, r.URL, r.Concurrency, r.BodyBytes, r.Sent, r.OK, r.Errors, r.StoppedBy, r.ElapsedSec)
	if r.Errors > 0 {
		fmt.Printf("  errors: %v\n", r.ErrorKinds)
		for _, s := range r.ErrorSamples {
			fmt.Printf("    %s\n", s)
		}
	}
	if r.Interleaved {
		fmt.Printf("  req/s %.1f (interleaved with the other targets: c / mean latency)\n", r.RPS)
	} else {
		fmt.Printf("  req/s %.1f\n", r.RPS)
	}
	pd := func(name string, d Dist) {
		if d.N == 0 {
			return
		}
		fmt.Printf("  %-12s p50 %8.3f  p90 %8.3f  p99 %8.3f  max %8.3f ms  (n=%d)\n", name, d.P50, d.P90, d.P99, d.Max, d.N)
	}
	pd("latency", r.Latency)
	pd("ttfb", r.TTFB)
	pd("first event", r.FirstEvent)
	if r.ExpectGapMS > 0 {
		pd("event gap", r.Gap)
		fmt.Printf("  gaps < %.1f ms (bunched): %d of %d\n", r.ExpectGapMS/4, r.GapsBunched, r.Gap.N)
	}
	if r.Mode == "stream" && !r.Interleaved {
		fmt.Printf("  deltas per stream (min): %d; all %d streams open at once: %v\n", r.Events, r.Concurrency, r.AllOpen)
	}
	for _, p := range r.Procs {
		fmt.Printf("  %s[%d]: cpu %.3fs (%.0f µs/req)  rss before %d kB, peak %d kB, all-open %d kB (%.1f kB/stream), hwm %d kB %s\n",
			p.Name, p.PID, p.CPUSec, p.CPUPerReqUS, p.RSSBeforeKB, p.RSSPeakKB, p.RSSAllOpenKB, p.GrowthPerOpen, p.HWMKB, p.Error)
	}
}
