package body

import (
	"errors"
	"io"
)

// Request is one request body: the client's bytes, read once and never modified, and what has
// been learned about them. Its top-level facts (Top) are found when it is made, in the one
// pass that validates the whole body; what the body holds below the top level (Nested) is
// found only when asked, by one walk, at most once. A Request is not safe for concurrent use.
//
// A Request made by Read holds a pooled buffer (buffer.go): Release gives the buffer back
// once the body is no longer needed, and Track makes an upstream request body hold it until
// the transport has sent it.
type Request struct {
	b      []byte
	buf    *buffer // nil when not pooled, or once released
	top    Top
	nested *Nested
}

// ErrTooLarge is Read's error for a body over its limit.
var ErrTooLarge = errors.New("request body too large")

// Read reads the whole of r, a request body of size bytes (negative when unknown), into a
// pooled buffer and inspects it (see Request). A body over limit bytes is ErrTooLarge; a read
// error is returned as it is.
func Read(r io.Reader, size, limit int64) (*Request, error) {
	if size > limit {
		return nil, ErrTooLarge
	}
	if size < 0 {
		size = 0
	}
	pb := newBuffer(int(size) + 1) // +1: EOF is seen without growing
	n := 0
	lr := io.LimitReader(r, limit+1)
	for {
		m, err := lr.Read(pb.buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			pb.release()
			return nil, err
		}
		if n == len(pb.buf) {
			bigger := newBuffer(2 * n)
			copy(bigger.buf, pb.buf[:n])
			pb.release()
			pb = bigger
		}
	}
	if int64(n) > limit {
		pb.release()
		return nil, ErrTooLarge
	}
	req := Parse(pb.buf[:n:n])
	req.buf = pb
	return req, nil
}

// Parse inspects b (see Request), which the Request then owns: b must not change while the
// Request is in use.
func Parse(b []byte) *Request {
	r := &Request{b: b}
	v := validator{b: b, top: &r.top}
	v.ws()
	r.top.Object = v.i < len(b) && b[v.i] == '{'
	r.top.Valid = v.value(0)
	v.ws()
	r.top.Valid = r.top.Valid && v.i == len(v.b)
	return r
}

// Bytes returns the body, nil once released. The bytes must not be modified.
func (r *Request) Bytes() []byte { return r.b }

// Top returns the body's top-level facts.
func (r *Request) Top() *Top { return &r.top }

// Nested returns what the body holds below its top level, walking it the first time only.
func (r *Request) Nested() *Nested {
	if r.nested == nil {
		r.nested, _ = nested(r.b)
	}
	return r.nested
}

// Walked reports whether Nested has walked the body.
func (r *Request) Walked() bool { return r.nested != nil }

// Track makes rc, an upstream request body whose bytes may be this body's, hold the body's
// buffer until it is closed. It returns rc as is when the body is not pooled or already
// released.
func (r *Request) Track(rc io.ReadCloser) io.ReadCloser {
	if r.buf == nil {
		return rc
	}
	return track(r.buf, rc)
}

// Release drops the Request's hold on the body's buffer: once the body is no longer needed (a
// response is committed, or the request ends). Upstream request bodies still sending it hold
// their own (Track). Bytes returns nil afterwards; the facts stay. Release may be called more
// than once.
func (r *Request) Release() {
	if r.buf != nil {
		r.buf.release()
		r.buf = nil
	}
	r.b = nil
}
