// Package sse reads, writes and checks the server-sent events of the Anthropic Messages API.
//
// Reader splits a text/event-stream body into events without copying them, keeping each event's
// exact bytes so that the relay can forward what it received byte for byte. AppendEvent writes
// one event. Checker validates the Anthropic stream grammar (message_start, content blocks,
// message_delta, message_stop, with ping anywhere and error as a terminal event), and
// Accumulator assembles the final Message from a stream so that streamed and non-streamed
// responses can be compared (FromJSON builds the same Message from a non-streaming body).
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// DefaultMaxEventSize is the largest event, in bytes of Event.Raw, that NewReader accepts.
const DefaultMaxEventSize = 16 << 20

// ErrTruncated is returned by Reader.Next, together with the partial event, when the stream
// ends after some bytes of an event but before the blank line that terminates it.
var ErrTruncated = errors.New("sse: stream ended in the middle of an event")

// ErrEventTooLarge is wrapped by the error Reader.Next returns when an event is larger than the
// reader's MaxEventSize.
var ErrEventTooLarge = errors.New("sse: event too large")

// Event is one block of a text/event-stream: the lines up to and including a blank line.
//
// Name is the value of the last "event:" line, or "" when the block has none; the SSE spec's
// default type "message" is not filled in, so callers decide what a nameless event means.
//
// Data is the value of the "data:" lines joined with "\n". It is nil when the block has no
// "data:" line at all: a block of only comments (a keep-alive such as ": ping"), of only
// "event:", "id:" or "retry:" lines, or an extra blank line. The SSE spec dispatches nothing for
// such a block; Reader still returns it so that its bytes can be forwarded at once, and Checker
// and Accumulator ignore it. A "data:" line with an empty value gives empty, non-nil Data.
//
// Raw is the exact bytes of the block as received, up to and including the terminating blank
// line, comments and padding included. Concatenating Raw over every event a Reader returns gives
// back the bytes it consumed. One byte-level subtlety: when a CR that ends an event is the last
// byte available and the LF of its CRLF arrives in a later read, that LF is the first byte of the
// next event's Raw (the reader does not wait for it, so the event is not delayed).
//
// Data and Raw may alias the Reader's buffer: they are valid only until the next call to
// Reader.Next. Copy them (see Clone) to keep them longer.
type Event struct {
	Name string
	Data []byte
	Raw  []byte
}

// Clone returns a copy of e whose Data and Raw do not alias any Reader buffer. Nil Data stays
// nil.
func (e Event) Clone() Event {
	c := Event{Name: e.Name, Raw: bytes.Clone(e.Raw)}
	if e.Data != nil {
		c.Data = append(make([]byte, 0, len(e.Data)), e.Data...)
	}
	return c
}

const (
	minRead     = 512
	initialSize = 4096
	maxEmpty    = 100
)

// Reader reads events from a text/event-stream. It buffers at most one event plus the rest of
// the last read, allocates nothing per event in steady state, and returns an event as soon as its
// blank line has been read (it never waits for more input to finish an event it already has).
// Lines may end in LF, CRLF or CR; a leading byte order mark is kept in Raw and ignored.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	// MaxEventSize caps len(Event.Raw); a larger event makes Next fail with an error wrapping
	// ErrEventTooLarge. NewReader sets it to DefaultMaxEventSize; zero or less means the default.
	MaxEventSize int

	rd  io.Reader
	buf []byte
	// start is where the current event begins in buf, line where the next line to parse begins,
	// scan where to look for the next line terminator (line <= scan), end the end of the data.
	start, line, scan, end int
	// readErr is the error of the last Read, delivered once buffered data is used up.
	readErr error
	// done, once set, is returned by every later call to Next.
	done error
	// skipLF reports that the previous line ended with a CR that was the last byte read; an LF
	// that follows belongs to that line ending.
	skipLF  bool
	bomDone bool

	// Current event, with offsets relative to start so that moving the buffer keeps them valid.
	lines     int // lines parsed in the current block, the blank line excepted
	hasName   bool
	nameOff   int
	nameLen   int
	dataLines int
	dataOff   int
	dataLen   int
	data      []byte // joined value of several data lines

	lastID      []byte
	retry       time.Duration
	hasRetry    bool
	unknownName string
}

// NewReader returns a Reader that reads events from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{rd: r, MaxEventSize: DefaultMaxEventSize}
}

// NewReaderBuffer is NewReader with buf as the initial buffer (its whole length is used), so
// that a caller relaying many streams can reuse buffers. The Reader grows past buf when an event
// needs more room; buf may be reused once the Reader and its events are no longer used.
func NewReaderBuffer(r io.Reader, buf []byte) *Reader {
	return &Reader{rd: r, MaxEventSize: DefaultMaxEventSize, buf: buf[:len(buf):len(buf)]}
}

// LastEventID returns the value of the last "id:" field seen (the SSE last event ID buffer,
// which persists across events), or "" when there was none.
func (r *Reader) LastEventID() string { return string(r.lastID) }

// Retry returns the reconnection time of the last valid "retry:" field, and whether there was
// one.
func (r *Reader) Retry() (time.Duration, bool) { return r.retry, r.hasRetry }

// Next returns the next event. At a clean end of the stream (after a blank line) it returns
// io.EOF. If the stream ends inside an event it returns that partial event, its last line parsed
// even without a line ending, with ErrTruncated, then io.EOF. A read error other than io.EOF is
// returned wrapped (with the partial event, if any), and so is an oversized event; both end the
// stream and are returned again by later calls.
func (r *Reader) Next() (Event, error) {
	if r.done != nil {
		return Event{}, r.done
	}
	r.start, r.scan = r.line, r.line
	r.lines, r.hasName, r.dataLines = 0, false, 0
	for {
		if ev, ok := r.parse(); ok {
			if len(ev.Raw) > r.max() {
				return Event{}, r.tooLarge()
			}
			return ev, nil
		}
		if r.end-r.start > r.max() {
			return Event{}, r.tooLarge()
		}
		if r.readErr != nil {
			return r.finish()
		}
		r.fill()
	}
}

// parse consumes the complete lines in the buffer and returns the event once its blank line is
// found.
func (r *Reader) parse() (Event, bool) {
	for {
		if r.skipLF {
			if r.scan == r.end {
				return Event{}, false
			}
			r.skipLF = false
			if r.buf[r.scan] == '\n' {
				r.scan++
				r.line = r.scan
			}
		}
		rest := r.buf[r.scan:r.end]
		i := bytes.IndexByte(rest, '\n')
		seg := rest
		if i >= 0 {
			seg = rest[:i]
		}
		eol, n := i, 1
		if j := bytes.IndexByte(seg, '\r'); j >= 0 {
			eol = j
			switch {
			case j+1 < len(rest):
				if rest[j+1] == '\n' {
					n = 2
				}
			case r.readErr == nil:
				// The CR is the last byte read: the line ends here, and an LF that comes
				// next is part of this line ending.
				r.skipLF = true
			}
		}
		if eol < 0 {
			r.scan = r.end
			return Event{}, false
		}
		lineEnd := r.scan + eol
		next := lineEnd + n
		from := r.line
		if !r.bomDone {
			r.bomDone = true
			if bytes.HasPrefix(r.buf[from:lineEnd], bom) {
				from += len(bom)
			}
		}
		r.line, r.scan = next, next
		if from == lineEnd {
			return r.event(next), true
		}
		r.parseLine(from, lineEnd)
	}
}

var bom = []byte("\xEF\xBB\xBF")

// parseLine interprets the line buf[from:to], which is not empty.
func (r *Reader) parseLine(from, to int) {
	r.lines++
	l := r.buf[from:to]
	if l[0] == ':' {
		return
	}
	field, vOff := l, len(l)
	if c := bytes.IndexByte(l, ':'); c >= 0 {
		field, vOff = l[:c], c+1
		if vOff < len(l) && l[vOff] == ' ' {
			vOff++
		}
	}
	value := l[vOff:]
	switch string(field) {
	case "event":
		r.hasName, r.nameOff, r.nameLen = true, from+vOff-r.start, len(value)
	case "data":
		switch r.dataLines {
		case 0:
			r.dataOff, r.dataLen = from+vOff-r.start, len(value)
		case 1:
			first := r.buf[r.start+r.dataOff : r.start+r.dataOff+r.dataLen]
			r.data = append(append(append(r.data[:0], first...), '\n'), value...)
		default:
			r.data = append(append(r.data, '\n'), value...)
		}
		r.dataLines++
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			r.lastID = append(r.lastID[:0], value...)
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			r.retry, r.hasRetry = time.Duration(ms)*time.Millisecond, true
		}
	}
}

// parseDigits parses a non-empty run of ASCII digits, saturating instead of overflowing.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < (1<<62)/10 {
			n = n*10 + int64(c-'0')
		}
	}
	return n, true
}

// event returns the current event, whose bytes end at end.
func (r *Reader) event(end int) Event {
	ev := Event{Raw: r.buf[r.start:end:end]}
	if r.hasName {
		a := r.start + r.nameOff
		ev.Name = r.intern(r.buf[a : a+r.nameLen])
	}
	switch r.dataLines {
	case 0:
	case 1:
		a := r.start + r.dataOff
		ev.Data = r.buf[a : a+r.dataLen : a+r.dataLen]
	default:
		ev.Data = r.data[:len(r.data):len(r.data)]
	}
	return ev
}

// intern returns name as a string without allocating for the Anthropic event names, nor for an
// unknown name equal to the previous one.
func (r *Reader) intern(name []byte) string {
	switch string(name) {
	case "message_start":
		return "message_start"
	case "content_block_start":
		return "content_block_start"
	case "content_block_delta":
		return "content_block_delta"
	case "content_block_stop":
		return "content_block_stop"
	case "message_delta":
		return "message_delta"
	case "message_stop":
		return "message_stop"
	case "ping":
		return "ping"
	case "error":
		return "error"
	case "":
		return ""
	}
	if r.unknownName != string(name) {
		r.unknownName = string(name)
	}
	return r.unknownName
}

// finish ends the stream once the reader has no more input: it returns the partial event, if
// any, with ErrTruncated (or the read error), and otherwise io.EOF (or the read error).
func (r *Reader) finish() (Event, error) {
	err := r.readErr
	if err != io.EOF {
		err = fmt.Errorf("sse: read: %w", err)
	}
	if r.end == r.start {
		r.done = err
		return Event{}, err
	}
	if r.lines == 0 && r.line == r.end {
		// Only the LF of a CRLF split across reads is left: not part of an event.
		ev := Event{Raw: r.buf[r.start:r.end:r.end]}
		r.line = r.end
		return ev, nil
	}
	if r.line < r.end {
		from := r.line
		if !r.bomDone {
			r.bomDone = true
			if bytes.HasPrefix(r.buf[from:r.end], bom) {
				from += len(bom)
			}
		}
		if from < r.end {
			r.parseLine(from, r.end)
		}
		r.line, r.scan = r.end, r.end
	}
	ev := r.event(r.end)
	if err == io.EOF {
		r.done = io.EOF
		return ev, ErrTruncated
	}
	r.done = err
	return ev, err
}

func (r *Reader) max() int {
	if r.MaxEventSize <= 0 {
		return DefaultMaxEventSize
	}
	return r.MaxEventSize
}

func (r *Reader) tooLarge() error {
	r.done = fmt.Errorf("sse: event larger than MaxEventSize (%d bytes): %w", r.max(), ErrEventTooLarge)
	return r.done
}

// fill reads more input into the buffer, first moving the current event to the front and
// growing the buffer if too little room is left.
func (r *Reader) fill() {
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.line -= r.start
		r.scan -= r.start
		r.end = n
		r.start = 0
	}
	if len(r.buf)-r.end < minRead {
		size := 2 * len(r.buf)
		if size < initialSize {
			size = initialSize
		}
		// Never grow much past what one event may need.
		if limit := r.max() + minRead + 1; size > limit && limit > r.end+minRead {
			size = limit
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for range maxEmpty {
		n, err := r.rd.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			r.readErr = errors.New("sse: reader returned an invalid count")
			return
		}
		r.end += n
		if err != nil {
			r.readErr = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.readErr = io.ErrNoProgress
}

// AppendEvent appends one event to dst: an "event: name" line (left out when name is ""), one
// "data: " line per line of data, and a blank line. Any line break in data (LF, CRLF or CR)
// starts a new data line, so data that uses LF only reads back exactly. name must not contain a
// line break.
func AppendEvent(dst []byte, name string, data []byte) []byte {
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		dst = append(dst, "data: "...)
		i := bytes.IndexByte(data, '\n')
		seg := data
		if i >= 0 {
			seg = data[:i]
		}
		if j := bytes.IndexByte(seg, '\r'); j >= 0 {
			i = j
		}
		if i < 0 {
			dst = append(dst, data...)
			dst = append(dst, '\n')
			break
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(dst, '\n')
}

// Pending reports whether the bytes already read hold another complete event, so that the
// next call to Next returns without reading. A relay uses it to flush once for events that
// arrived together, and at once for an event that arrived alone: no event waits for a later
// read.
func (r *Reader) Pending() bool {
	if r.done != nil || r.line >= r.end {
		return false
	}
	b := r.buf[r.line:r.end]
	if r.skipLF && b[0] == '\n' {
		b = b[1:]
	}
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\r\n\r\n")) || bytes.Contains(b, []byte("\r\r"))
}
