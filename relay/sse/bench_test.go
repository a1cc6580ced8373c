package sse

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidwall/gjson"
)

// benchBody is a real Anthropic stream: thinking, text and tool_use with padded JSON.
const benchBody = "anthropic/fantasy/claude-sonnet-4.thinking-streaming.0.json"

func loadBenchBody(b *testing.B) ([]byte, []Event) {
	b.Helper()
	f, err := os.ReadFile(filepath.Join(fixtureRoot, benchBody))
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(gjson.GetBytes(f, "response.body").Str)
	events, err := Check(bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	return body, events
}

// loopReader replays data forever, at most chunk bytes per Read, like a network connection.
type loopReader struct {
	data  []byte
	off   int
	chunk int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if len(p) > l.chunk {
		p = p[:l.chunk]
	}
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// BenchmarkReaderNext measures one Next call, that is one event.
func BenchmarkReaderNext(b *testing.B) {
	body, events := loadBenchBody(b)
	for _, bc := range []struct {
		name  string
		chunk int
	}{{"reads of 1 KiB", 1 << 10}, {"reads of 32 KiB", 32 << 10}} {
		b.Run(bc.name, func(b *testing.B) {
			rd := NewReader(&loopReader{data: body, chunk: bc.chunk})
			b.SetBytes(int64(len(body) / len(events)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := rd.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChecker measures one Checker.Feed call, that is one event.
func BenchmarkChecker(b *testing.B) {
	body, events := loadBenchBody(b)
	var c Checker
	b.SetBytes(int64(len(body) / len(events)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e := events[i%len(events)]
		if err := c.Feed(e); err != nil {
			b.Fatal(err)
		}
		if i%len(events) == len(events)-1 {
			if err := c.End(); err != nil {
				b.Fatal(err)
			}
			c.Reset()
		}
	}
}

// BenchmarkAccumulator measures one Accumulator.Feed call, that is one event, plus one Message
// per stream.
func BenchmarkAccumulator(b *testing.B) {
	body, events := loadBenchBody(b)
	var a Accumulator
	b.SetBytes(int64(len(body) / len(events)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := a.Feed(events[i%len(events)]); err != nil {
			b.Fatal(err)
		}
		if i%len(events) == len(events)-1 {
			_ = a.Message()
			a = Accumulator{}
		}
	}
}
