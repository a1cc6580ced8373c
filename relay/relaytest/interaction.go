// Package relaytest provides fake upstreams for tests of the relay, the
// providers and the conformance suite.
//
// The fakes speak the real wire format: they replay HTTP interactions recorded
// from real providers (see fixtures/real-traffic/README.md in the repository),
// byte for byte, streaming SSE events and AWS event-stream frames one at a time
// with a flush after each. Hand-made edge cases (429, 529, dropped connections,
// hangs) are available too, for situations no public recording covers.
//
// A typical test:
//
//	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/fantasy/claude-sonnet-4.simple_streaming.0.json"))
//	up := relaytest.NewUpstream(t, relaytest.Replay(ix))
//	// point the code under test at up.URL, then inspect up.Requests().
package relaytest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/ccrelay/ccrelay/relay/provider"
	"github.com/ccrelay/ccrelay/relay/sse"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixturesDir is the location of the recorded traffic relative to the
// repository root.
const fixturesDir = "fixtures/real-traffic"

// Interaction is one recorded HTTP exchange, in the neutral JSON shape of the
// files under fixtures/real-traffic.
type Interaction struct {
	// Source names the repository, file and commit the recording came from.
	Source string
	// License is the license of the source recording.
	License string
	// Provenance is "recorded-live", "hand-written" or "derived".
	Provenance string
	// Provider is the upstream that produced the response, e.g. "anthropic".
	Provider string
	// Features lists the auto-detected feature tags of the recording.
	Features []string
	// Request is the recorded request; it is zero for codec vectors.
	Request Request
	// Response is the recorded response.
	Response Response
	// Notes says what the recorder dropped or normalised and what was scrubbed.
	Notes []string

	file string // path the interaction was loaded from, for messages
}

// Request is the request half of an Interaction.
type Request struct {
	// Method is the HTTP method.
	Method string
	// URL is the full upstream URL; some recordings lack it.
	URL string
	// Path is the path and query of the request.
	Path string
	// Headers holds the recorded headers with the recorder's casing.
	Headers map[string][]string
	// Body is the raw request body.
	Body string
}

// Response is the response half of an Interaction.
type Response struct {
	// Status is the HTTP status code; it is 0 for codec vectors.
	Status int
	// Headers holds the recorded headers with the recorder's casing.
	Headers map[string][]string
	// Body holds the exact wire bytes: the recorded body, or the decoded
	// body_base64 (binary event-stream or gzip).
	Body []byte
	// Decoded holds the gunzipped body when the fixture provides it.
	Decoded []byte
}

// fileShape is the JSON layout of one fixture file.
type fileShape struct {
	Source     string   `json:"source"`
	License    string   `json:"license"`
	Provenance string   `json:"provenance"`
	Provider   string   `json:"provider"`
	Features   []string `json:"features"`
	Notes      []string `json:"notes"`
	Request    *struct {
		Method  string              `json:"method"`
		URL     string              `json:"url"`
		Path    string              `json:"path"`
		Headers map[string][]string `json:"headers"`
		Body    string              `json:"body"`
	} `json:"request"`
	Response *struct {
		Status      *int                `json:"status"`
		Headers     map[string][]string `json:"headers"`
		Body        *string             `json:"body"`
		BodyBase64  *string             `json:"body_base64"`
		BodyDecoded *string             `json:"body_decoded"`
	} `json:"response"`
}

// Load reads one interaction from a fixture file.
func Load(path string) (*Interaction, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("relaytest: load: %w", err)
	}
	var f fileShape
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("relaytest: load %s: %w", path, err)
	}
	if f.Response == nil {
		return nil, fmt.Errorf("relaytest: load %s: no response object", path)
	}
	ix := &Interaction{
		Source:     f.Source,
		License:    f.License,
		Provenance: f.Provenance,
		Provider:   f.Provider,
		Features:   f.Features,
		Notes:      f.Notes,
		file:       path,
	}
	if q := f.Request; q != nil {
		ix.Request = Request{Method: q.Method, URL: q.URL, Path: q.Path, Headers: q.Headers, Body: q.Body}
	}
	r := f.Response
	if r.Status != nil {
		ix.Response.Status = *r.Status
	}
	ix.Response.Headers = r.Headers
	switch {
	case r.BodyBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*r.BodyBase64)
		if err != nil {
			return nil, fmt.Errorf("relaytest: load %s: body_base64: %w", path, err)
		}
		ix.Response.Body = b
	case r.Body != nil:
		ix.Response.Body = []byte(*r.Body)
	}
	if r.BodyDecoded != nil {
		ix.Response.Decoded = []byte(*r.BodyDecoded)
	}
	return ix, nil
}

// MustLoad is like Load but fails the test on error.
func MustLoad(t testing.TB, path string) *Interaction {
	t.Helper()
	ix, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// Fixture returns the path of rel inside the repository's fixtures/real-traffic
// directory. It walks up from the working directory (a package directory when
// run by go test) to the module root, so it works from any package. It fails
// the test when the root or the file cannot be found.
func Fixture(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("relaytest: fixture: %v", err)
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) && isDir(filepath.Join(dir, fixturesDir)) {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("relaytest: fixture %q: no ancestor of the working directory holds go.mod and %s", rel, fixturesDir)
		}
		dir = parent
	}
	p := filepath.Join(dir, fixturesDir, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("relaytest: fixture: %v", err)
	}
	return p
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// String returns the file the interaction was loaded from, or its source.
func (ix *Interaction) String() string {
	if ix.file != "" {
		return filepath.Base(ix.file)
	}
	return ix.Source
}

// header returns the first value of the recorded response header name,
// compared case-insensitively.
func (ix *Interaction) header(name string) string {
	for k, v := range ix.Response.Headers {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (ix *Interaction) mediaType() string {
	mt, _, err := mime.ParseMediaType(ix.header("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// IsSSE reports whether the recorded response is a text/event-stream.
func (ix *Interaction) IsSSE() bool { return ix.mediaType() == "text/event-stream" }

// IsEventStream reports whether the recorded response is an AWS event-stream
// (application/vnd.amazon.eventstream).
func (ix *Interaction) IsEventStream() bool {
	return ix.mediaType() == "application/vnd.amazon.eventstream"
}

// isGzip reports whether the recorded wire body is gzip-encoded.
func (ix *Interaction) isGzip() bool {
	return strings.EqualFold(strings.TrimSpace(ix.header("Content-Encoding")), "gzip")
}

// identityBody returns the response body without content encoding: Decoded
// when present, the gunzipped Body for a gzip recording, else Body.
func (ix *Interaction) identityBody() ([]byte, error) {
	if !ix.isGzip() {
		return ix.Response.Body, nil
	}
	if ix.Response.Decoded != nil {
		return ix.Response.Decoded, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(ix.Response.Body))
	if err != nil {
		return nil, fmt.Errorf("relaytest: gunzip %s: %w", ix, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("relaytest: gunzip %s: %w", ix, err)
	}
	return b, nil
}

// Events splits the response body into its raw stream units: per-event chunks
// for an SSE body, per-frame chunks for an AWS event-stream body. The chunks
// keep the bytes exactly and concatenate to the body. For a gzip recording
// the decoded body is split. Events returns nil for any other body.
func (ix *Interaction) Events() [][]byte {
	switch {
	case ix.IsSSE():
		b, err := ix.identityBody()
		if err != nil {
			return nil
		}
		return SplitSSE(b)
	case ix.IsEventStream():
		return SplitFrames(ix.Response.Body)
	}
	return nil
}

// SplitSSE splits an SSE byte stream into events; see sse.Split.
func SplitSSE(b []byte) [][]byte { return sse.Split(b) }

// SplitFrames splits an AWS event-stream byte stream into frames; see provider.SplitFrames.
func SplitFrames(b []byte) [][]byte { return provider.SplitFrames(b) }
