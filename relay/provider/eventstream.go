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

// next returns the next frame. It returns io.EOF only at a clean frame boundary; a frame cut
// short, a length out of bounds or a checksum mismatch is another error. The returned payload
// is valid until the next call.
func (f *frameReader) next() (eventstream.Message, error) {
	var pre [framePreludeLen]byte
	if _, err := io.ReadFull(f.r, pre[:]); err != nil {
		switch {
		case err == io.EOF:
			return eventstream.Message{}, io.EOF
		case err == io.ErrUnexpectedEOF:
			return eventstream.Message{}, errors.New("truncated frame prelude")
		}
		return eventstream.Message{}, fmt.Errorf("read: %w", err)
	}
	total := binary.BigEndian.Uint32(pre[0:4])
	headers := binary.BigEndian.Uint32(pre[4:8])
	if crc32.ChecksumIEEE(pre[:8]) != binary.BigEndian.Uint32(pre[8:12]) {
		return eventstream.Message{}, errors.New("corrupt frame: prelude checksum mismatch")
	}
	if total < frameMinLen || total > maxFrameLen || headers > maxFrameHeaderLen || headers > total-frameMinLen {
		return eventstream.Message{}, fmt.Errorf("invalid frame: length %d, headers length %d", total, headers)
	}
	// Read the whole frame and check its CRC before decoding: the decoder parses headers before
	// it checks the CRC, and panics on some corrupt headers (fixed upstream in eventstream
	// v1.7). Holding one frame is the only buffering.
	buf := bytes.NewBuffer(f.frame[:0])
	buf.Write(pre[:])
	n, err := io.Copy(buf, io.LimitReader(f.r, int64(total-framePreludeLen)))
	f.frame = buf.Bytes()
	switch {
	case f.r.err != nil:
		return eventstream.Message{}, fmt.Errorf("read: %w", f.r.err)
	case err != nil:
		return eventstream.Message{}, fmt.Errorf("read: %w", err)
	case n < int64(total-framePreludeLen):
		return eventstream.Message{}, errors.New("truncated frame")
	}
	frame := f.frame[:total]
	if crc32.ChecksumIEEE(frame[:total-4]) != binary.BigEndian.Uint32(frame[total-4:]) {
		return eventstream.Message{}, errors.New("corrupt frame: message checksum mismatch")
	}
	msg, err := decodeFrame(f.dec, frame, f.payload[:0])
	if err != nil {
		return eventstream.Message{}, fmt.Errorf("corrupt frame: %w", err)
	}
	f.payload = msg.Payload
	return msg, nil
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

// headerString returns a string-typed frame header, or "".
func headerString(m eventstream.Message, name string) string {
	if v, ok := m.Headers.Get(name).(eventstream.StringValue); ok {
		return string(v)
	}
	return ""
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
	msg, err := s.frames.next()
	switch {
	case err == io.EOF:
		s.fail(apierr.API, "bedrock stream ended before message_stop")
		return
	case err != nil:
		s.fail(apierr.API, "bedrock stream: "+err.Error())
		return
	}
	switch mt := headerString(msg, eventstreamapi.MessageTypeHeader); mt {
	case eventstreamapi.EventMessageType:
		if headerString(msg, eventstreamapi.EventTypeHeader) == "chunk" {
			s.chunk(msg.Payload)
		}
	case eventstreamapi.ExceptionMessageType:
		exc := headerString(msg, eventstreamapi.ExceptionTypeHeader)
		typ := apierr.API
		if m, ok := bedrockErrors[strings.ToLower(exc)]; ok {
			typ = m.typ
		}
		text := gjson.GetBytes(msg.Payload, "message").String()
		if text == "" {
			text = gjson.GetBytes(msg.Payload, "Message").String()
		}
		if text == "" {
			text = "bedrock stream exception " + exc
		}
		s.fail(typ, text)
	case eventstreamapi.ErrorMessageType:
		s.fail(apierr.API, fmt.Sprintf("bedrock stream error %s: %s",
			headerString(msg, eventstreamapi.ErrorCodeHeader), headerString(msg, eventstreamapi.ErrorMessageHeader)))
	default:
		s.fail(apierr.API, fmt.Sprintf("bedrock stream: unexpected frame with message type %q", mt))
	}
}

// chunk emits the Anthropic event carried by a chunk payload.
func (s *bedrockSSE) chunk(payload []byte) {
	b64 := gjson.GetBytes(payload, "bytes")
	if b64.Type != gjson.String {
		s.fail(apierr.API, "bedrock stream: chunk without bytes")
		return
	}
	if n := base64.StdEncoding.DecodedLen(len(b64.Str)); cap(s.inner) < n {
		s.inner = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(s.inner[:cap(s.inner)], []byte(b64.Str))
	if err != nil {
		s.fail(apierr.API, "bedrock stream: chunk bytes are not base64: "+err.Error())
		return
	}
	event := s.inner[:n]
	if !gjson.ValidBytes(event) {
		s.fail(apierr.API, "bedrock stream: chunk is not JSON")
		return
	}
	typ := gjson.GetBytes(event, "type").String()
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
