package relay

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain poisons every released body buffer for the whole test binary (the relay_test
// package included): a buffer reused while anything still reads it shows up as a body of
// 'X' bytes at the fake upstreams, in cassettes and in the SDK tests.
// Benchmarks run without it: overwriting every released buffer is a test's cost, not the
// relay's.
func TestMain(m *testing.M) {
	flag.Parse()
	poisonReleasedBodies = flag.Lookup("test.bench").Value.String() == ""
	os.Exit(m.Run())
}

func TestBodyClass(t *testing.T) {
	for _, n := range []int{0, 1, 4096, 4097, 5120, 5121, 8192, 8193, 48943, 57344, 57345, 16 << 20} {
		c := bodyClass(n)
		if c < 0 {
			t.Fatalf("bodyClass(%d) = -1, want a class", n)
		}
		if bodySizes[c] < n {
			t.Errorf("class %d (%d bytes) cannot hold %d bytes", c, bodySizes[c], n)
		}
		if c > 0 && bodySizes[c-1] >= n {
			t.Errorf("class %d is not the smallest for %d bytes", c, n)
		}
		if n > minPooledBody && bodySizes[c] > n+n/4 {
			t.Errorf("%d bytes take a %d-byte buffer: more than 25%% larger", n, bodySizes[c])
		}
	}
	if c := bodyClass(16<<20 + 1); c != -1 {
		t.Errorf("bodyClass(16 MB + 1) = %d, want -1 (not pooled)", c)
	}
	if got := bodySizes[bodyClass(48943)]; got != 48<<10 {
		t.Errorf("the 49 KB Claude Code body takes %d bytes, want 48 KiB", got)
	}
}

func TestPooledBodyRefs(t *testing.T) {
	live := liveBodies.Load()
	b := newPooledBody(100)
	if len(b.buf) < 100 {
		t.Fatalf("buffer of %d bytes for 100", len(b.buf))
	}
	copy(b.buf, "hello")
	rc := trackBody(b, io.NopCloser(bytes.NewReader(b.buf[:5])))
	b.release() // the handler is done; the upstream body still holds it
	if got := liveBodies.Load() - live; got != 1 {
		t.Fatalf("live bodies +%d while the upstream body is open, want +1", got)
	}
	got, _ := io.ReadAll(rc)
	if string(got) != "hello" {
		t.Fatalf("read %q after the handler's release, want hello", got)
	}
	rc.Close()
	rc.Close() // a second Close does not release again
	if got := liveBodies.Load() - live; got != 0 {
		t.Fatalf("live bodies +%d after every holder released, want 0", got)
	}
	if string(b.buf[:5]) != "XXXXX" {
		t.Errorf("released buffer not poisoned: %q", b.buf[:5])
	}
	defer func() {
		if recover() == nil {
			t.Errorf("releasing a released buffer did not panic")
		}
	}()
	b.release()
}

// TestReadBodySizes reads bodies with and without a Content-Length, around the pool classes.
func TestReadBodySizes(t *testing.T) {
	r := &Relay{maxBody: 1 << 20}
	for _, n := range []int{0, 1, 4095, 4096, 4097, 50_000, 1 << 20} {
		for _, chunked := range []bool{false, true} {
			body := bytes.Repeat([]byte("abcdefghij"), n/10+1)[:n]
			req := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(body))
			if chunked {
				req.ContentLength = -1
				req.Body = io.NopCloser(iotestOneByteChunks(body))
			}
			pb, got, e := r.readBody(req)
			if e != nil {
				t.Fatalf("n=%d chunked=%v: %v", n, chunked, e.Message)
			}
			if !bytes.Equal(got, body) {
				t.Errorf("n=%d chunked=%v: read %d bytes that differ from the %d sent", n, chunked, len(got), n)
			}
			pb.release()
		}
	}
	// One byte over the limit is refused, with or without a Content-Length.
	for _, chunked := range []bool{false, true} {
		body := make([]byte, r.maxBody+1)
		req := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(body))
		if chunked {
			req.ContentLength = -1
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		if _, _, e := r.readBody(req); e == nil || e.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked=%v: body over the limit got %v, want 413", chunked, e)
		}
	}
}

// iotestOneByteChunks returns a reader that yields at most 1000 bytes per Read, like a body
// arriving in pieces.
func iotestOneByteChunks(b []byte) io.Reader {
	return &chunkReader{b: b}
}

type chunkReader struct{ b []byte }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 1000)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// TestBodyReleasedWhenStreamCommits holds a stream open after its first event and checks that
// its body buffer has already gone back to the pool: the relay holds no request body for the
// rest of a long stream. The upstream must still have received the whole body intact.
func TestBodyReleasedWhenStreamCommits(t *testing.T) {
	body := `{"model":"claude-test","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("x", 60_000) + `"}]}`
	release := make(chan struct{})
	var got []byte
	var mu sync.Mutex
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = b
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, evStart)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, evStop)
	}))
	defer up.Close()
	defer close(release)
	front := startInternal(t, up.URL)

	live := liveBodies.Load()
	resp, err := http.Post(front+"/v1/messages", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "event: message_start\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	// The transport closes the request body in its own goroutine once it has written it.
	deadline := time.Now().Add(5 * time.Second)
	for liveBodies.Load() > live && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := liveBodies.Load() - live; n != 0 {
		t.Errorf("%d body buffers still held while the stream is open, want 0", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if string(got) != body {
		t.Errorf("the upstream received %d bytes that differ from the %d sent", len(got), len(body))
	}
}
