package provider

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/google/go-cmp/cmp"
)

// convertAll runs a whole event-stream body through the SSE converter.
func convertAll(t testing.TB, body []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(newBedrockSSE(io.NopCloser(bytes.NewReader(body))))
	if err != nil {
		t.Fatalf("read converted stream: %v", err)
	}
	return out
}

// TestEventStreamToSSERealStreams checks that every recorded Bedrock stream becomes exactly the
// sequence of its inner Anthropic events, byte for byte, read whole or one byte at a time.
func TestEventStreamToSSERealStreams(t *testing.T) {
	for _, f := range bedrockStreams(t) {
		t.Run(f.name, func(t *testing.T) {
			var want []sseEvent
			for i, fr := range f.Response.Frames {
				b64 := struct {
					Bytes string `json:"bytes"`
				}{}
				if err := json.Unmarshal(fr.PayloadJSON, &b64); err != nil {
					t.Fatalf("frame %d payload: %v", i, err)
				}
				inner, err := base64.StdEncoding.DecodeString(b64.Bytes)
				if err != nil {
					t.Fatalf("frame %d bytes: %v", i, err)
				}
				if !jsonEqual(t, inner, fr.BytesDecoded) {
					t.Fatalf("frame %d: fixture bytes_decoded disagrees with payload", i)
				}
				var typ struct {
					Type string `json:"type"`
				}
				_ = json.Unmarshal(fr.BytesDecoded, &typ)
				want = append(want, sseEvent{Name: typ.Type, Data: string(inner)})
			}
			body := f.wireBody(t)
			got := parseSSE(t, convertAll(t, body))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SSE events (-want +got):\n%s", diff)
			}
			oneByte, err := io.ReadAll(iotest.OneByteReader(newBedrockSSE(io.NopCloser(iotest.OneByteReader(bytes.NewReader(body))))))
			if err != nil {
				t.Fatalf("one-byte reads: %v", err)
			}
			if diff := cmp.Diff(want, parseSSE(t, oneByte)); diff != "" {
				t.Errorf("SSE events with one-byte reads (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEventStreamToSSEFrameByFrame checks that each event is produced as soon as its frame has
// arrived: the upstream side writes frame i only after the SSE of frame i-1 was read.
func TestEventStreamToSSEFrameByFrame(t *testing.T) {
	f := loadFixture(t, "bedrock/fantasy/bedrock-anthropic-claude-haiku-4-5.tool_streaming.0.json")
	frames := splitFrames(f.wireBody(t))
	pr, pw := io.Pipe()
	conv := newBedrockSSE(pr)
	buf := make([]byte, 64<<10)
	for i, fr := range frames {
		go func() { _, _ = pw.Write(fr) }()
		n, err := conv.Read(buf)
		if err != nil {
			t.Fatalf("frame %d: read: %v", i, err)
		}
		ev := parseSSE(t, buf[:n])
		if len(ev) != 1 {
			t.Fatalf("frame %d: got %d events in one read, want 1: %q", i, len(ev), buf[:n])
		}
	}
	pw.Close()
	if n, err := conv.Read(buf); err != io.EOF {
		t.Fatalf("after message_stop: got %d bytes, err %v; want EOF", n, err)
	}
}

// encodeFrame encodes a hand-made event-stream frame.
func encodeFrame(t testing.TB, headers map[string]string, payload []byte) []byte {
	t.Helper()
	var m eventstream.Message
	for _, k := range []string{":message-type", ":event-type", ":exception-type", ":error-code", ":error-message", ":content-type"} {
		if v, ok := headers[k]; ok {
			m.Headers.Set(k, eventstream.StringValue(v))
		}
	}
	m.Payload = payload
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, m); err != nil {
		t.Fatalf("encode frame: %v", err)
	}
	return b.Bytes()
}

// chunkFrame is a hand-made chunk event carrying one Anthropic event.
func chunkFrame(t testing.TB, event string) []byte {
	payload := `{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(event)) + `","p":"abc"}`
	return encodeFrame(t, map[string]string{":message-type": "event", ":event-type": "chunk", ":content-type": "application/json"}, []byte(payload))
}

const messageStart = `{"type":"message_start","message":{"id":"msg_bdrk_x","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}`

// errorEvent is the SSE error event the converter must end with.
func errorEvent(typ, msg string) sseEvent {
	b := apierr.Body(typ, msg, "")
	return sseEvent{Name: "error", Data: string(b)}
}

// TestEventStreamToSSEErrors checks that exception and error frames, corrupt and truncated
// frames, and early ends all become one terminal SSE error event. Frames built here with
// eventstream.Encoder are hand-made; the smithy ones are the protocol-test vectors.
func TestEventStreamToSSEErrors(t *testing.T) {
	real := loadFixture(t, "bedrock/fantasy/bedrock-anthropic-claude-haiku-4-5.simple_streaming.0.json")
	realBody := real.wireBody(t)
	realFrames := splitFrames(realBody)
	first := realFrames[0]
	firstEvent := sseEvent{Name: "message_start", Data: decodedChunk(t, real, 0)}
	start := sseEvent{Name: "message_start", Data: messageStart}

	exception := func(typ, msg string) []byte {
		return encodeFrame(t, map[string]string{":message-type": "exception", ":exception-type": typ, ":content-type": "application/json"},
			[]byte(`{"message":"`+msg+`"}`))
	}
	corruptPayload := append([]byte(nil), realFrames[1]...)
	corruptPayload[len(corruptPayload)-10] ^= 0xff
	corruptPrelude := append([]byte(nil), realFrames[1]...)
	corruptPrelude[3] ^= 0x01
	huge := make([]byte, 12)
	binary.BigEndian.PutUint32(huge[0:4], 17<<20)
	binary.BigEndian.PutUint32(huge[8:12], crc32.ChecksumIEEE(huge[:8]))

	tests := []struct {
		name string
		body [][]byte
		want []sseEvent
	}{
		{"smithy modeled exception (ClientErrorOutput)", [][]byte{first, vector(t, "bedrock/smithy-eventstream-vectors/ClientErrorOutput.json")},
			[]sseEvent{firstEvent, errorEvent(apierr.API, "foo")}},
		{"smithy unmodeled error (ClientUnexpectedErrorOutput)", [][]byte{vector(t, "bedrock/smithy-eventstream-vectors/ClientUnexpectedErrorOutput.json")},
			[]sseEvent{errorEvent(apierr.API, "bedrock stream error internal-error: An unknown error occurred.")}},
		{"throttlingException", [][]byte{chunkFrame(t, messageStart), exception("throttlingException", "Too many tokens, please wait before trying again.")},
			[]sseEvent{start, errorEvent(apierr.RateLimit, "Too many tokens, please wait before trying again.")}},
		{"ThrottlingException in other case", [][]byte{exception("ThrottlingException", "slow down")},
			[]sseEvent{errorEvent(apierr.RateLimit, "slow down")}},
		{"modelStreamErrorException", [][]byte{chunkFrame(t, messageStart), exception("modelStreamErrorException", "model failed")},
			[]sseEvent{start, errorEvent(apierr.API, "model failed")}},
		{"validationException", [][]byte{exception("validationException", "bad input")},
			[]sseEvent{errorEvent(apierr.InvalidRequest, "bad input")}},
		{"modelTimeoutException", [][]byte{exception("modelTimeoutException", "too slow")},
			[]sseEvent{errorEvent(apierr.Timeout, "too slow")}},
		{"serviceUnavailableException", [][]byte{exception("serviceUnavailableException", "unavailable")},
			[]sseEvent{errorEvent(apierr.Overloaded, "unavailable")}},
		{"internalServerException", [][]byte{exception("INTERNALSERVEREXCEPTION", "oops")},
			[]sseEvent{errorEvent(apierr.API, "oops")}},
		{"exception without message", [][]byte{encodeFrame(t, map[string]string{":message-type": "exception", ":exception-type": "throttlingException"}, nil)},
			[]sseEvent{errorEvent(apierr.RateLimit, "bedrock stream exception throttlingException")}},
		{"end before message_stop", realFrames[:len(realFrames)-1],
			append(decodedChunks(t, real)[:len(realFrames)-1], errorEvent(apierr.API, "bedrock stream ended before message_stop"))},
		{"empty body", nil, []sseEvent{errorEvent(apierr.API, "bedrock stream ended before message_stop")}},
		{"cut inside a frame", [][]byte{first, realFrames[1][:20]},
			[]sseEvent{firstEvent, errorEvent(apierr.API, "bedrock stream: truncated frame")}},
		{"cut inside a prelude", [][]byte{first, realFrames[1][:5]},
			[]sseEvent{firstEvent, errorEvent(apierr.API, "bedrock stream: truncated frame prelude")}},
		{"payload CRC corrupted", [][]byte{first, corruptPayload},
			[]sseEvent{firstEvent, errorEvent(apierr.API, "bedrock stream: corrupt frame: message checksum mismatch")}},
		{"prelude CRC corrupted", [][]byte{first, corruptPrelude},
			[]sseEvent{firstEvent, errorEvent(apierr.API, "bedrock stream: corrupt frame: prelude checksum mismatch")}},
		{"frame over 16 MiB", [][]byte{first, huge},
			[]sseEvent{firstEvent, errorEvent(apierr.API, "bedrock stream: invalid frame: length 17825792, headers length 0")}},
		{"header of unknown type with valid CRCs (would panic the SDK decoder)", [][]byte{first, unknownHeaderFrame()},
			[]sseEvent{firstEvent, errorEvent(apierr.API, "bedrock stream: corrupt frame: undecodable frame: unknown value type 48")}},
		{"not an event stream", [][]byte{[]byte(`{"message":"The security token included in the request is invalid."}`)},
			[]sseEvent{errorEvent(apierr.API, "bedrock stream: corrupt frame: prelude checksum mismatch")}},
		{"chunk bytes not base64", [][]byte{encodeFrame(t, map[string]string{":message-type": "event", ":event-type": "chunk"}, []byte(`{"bytes":"!!!"}`))},
			[]sseEvent{errorEvent(apierr.API, "bedrock stream: chunk bytes are not base64: illegal base64 data at input byte 0")}},
		{"chunk not JSON", [][]byte{chunkFrame(t, `{"type":`)},
			[]sseEvent{errorEvent(apierr.API, "bedrock stream: chunk is not JSON")}},
		{"chunk without type", [][]byte{chunkFrame(t, `{"index":0}`)},
			[]sseEvent{errorEvent(apierr.API, `bedrock stream: chunk with invalid event type ""`)}},
		{"chunk with type that breaks SSE", [][]byte{chunkFrame(t, `{"type":"a\nb"}`)},
			[]sseEvent{errorEvent(apierr.API, `bedrock stream: chunk with invalid event type "a\nb"`)}},
		{"chunk without bytes", [][]byte{encodeFrame(t, map[string]string{":message-type": "event", ":event-type": "chunk"}, []byte(`{}`))},
			[]sseEvent{errorEvent(apierr.API, "bedrock stream: chunk without bytes")}},
		{"frame without message type", [][]byte{vector(t, "bedrock/aws-eventstream-vectors/positive.payload_one_str_header.json")},
			[]sseEvent{errorEvent(apierr.API, `bedrock stream: unexpected frame with message type ""`)}},
		{"other events are skipped", [][]byte{chunkFrame(t, messageStart), encodeFrame(t, map[string]string{":message-type": "event", ":event-type": "initial-response"}, []byte(`{}`)), chunkFrame(t, `{"type":"message_stop"}`)},
			[]sseEvent{start, {Name: "message_stop", Data: `{"type":"message_stop"}`}}},
		{"pretty-printed chunk is compacted", [][]byte{chunkFrame(t, "{\"type\": \"ping\",\n \"x\": 1}"), chunkFrame(t, `{"type":"message_stop"}`)},
			[]sseEvent{{Name: "ping", Data: `{"type":"ping","x":1}`}, {Name: "message_stop", Data: `{"type":"message_stop"}`}}},
		{"Anthropic error chunk is terminal", [][]byte{chunkFrame(t, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`), chunkFrame(t, messageStart)},
			[]sseEvent{{Name: "error", Data: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`}}},
		{"frames after message_stop are not read", [][]byte{chunkFrame(t, `{"type":"message_stop"}`), []byte("garbage")},
			[]sseEvent{{Name: "message_stop", Data: `{"type":"message_stop"}`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseSSE(t, convertAll(t, bytes.Join(tt.body, nil)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SSE events (-want +got):\n%s", diff)
			}
		})
	}
}

// unknownHeaderFrame is a hand-made frame, CRCs correct, whose one header has value type 48.
func unknownHeaderFrame() []byte {
	headers := []byte{1, 'x', 48}
	b := make([]byte, 12, 16+len(headers))
	binary.BigEndian.PutUint32(b[0:], uint32(16+len(headers)))
	binary.BigEndian.PutUint32(b[4:], uint32(len(headers)))
	binary.BigEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[:8]))
	b = append(b, headers...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// decodedChunk is the inner event of frame i of a recorded stream.
func decodedChunk(t testing.TB, f *fixture, i int) string {
	t.Helper()
	var p struct {
		Bytes string `json:"bytes"`
	}
	if err := json.Unmarshal(f.Response.Frames[i].PayloadJSON, &p); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(p.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decodedChunks is every inner event of a recorded stream as SSE events.
func decodedChunks(t testing.TB, f *fixture) []sseEvent {
	t.Helper()
	var out []sseEvent
	for i := range f.Response.Frames {
		d := decodedChunk(t, f, i)
		var typ struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal([]byte(d), &typ)
		out = append(out, sseEvent{Name: typ.Type, Data: d})
	}
	return out
}

// vector returns the frame bytes of an event-stream test vector.
func vector(t testing.TB, rel string) []byte {
	t.Helper()
	f := loadFixture(t, rel)
	return f.wireBody(t)
}

// TestFrameReaderAWSVectors runs AWS's event-stream codec vectors: positive ones decode to the
// expected prelude, headers and payload; corrupted ones must fail.
func TestFrameReaderAWSVectors(t *testing.T) {
	for _, f := range loadFixtures(t, "bedrock/aws-eventstream-vectors/*.json") {
		t.Run(f.name, func(t *testing.T) {
			body := f.wireBody(t)
			var want struct {
				Error         string `json:"error"`
				TotalLength   uint32 `json:"total_length"`
				HeadersLength uint32 `json:"headers_length"`
				PreludeCRC    int64  `json:"prelude_crc"`
				MessageCRC    int64  `json:"message_crc"`
				Headers       []struct {
					Name  string `json:"name"`
					Type  int    `json:"type"`
					Value any    `json:"value"`
				} `json:"headers"`
				Payload string `json:"payload"`
			}
			if err := json.Unmarshal(f.Expected, &want); err != nil {
				t.Fatal(err)
			}
			fr := newFrameReader(bytes.NewReader(body))
			msg, err := fr.next()
			if want.Error != "" {
				if err == nil {
					t.Fatalf("decoded a corrupted vector (%s) without error", want.Error)
				}
				if !strings.Contains(strings.ToLower(err.Error()), "checksum mismatch") {
					t.Errorf("error %q, want a checksum mismatch (%s)", err, want.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if _, err := fr.next(); err != io.EOF {
				t.Errorf("after the only frame: %v, want io.EOF", err)
			}
			prelude := []uint32{binary.BigEndian.Uint32(body[0:]), binary.BigEndian.Uint32(body[4:]), binary.BigEndian.Uint32(body[8:]), binary.BigEndian.Uint32(body[len(body)-4:])}
			if diff := cmp.Diff([]uint32{want.TotalLength, want.HeadersLength, uint32(want.PreludeCRC), uint32(want.MessageCRC)}, prelude); diff != "" {
				t.Errorf("prelude/CRC (-want +got):\n%s", diff)
			}
			type hdr struct {
				Name  string
				Type  int
				Value any
			}
			var wantH, gotH []hdr
			for _, h := range want.Headers {
				v := h.Value
				if n, ok := v.(float64); ok {
					v = int64(n)
				}
				wantH = append(wantH, hdr{h.Name, h.Type, v})
			}
			for _, h := range msg.Headers {
				typ, v := headerForVector(t, h.Value)
				gotH = append(gotH, hdr{h.Name, typ, v})
			}
			if diff := cmp.Diff(wantH, gotH); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if got := base64.StdEncoding.EncodeToString(msg.Payload); got != want.Payload {
				t.Errorf("payload %q, want %q", got, want.Payload)
			}
		})
	}
}

// headerForVector renders a decoded header value the way the vectors' "expected" does.
func headerForVector(t *testing.T, v eventstream.Value) (int, any) {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString
	switch v := v.(type) {
	case eventstream.BoolValue:
		if v {
			return 0, true
		}
		return 1, false
	case eventstream.Int8Value:
		return 2, int64(v)
	case eventstream.Int16Value:
		return 3, int64(v)
	case eventstream.Int32Value:
		return 4, int64(v)
	case eventstream.Int64Value:
		return 5, int64(v)
	case eventstream.BytesValue:
		return 6, b64(v)
	case eventstream.StringValue:
		return 7, b64([]byte(v))
	case eventstream.TimestampValue:
		return 8, time.Time(v).UnixMilli()
	case eventstream.UUIDValue:
		return 9, b64(v[:])
	}
	t.Fatalf("unknown header value %T", v)
	return 0, nil
}

// TestFrameReaderStopsAtFrame checks that the reader never consumes bytes past the frame it
// returns.
func TestFrameReaderStopsAtFrame(t *testing.T) {
	frame := chunkFrame(t, `{"type":"ping"}`)
	r := bytes.NewReader(append(append([]byte(nil), frame...), "rest"...))
	if _, err := newFrameReader(r).next(); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "rest" {
		t.Errorf("left %q unread, want %q", rest, "rest")
	}
}

// errReader fails after its data.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

// TestEventStreamToSSEReadError checks that a failing upstream read ends the stream with an
// error event naming the read error.
func TestEventStreamToSSEReadError(t *testing.T) {
	reset := errors.New("connection reset by peer")
	frame := chunkFrame(t, messageStart)
	tests := []struct {
		name string
		data []byte
		want []sseEvent
	}{
		{"between frames", frame, []sseEvent{{Name: "message_start", Data: messageStart}, errorEvent(apierr.API, "bedrock stream: read: connection reset by peer")}},
		{"inside a frame", frame[:30], []sseEvent{errorEvent(apierr.API, "bedrock stream: read: connection reset by peer")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := io.ReadAll(newBedrockSSE(io.NopCloser(&errReader{data: tt.data, err: reset})))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, parseSSE(t, out)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
