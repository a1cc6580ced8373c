package sse

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Event data used to build streams in tests.
const (
	dMessageStart = `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1}}}`
	dPing         = `{"type": "ping"}`
	dTextStart0   = `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`
	dTextDelta0   = `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`
	dStop0        = `{"type":"content_block_stop","index":0}`
	dToolStart1   = `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}`
	dToolDelta1   = `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`
	dToolDelta1b  = `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" 1}"}}`
	dStop1        = `{"type":"content_block_stop","index":1}`
	dDeltaEndTurn = `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`
	dDeltaToolUse = `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}`
	dDeltaMax     = `{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":32}}`
	dMessageStop  = `{"type":"message_stop"}`
	dError        = `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`
)

// stream turns "name data" pairs into events; the name is the data's type unless given as
// "name=data".
func stream(items ...string) []Event {
	var out []Event
	for _, it := range items {
		name, data, ok := strings.Cut(it, "=")
		if !ok || strings.HasPrefix(it, "{") {
			data = it
			name = typeOf(data)
		}
		out = append(out, Event{Name: name, Data: []byte(data)})
	}
	return out
}

func typeOf(data string) string {
	_, rest, _ := strings.Cut(data, `"type":`)
	rest = strings.TrimSpace(rest)
	rest = strings.TrimPrefix(rest, `"`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}

// textStream is a complete valid stream with a text block and a tool_use block.
func textStream() []string {
	return []string{
		dMessageStart, dTextStart0, dPing, dTextDelta0, dStop0,
		dToolStart1, dToolDelta1, dToolDelta1b, dStop1, dDeltaToolUse, dMessageStop,
	}
}

func runChecker(c *Checker, events []Event) error {
	for _, e := range events {
		if err := c.Feed(e); err != nil {
			return err
		}
	}
	return c.End()
}

func TestCheckerAccepts(t *testing.T) {
	tests := []struct {
		name         string
		events       []Event
		wantWarnings []string
		wantUnknown  []string
	}{
		{name: "A stream with text and tool_use blocks is valid", events: stream(textStream()...)},
		{
			name:   "A message without content blocks is valid",
			events: stream(dMessageStart, dDeltaEndTurn, dMessageStop),
		},
		{
			name:   "Pings are allowed before message_start, between blocks and before message_stop",
			events: stream(dPing, dMessageStart, dPing, dTextStart0, dStop0, dPing, dDeltaEndTurn, dPing, dMessageStop),
		},
		{
			name: "Blocks without data are ignored",
			events: append([]Event{{Raw: []byte(": keep-alive\n\n")}, {Name: "x", Raw: []byte("event: x\n\n")}},
				stream(dMessageStart, dDeltaEndTurn, dMessageStop)...),
		},
		{
			name: "Thinking with a signature, redacted thinking and a server tool result are valid",
			events: stream(dMessageStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hm"}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}`,
				dStop0,
				`{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwK"}}`,
				dStop1,
				`{"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}`,
				`{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}`,
				`{"type":"content_block_stop","index":2}`,
				`{"type":"content_block_start","index":3,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]}}`,
				`{"type":"content_block_stop","index":3}`,
				`{"type":"content_block_start","index":4,"content_block":{"type":"text","text":""}}`,
				`{"type":"content_block_delta","index":4,"delta":{"type":"citations_delta","citation":{"type":"web_search_result_location","url":"u"}}}`,
				`{"type":"content_block_stop","index":4}`,
				dDeltaEndTurn, dMessageStop),
		},
		{name: "An error event may end the stream first", events: stream(dError)},
		{
			name:   "An error event may end the stream inside a block",
			events: stream(dMessageStart, dTextStart0, dTextDelta0, dError),
		},
		{
			name:        "Unknown events are accepted and recorded once",
			events:      stream(dMessageStart, `{"type":"future_thing"}`, `{"type":"future_thing","x":1}`, dDeltaEndTurn, dMessageStop),
			wantUnknown: []string{"future_thing"},
		},
		{
			name: "Bedrock's max_tokens inside an open tool_use block is accepted with a warning",
			events: stream(dMessageStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}`,
				dDeltaMax, dMessageStop),
			wantWarnings: []string{"event 3 (message_delta): stop_reason max_tokens while block 0 (tool_use) is open; treated as closed"},
		},
		{
			name:         "An unknown stop_reason is accepted with a warning",
			events:       stream(dMessageStart, `{"type":"message_delta","delta":{"stop_reason":"new_reason"}}`, dMessageStop),
			wantWarnings: []string{`event 1 (message_delta): unknown stop_reason "new_reason"`},
		},
		{
			name: "Ollama's message_start without stop_reason keys and tool_use start without input are valid",
			events: stream(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":1,"output_tokens":0}}}`,
				`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"call_1","name":"f"}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
				dStop0, dDeltaToolUse, dMessageStop),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Checker
			if err := runChecker(&c, tt.events); err != nil {
				t.Fatalf("error = %v, want none", err)
			}
			if diff := cmp.Diff(tt.wantWarnings, c.Warnings); diff != "" {
				t.Errorf("Warnings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantUnknown, c.Unknown); diff != "" {
				t.Errorf("Unknown (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckerRejects(t *testing.T) {
	// replace returns textStream with item i replaced by the given items.
	replace := func(i int, items ...string) []Event {
		s := textStream()
		return stream(append(append(append([]string{}, s[:i]...), items...), s[i+1:]...)...)
	}
	tests := []struct {
		name    string
		events  []Event
		wantErr string
	}{
		{
			name:    "A stream must start with message_start",
			events:  stream(dTextStart0),
			wantErr: "sse: event 0 (content_block_start): expected message_start first",
		},
		{
			name:    "Data must be valid JSON",
			events:  stream(dMessageStart, `content_block_start={"type":"content_block_start",`),
			wantErr: "sse: event 1 (content_block_start): data is not valid JSON",
		},
		{
			name:    "The data type must equal the event name",
			events:  stream(dMessageStart, `content_block_delta=`+dStop0),
			wantErr: `sse: event 1 (content_block_delta): data type "content_block_stop" does not match the event name`,
		},
		{
			name:    "The data type must be present",
			events:  stream(`ping={"kind":"ping"}`),
			wantErr: "sse: event 0 (ping): data type missing does not match the event name",
		},
		{
			name:    "An event must have a name",
			events:  []Event{{Data: []byte(dMessageStart)}},
			wantErr: `sse: event 0 (): no event name (data type "message_start")`,
		},
		{
			name:    "message_start may come only once",
			events:  stream(dMessageStart, dMessageStart),
			wantErr: "sse: event 1 (message_start): second message_start",
		},
		{
			name:    "message_start needs a message id",
			events:  stream(`{"type":"message_start","message":{"type":"message","role":"assistant","content":[]}}`),
			wantErr: "sse: event 0 (message_start): message.id is not a non-empty string",
		},
		{
			name:    "message_start needs message type message",
			events:  stream(`{"type":"message_start","message":{"id":"m","type":"msg","role":"assistant","content":[]}}`),
			wantErr: `sse: event 0 (message_start): message.type is "msg", want "message"`,
		},
		{
			name:    "message_start needs role assistant",
			events:  stream(`{"type":"message_start","message":{"id":"m","type":"message","role":"user","content":[]}}`),
			wantErr: `sse: event 0 (message_start): message.role is "user", want "assistant"`,
		},
		{
			name:    "message_start needs empty content",
			events:  stream(`{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[{"type":"text","text":""}]}}`),
			wantErr: `sse: event 0 (message_start): message.content is [{"type":"text","text":""}], want []`,
		},
		{
			name:    "message_start needs content",
			events:  stream(`{"type":"message_start","message":{"id":"m","type":"message","role":"assistant"}}`),
			wantErr: `sse: event 0 (message_start): message.content is missing, want []`,
		},
		{
			name:    "Block indexes start at 0",
			events:  stream(dMessageStart, dToolStart1),
			wantErr: "sse: event 1 (content_block_start): index 1 but the next block index is 0",
		},
		{
			name:    "Block indexes are contiguous",
			events:  stream(dMessageStart, dTextStart0, dStop0, `{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}`),
			wantErr: "sse: event 3 (content_block_start): index 2 but the next block index is 1",
		},
		{
			name:    "Block indexes are non-negative integers",
			events:  stream(dMessageStart, `{"type":"content_block_start","index":0.5,"content_block":{"type":"text","text":""}}`),
			wantErr: "sse: event 1 (content_block_start): index is 0.5, want a non-negative integer",
		},
		{
			name:    "Only one block may be open",
			events:  replace(4, dToolStart1),
			wantErr: "sse: event 4 (content_block_start): index 1 starts while block 0 is still open",
		},
		{
			name: "A delta must be for the open block",
			events: stream(dMessageStart, dTextStart0, dStop0,
				`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
				`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"a"}}`,
				dPing, dPing,
				`{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"a"}}`),
			wantErr: "sse: event 7 (content_block_delta): index 2 but the open block is 1",
		},
		{
			name:    "A delta needs an open block",
			events:  stream(dMessageStart, dTextDelta0),
			wantErr: "sse: event 1 (content_block_delta): index 0 but no block is open",
		},
		{
			name:    "A text block takes no input_json_delta",
			events:  replace(3, `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{}"}}`),
			wantErr: `sse: event 3 (content_block_delta): "input_json_delta" does not fit block 0 of type text`,
		},
		{
			name:    "A tool_use block takes no text_delta",
			events:  replace(6, `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"a"}}`),
			wantErr: `sse: event 6 (content_block_delta): "text_delta" does not fit block 1 of type tool_use`,
		},
		{
			name: "A redacted_thinking block takes no delta",
			events: stream(dMessageStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":"x"}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"a"}}`),
			wantErr: `sse: event 2 (content_block_delta): "thinking_delta" does not fit block 0 of type redacted_thinking`,
		},
		{
			name: "A server tool result block takes no delta",
			events: stream(dMessageStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"web_search_tool_result","tool_use_id":"s","content":[]}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}`),
			wantErr: `sse: event 2 (content_block_delta): "text_delta" does not fit block 0 of type web_search_tool_result`,
		},
		{
			name: "A thinking block takes no thinking_delta after its signature",
			events: stream(dMessageStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"s"}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"a"}}`),
			wantErr: "sse: event 3 (content_block_delta): thinking_delta after signature_delta",
		},
		{
			name: "A thinking block takes one signature_delta",
			events: stream(dMessageStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"s"}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"s"}}`),
			wantErr: "sse: event 3 (content_block_delta): second signature_delta",
		},
		{
			name:    "A text_delta needs a text string",
			events:  replace(3, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":1}}`),
			wantErr: "sse: event 3 (content_block_delta): text_delta without a text string",
		},
		{
			name:    "A citations_delta needs a citation object",
			events:  replace(3, `{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":"x"}}`),
			wantErr: "sse: event 3 (content_block_delta): citations_delta without a citation object",
		},
		{
			name:    "A tool_use block needs an id",
			events:  replace(5, `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","name":"f","input":{}}}`),
			wantErr: "sse: event 5 (content_block_start): tool_use block without an id",
		},
		{
			name:    "A text block needs a text string",
			events:  replace(1, `{"type":"content_block_start","index":0,"content_block":{"type":"text"}}`),
			wantErr: "sse: event 1 (content_block_start): text block without a text string",
		},
		{
			name:    "content_block_stop must close the open block",
			events:  replace(4, `{"type":"content_block_stop","index":1}`),
			wantErr: "sse: event 4 (content_block_stop): index 1 but the open block is 0",
		},
		{
			name:    "content_block_stop needs an open block",
			events:  stream(dMessageStart, dStop0),
			wantErr: "sse: event 1 (content_block_stop): index 0 but no block is open",
		},
		{
			name:    "message_delta needs every block closed",
			events:  stream(dMessageStart, dTextStart0, dTextDelta0, dDeltaEndTurn),
			wantErr: "sse: event 3 (message_delta): block 0 is still open",
		},
		{
			name:    "message_delta needs a stop_reason",
			events:  stream(dMessageStart, `{"type":"message_delta","delta":{"stop_reason":null}}`),
			wantErr: "sse: event 1 (message_delta): delta.stop_reason is null, want a stop reason",
		},
		{
			name:    "message_delta may come only once",
			events:  stream(dMessageStart, dDeltaEndTurn, dDeltaEndTurn),
			wantErr: "sse: event 2 (message_delta): second message_delta",
		},
		{
			name:    "No block may start after message_delta",
			events:  stream(dMessageStart, dDeltaEndTurn, dTextStart0),
			wantErr: "sse: event 2 (content_block_start): block 0 starts after message_delta",
		},
		{
			name:    "message_stop needs message_delta first",
			events:  stream(dMessageStart, dMessageStop),
			wantErr: "sse: event 1 (message_stop): message_stop before message_delta",
		},
		{
			name:    "message_stop needs the open block closed",
			events:  stream(dMessageStart, dTextStart0, dMessageStop),
			wantErr: "sse: event 2 (message_stop): message_stop while block 0 is open and before message_delta",
		},
		{
			name:    "Nothing may follow message_stop, not even ping",
			events:  stream(append(textStream(), dPing)...),
			wantErr: "sse: event 11 (ping): event after message_stop",
		},
		{
			name:    "Nothing may follow an error",
			events:  stream(dMessageStart, dError, dPing),
			wantErr: "sse: event 2 (ping): event after error",
		},
		{
			name:    "An error needs error.type",
			events:  stream(`{"type":"error","error":{"message":"x"}}`),
			wantErr: "sse: event 0 (error): error.type is not a non-empty string",
		},
		{
			name:    "An error needs error.message",
			events:  stream(`{"type":"error","error":{"type":"api_error"}}`),
			wantErr: "sse: event 0 (error): error.message is not a string",
		},
		{
			name:    "A stream without message_stop is incomplete",
			events:  stream(dMessageStart, dTextStart0, dTextDelta0, dStop0, dDeltaEndTurn),
			wantErr: "sse: stream ended without message_stop or error",
		},
		{
			name:    "An empty stream is incomplete",
			wantErr: "sse: stream ended without message_stop or error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Checker
			err := runChecker(&c, tt.events)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %s", err, tt.wantErr)
			}
			var ge *GrammarError
			if errors.As(err, &ge) == errors.Is(err, ErrIncomplete) {
				t.Errorf("error %v is a GrammarError %v and ErrIncomplete %v; want exactly one",
					err, errors.As(err, &ge), errors.Is(err, ErrIncomplete))
			}
			// The first violation sticks.
			if again := c.Feed(stream(dPing)[0]); again != err && !errors.Is(err, ErrIncomplete) {
				t.Errorf("Feed after the violation = %v, want %v", again, err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	var body []byte
	for _, e := range stream(textStream()...) {
		body = AppendEvent(body, e.Name, e.Data)
	}
	body = append([]byte(": hello\n\n"), body...)
	tests := []struct {
		name    string
		in      string
		wantN   int
		wantErr error
	}{
		{name: "A complete stream passes and returns every block", in: string(body), wantN: 12},
		{name: "A stream cut between events is incomplete", in: string(body[:strings.Index(string(body), "event: message_delta")]), wantN: 10, wantErr: ErrIncomplete},
		{name: "A stream cut inside an event is truncated", in: string(body[:len(body)-3]), wantN: 12, wantErr: ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Check(strings.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if len(events) != tt.wantN {
				t.Errorf("events = %d, want %d", len(events), tt.wantN)
			}
			if got := string(concatRaw(events)); got != tt.in {
				t.Errorf("Raw concatenation differs from the input")
			}
		})
	}
}
