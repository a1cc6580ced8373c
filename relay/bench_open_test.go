package relay_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkOpenStreams measures what an open stream costs in memory once it is established:
// 200 streams are opened one after another through a target (direct to the fake upstream, the
// floor, ccrelay), each held open after its first event, then the garbage collector runs and
// the live heap and the goroutine stacks are read. The direct run's figures are the client's
// and the upstream's share (all in this process); the metrics are the targets' own share:
//
//   - heap-B/stream: live heap per open stream, above direct;
//   - stack-B/stream: goroutine stacks per open stream, above direct.
//
// This is the steady state of scripts/bench's open-streams test without its admission burst
// (1,000 bodies arriving in the same instant, all alive until the upstream answers) and
// without GC headroom, which is why the harness's RSS figure is larger.
func BenchmarkOpenStreams(b *testing.B) {
	req := loadBenchRequest(b)
	const streams = 200
	measure := func(b *testing.B, newHandler handlerFactory) (heap, stack float64) {
		release := make(chan struct{})
		rep := reply(2)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(rep.events[0])
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			for _, ev := range rep.events[1:] {
				w.Write(ev)
			}
		}))
		defer up.Close()
		target := up.URL
		if newHandler != nil {
			front := httptest.NewServer(newHandler(b, up.URL, nil))
			defer front.Close()
			target = front.URL
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams, DisableCompression: true}}
		defer client.CloseIdleConnections()
		open := func() *http.Response {
			r, _ := http.NewRequest(http.MethodPost, target+req.path, bytes.NewReader(req.stream))
			r.Header = req.header.Clone()
			r.Header.Set("Accept", "text/event-stream")
			resp, err := client.Do(r)
			if err != nil {
				b.Fatal(err)
			}
			line, err := bufio.NewReaderSize(resp.Body, 16).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "event: message_start") {
				b.Fatalf("first line %q, %v", line, err)
			}
			return resp
		}
		open().Body.Close() // warm up: pools, first connections
		time.Sleep(50 * time.Millisecond)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		resps := make([]*http.Response, 0, streams)
		for range streams {
			resps = append(resps, open())
		}
		time.Sleep(50 * time.Millisecond) // transports close request bodies in their own goroutines
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		close(release)
		for _, r := range resps {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		heap = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / streams
		stack = float64(int64(after.StackInuse)-int64(before.StackInuse)) / streams
		return heap, stack
	}
	for _, target := range []struct {
		name string
		new  handlerFactory
	}{{"relay", newRelay}, {"floor", newFloor}} {
		b.Run(target.name, func(b *testing.B) {
			var heap, stack float64
			for range b.N {
				dh, ds := measure(b, nil)
				th, ts := measure(b, target.new)
				heap, stack = th-dh, ts-ds
			}
			b.ReportMetric(heap, "heap-B/stream")
			b.ReportMetric(stack, "stack-B/stream")
			b.ReportMetric(0, "ns/op")
		})
	}
}
