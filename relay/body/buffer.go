package body

import (
	"io"
	"slices"
	"sync"
	"sync/atomic"
)

// Request bodies are read into pooled buffers (Read). A Claude Code request is about 50 KB, the
// largest allocation of a request by far; reusing its buffer instead of leaving it to the
// garbage collector is what keeps the relay's GC work close to a bare reverse proxy's, and
// what lets a long stream hold no body at all once it is committed.
//
// A buffer is shared by the handler (its Request) and by every upstream request that sends it (the
// transport may still be writing a body after RoundTrip has returned, and closes it when it is
// done), so it is reference counted: the handler holds one reference until the response is
// committed or the request ends, each upstream request body one until the transport closes
// it. The last release returns the buffer to its pool. A body the transport never closes (a
// RoundTripper that does not follow the contract) is simply left to the garbage collector.

const (
	minPooledBody = 4 << 10  // smallest pooled buffer: 4 KB
	maxPooledBody = 16 << 20 // buffers above 16 MB are not pooled
)

// bodySizes are the pooled buffer sizes: 4 KB, then four steps per doubling (5, 6, 7, 8 KB,
// 10, 12, 14, 16 KB, ...) up to 16 MB, so that a buffer is at most 25% larger than the body
// it holds (the 48,942-byte Claude Code request, +1 to see EOF, takes 49,152).
var bodySizes = func() []int {
	sizes := []int{minPooledBody}
	for base := minPooledBody; base < maxPooledBody; base *= 2 {
		for step := 1; step <= 4; step++ {
			sizes = append(sizes, base+step*base/4)
		}
	}
	return sizes
}()

var bodyPools = make([]sync.Pool, len(bodySizes))

// liveBodies counts the body buffers in use (taken and not yet released by all holders).
var liveBodies atomic.Int64

// bodyClass returns the index of the smallest pooled size that holds n bytes, or -1 when n
// is too large to pool.
func bodyClass(n int) int {
	if n > maxPooledBody {
		return -1
	}
	c, _ := slices.BinarySearch(bodySizes, n)
	return c
}

// buffer is a request body buffer with its reference count.
type buffer struct {
	buf   []byte // full capacity; the body is buf[:n]
	class int    // pool class, -1 when not pooled
	refs  atomic.Int32
}

// newBuffer returns a buffer with room for at least n bytes, holding one reference.
func newBuffer(n int) *buffer {
	liveBodies.Add(1)
	c := bodyClass(n)
	if c >= 0 {
		if b, _ := bodyPools[c].Get().(*buffer); b != nil {
			b.refs.Store(1)
			return b
		}
		n = bodySizes[c]
	}
	b := &buffer{buf: make([]byte, n), class: c}
	b.refs.Store(1)
	return b
}

// retain adds a reference.
func (b *buffer) retain() { b.refs.Add(1) }

// release drops a reference; the last one returns the buffer to its pool.
func (b *buffer) release() {
	switch n := b.refs.Add(-1); {
	case n > 0:
	case n == 0:
		liveBodies.Add(-1)
		if poisonReleasedBodies {
			for i := range b.buf {
				b.buf[i] = 'X'
			}
		}
		if b.class >= 0 {
			bodyPools[b.class].Put(b)
		}
	default:
		panic("body: request body buffer released more often than retained")
	}
}

// poisonReleasedBodies makes the last release overwrite the buffer, so that tests catch
// anything that still reads a body after its release.
var poisonReleasedBodies bool

// PoisonReleased makes the last release of every buffer overwrite it with 'X' bytes (on) or
// not (off, the default). Only tests turn it on: a buffer reused while anything still reads
// it then shows up as a body of 'X' bytes.
func PoisonReleased(on bool) { poisonReleasedBodies = on }

// Live returns the number of body buffers in use: taken and not yet released by every holder.
func Live() int64 { return liveBodies.Load() }

// track makes the request body rc (whose bytes may be b's) hold a reference to b until it is
// closed.
func track(b *buffer, rc io.ReadCloser) io.ReadCloser {
	b.retain()
	return &trackedBody{rc: rc, b: b}
}

// trackedBody is an upstream request body that holds a reference to a pooled buffer until it
// is closed.
type trackedBody struct {
	rc     io.ReadCloser
	b      *buffer
	closed atomic.Bool
}

func (t *trackedBody) Read(p []byte) (int, error) { return t.rc.Read(p) }

// WriteTo lets io.Copy use the wrapped reader's WriteTo (a bytes.Reader's), as the transport
// would without the wrapper.
func (t *trackedBody) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := t.rc.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, struct{ io.Reader }{t.rc})
}

func (t *trackedBody) Close() error {
	err := t.rc.Close()
	if t.closed.CompareAndSwap(false, true) {
		t.b.release()
	}
	return err
}
