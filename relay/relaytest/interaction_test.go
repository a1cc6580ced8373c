package relaytest_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ccrelay/ccrelay/relay/relaytest"
)

// fixtureFiles returns every interaction file under the fixtures directory,
// relative to it, skipping claude-code/ (requests only, no response).
func fixtureFiles(t *testing.T, under string) []string {
	t.Helper()
	root := relaytest.Fixture(t, ".")
	var out []string
	err := filepath.WalkDir(filepath.Join(root, under), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "claude-code" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".json") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk fixtures: %v", err)
	}
	if len(out) == 0 {
		t.Fatalf("no fixtures under %q", under)
	}
	return out
}

func TestLoadKnownFile(t *testing.T) {
	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/anthropic-sdk-go/tool_runner_next_streaming.0.json"))
	type summary struct {
		Provider, Provenance, License string
		Method, Path, URL             string
		Status                        int
		ContentType, RequestID        []string
		SSE, EventStream              bool
		HasFeature                    bool
		BodyPrefix                    string
	}
	got := summary{
		Provider: ix.Provider, Provenance: ix.Provenance, License: ix.License,
		Method: ix.Request.Method, Path: ix.Request.Path, URL: ix.Request.URL,
		Status:      ix.Response.Status,
		ContentType: ix.Response.Headers["Content-Type"],
		RequestID:   ix.Response.Headers["Request-Id"],
		SSE:         ix.IsSSE(), EventStream: ix.IsEventStream(),
		HasFeature: slices.Contains(ix.Features, "tool_use-input_json_delta"),
		BodyPrefix: string(ix.Response.Body[:21]),
	}
	want := summary{
		Provider: "anthropic", Provenance: "recorded-live", License: "MIT",
		Method: "POST", Path: "/v1/messages?beta=true", URL: "https://api.anthropic.com/v1/messages?beta=true",
		Status:      200,
		ContentType: []string{"text/event-stream; charset=utf-8"},
		RequestID:   []string{"req_011CUdgeEggCMUt3Y8mNfvTP"},
		SSE:         true,
		HasFeature:  true,
		BodyPrefix:  "event: message_start\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loaded interaction (-want +got):\n%s", diff)
	}
	if !strings.Contains(ix.Request.Body, `"model":"claude-3-7-sonnet-latest"`) {
		t.Errorf("request body not loaded: %.80q", ix.Request.Body)
	}
	if ix.Response.Decoded != nil {
		t.Errorf("Decoded = %d bytes, want nil for a plain body", len(ix.Response.Decoded))
	}
}

func TestLoadGzipAndBinary(t *testing.T) {
	gz := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/llm-anthropic/test_schema_prompt.0.json"))
	if !bytes.HasPrefix(gz.Response.Body, []byte{0x1f, 0x8b}) {
		t.Errorf("gzip Body starts %x, want the gzip magic 1f8b", gz.Response.Body[:2])
	}
	if !bytes.HasPrefix(gz.Response.Decoded, []byte("event: message_start")) {
		t.Errorf("Decoded starts %.30q, want an SSE stream", gz.Response.Decoded)
	}
	bin := relaytest.MustLoad(t, relaytest.Fixture(t, "bedrock/fantasy/bedrock-anthropic-claude-3-haiku.simple_streaming.0.json"))
	if !bin.IsEventStream() || bin.IsSSE() {
		t.Errorf("IsEventStream = %v, IsSSE = %v, want true, false", bin.IsEventStream(), bin.IsSSE())
	}
	if n := binary.BigEndian.Uint32(bin.Response.Body); n != 476 {
		t.Errorf("first frame length = %d, want 476", n)
	}
}

func TestLoadEveryFixture(t *testing.T) {
	for _, rel := range fixtureFiles(t, ".") {
		if _, err := relaytest.Load(relaytest.Fixture(t, rel)); err != nil {
			t.Errorf("Load(%s): %v", rel, err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, wantErr string
	}{
		{"missing file", filepath.Join(dir, "nope.json"), "relaytest: load: open"},
		{"bad json", write("bad.json", "{"), "relaytest: load " + dir},
		{"no response", write("noresp.json", `{"method":"POST","path":"/v1/messages"}`), "no response object"},
		{"bad base64", write("b64.json", `{"response":{"status":200,"body_base64":"!!"}}`), "body_base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := relaytest.Load(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Load error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSplitSSE(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"lf", "event: a\ndata: {}\n\nevent: b\ndata: {}\n\n",
			[]string{"event: a\ndata: {}\n\n", "event: b\ndata: {}\n\n"}},
		{"crlf", "event: a\r\ndata: {}\r\n\r\ndata: x\r\n\r\n",
			[]string{"event: a\r\ndata: {}\r\n\r\n", "data: x\r\n\r\n"}},
		{"cr", "data: a\r\rdata: b\r\r", []string{"data: a\r\r", "data: b\r\r"}},
		{"mixed", "data: a\r\n\ndata: b\n\r\n", []string{"data: a\r\n\n", "data: b\n\r\n"}},
		{"unterminated tail", "data: a\n\ndata: b\n", []string{"data: a\n\n", "data: b\n"}},
		{"leading and extra blank lines", "\n\ndata: a\n\n\n\ndata: b\n\n",
			[]string{"\n\ndata: a\n\n", "\n\ndata: b\n\n"}},
		{"trailing blank lines", "data: a\n\n\n", []string{"data: a\n\n", "\n"}},
		{"comment", ": keepalive\n\ndata: a\n\n", []string{": keepalive\n\n", "data: a\n\n"}},
		{"padded json kept", "data: {\"type\":\"ping\"   }\n\n", []string{"data: {\"type\":\"ping\"   }\n\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := toStrings(relaytest.SplitSSE([]byte(tc.in)))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("SplitSSE(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestSplitFramesShortTail(t *testing.T) {
	frame := []byte{0, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}
	tests := []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"one", frame, [][]byte{frame}},
		{"tail shorter than prefix", append(slices.Clone(frame), 0, 0), [][]byte{frame, {0, 0}}},
		{"length past end", append(slices.Clone(frame), 0, 0, 0, 99, 1), [][]byte{frame, {0, 0, 0, 99, 1}}},
		{"length below minimum", []byte{0, 0, 0, 4, 9, 9}, [][]byte{{0, 0, 0, 4, 9, 9}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, relaytest.SplitFrames(tc.in)); diff != "" {
				t.Errorf("SplitFrames (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEventsSSEFixtures checks that every recorded SSE body splits into whole
// events that rejoin to the exact body.
func TestEventsSSEFixtures(t *testing.T) {
	n := 0
	for _, rel := range fixtureFiles(t, ".") {
		ix := relaytest.MustLoad(t, relaytest.Fixture(t, rel))
		if !ix.IsSSE() {
			continue
		}
		n++
		want := ix.Response.Body
		if ix.Response.Decoded != nil {
			want = ix.Response.Decoded
		}
		evs := ix.Events()
		if got := bytes.Join(evs, nil); !bytes.Equal(got, want) {
			t.Errorf("%s: events rejoin to %d bytes, want the %d body bytes", rel, len(got), len(want))
			continue
		}
		for i, ev := range evs {
			body, ok := bytes.CutSuffix(ev, []byte("\n\n"))
			if !ok || bytes.Contains(body, []byte("\n\n")) || len(bytes.TrimSpace(body)) == 0 {
				t.Errorf("%s: event %d is not one whole event: %.60q", rel, i, ev)
			}
		}
	}
	if n < 40 {
		t.Errorf("checked %d SSE fixtures, want at least 40", n)
	}
}

// TestEventsBedrockFrames checks the frame split of every Bedrock fixture
// with a binary body: the frames rejoin to the body, each frame's length
// prefix is its length and both CRCs hold, and the count matches the fixture's
// derived frame view. Negative codec vectors must fail one of those checks.
func TestEventsBedrockFrames(t *testing.T) {
	n := 0
	for _, rel := range fixtureFiles(t, "bedrock") {
		raw := struct {
			Features []string `json:"features"`
			Response struct {
				BodyBase64 *string           `json:"body_base64"`
				Frames     []json.RawMessage `json:"eventstream_frames_decoded"`
			} `json:"response"`
		}{}
		data, err := os.ReadFile(relaytest.Fixture(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if raw.Response.BodyBase64 == nil {
			continue
		}
		n++
		ix := relaytest.MustLoad(t, relaytest.Fixture(t, rel))
		if !ix.IsEventStream() {
			t.Errorf("%s: IsEventStream = false for a body_base64 Bedrock body", rel)
		}
		frames := ix.Events()
		if got := bytes.Join(frames, nil); !bytes.Equal(got, ix.Response.Body) {
			t.Errorf("%s: frames rejoin to %d bytes, want %d", rel, len(got), len(ix.Response.Body))
		}
		var bad []string
		for i, f := range frames {
			if msg := checkFrame(f); msg != "" {
				bad = append(bad, fmt.Sprintf("%s: frame %d: %s", rel, i, msg))
			}
		}
		negative := slices.Contains(raw.Features, "decode-error")
		switch {
		case negative && len(bad) == 0:
			t.Errorf("%s: negative vector passed every frame check", rel)
		case !negative && len(bad) > 0:
			t.Errorf("frame check failed:\n%s", strings.Join(bad, "\n"))
		}
		if len(raw.Response.Frames) > 0 && len(raw.Response.Frames) != len(frames) {
			t.Errorf("%s: %d frames, want %d as in eventstream_frames_decoded", rel, len(frames), len(raw.Response.Frames))
		}
	}
	if n < 25 {
		t.Errorf("checked %d Bedrock binary fixtures, want at least 25", n)
	}
}

// checkFrame validates one AWS event-stream frame and describes the first
// problem, or returns "".
func checkFrame(f []byte) string {
	if len(f) < 16 {
		return "shorter than 16 bytes"
	}
	total := binary.BigEndian.Uint32(f[0:4])
	hdrLen := binary.BigEndian.Uint32(f[4:8])
	switch {
	case int(total) != len(f):
		return "length prefix differs from frame length"
	case int(hdrLen)+16 > len(f):
		return "headers length past the end"
	case binary.BigEndian.Uint32(f[8:12]) != crc32.ChecksumIEEE(f[0:8]):
		return "prelude CRC mismatch"
	case binary.BigEndian.Uint32(f[len(f)-4:]) != crc32.ChecksumIEEE(f[:len(f)-4]):
		return "message CRC mismatch"
	}
	return ""
}

func TestEventsNonStream(t *testing.T) {
	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/fantasy/claude-sonnet-4.simple.0.json"))
	if ix.IsSSE() || ix.IsEventStream() {
		t.Fatalf("IsSSE = %v, IsEventStream = %v, want false for a JSON body", ix.IsSSE(), ix.IsEventStream())
	}
	if evs := ix.Events(); evs != nil {
		t.Errorf("Events() = %d chunks, want nil", len(evs))
	}
}

func toStrings(bs [][]byte) []string {
	var out []string
	for _, b := range bs {
		out = append(out, string(b))
	}
	return out
}
