package relaytest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Upstream is a fake provider: an HTTP server on 127.0.0.1 that logs every
// request it receives and then hands it to a handler.
type Upstream struct {
	// URL is the base URL of the server, http://127.0.0.1:PORT, without a
	// trailing slash.
	URL string

	srv       *httptest.Server
	closeOnce sync.Once

	mu   sync.Mutex
	reqs []Received
}

// Received is one request as the Upstream saw it, captured before the handler
// ran.
type Received struct {
	// Method is the HTTP method.
	Method string
	// Path is the decoded URL path.
	Path string
	// RawPath is the escaped path as sent, when it differs from the default
	// encoding of Path (for example a Bedrock model id with %3A); else empty.
	RawPath string
	// RawQuery is the query string without the '?'.
	RawQuery string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is the full request body.
	Body []byte
	// At is when the request reached the server.
	At time.Time
}

// NewUpstream starts an Upstream serving h on 127.0.0.1 and closes it when the
// test ends. Closing drops open connections first, so handlers blocked on a
// request (Hang) return.
func NewUpstream(t testing.TB, h http.Handler) *Upstream {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("relaytest: upstream: listen: %v", err)
	}
	u := &Upstream{}
	u.srv = httptest.NewUnstartedServer(u.record(h))
	u.srv.Listener.Close()
	u.srv.Listener = ln
	u.srv.Start()
	u.URL = u.srv.URL
	t.Cleanup(u.Close)
	return u
}

// record wraps h so that each request is logged with its full body, and the
// body is re-installed for h.
func (u *Upstream) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body) // a failed read keeps what arrived
			r.Body.Close()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		u.mu.Lock()
		u.reqs = append(u.reqs, Received{
			Method:   r.Method,
			Path:     r.URL.Path,
			RawPath:  r.URL.RawPath,
			RawQuery: r.URL.RawQuery,
			Header:   r.Header.Clone(),
			Body:     body,
			At:       at,
		})
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// Requests returns the requests received so far, in arrival order.
func (u *Upstream) Requests() []Received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Received(nil), u.reqs...)
}

// Close drops all connections and stops the server. It is safe to call more
// than once; NewUpstream registers it with t.Cleanup.
func (u *Upstream) Close() {
	u.closeOnce.Do(func() {
		u.srv.CloseClientConnections()
		u.srv.Close()
	})
}

// RefusedURL returns an http://127.0.0.1:PORT URL where nothing listens: the
// port was bound and released, so connecting to it is refused.
func RefusedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("relaytest: refused url: listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("relaytest: refused url: close: %v", err)
	}
	return "http://" + addr
}
