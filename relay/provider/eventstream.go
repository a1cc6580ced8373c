package provider

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream/eventstreamapi"
	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/tidwall/gjson"
)

// Limits of one event-stream frame. The AWS event-stream format allows at most 16 MiB per
// message and 128 KiB of headers; the SDK decoder checks neither, so frameReader does before
// it reads a byte of the frame body.
const (
	maxFrameLen       = 16 << 20
	maxFrameHeaderLen = 128 << 10
	framePreludeLen   = 12 // total length, headers length, prelude CRC
	frameMinLen       = 16 // prelude + message CRC
)

// frameReader reads application/vnd.amazon.eventstream frames one at a time, CRC-checked, never
// reading past the current frame.
type frameReader struct {
	r       *trackingReader
	dec     *eventstream.Decoder
	frame   []byte // current frame, reused
	payload []byte // current payload, reused
}

// newFrameReader returns a frameReader reading from r.
func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: &trackingReader{r: r}, dec: eventstream.NewDecoder()}
}

// trackingReader remembers the first read error other than io.EOF, so that a failing upstream
// is reported as such rather than as a corrupt frame.
type trackingReader struct {
	r   io.Reader
	err error
}

// Read implements io.Reader.
func (t *trackingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// next returns the next frame, decoded by the SDK's decoder. It returns io.EOF only at a clean
// frame boundary; a frame cut short, a length out of bounds or a checksum mismatch is another
// error. The returned payload is valid until the next call.
func (f *frameReader) next() (eventstream.Message, error) {
	frame, err := f.nextFrame()
	if err != nil {
		return eventstream.Message{}, err
	}
	msg, err := decodeFrame(f.dec, frame, f.payload[:0])
	if err != nil {
		return eventstream.Message{}, fmt.Errorf("corrupt frame: %w", err)
	}
	f.payload = msg.Payload
	return msg, nil
}

// nextRaw returns the next frame's headers and payload without decoding the headers into
// values (the SDK decoder allocates about 36 times per frame); see rawFrame.header. Both are
// valid until the next call.
func (f *frameReader) nextRaw() (rawFrame, error) {
	frame, err := f.nextFrame()
	if err != nil {
		return rawFrame{}, err
	}
	hlen := binary.BigEndian.Uint32(frame[4:8])
	return rawFrame{
		headers: frame[framePreludeLen : framePreludeLen+hlen],
		payload: frame[framePreludeLen+hlen : len(frame)-4],
	}, nil
}

// nextFrame reads the next whole frame into f.frame and checks its lengths and CRCs.
func (f *frameReader) nextFrame() ([]byte, error) {
	var pre [framePreludeLen]byte
	if _, err := io.ReadFull(f.r, pre[:]); err != nil {
		switch {
		case err == io.EOF:
			return nil, io.EOF
		case err == io.ErrUnexpectedEOF:
			return nil, errors.New("truncated frame prelude")
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	total := binary.BigEndian.Uint32(pre[0:4])
	headers := binary.BigEndian.Uint32(pre[4:8])
	if crc32.ChecksumIEEE(pre[:8]) != binary.BigEndian.Uint32(pre[8:12]) {
		return nil, errors.New("corrupt frame: prelude checksum mismatch")
	}
	if total < frameMinLen || total > maxFrameLen || headers > maxFrameHeaderLen || headers > total-frameMinLen {
		return nil, fmt.Errorf("invalid frame: length %d, headers length %d", total, headers)
	}
	// Read the whole frame and check its CRC before decoding: the decoder parses headers before
	// it checks the CRC, and panics on some corrupt headers (fixed upstream in eventstream
	// v1.7). Holding one frame is the only buffering.
	if cap(f.frame) < int(total) {
		f.frame = make([]byte, total)
	}
	frame := f.frame[:total]
	copy(frame, pre[:])
	n, err := io.ReadFull(f.r, frame[framePreludeLen:])
	switch {
	case f.r.err != nil:
		return nil, fmt.Errorf("read: %w", f.r.err)
	case err == io.ErrUnexpectedEOF || err == io.EOF || n < int(total-framePreludeLen):
		return nil, errors.New("truncated frame")
	case err != nil:
		return nil, fmt.Errorf("read: %w", err)
	}
	if crc32.ChecksumIEEE(frame[:total-4]) != binary.BigEndian.Uint32(frame[total-4:]) {
		return nil, errors.New("corrupt frame: message checksum mismatch")
	}
	return frame, nil
}

// rawFrame is a CRC-checked frame whose headers are read in place.
type rawFrame struct {
	headers, payload []byte
}

// header returns the value of the string-typed header name, "" when there is none. It walks
// the header block (name length, name, type, value) without allocating; a malformed block is
// an error.
func (fr rawFrame) header(name string) (string, error) {
	h := fr.headers
	for len(h) > 0 {
		nl := int(h[0])
		if len(h) < 1+nl+1 {
			return "", errors.New("corrupt frame: truncated header")
		}
		hname := h[1 : 1+nl]
		typ := h[1+nl]
		h = h[2+nl:]
		var size int
		switch typ {
		case 0, 1: // bool true, bool false
		case 2: // byte
			size = 1
		case 3: // int16
			size = 2
		case 4: // int32
			size = 4
		case 5, 8: // int64, timestamp
			size = 8
		case 9: // uuid
			size = 16
		case 6, 7: // bytes, string: 2-byte length
			if len(h) < 2 {
				return "", errors.New("corrupt frame: truncated header")
			}
			size = 2 + int(binary.BigEndian.Uint16(h))
		default:
			return "", fmt.Errorf("corrupt frame: undecodable frame: unknown value type %d", typ) // the SDK decoder's words
		}
		if len(h) < size {
			return "", errors.New("corrupt frame: truncated header")
		}
		if typ == 7 && string(hname) == name {
			return string(h[2:size]), nil
		}
		h = h[size:]
	}
	return "", nil
}

// decodeFrame decodes one CRC-checked frame, turning a decoder panic into an error.
func decodeFrame(dec *eventstream.Decoder, frame, payload []byte) (m eventstream.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("undecodable frame: %v", r)
		}
	}()
	return dec.Decode(bytes.NewReader(frame), payload)
}

// bedrockSSE is the body that replaces a Bedrock invoke-with-response-stream body: it converts
// the binary event stream into Anthropic SSE as it is read, one frame at a time, with no
// goroutine and no buffering beyond the current frame.
//
// Each chunk event carries {"bytes":"<base64>"}, one Anthropic event JSON, which is emitted
// byte for byte as "event: <its type>\ndata: <json>\n\n" (message_stop keeps Bedrock's extra
// amazon-bedrock-invocationMetrics object: clients ignore unknown fields). The stream ends after
// message_stop. An exception or error frame, a corrupt or truncated frame, or an end of stream
// before message_stop becomes a terminal SSE error event instead: never a silent end.
type bedrockSSE struct {
	body   io.ReadCloser
	frames *frameReader
	out    []byte // SSE of the current frame
	off    int    // bytes of out already returned
	inner  []byte // decoded chunk buffer, reused
	done   bool   // nothing follows out
}

// newBedrockSSE returns the SSE body converting the event-stream body.
func newBedrockSSE(body io.ReadCloser) *bedrockSSE {
	return &bedrockSSE{body: body, frames: newFrameReader(body)}
}

// Read implements io.Reader.
func (s *bedrockSSE) Read(p []byte) (int, error) {
	for s.off == len(s.out) {
		if s.done {
			return 0, io.EOF
		}
		s.out, s.off = s.out[:0], 0
		s.step()
	}
	n := copy(p, s.out[s.off:])
	s.off += n
	return n, nil
}

// Close closes the upstream body.
func (s *bedrockSSE) Close() error { return s.body.Close() }

// step converts one frame into s.out (possibly nothing, for frames without client meaning).
func (s *bedrockSSE) step() {
	fr, err := s.frames.nextRaw()
	switch {
	case err == io.EOF:
		s.fail(apierr.API, "bedrock stream ended before message_stop")
		return
	case err != nil:
		s.fail(apierr.API, "bedrock stream: "+err.Error())
		return
	}
	hdr := func(name string) string {
		v, herr := fr.header(name)
		if herr != nil && err == nil {
			err = herr
		}
		return v
	}
	mt := hdr(eventstreamapi.MessageTypeHeader)
	if err != nil {
		s.fail(apierr.API, "bedrock stream: "+err.Error())
		return
	}
	switch mt {
	case eventstreamapi.EventMessageType:
		if hdr(eventstreamapi.EventTypeHeader) == "chunk" {
			s.chunk(fr.payload)
		}
	case eventstreamapi.ExceptionMessageType:
		exc := hdr(eventstreamapi.ExceptionTypeHeader)
		typ := apierr.API
		if m, ok := bedrockErrors[strings.ToLower(exc)]; ok {
			typ = m.typ
		}
		text := gjson.GetBytes(fr.payload, "message").String()
		if text == "" {
			text = gjson.GetBytes(fr.payload, "Message").String()
		}
		if text == "" {
			text = "bedrock stream exception " + exc
		}
		s.fail(typ, text)
	case eventstreamapi.ErrorMessageType:
		s.fail(apierr.API, fmt.Sprintf("bedrock stream error %s: %s",
			hdr(eventstreamapi.ErrorCodeHeader), hdr(eventstreamapi.ErrorMessageHeader)))
	default:
		s.fail(apierr.API, fmt.Sprintf("bedrock stream: unexpected frame with message type %q", mt))
	}
}

// chunk emits the Anthropic event carried by a chunk payload.
func (s *bedrockSSE) chunk(payload []byte) {
	// gjson.Get on a view of the payload: GetBytes would copy the base64 text, and []byte(Str)
	// copy it again.
	b64 := gjson.Get(bytesView(payload), "bytes")
	if b64.Type != gjson.String {
		s.fail(apierr.API, "bedrock stream: chunk without bytes")
		return
	}
	if n := base64.StdEncoding.DecodedLen(len(b64.Str)); cap(s.inner) < n {
		s.inner = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(s.inner[:cap(s.inner)], stringView(b64.Str))
	if err != nil {
		s.fail(apierr.API, "bedrock stream: chunk bytes are not base64: "+err.Error())
		return
	}
	event := s.inner[:n]
	if !gjson.ValidBytes(event) {
		s.fail(apierr.API, "bedrock stream: chunk is not JSON")
		return
	}
	typ := gjson.Get(bytesView(event), "type").String() // only appended to s.out below
	if !validEventName(typ) {
		s.fail(apierr.API, fmt.Sprintf("bedrock stream: chunk with invalid event type %q", typ))
		return
	}
	if bytes.ContainsAny(event, "\r\n") {
		// An SSE data line cannot hold a line break; JSON whitespace can, so compact it.
		var buf bytes.Buffer
		if err := json.Compact(&buf, event); err != nil {
			s.fail(apierr.API, "bedrock stream: chunk is not JSON")
			return
		}
		event = buf.Bytes()
	}
	s.out = append(s.out, "event: "...)
	s.out = append(s.out, typ...)
	s.out = append(s.out, "\ndata: "...)
	s.out = append(s.out, event...)
	s.out = append(s.out, "\n\n"...)
	if typ == "message_stop" || typ == "error" {
		s.done = true
	}
}

// bytesView and stringView convert without copying (relay/body owns the unsafe views); the
// result must not outlive the input nor be modified.
func bytesView(b []byte) string { return body.String(b) }

func stringView(s string) []byte { return body.Bytes(s) }

// fail replaces what is left of the stream with one terminal SSE error event.
func (s *bedrockSSE) fail(typ, msg string) {
	s.out = append(s.out, apierr.Event(typ, msg)...)
	s.done = true
}

// validEventName reports whether name can be an SSE event name: non-empty, at most 64 bytes of
// letters, digits, '_', '-' or '.'.
func validEventName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
