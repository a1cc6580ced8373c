package body

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

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
	b := newBuffer(100)
	if len(b.buf) < 100 {
		t.Fatalf("buffer of %d bytes for 100", len(b.buf))
	}
	copy(b.buf, "hello")
	rc := track(b, io.NopCloser(bytes.NewReader(b.buf[:5])))
	b.release() // the handler is done; the upstream body still holds it
	if got := liveBodies.Load() - live; got != 1 {
		t.Fatalf("live bodies +%d while the upstream body is open, want +1", got)
	}
	got, _ := io.ReadAll(rc)
	if string(got) != "hello" {
		t.Fatalf("read %q after the handler's release, want hello", got)
	}
	poisonReleasedBodies = true
	defer func() { poisonReleasedBodies = false }()
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
	const limit = 1 << 20
	for _, n := range []int{0, 1, 4095, 4096, 4097, 50_000, 1 << 20} {
		for _, chunked := range []bool{false, true} {
			body := bytes.Repeat([]byte("abcdefghij"), n/10+1)[:n]
			req := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(body))
			if chunked {
				req.ContentLength = -1
				req.Body = io.NopCloser(iotestOneByteChunks(body))
			}
			rb, err := Read(req.Body, req.ContentLength, limit)
			if err != nil {
				t.Fatalf("n=%d chunked=%v: %v", n, chunked, err)
			}
			if got := rb.Bytes(); !bytes.Equal(got, body) {
				t.Errorf("n=%d chunked=%v: read %d bytes that differ from the %d sent", n, chunked, len(got), n)
			}
			rb.Release()
			if rb.Bytes() != nil {
				t.Errorf("n=%d: Bytes after Release is not nil", n)
			}
		}
	}
	// One byte over the limit is refused, with or without a Content-Length.
	for _, chunked := range []bool{false, true} {
		body := make([]byte, limit+1)
		req := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(body))
		if chunked {
			req.ContentLength = -1
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		if _, err := Read(req.Body, req.ContentLength, limit); err != ErrTooLarge {
			t.Errorf("chunked=%v: body over the limit got %v, want ErrTooLarge", chunked, err)
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
