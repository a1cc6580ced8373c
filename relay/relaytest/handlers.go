package relaytest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ReplayOptions tunes how ReplayWith serves recorded interactions.
type ReplayOptions struct {
	// HeaderDelay is waited before the status line and headers are sent.
	HeaderDelay time.Duration
	// EventDelay is waited between two SSE events or event-stream frames.
	EventDelay time.Duration
	// Loop starts again from the first interaction when all have been
	// served, instead of answering 500.
	Loop bool
}

// Replay returns a handler that answers the n-th request with the n-th
// interaction, whatever the request's method and path; inspect
// Upstream.Requests to check them. It uses zero ReplayOptions.
func Replay(ix ...*Interaction) http.Handler {
	return ReplayWith(ReplayOptions{}, ix...)
}

// ReplayWith is like Replay with options.
//
// Each answer carries the recorded status (200 when the recording has none),
// the recorded headers except Content-Length and Transfer-Encoding, and the
// recorded body:
//   - A gzip-encoded recording is sent as the recorded gzip bytes, in one
//     write, when the request's Accept-Encoding allows gzip; otherwise the
//     decoded body is sent without Content-Encoding.
//   - SSE and AWS event-stream bodies are sent one event or frame per write,
//     with a flush after each and EventDelay between them; the headers are
//     flushed before the first event.
//   - Other bodies are sent in one write with their Content-Length.
//
// A request beyond the last interaction gets a 500 with a text message
// naming it, unless opts.Loop is set. ReplayWith panics on a nil interaction.
func ReplayWith(opts ReplayOptions, ix ...*Interaction) http.Handler {
	for i, x := range ix {
		if x == nil {
			panic(fmt.Sprintf("relaytest: replay: interaction %d is nil", i))
		}
	}
	return &replayer{ixs: ix, opts: opts}
}

type replayer struct {
	ixs  []*Interaction
	opts ReplayOptions

	mu   sync.Mutex
	next int
}

func (p *replayer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	n := p.next
	p.next++
	p.mu.Unlock()
	if len(p.ixs) == 0 || (n >= len(p.ixs) && !p.opts.Loop) {
		msg := fmt.Sprintf("relaytest: replay: request %d (%s %s) has no recorded interaction left: %d given",
			n+1, r.Method, r.URL.RequestURI(), len(p.ixs))
		http.Error(w, msg, http.StatusInternalServerError)
		return
	}
	serve(w, r, p.ixs[n%len(p.ixs)], p.opts, -1)
}

// DropAfter returns a handler that answers every request with ix but sends
// only its first n events or frames (with a flush after each) and then aborts
// the connection, so the client sees an unexpected EOF or a reset mid-stream.
// A body that is not a stream counts as one event. The body is always sent
// without content encoding. When n reaches the number of events, all of them
// are sent and the connection is still aborted before the stream's normal end.
func DropAfter(ix *Interaction, n int) http.Handler {
	if ix == nil {
		panic("relaytest: drop after: nil interaction")
	}
	if n < 0 {
		n = 0
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, ix, ReplayOptions{}, n)
	})
}

// serve writes ix to w. A negative drop serves the whole interaction; a drop
// of zero or more sends that many events and then aborts the connection.
func serve(w http.ResponseWriter, r *http.Request, ix *Interaction, opts ReplayOptions, drop int) {
	ctx := r.Context()
	if !sleep(ctx, opts.HeaderDelay) {
		return
	}
	body := ix.Response.Body
	gz := ix.isGzip()
	if gz && (drop >= 0 || !acceptsGzip(r.Header)) {
		b, err := ix.identityBody()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		body, gz = b, false
	}
	h := w.Header()
	for k, vs := range ix.Response.Headers {
		if strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Transfer-Encoding") ||
			(!gz && strings.EqualFold(k, "Content-Encoding") && ix.isGzip()) {
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	status := ix.Response.Status
	if status == 0 {
		status = http.StatusOK
	}
	stream := ix.IsSSE() || ix.IsEventStream()

	var chunks [][]byte
	switch {
	case gz:
		// The compressed bytes cannot be cut at event boundaries.
	case ix.IsSSE():
		chunks = SplitSSE(body)
	case ix.IsEventStream():
		chunks = SplitFrames(body)
	}
	if drop < 0 && chunks == nil {
		if !stream {
			h.Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(status)
		w.Write(body)
		return
	}
	if chunks == nil && len(body) > 0 {
		chunks = [][]byte{body}
	}
	w.WriteHeader(status)
	flush(w)
	for i, c := range chunks {
		if drop >= 0 && i >= drop {
			break
		}
		if i > 0 && !sleep(ctx, opts.EventDelay) {
			return
		}
		if _, err := w.Write(c); err != nil {
			return
		}
		flush(w)
	}
	if drop >= 0 {
		// Abort without finishing the response: the server closes the
		// connection and the client reads an unexpected EOF.
		panic(http.ErrAbortHandler)
	}
}

// acceptsGzip reports whether the Accept-Encoding of h allows gzip: gzip or
// x-gzip with a non-zero q value, or else a wildcard with a non-zero q value.
// A missing header allows only identity.
func acceptsGzip(h http.Header) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
					continue
				}
				f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err != nil {
					f = 0
				}
				q = f
			}
			switch strings.ToLower(strings.TrimSpace(coding)) {
			case "gzip", "x-gzip":
				gzipQ = max(gzipQ, q)
			case "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// SSE returns a handler that answers 200 text/event-stream with the given raw
// events, written as they are (each should end with its blank line), with a
// flush after each and delay between them. It is meant for hand-made edge
// cases no recording covers; callers should say so where they use it.
func SSE(events []string, delay time.Duration) http.Handler {
	evs := append([]string(nil), events...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		flush(w)
		for i, ev := range evs {
			if i > 0 && !sleep(ctx, delay) {
				return
			}
			if _, err := w.Write([]byte(ev)); err != nil {
				return
			}
			flush(w)
		}
	})
}

// Status returns a handler that always answers code with a copy of header
// and body, for example a 429 with retry-after or a 529 overloaded_error.
// When header has no Content-Type and body is not empty, the Content-Type is
// application/json.
func Status(code int, header http.Header, body string) http.Handler {
	hdr := header.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if hdr.Get("Content-Type") == "" && body != "" {
		hdr.Set("Content-Type", "application/json")
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	b := []byte(body)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, vs := range hdr {
			h[k] = append([]string(nil), vs...)
		}
		w.WriteHeader(code)
		w.Write(b)
	})
}

// Hang returns a handler that accepts the request and never answers: it
// returns, without writing anything, when the request's context ends (the
// client cancels or disconnects, or the Upstream closes).
func Hang() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
}

// SlowHeaders returns a handler that waits d before handing the request to
// next, so that no status line or header is sent for d. It gives up when the
// request's context ends first.
func SlowHeaders(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sleep(r.Context(), d) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Instant returns the cheapest possible handler for load tests: a 200 with
// body in a single write and a Content-Length. The Content-Type is
// text/event-stream when body starts like an SSE stream ("event:", "data:",
// "id:" or ":"), else application/json.
func Instant(body string) http.Handler {
	ct := "application/json"
	trimmed := strings.TrimLeft(body, " \t\r\n")
	for _, p := range []string{"event:", "data:", "id:", ":"} {
		if strings.HasPrefix(trimmed, p) {
			ct = "text/event-stream"
			break
		}
	}
	b := []byte(body)
	cl := strconv.Itoa(len(b))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("Content-Length", cl)
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	})
}

// flush sends buffered response bytes to the client.
func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// sleep waits d and reports whether ctx is still live afterwards. It returns
// early, with false, when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
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
