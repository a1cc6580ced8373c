package provider

import (
	"bytes"
	"io"
	"runtime"
	"testing"
)

// BenchmarkEventStreamToSSE converts each recorded Bedrock event stream
// (fixtures/real-traffic/bedrock) into Anthropic SSE, read the way the relay's SSE reader reads
// a body (into a 4 KiB buffer), and reports the cost per frame. The converter keeps one frame
// and one decoded chunk and reuses them, so allocs/frame should stay near the per-stream setup
// amortized over the frames (the frame reader, its decoder, first growth of the buffers).
func BenchmarkEventStreamToSSE(b *testing.B) {
	for _, f := range bedrockStreams(b) {
		body := f.wireBody(b)
		frames := len(splitFrames(body))
		b.Run(f.name, func(b *testing.B) {
			buf := make([]byte, 4<<10)
			convert := func() int {
				conv := newBedrockSSE(io.NopCloser(bytes.NewReader(body)))
				n := 0
				for {
					m, err := conv.Read(buf)
					n += m
					if err == io.EOF {
						return n
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			out := convert()
			if !bytes.Contains(buf, []byte("message_stop")) && out == 0 {
				b.Fatal("no output")
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			for range b.N {
				convert()
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(frames), "frames")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*frames), "allocs/frame")
			b.ReportMetric(float64(out)/float64(len(body)), "sse-B/eventstream-B")
		})
	}
}
