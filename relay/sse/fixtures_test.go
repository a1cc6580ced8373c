package sse

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
)

const fixtureRoot = "../../fixtures/real-traffic"

// fixture is the part of a recorded interaction (see fixtures/real-traffic/README.md) that these
// tests use.
type fixture struct {
	path    string
	Request *struct {
		Method string `json:"method"`
		Path   string `json:"path"`
	} `json:"request"`
	Response *struct {
		Status      *int                `json:"status"`
		Headers     map[string][]string `json:"headers"`
		Body        *string             `json:"body"`
		BodyDecoded *string             `json:"body_decoded"`
		Frames      []struct {
			Headers     map[string]any `json:"headers"`
			PayloadJSON *struct {
				Bytes string `json:"bytes"`
			} `json:"payload_json"`
		} `json:"eventstream_frames_decoded"`
	} `json:"response"`
}

// loadFixtures reads every recorded interaction under the given provider directories.
func loadFixtures(t testing.TB, dirs ...string) []fixture {
	t.Helper()
	var out []fixture
	for _, dir := range dirs {
		root := filepath.Join(fixtureRoot, dir)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			var f fixture
			if err := json.Unmarshal(b, &f); err != nil {
				return err
			}
			f.path, _ = filepath.Rel(fixtureRoot, p)
			out = append(out, f)
			return nil
		})
		if err != nil {
			t.Fatalf("reading fixtures: %v", err)
		}
	}
	return out
}

// sseBody returns the decoded SSE body of a 200 text/event-stream response.
func (f fixture) sseBody() ([]byte, bool) {
	r := f.Response
	if r == nil || r.Status == nil || *r.Status != 200 {
		return nil, false
	}
	isSSE := false
	for k, v := range r.Headers {
		if strings.EqualFold(k, "content-type") && len(v) > 0 && strings.HasPrefix(v[0], "text/event-stream") {
			isSSE = true
		}
	}
	switch {
	case !isSSE:
		return nil, false
	case r.BodyDecoded != nil:
		return []byte(*r.BodyDecoded), true
	case r.Body != nil:
		return []byte(*r.Body), true
	}
	return nil, false
}

// messagesStream reports whether the interaction is an Anthropic Messages API stream (and not,
// say, Ollama's OpenAI-compatible endpoint).
func (f fixture) messagesStream() bool {
	return f.Request != nil && (strings.HasPrefix(f.Request.Path, "/v1/messages") ||
		strings.Contains(f.Request.Path, ":streamRawPredict"))
}

func sseFixtures(t testing.TB) []fixture {
	var out []fixture
	for _, f := range loadFixtures(t, "anthropic", "vertex", "ollama") {
		if _, ok := f.sseBody(); ok {
			out = append(out, f)
		}
	}
	return out
}

func TestRealTrafficSSE(t *testing.T) {
	fixtures := sseFixtures(t)
	if len(fixtures) < 45 {
		t.Fatalf("found %d SSE fixtures, want at least 45: is %s there?", len(fixtures), fixtureRoot)
	}
	for _, f := range fixtures {
		t.Run(f.path, func(t *testing.T) {
			body, _ := f.sseBody()
			events, err := readAll(NewReader(bytes.NewReader(body)))
			if err != nil {
				t.Fatalf("Reader: %v", err)
			}
			if !bytes.Equal(concatRaw(events), body) {
				t.Fatalf("Raw concatenation differs from the body")
			}
			small, err := readAll(NewReader(iotest.HalfReader(iotest.OneByteReader(bytes.NewReader(body)))))
			if err != nil {
				t.Fatalf("Reader, one byte at a time: %v", err)
			}
			if diff := cmp.Diff(events, small, cmpEvents); diff != "" {
				t.Fatalf("one byte at a time gives other events (-whole +small):\n%s", diff)
			}

			var c Checker
			var acc Accumulator
			for _, e := range events {
				if err = c.Feed(e); err != nil {
					break
				}
				if err := acc.Feed(e); err != nil {
					t.Fatalf("Accumulator: %v", err)
				}
			}
			if err == nil {
				err = c.End()
			}
			switch {
			case !f.messagesStream():
				// Not an Anthropic stream (Ollama's OpenAI endpoint): the checker must reject it.
				if err == nil {
					t.Fatalf("Checker accepted a %s stream", f.Request.Path)
				}
				return
			case strings.HasPrefix(f.path, "ollama") && !bytes.Contains(body, []byte("event: message_stop")):
				// Ollama ends a failed stream without message_stop; the relay repairs it.
				if !errors.Is(err, ErrIncomplete) {
					t.Fatalf("Checker error = %v, want ErrIncomplete", err)
				}
				return
			case err != nil:
				t.Fatalf("Checker: %v", err)
			}
			if len(c.Warnings) > 0 || len(c.Unknown) > 0 {
				t.Errorf("Warnings = %q, Unknown = %q, want none", c.Warnings, c.Unknown)
			}
			checkMessage(t, acc.Message())
		})
	}
}

// checkMessage checks what every complete streamed message has.
func checkMessage(t *testing.T, m Message) {
	t.Helper()
	if m.ID == "" || m.Role != "assistant" || m.StopReason == "" || m.Usage.OutputTokens == 0 {
		t.Errorf("message lacks id, role, stop reason or usage: %+v", m)
	}
	for i, b := range m.Content {
		if b.Input != nil && !json.Valid(b.Input) {
			t.Errorf("block %d (%s) input %s is not valid JSON", i, b.Type, b.Input)
		}
		if (b.Type == "tool_use" || b.Type == "server_tool_use") && (b.ID == "" || b.Name == "" || b.Input == nil) {
			t.Errorf("block %d lacks id, name or input: %+v", i, b)
		}
	}
}

// Ollama fails a stream by ending it early; the checker must flag such a stream (no such
// recording exists, so one is cut from a complete one at an event boundary).
func TestRealTrafficOllamaStreamCutBeforeMessageStop(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtureRoot, "ollama/02-text-stream.json"))
	if err != nil {
		t.Fatal(err)
	}
	body := gjson.GetBytes(b, "response.body").Str
	cut := body[:strings.Index(body, "event: message_delta")]
	if _, err := Check(strings.NewReader(cut)); !errors.Is(err, ErrIncomplete) {
		t.Errorf("Check error = %v, want ErrIncomplete", err)
	}
}

// bedrockEvents returns the Anthropic events carried by a Bedrock event-stream recording.
func bedrockEvents(t testing.TB, f fixture) []Event {
	t.Helper()
	var events []Event
	for i, fr := range f.Response.Frames {
		if fr.Headers[":message-type"] != "event" || fr.Headers[":event-type"] != "chunk" || fr.PayloadJSON == nil {
			t.Fatalf("frame %d is not a chunk event: %v", i, fr.Headers)
		}
		data, err := base64.StdEncoding.DecodeString(fr.PayloadJSON.Bytes)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		events = append(events, Event{Name: gjson.GetBytes(data, "type").Str, Data: data})
	}
	return events
}

func TestRealTrafficBedrock(t *testing.T) {
	n := 0
	for _, f := range loadFixtures(t, "bedrock") {
		if f.Response == nil || len(f.Response.Frames) == 0 {
			continue
		}
		n++
		t.Run(f.path, func(t *testing.T) {
			events := bedrockEvents(t, f)
			// Re-frame as SSE, as the relay does, and read it back.
			var body []byte
			for _, e := range events {
				body = AppendEvent(body, e.Name, e.Data)
			}
			read, err := Check(bytes.NewReader(body))
			var wantWarnings []string
			if strings.Contains(f.path, "k5_stream") {
				// The stream ends with max_tokens inside the open tool_use block.
				wantWarnings = []string{"event 3 (message_delta): stop_reason max_tokens while block 0 (tool_use) is open; treated as closed"}
			}
			var c Checker
			if err == nil {
				err = runChecker(&c, read)
			}
			if err != nil {
				t.Fatalf("Checker: %v", err)
			}
			if diff := cmp.Diff(dataEvents(events), dataEvents(read), cmpEvents); diff != "" {
				t.Errorf("events read back (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantWarnings, c.Warnings); diff != "" {
				t.Errorf("Warnings (-want +got):\n%s", diff)
			}
			var acc Accumulator
			for _, e := range events {
				if err := acc.Feed(e); err != nil {
					t.Fatalf("Accumulator: %v", err)
				}
			}
			checkMessage(t, acc.Message())
		})
	}
	if n < 14 {
		t.Fatalf("found %d Bedrock streams, want at least 14", n)
	}
}
