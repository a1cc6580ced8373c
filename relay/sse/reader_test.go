package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ev builds an expected event; data "<nil>" stands for nil Data.
func ev(name, data, raw string) Event {
	e := Event{Name: name, Raw: []byte(raw)}
	if data != "<nil>" {
		e.Data = []byte(data)
	}
	return e
}

// readAll reads every event from rd, copied, and returns them with the error that ended the
// stream (nil for io.EOF).
func readAll(rd *Reader) ([]Event, error) {
	var out []Event
	for {
		e, err := rd.Next()
		if e.Raw != nil {
			out = append(out, e.Clone())
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// cmpEvents compares events, telling nil Data from empty Data.
var cmpEvents = cmp.Comparer(func(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
})

func concatRaw(events []Event) []byte {
	var b []byte
	for _, e := range events {
		b = append(b, e.Raw...)
	}
	return b
}

// dataEvents returns the name and data of the events that carry data.
func dataEvents(events []Event) []Event {
	var out []Event
	for _, e := range events {
		if e.Data != nil {
			out = append(out, Event{Name: e.Name, Data: e.Data})
		}
	}
	return out
}

func TestReaderNext(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Event
		wantErr error
	}{
		{
			name: "An empty stream ends at once",
			in:   "",
		},
		{
			name: "One event with LF line endings is read",
			in:   "event: ping\ndata: {\"type\": \"ping\"}\n\n",
			want: []Event{ev("ping", `{"type": "ping"}`, "event: ping\ndata: {\"type\": \"ping\"}\n\n")},
		},
		{
			name: "Padding spaces inside the data are kept in Data and Raw",
			in:   "event: message_stop\ndata: {\"type\":\"message_stop\"     }\n\nevent: x\ndata: 1\n\n",
			want: []Event{
				ev("message_stop", `{"type":"message_stop"     }`, "event: message_stop\ndata: {\"type\":\"message_stop\"     }\n\n"),
				ev("x", "1", "event: x\ndata: 1\n\n"),
			},
		},
		{
			name: "CRLF line endings are accepted and kept in Raw",
			in:   "event: a\r\ndata: 1\r\n\r\nevent: b\r\ndata: 2\r\n\r\n",
			want: []Event{ev("a", "1", "event: a\r\ndata: 1\r\n\r\n"), ev("b", "2", "event: b\r\ndata: 2\r\n\r\n")},
		},
		{
			name: "CR line endings are accepted and kept in Raw",
			in:   "event: a\rdata: 1\r\revent: b\rdata: 2\r\r",
			want: []Event{ev("a", "1", "event: a\rdata: 1\r\r"), ev("b", "2", "event: b\rdata: 2\r\r")},
		},
		{
			name: "Mixed line endings are accepted in one event",
			in:   "event: a\rdata: 1\r\ndata: 2\n\r\n",
			want: []Event{ev("a", "1\n2", "event: a\rdata: 1\r\ndata: 2\n\r\n")},
		},
		{
			name: "Several data lines are joined with LF",
			in:   "event: a\ndata: {\ndata:   \"k\": 1\ndata: }\n\n",
			want: []Event{ev("a", "{\n  \"k\": 1\n}", "event: a\ndata: {\ndata:   \"k\": 1\ndata: }\n\n")},
		},
		{
			name: "Only one space after the colon is removed",
			in:   "event:a\ndata:  two\n\n",
			want: []Event{ev("a", " two", "event:a\ndata:  two\n\n")},
		},
		{
			name: "A field without a colon has an empty value",
			in:   "data\ndata\n\n",
			want: []Event{ev("", "\n", "data\ndata\n\n")},
		},
		{
			name: "An empty data line gives empty non-nil data",
			in:   "event: a\ndata:\n\n",
			want: []Event{ev("a", "", "event: a\ndata:\n\n")},
		},
		{
			name: "Comment lines inside an event are skipped but kept in Raw",
			in:   ": hello\nevent: a\n:x\ndata: 1\n\n",
			want: []Event{ev("a", "1", ": hello\nevent: a\n:x\ndata: 1\n\n")},
		},
		{
			name: "A comment-only block is returned with nil data",
			in:   ": keep-alive\n\nevent: a\ndata: 1\n\n",
			want: []Event{ev("", "<nil>", ": keep-alive\n\n"), ev("a", "1", "event: a\ndata: 1\n\n")},
		},
		{
			name: "A block with an event line but no data line has nil data",
			in:   "event: a\n\n",
			want: []Event{ev("a", "<nil>", "event: a\n\n")},
		},
		{
			name: "An event without an event line has an empty name",
			in:   "data: [DONE]\n\n",
			want: []Event{ev("", "[DONE]", "data: [DONE]\n\n")},
		},
		{
			name: "The last event line wins",
			in:   "event: a\nevent: b\ndata: 1\n\n",
			want: []Event{ev("b", "1", "event: a\nevent: b\ndata: 1\n\n")},
		},
		{
			name: "Unknown fields are ignored",
			in:   "foo: bar\nevent: a\ndata: 1\nDATA: 2\n\n",
			want: []Event{ev("a", "1", "foo: bar\nevent: a\ndata: 1\nDATA: 2\n\n")},
		},
		{
			name: "Extra blank lines are returned as empty blocks",
			in:   "\nevent: a\ndata: 1\n\n\n",
			want: []Event{ev("", "<nil>", "\n"), ev("a", "1", "event: a\ndata: 1\n\n"), ev("", "<nil>", "\n")},
		},
		{
			name: "A leading byte order mark is kept in Raw and ignored",
			in:   "\xEF\xBB\xBFevent: a\ndata: 1\n\n",
			want: []Event{ev("a", "1", "\xEF\xBB\xBFevent: a\ndata: 1\n\n")},
		},
		{
			name: "A byte order mark after the start is part of the field name",
			in:   "event: a\ndata: 1\n\n\xEF\xBB\xBFevent: b\ndata: 2\n\n",
			want: []Event{ev("a", "1", "event: a\ndata: 1\n\n"), ev("", "2", "\xEF\xBB\xBFevent: b\ndata: 2\n\n")},
		},
		{
			name:    "A stream that ends before the blank line returns the partial event as truncated",
			in:      "event: a\ndata: 1\n\nevent: b\ndata: 2\n",
			want:    []Event{ev("a", "1", "event: a\ndata: 1\n\n"), ev("b", "2", "event: b\ndata: 2\n")},
			wantErr: ErrTruncated,
		},
		{
			name:    "A stream that ends in the middle of a line parses that line into the partial event",
			in:      "event: b\ndata: {\"ty",
			want:    []Event{ev("b", `{"ty`, "event: b\ndata: {\"ty")},
			wantErr: ErrTruncated,
		},
		{
			name:    "A stream that ends after a comment without a blank line is truncated",
			in:      "event: a\ndata: 1\n\n: bye\n",
			want:    []Event{ev("a", "1", "event: a\ndata: 1\n\n"), ev("", "<nil>", ": bye\n")},
			wantErr: ErrTruncated,
		},
		{
			name:    "A stream that ends with a CR line ending but no blank line is truncated",
			in:      "event: a\rdata: 1\r",
			want:    []Event{ev("a", "1", "event: a\rdata: 1\r")},
			wantErr: ErrTruncated,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(NewReader(strings.NewReader(tt.in)))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmpEvents); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			// Read one byte at a time, the same events come out (a CRLF may be split
			// between two events' Raw, so only the concatenation of Raw is compared).
			got1, err1 := readAll(NewReader(iotest.OneByteReader(strings.NewReader(tt.in))))
			if !errors.Is(err1, tt.wantErr) || (err1 == nil) != (tt.wantErr == nil) {
				t.Errorf("one byte at a time: error = %v, want %v", err1, tt.wantErr)
			}
			if diff := cmp.Diff(dataEvents(tt.want), dataEvents(got1), cmpEvents); diff != "" {
				t.Errorf("one byte at a time: events (-want +got):\n%s", diff)
			}
			if raw := string(concatRaw(got1)); raw != tt.in {
				t.Errorf("one byte at a time: Raw concatenation = %q, want %q", raw, tt.in)
			}
		})
	}
}

func TestReaderFields(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantID    string
		wantRetry time.Duration
		wantOK    bool
	}{
		{name: "Without id and retry fields there are none", in: "data: 1\n\n"},
		{
			name:   "The last id and the last valid retry are kept across events",
			in:     "id: 1\nretry: 1500\ndata: 1\n\nid: 2\nretry: 2s\ndata: 2\n\n",
			wantID: "2", wantRetry: 1500 * time.Millisecond, wantOK: true,
		},
		{name: "An id containing NUL is ignored", in: "id: 7\ndata: 1\n\nid: a\x00b\ndata: 2\n\n", wantID: "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReader(strings.NewReader(tt.in))
			if _, err := readAll(rd); err != nil {
				t.Fatal(err)
			}
			retry, ok := rd.Retry()
			got := []any{rd.LastEventID(), retry, ok}
			want := []any{tt.wantID, tt.wantRetry, tt.wantOK}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("id, retry, ok (-want +got):\n%s", diff)
			}
		})
	}
}

// chunkReader returns its chunks one Read at a time and counts the reads.
type chunkReader struct {
	chunks []string
	reads  int
	err    error // returned after the last chunk; io.EOF when nil
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.reads++
	if len(c.chunks) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if n < len(c.chunks[0]) {
		c.chunks[0] = c.chunks[0][n:]
	} else {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func TestReaderReturnsAnEventWithoutReadingFurther(t *testing.T) {
	cr := &chunkReader{chunks: []string{"event: a\r\ndata: 1\r\n\r", "\nevent: b\r\ndata: 2\r\n\r\n"}}
	rd := NewReader(cr)
	first, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if cr.reads != 1 {
		t.Errorf("reads before the first event = %d, want 1", cr.reads)
	}
	if diff := cmp.Diff(ev("a", "1", "event: a\r\ndata: 1\r\n\r"), first.Clone(), cmpEvents); diff != "" {
		t.Errorf("first event (-want +got):\n%s", diff)
	}
	second, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	// The LF completing the first event's CRLF arrived later and leads the second event.
	if diff := cmp.Diff(ev("b", "2", "\nevent: b\r\ndata: 2\r\n\r\n"), second.Clone(), cmpEvents); diff != "" {
		t.Errorf("second event (-want +got):\n%s", diff)
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Errorf("third Next error = %v, want io.EOF", err)
	}
}

func TestReaderDoesNotWaitForInputBeyondAnEvent(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("event: a\ndata: 1\n\n")) }()
	done := make(chan Event, 1)
	go func() {
		e, _ := NewReader(pr).Next()
		done <- e.Clone()
	}()
	select {
	case e := <-done:
		if e.Name != "a" {
			t.Errorf("event name = %q, want %q", e.Name, "a")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next blocked waiting for input after a complete event")
	}
}

func TestReaderSplitCRLFAtTheEnd(t *testing.T) {
	cr := &chunkReader{chunks: []string{"data: 1\r\r", "\n"}}
	got, err := readAll(NewReader(cr))
	if err != nil {
		t.Fatalf("error = %v, want none: a lone LF completing a CRLF is not a partial event", err)
	}
	want := []Event{ev("", "1", "data: 1\r\r"), ev("", "<nil>", "\n")}
	if diff := cmp.Diff(want, got, cmpEvents); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestReaderMaxEventSize(t *testing.T) {
	event := "event: a\ndata: " + strings.Repeat("x", 40) + "\n\n" // 57 bytes
	tests := []struct {
		name    string
		max     int
		in      io.Reader
		wantN   int // events read before the error
		wantErr error
	}{
		{name: "An event exactly at the limit is read", max: len(event), in: strings.NewReader(event + event), wantN: 2},
		{name: "An event one byte over the limit fails", max: len(event) - 1, in: strings.NewReader(event), wantErr: ErrEventTooLarge},
		{
			name: "An endless line fails once past the limit",
			max:  1 << 16, in: io.MultiReader(strings.NewReader("data: "), endless{}), wantErr: ErrEventTooLarge,
		},
		{
			name: "An oversized event fails even when its first bytes come one at a time",
			max:  20, in: iotest.OneByteReader(strings.NewReader(event)), wantErr: ErrEventTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReader(tt.in)
			rd.MaxEventSize = tt.max
			got, err := readAll(rd)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if len(got) != tt.wantN {
				t.Errorf("events before the error = %d, want %d", len(got), tt.wantN)
			}
			if limit := 2 * (tt.max + minRead + initialSize); len(rd.buf) > limit {
				t.Errorf("buffer grew to %d bytes, want at most %d", len(rd.buf), limit)
			}
			if err != nil {
				if _, again := rd.Next(); !errors.Is(again, ErrEventTooLarge) {
					t.Errorf("Next after the error = %v, want the same error", again)
				}
			}
		})
	}
}

// endless reads 'a' forever.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	tests := []struct {
		name   string
		chunks []string
		want   []Event
	}{
		{
			name:   "A read error between events is returned after the complete events",
			chunks: []string{"data: 1\n\n"},
			want:   []Event{ev("", "1", "data: 1\n\n")},
		},
		{
			name:   "A read error inside an event returns the partial event with the error",
			chunks: []string{"data: 1\n\ndata: 2"},
			want:   []Event{ev("", "1", "data: 1\n\n"), ev("", "2", "data: 2")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReader(&chunkReader{chunks: tt.chunks, err: boom})
			got, err := readAll(rd)
			if !errors.Is(err, boom) || errors.Is(err, ErrTruncated) {
				t.Errorf("error = %v, want one wrapping %v", err, boom)
			}
			if diff := cmp.Diff(tt.want, got, cmpEvents); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if _, again := rd.Next(); !errors.Is(again, boom) {
				t.Errorf("Next after the error = %v, want the same error", again)
			}
		})
	}
}

func TestReaderNoProgress(t *testing.T) {
	_, err := NewReader(zeroReader{}).Next()
	if !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("error = %v, want io.ErrNoProgress", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderEventsCannotOverwriteTheBuffer(t *testing.T) {
	rd := NewReader(strings.NewReader("event: a\ndata: 1\n\nevent: b\ndata: 2\n\n"))
	first, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	_ = append(first.Raw, "XXXXXXXX"...)
	_ = append(first.Data, "XXXXXXXX"...)
	second, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev("b", "2", "event: b\ndata: 2\n\n"), second, cmpEvents); diff != "" {
		t.Errorf("second event after appending to the first (-want +got):\n%s", diff)
	}
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name     string
		event    string
		data     string
		want     string
		wantData string // data read back, when it differs from data
	}{
		{name: "An event is written as event, data and a blank line", event: "ping", data: `{"type": "ping"}`, want: "event: ping\ndata: {\"type\": \"ping\"}\n\n"},
		{name: "An empty name leaves the event line out", data: "[DONE]", want: "data: [DONE]\n\n"},
		{name: "Empty data is written as one empty data line", event: "a", want: "event: a\ndata: \n\n"},
		{name: "LF in data starts new data lines", event: "a", data: "1\n2\n", want: "event: a\ndata: 1\ndata: 2\ndata: \n\n"},
		{name: "CRLF and CR in data start new data lines", event: "a", data: "1\r\n2\r3", want: "event: a\ndata: 1\ndata: 2\ndata: 3\n\n", wantData: "1\n2\n3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendEvent([]byte("prefix"), tt.event, []byte(tt.data))
			if diff := cmp.Diff("prefix"+tt.want, string(got)); diff != "" {
				t.Errorf("AppendEvent (-want +got):\n%s", diff)
			}
			wantData := tt.data
			if tt.wantData != "" {
				wantData = tt.wantData
			}
			back, err := readAll(NewReader(strings.NewReader(tt.want)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]Event{ev(tt.event, wantData, tt.want)}, back, cmpEvents); diff != "" {
				t.Errorf("read back (-want +got):\n%s", diff)
			}
		})
	}
}
