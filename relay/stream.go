package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/sse"
	"github.com/tidwall/gjson"
)

// maxJSONBody bounds a non-streamed response body; the relay reads it whole to learn its usage.
const maxJSONBody = 64 << 20

// relayResponse writes an upstream response to the client: SSE event by event with a flush
// after each, anything else as is. It returns the token usage it saw, for the key pool.
func (r *Relay) relayResponse(w *recorder, req *http.Request, u *upstream, resp *http.Response, ub *upstreamBody) usage {
	defer func() { resp.Body.Close() }() // relayStream may hand the body to drainUpstream
	copyResponseHeader(w.Header(), resp.Header)
	if resp.StatusCode == http.StatusOK && isEventStream(resp.Header.Get("Content-Type")) {
		return r.relayStream(w, req, u, resp, ub)
	}
	body, err := readResponse(resp)
	if err != nil && req.Context().Err() == nil {
		writeError(w, errorf(http.StatusBadGateway, "provider %q broke off its response: %v", u.cfg.Name, err))
		return usage{}
	}
	if resp.StatusCode < 300 && isJSON(resp.Header.Get("Content-Type")) {
		fixed, notes, abort := sse.RepairMessage(body)
		if abort != nil {
			r.log.Warn("answer refused by relay", "provider", u.cfg.Name, "type", abort.Type, "cause", abort.Message)
			u.count("tool_input=refused")
			writeError(w, &apierr.Error{Status: http.StatusBadGateway, Type: apierr.API,
				Message: fmt.Sprintf("provider %q: %s", u.cfg.Name, abort.Message)})
			return usage{}
		}
		if len(notes) > 0 {
			body = fixed
			r.announceRepairs(w, u, notes)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
	var us usage
	if resp.StatusCode < 300 {
		// One scan for the usage object, then its few fields (GetManyBytes would scan the body
		// once per path).
		ur := gjson.GetBytes(body, "usage")
		res := gjson.GetMany(ur.Raw, "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
		us = usage{input: int(res[0].Int() + res[2].Int() + res[3].Int()), output: int(res[1].Int()),
			cacheCreation: int(res[2].Int()), cacheRead: int(res[3].Int()), known: res[0].Exists() || res[1].Exists()}
		if bytes.Contains(body, []byte(`"signature"`)) {
			r.rememberSignatures(body, u.cfg.Name)
		}
	}
	return us
}

// announceRepairs says what the stream repair changed in an answer: in X-Ccrelay-Degraded (a
// trailer once a stream's headers are out, the header otherwise, after the request's own
// notes), in the log and in /v1/providers' counters.
func (r *Relay) announceRepairs(w *recorder, u *upstream, notes []string) {
	u.count(notes...)
	w.notes = append(w.notes[:len(w.notes):len(w.notes)], notes...)
	joined := strings.Join(notes, "; ")
	r.log.Info("repaired", "provider", u.cfg.Name, "notes", joined)
	h := w.Header()
	all := joined
	if prev := h.Get(hdrDegraded); prev != "" {
		all = prev + "; " + joined
	}
	if w.wroteHeader {
		h.Set(http.TrailerPrefix+hdrDegraded, all)
		w.repaired = joined
		return
	}
	h.Set(hdrDegraded, all)
}

// isJSON reports whether a content type is JSON.
func isJSON(ct string) bool {
	return strings.HasPrefix(strings.TrimSpace(strings.ToLower(ct)), "application/json")
}

// readResponse reads a whole non-streamed response, at most maxJSONBody bytes, into one buffer
// of the announced size when there is one (io.ReadAll starts small and grows by copying).
func readResponse(resp *http.Response) ([]byte, error) {
	lr := io.LimitReader(resp.Body, maxJSONBody)
	n := resp.ContentLength
	if n <= 0 || n > maxJSONBody {
		return io.ReadAll(lr)
	}
	buf := make([]byte, 0, n+1) // +1: EOF is seen without growing
	for {
		m, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return buf, err
		case len(buf) == cap(buf): // longer than announced: read the rest too
			rest, err := io.ReadAll(lr)
			return append(buf, rest...), err
		}
	}
}

func isEventStream(ct string) bool {
	return strings.HasPrefix(strings.TrimSpace(strings.ToLower(ct)), "text/event-stream")
}

// sseBuffers are the 4 KB read buffers of relayed streams, reused across streams.
var sseBuffers = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// relayStream copies SSE events from the upstream to the client, flushing after each one.
// Every stream it answers ends with message_stop or an error event: if the upstream breaks
// off, stays idle past server.timeouts.stream_idle, or sends a corrupt stream, the relay ends
// the client's stream with an error event itself.
//
// Each event goes through the provider's stream repair (sse.Repairer): a message_delta without
// usage gets one, an empty or unknown stop_reason a valid one, and a tool_use block whose input
// is not a JSON object ends the stream with an error event. Repairs are announced in the
// X-Ccrelay-Degraded trailer, the log and /v1/providers; the usage the relay accounts is the
// repairer's (the final counts when message_start carried zeros).
func (r *Relay) relayStream(w *recorder, req *http.Request, u *upstream, resp *http.Response, ub *upstreamBody) (us usage) {
	r.metrics.streamStarted()
	defer r.metrics.streamEnded()
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The headers leave with the first event, as with a reverse proxy: one write, not two.
	rc := http.NewResponseController(w)

	// The idle watch closes the upstream body, which unblocks the read below.
	idle := watchIdle(resp.Body, r.idle)
	defer idle.stop()

	buf := sseBuffers.Get().(*[]byte)
	defer sseBuffers.Put(buf) // the reader and its events are not used after the return
	rd := sse.NewReaderBuffer(resp.Body, *buf)
	var (
		thinking bool
		rep      sse.Repairer
		edited   []byte // a repaired event, reused
	)
	defer func() {
		in, out, cacheRead, cacheCreation, known := rep.Usage()
		us = usage{input: in + cacheRead + cacheCreation, output: out, cacheRead: cacheRead, cacheCreation: cacheCreation, known: known}
		if notes := rep.Repairs(); len(notes) > 0 {
			r.announceRepairs(w, u, notes)
		}
	}()
	// Pings during the upstream's silences, once the first event is out (keepalive.go).
	var ka *keepalive
	defer func() { ka.stop() }()
	for {
		ev, err := rd.Next()
		if err != nil {
			// A partial event (sse.ErrTruncated) is not forwarded: its bytes would run into
			// the error event that reports the cut.
			ka.stop()
			r.endStream(w, rc, req.Context(), u, err, idle.timedOut())
			return
		}
		raw := ev.Raw
		if ev.Name == "error" {
			// A vendor's error event mid-stream: its type and code are normalized like an error
			// answer's (the dialect table), so the client sees one of Anthropic's types.
			if n := features.NormalizeError(u.cfg.Type, u.cfg.Name, "", http.StatusInternalServerError, "application/json", ev.Data); n.Changed {
				edited = sse.AppendEvent(edited[:0], "error", n.Body)
				raw = edited
				rep.Note("error=normalized:" + n.Rule)
			}
		}
		data, act := rep.Event(ev.Name, ev.Data)
		switch act.Kind {
		case sse.RepairRepaired:
			edited = sse.AppendEvent(edited[:0], ev.Name, data)
			raw = edited
		case sse.RepairAborted:
			ka.stop()
			r.log.Warn("stream ended by relay", "provider", u.cfg.Name, "type", act.Abort.Type, "cause", act.Abort.Message)
			w.Write(apierr.Event(act.Abort.Type, fmt.Sprintf("provider %q: %s", u.cfg.Name, act.Abort.Message)))
			rc.Flush()
			ub.detach()
			drainUpstream(resp.Body)
			resp.Body = http.NoBody
			return
		}
		ka.lock()
		_, werr := w.Write(raw)
		// Flush as soon as no further complete event is already at hand: an event that
		// arrived alone goes out at once, events that arrived in one read go out together.
		if werr == nil && !rd.Pending() {
			werr = rc.Flush()
		}
		ka.unlock()
		if werr != nil {
			return // the client is gone; the deferred Close cancels the upstream
		}
		if ka == nil && r.keepalive > 0 {
			ka = startKeepalive(w, rc, r.keepalive)
		}
		switch ev.Name {
		case "message_stop", "error":
			// The client's stream is complete: the response ends now, not when the upstream
			// gets round to ending its body (the client sees the end of a chunked response
			// only when the handler returns). What is left of the body is read in the
			// background so that the connection can be reused; anything after the terminal
			// event is not the client's.
			ub.detach()
			drainUpstream(resp.Body)
			resp.Body = http.NoBody
			return
		case "content_block_start":
			// Signature deltas only follow thinking blocks: text and tool_use deltas, nearly
			// every event of a stream, are not searched.
			thinking = thinking || bytes.Contains(ev.Data, []byte(`"thinking"`)) &&
				gjson.GetBytes(ev.Data, "content_block.type").Str == "thinking"
		case "content_block_delta":
			if thinking && bytes.Contains(ev.Data, []byte(`"signature_delta"`)) {
				r.rememberSignature(gjson.GetBytes(ev.Data, "delta.signature").Str, u.cfg.Name)
			}
		}
		idle.event()
	}
}

// drainLimit and drainTimeout bound what drainUpstream reads after a terminal event: an
// upstream that sends more, or never ends its body, loses its connection instead.
const drainLimit = 64 << 10

var drainTimeout = 10 * time.Second

// drainUpstream reads the rest of a stream's upstream body after its terminal event, in its own
// goroutine, and closes it: a body read to its end lets the transport reuse the connection.
func drainUpstream(body io.ReadCloser) {
	timeout := drainTimeout
	go func() {
		t := time.AfterFunc(timeout, func() { body.Close() })
		io.CopyN(io.Discard, body, drainLimit)
		t.Stop()
		body.Close()
	}()
}

// endStream writes the error event that ends a stream the upstream did not finish.
func (r *Relay) endStream(w io.Writer, rc *http.ResponseController, ctx context.Context, u *upstream, cause error, idled bool) {
	if ctx.Err() != nil {
		return // the client disconnected; there is nobody to tell
	}
	typ, msg := apierr.API, fmt.Sprintf("provider %q ended the stream before message_stop: %v", u.cfg.Name, cause)
	if cause == io.EOF {
		msg = fmt.Sprintf("provider %q ended the stream before message_stop", u.cfg.Name)
	}
	if idled {
		typ = apierr.Timeout
		msg = fmt.Sprintf("provider %q sent nothing for %s (server.timeouts.stream_idle); the stream was closed", u.cfg.Name, r.idle)
	}
	r.log.Warn("stream ended by relay", "provider", u.cfg.Name, "type", typ, "cause", cause)
	w.Write(apierr.Event(typ, msg))
	rc.Flush()
}
