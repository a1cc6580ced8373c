package provider

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// FuzzEventStreamToSSE feeds arbitrary bytes to the Bedrock event-stream → SSE converter. Whatever
// the input, the output must be well-formed SSE whose every data line is JSON, that ends with
// exactly one terminal event (message_stop or error) and holds no other error event, and that is
// not much larger than the input.
//
// A short run (seeded with every recorded stream and vector):
//
//	GOFLAGS=-mod=mod go test ./relay/provider/ -run '^$' -fuzz FuzzEventStreamToSSE -fuzztime 30s
func FuzzEventStreamToSSE(f *testing.F) {
	for _, fx := range bedrockStreams(f) {
		body := fx.wireBody(f)
		f.Add(body)
		f.Add(body[:len(body)/2])
	}
	for _, fx := range loadFixtures(f, "bedrock/*-eventstream-vectors/*.json") {
		f.Add(fx.wireBody(f))
	}
	f.Add(chunkFrame(f, messageStart))
	f.Add(encodeFrame(f, map[string]string{":message-type": "exception", ":exception-type": "throttlingException"}, []byte(`{"message":"x"}`)))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := io.ReadAll(newBedrockSSE(io.NopCloser(bytes.NewReader(in))))
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if len(out) > 2*len(in)+1024 {
			t.Fatalf("output %d bytes for %d bytes of input", len(out), len(in))
		}
		events := parseSSE(t, out)
		if len(events) == 0 {
			t.Fatalf("no event for input %x", in)
		}
		for i, ev := range events {
			if !validEventName(ev.Name) {
				t.Fatalf("event %d: invalid name %q", i, ev.Name)
			}
			if !json.Valid([]byte(ev.Data)) {
				t.Fatalf("event %d (%s): data is not JSON: %q", i, ev.Name, ev.Data)
			}
			terminal := ev.Name == "message_stop" || ev.Name == "error"
			if last := i == len(events)-1; terminal != last {
				t.Fatalf("event %d of %d is %q: the stream must end with exactly one message_stop or error", i+1, len(events), ev.Name)
			}
		}
	})
}
