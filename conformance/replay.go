package conformance

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ccrelay/ccrelay/relay/provider"
	"github.com/ccrelay/ccrelay/relay/sse"
	"gopkg.in/dnaeon/go-vcr.v2/cassette"
)

// stallTimeout is how long the replay waits for the client to receive event n before it hands
// the relay the upstream bytes of event n+1. A relay that buffers the stream never delivers
// event n on its own, and the wait ends with a "buffered" finding.
var stallTimeout = 5 * time.Second

// sentRequest is a request the relay sent upstream, as it was sent.
type sentRequest struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// replayTransport is the provider transport of a replay: go-vcr's cassette lookup with the
// conformance matcher, and a response whose body is delivered one SSE event or event-stream
// frame at a time, in lockstep with what the client has received.
type replayTransport struct {
	cf   *cassetteFile // nil: no cassette (the relay should not call the provider)
	m    *matcher
	gate *gate
	// creds answers credential requests (the GCE metadata token endpoint) locally.
	creds http.RoundTripper

	mu   sync.Mutex
	sent []sentRequest
	used bool
}

// RoundTrip implements http.RoundTripper.
func (t *replayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.creds != nil && isCredentialRequest(req) {
		return t.creds.RoundTrip(req)
	}
	body, err := readAndRestore(req)
	if err != nil {
		return nil, fmt.Errorf("conformance replay: read request body: %w", err)
	}
	t.mu.Lock()
	t.sent = append(t.sent, sentRequest{Method: req.Method, URL: req.URL.String(), Header: req.Header.Clone(), Body: body})
	t.mu.Unlock()
	if t.cf == nil || len(t.cf.c.Interactions) == 0 {
		return nil, fmt.Errorf("conformance replay: the relay called the provider (%s %s), but %s holds no interaction",
			req.Method, req.URL.Redacted(), cassetteRef(t.cf))
	}
	ix, err := t.cf.c.GetInteraction(req)
	if err != nil && t.interactionUsed() {
		return nil, fmt.Errorf("conformance replay: the relay sent a second request (%s %s); the one interaction of %s was already served",
			req.Method, req.URL.Redacted(), cassetteRef(t.cf))
	}
	if err != nil {
		return nil, fmt.Errorf("conformance replay: %s %s does not match %s: %s",
			req.Method, req.URL.Redacted(), cassetteRef(t.cf), t.m.lastMismatch())
	}
	t.mu.Lock()
	t.used = true
	t.mu.Unlock()
	return t.response(req, ix), nil
}

// requests returns the requests the relay sent upstream.
func (t *replayTransport) requests() []sentRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]sentRequest(nil), t.sent...)
}

// interactionUsed reports whether the cassette's interaction was served.
func (t *replayTransport) interactionUsed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.used
}

// response builds the recorded response. SSE and event-stream bodies are cut into events or
// frames (sse.Split, provider.SplitFrames) delivered one per Read.
func (t *replayTransport) response(req *http.Request, ix *cassette.Interaction) *http.Response {
	h := ix.Response.Headers.Clone()
	if h == nil {
		h = http.Header{}
	}
	for _, k := range []string{"Content-Length", "Transfer-Encoding", "Content-Encoding"} {
		h.Del(k)
	}
	body := []byte(ix.Response.Body)
	chunks := [][]byte{body}
	length := int64(len(body))
	switch mediaType(h.Get("Content-Type")) {
	case "text/event-stream":
		chunks, length = sse.Split(body), -1
	case "application/vnd.amazon.eventstream":
		chunks, length = provider.SplitFrames(body), -1
	}
	if length >= 0 {
		h.Set("Content-Length", strconv.FormatInt(length, 10))
	}
	status := ix.Response.Status
	if status == "" {
		status = fmt.Sprintf("%d %s", ix.Response.Code, http.StatusText(ix.Response.Code))
	}
	return &http.Response{
		Status:        status,
		StatusCode:    ix.Response.Code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		ContentLength: length,
		Body:          &chunkedBody{chunks: chunks, gate: t.gate},
		Request:       req,
	}
}

// cassetteRef names a cassette in messages.
func cassetteRef(cf *cassetteFile) string {
	if cf == nil {
		return "no cassette"
	}
	return "cassettes/" + cf.name
}

// chunkedBody returns one chunk per Read (less when p is short). Before the first byte of
// chunk i > 0 it waits until the client has received i events.
type chunkedBody struct {
	chunks [][]byte
	i, off int
	gate   *gate
	closed bool
}

// Read implements io.Reader.
func (b *chunkedBody) Read(p []byte) (int, error) {
	for b.i < len(b.chunks) && b.off == len(b.chunks[b.i]) {
		b.i, b.off = b.i+1, 0
	}
	if b.closed || b.i >= len(b.chunks) {
		return 0, io.EOF
	}
	if b.off == 0 && b.i > 0 && b.gate != nil {
		b.gate.wait(b.i)
	}
	n := copy(p, b.chunks[b.i][b.off:])
	b.off += n
	return n, nil
}

// Close implements io.Closer.
func (b *chunkedBody) Close() error {
	b.closed = true
	return nil
}

// gate counts the events the client has received and lets the replay wait for them.
type gate struct {
	mu       sync.Mutex
	received int
	changed  chan struct{}
	stalls   []int // chunk indexes the replay had to release without the client's event
}

func newGate() *gate { return &gate{changed: make(chan struct{})} }

// inc records one event received by the client.
func (g *gate) inc() {
	g.mu.Lock()
	g.received++
	close(g.changed)
	g.changed = make(chan struct{})
	g.mu.Unlock()
}

// wait blocks until the client has received n events, or stallTimeout has passed.
func (g *gate) wait(n int) {
	deadline := time.NewTimer(stallTimeout)
	defer deadline.Stop()
	for {
		g.mu.Lock()
		if g.received >= n {
			g.mu.Unlock()
			return
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			g.mu.Lock()
			g.stalls = append(g.stalls, n)
			g.mu.Unlock()
			return
		}
	}
}

// stalled returns the chunks that were released without the client having the events before.
func (g *gate) stalled() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.stalls...)
}

// googleToken is the access token the replay's credential stub hands out.
const googleToken = "conformance-google-token"

// isCredentialRequest reports whether req asks the GCE metadata server for an access token,
// which is how the vertex provider gets credentials when no credentials file is configured.
func isCredentialRequest(req *http.Request) bool {
	return strings.HasPrefix(req.URL.Path, "/computeMetadata/v1/instance/service-accounts/") &&
		strings.HasSuffix(req.URL.Path, "/token")
}

// metadataStub answers GCE metadata token requests with a fixed token, so that vertex can be
// replayed without Application Default Credentials. (A static token source injected through
// provider.Env would make this unnecessary.)
type metadataStub struct{}

// RoundTrip implements http.RoundTripper.
func (metadataStub) RoundTrip(req *http.Request) (*http.Response, error) {
	body := `{"access_token":"` + googleToken + `","expires_in":3600,"token_type":"Bearer"}`
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}, "Metadata-Flavor": {"Google"}},
		ContentLength: int64(len(body)),
		Body:          io.NopCloser(bytes.NewReader([]byte(body))),
		Request:       req,
	}, nil
}
