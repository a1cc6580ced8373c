package provider

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// realTraffic is the recorded traffic directory (fixtures/real-traffic/README.md).
const realTraffic = "../../fixtures/real-traffic"

// fixture is one recorded interaction in the neutral JSON shape of fixtures/real-traffic.
type fixture struct {
	Source     string   `json:"source"`
	Provenance string   `json:"provenance"`
	Features   []string `json:"features"`
	Request    *struct {
		Method  string              `json:"method"`
		URL     string              `json:"url"`
		Path    string              `json:"path"`
		Headers map[string][]string `json:"headers"`
		Body    string              `json:"body"`
	} `json:"request"`
	Response struct {
		Status     *int                `json:"status"`
		Headers    map[string][]string `json:"headers"`
		Body       string              `json:"body"`
		BodyBase64 string              `json:"body_base64"`
		Frames     []struct {
			Headers      map[string]any  `json:"headers"`
			TotalLength  int             `json:"total_length"`
			PayloadJSON  json.RawMessage `json:"payload_json"`
			BytesDecoded json.RawMessage `json:"bytes_decoded"`
		} `json:"eventstream_frames_decoded"`
	} `json:"response"`
	Expected json.RawMessage `json:"expected"`

	name string
}

// wireBody is the response body exactly as recorded.
func (f *fixture) wireBody(t testing.TB) []byte {
	t.Helper()
	if f.Response.BodyBase64 == "" {
		return []byte(f.Response.Body)
	}
	b, err := base64.StdEncoding.DecodeString(f.Response.BodyBase64)
	if err != nil {
		t.Fatalf("%s: body_base64: %v", f.name, err)
	}
	return b
}

// loadFixture reads one fixture file (path relative to fixtures/real-traffic).
func loadFixture(t testing.TB, rel string) *fixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(realTraffic, rel))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	f := &fixture{name: rel}
	if err := json.Unmarshal(data, f); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return f
}

// loadFixtures reads every fixture matching a glob (relative to fixtures/real-traffic), in name
// order.
func loadFixtures(t testing.TB, glob string) []*fixture {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(realTraffic, glob))
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures match %s (%v)", glob, err)
	}
	sort.Strings(names)
	var out []*fixture
	for _, n := range names {
		rel, _ := filepath.Rel(realTraffic, n)
		out = append(out, loadFixture(t, rel))
	}
	return out
}

// bedrockStreams returns the recorded Bedrock event streams.
func bedrockStreams(t testing.TB) []*fixture {
	t.Helper()
	var out []*fixture
	for _, f := range loadFixtures(t, "bedrock/*/*.json") {
		if len(f.Response.Frames) > 0 {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatal("no recorded bedrock streams")
	}
	return out
}

// splitFrames cuts an event-stream body at its frame boundaries (by the prelude's total
// length), the last piece holding whatever does not form a whole frame.
func splitFrames(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 4 {
		n := int(binary.BigEndian.Uint32(b))
		if n < 16 || n > len(b) {
			break
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

// sseEvent is one parsed SSE event.
type sseEvent struct {
	Name string
	Data string
}

// parseSSE splits an SSE body into events, failing on anything that is not "event:"/"data:"
// lines separated by blank lines.
func parseSSE(t testing.TB, body []byte) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	open := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 32<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if open {
				out = append(out, cur)
			}
			cur, open = sseEvent{}, false
		case strings.HasPrefix(line, "event: "):
			cur.Name, open = strings.TrimPrefix(line, "event: "), true
		case strings.HasPrefix(line, "data: "):
			if cur.Data != "" {
				t.Fatalf("SSE event %q with two data lines", cur.Name)
			}
			cur.Data, open = strings.TrimPrefix(line, "data: "), true
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	if open {
		t.Fatalf("SSE body does not end with a blank line: %q", body)
	}
	return out
}

// jsonEqual reports whether two JSON texts are the same value.
func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}
