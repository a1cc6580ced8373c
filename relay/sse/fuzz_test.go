package sse

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// refEvents is a plain reading of the SSE spec's parsing algorithm, used as an oracle: it
// returns the name and data of the events dispatched by a blank line (a partial last event is
// discarded, as the spec says).
func refEvents(in []byte) []Event {
	in = bytes.TrimPrefix(in, bom)
	var out []Event
	var name string
	var data []byte
	hasData := false
	for len(in) > 0 {
		i := bytes.IndexAny(in, "\r\n")
		if i < 0 {
			break // an unterminated last line is never processed
		}
		line := in[:i]
		n := 1
		if in[i] == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			n = 2
		}
		in = in[i+n:]
		if len(line) == 0 {
			if hasData {
				out = append(out, Event{Name: name, Data: bytes.TrimSuffix(data, []byte("\n"))})
			}
			name, data, hasData = "", nil, false
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found {
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			name = string(value)
		case "data":
			data = append(append(data, value...), '\n')
			hasData = true
		}
	}
	return out
}

// chunked returns at most n bytes per Read.
type chunked struct {
	r io.Reader
	n int
}

func (c chunked) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

func FuzzReader(f *testing.F) {
	for _, fx := range sseFixtures(f) {
		body, _ := fx.sseBody()
		f.Add(body, uint8(0))
	}
	for _, s := range []string{
		"", "\n", "\r", "\r\n", "data: a\r\r\n", "data: a\r\rdata: b\n\n", "\xEF\xBB\xBFdata: x\n\n",
		": c\n\n", "event: e\n\n", "data\n\n", "data: 1\ndata: 2\r\n\r\n", "data: cut", "event: a\ndata: 1\n\n\n\n",
		"retry: 10\nid: 1\ndata: x\n\n",
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\n" +
			"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\"}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":1}\"}}\n\n",
	} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		want := refEvents(in)
		for _, mode := range []struct {
			name string
			r    io.Reader
			max  int
		}{
			{"whole", bytes.NewReader(in), 0},
			{"chunked", chunked{bytes.NewReader(in), int(chunk%16) + 1}, 0},
			{"small limit", chunked{bytes.NewReader(in), int(chunk%64) + 1}, 48},
			{"reused buffer", chunked{bytes.NewReader(in), int(chunk%16) + 1}, 0},
		} {
			rd := NewReader(mode.r)
			if mode.name == "reused buffer" {
				// A small buffer full of another stream's bytes: it must grow, and nothing
				// left in it may leak into an event.
				rd = NewReaderBuffer(mode.r, bytes.Repeat([]byte("data: stale\n\n"), int(chunk%4)+1))
			}
			if mode.max > 0 {
				rd.MaxEventSize = mode.max
			}
			events, err := readAll(rd)
			raw := concatRaw(events)
			complete := events
			switch {
			case err == nil:
				if !bytes.Equal(raw, in) {
					t.Fatalf("%s: Raw concatenation %q differs from the input %q", mode.name, raw, in)
				}
			case errors.Is(err, ErrTruncated):
				if !bytes.Equal(raw, in) {
					t.Fatalf("%s: Raw concatenation %q differs from the input %q", mode.name, raw, in)
				}
				complete = events[:len(events)-1]
			case errors.Is(err, ErrEventTooLarge) && mode.max > 0:
				if !bytes.HasPrefix(in, raw) {
					t.Fatalf("%s: Raw concatenation %q is not a prefix of the input %q", mode.name, raw, in)
				}
			default:
				t.Fatalf("%s: error %v", mode.name, err)
			}
			for _, e := range events {
				if mode.max > 0 && len(e.Raw) > mode.max {
					t.Fatalf("%s: event of %d bytes passed the %d-byte limit", mode.name, len(e.Raw), mode.max)
				}
			}
			if mode.name == "whole" {
				// Checker and Accumulator take any event without panicking.
				var c Checker
				var a Accumulator
				for _, e := range events {
					_ = c.Feed(e)
					_ = a.Feed(e)
				}
				_ = c.End()
				_ = a.Message()
			}
			got := dataEvents(complete)
			if mode.max > 0 && len(got) <= len(want) {
				var want []Event = want[:len(got):len(got)]
				if len(want) == 0 {
					want = nil
				}
				if diff := cmp.Diff(want, got, cmpEvents); diff != "" {
					t.Fatalf("%s: events differ from the spec's (-spec +reader):\n%s", mode.name, diff)
				}
				continue
			}
			if diff := cmp.Diff(want, got, cmpEvents); diff != "" {
				t.Fatalf("%s: events differ from the spec's (-spec +reader):\n%s", mode.name, diff)
			}
		}
	})
}
