package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// fakeUpstream answers like the Anthropic Messages API, enough for Claude Code to finish a
// turn: text by default; a Bash tool_use (echo hi) to a request that offers Bash and asks for
// `echo hi`; a closing text once the tool_result is in the conversation.
type fakeUpstream struct{}

// message is the part of a Messages request the fake reads.
type message struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name string `json:"name"`
	} `json:"tools"`
}

func (fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		writeJSON(w, 200, fmt.Sprintf(`{"input_tokens":%d}`, max(1, body.Len()/4)))
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		var m message
		if err := json.Unmarshal(body.Bytes(), &m); err != nil {
			writeJSON(w, 400, `{"type":"error","error":{"type":"invalid_request_error","message":"fake upstream: body is not JSON"}}`)
			return
		}
		answer(w, &m, body.Len()/4)
	default:
		writeJSON(w, 404, `{"type":"error","error":{"type":"not_found_error","message":"fake upstream: no route"}}`)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// contentHas reports whether a message's content (a string or blocks) has a block of type
// typ, or, for typ "text", text containing s.
func contentHas(raw json.RawMessage, typ, s string) bool {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return typ == "text" && strings.Contains(str, s)
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	json.Unmarshal(raw, &blocks)
	for _, b := range blocks {
		if b.Type == typ && (typ != "text" || strings.Contains(b.Text, s)) {
			return true
		}
	}
	return false
}

// answer writes the reply: its content blocks as JSON or as an SSE stream.
func answer(w http.ResponseWriter, m *message, inTokens int) {
	offersBash, asks, hasResult := false, false, false
	for _, t := range m.Tools {
		offersBash = offersBash || t.Name == "Bash"
	}
	for _, msg := range m.Messages {
		if msg.Role != "user" {
			continue
		}
		asks = asks || contentHas(msg.Content, "text", "echo hi")
		hasResult = hasResult || contentHas(msg.Content, "tool_result", "")
	}
	id := fmt.Sprintf("msg_fake%d", time.Now().UnixNano()%1e9)
	text, stop := "Hello from the fake upstream.", "end_turn"
	var tool bool
	switch {
	case hasResult:
		text = "The command printed: hi"
	case offersBash && asks:
		tool, stop = true, "tool_use"
	}
	usage := fmt.Sprintf(`{"input_tokens":%d,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":12}`, max(1, inTokens))
	const toolInput = `{"command":"echo hi","description":"Print hi"}`
	if !m.Stream {
		content := fmt.Sprintf(`[{"type":"text","text":%q}]`, text)
		if tool {
			content = `[{"type":"tool_use","id":"toolu_fake01","name":"Bash","input":` + toolInput + `}]`
		}
		writeJSON(w, 200, fmt.Sprintf(`{"id":%q,"type":"message","role":"assistant","model":%q,"content":%s,"stop_reason":%q,"stop_sequence":null,"usage":%s}`,
			id, m.Model, content, stop, usage))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Request-Id", "req_fake")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	ev := func(name, data string) {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
		if fl != nil {
			fl.Flush()
		}
	}
	start := fmt.Sprintf(`{"type":"message_start","message":{"id":%q,"type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":%s}}`,
		id, m.Model, strings.Replace(usage, `"output_tokens":12`, `"output_tokens":1`, 1))
	ev("message_start", start)
	if tool {
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_fake01","name":"Bash","input":{}}}`)
		in, _ := json.Marshal(toolInput)
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":`+string(in)+`}}`)
	} else {
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		t, _ := json.Marshal(text)
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(t)+`}}`)
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":12}}`, stop))
	ev("message_stop", `{"type":"message_stop"}`)
}

// recordFile renders one captured request as a fixture file.
func recordFile(c *captured, version string, date time.Time, command string) ([]byte, error) {
	headers := map[string][]string{}
	for k, vs := range c.header {
		lk := strings.ToLower(k)
		switch lk {
		case "x-api-key", "authorization", "cookie", "proxy-authorization":
			vs = []string{"REDACTED"}
		}
		headers[lk] = vs
	}
	var body json.RawMessage
	if len(bytes.TrimSpace(c.body)) > 0 {
		b, err := filler(c.body, "")
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		var ind bytes.Buffer
		json.Indent(&ind, b, " ", " ")
		body = ind.Bytes()
	}
	rec := struct {
		Provenance string              `json:"provenance"`
		Version    string              `json:"claude_code_version"`
		Recorded   string              `json:"recorded"`
		Scenario   string              `json:"scenario"`
		N          int                 `json:"n"`
		Command    string              `json:"command"`
		Edits      string              `json:"edits"`
		Time       string              `json:"time"`
		Method     string              `json:"method"`
		Path       string              `json:"path"`
		Query      string              `json:"query"`
		Headers    map[string][]string `json:"headers"`
		BodyLen    int                 `json:"body_len"`
		Body       json.RawMessage     `json:"body,omitempty"`
		Status     int                 `json:"relay_status"`
		Provider   string              `json:"relay_provider,omitempty"`
	}{
		Provenance: "recorded from real Claude Code " + version + " through ccrelay against a fake upstream (scripts/cc-versions)",
		Version:    version, Recorded: date.Format(time.RFC3339), Scenario: c.scenario, N: c.n, Command: command,
		Edits: "credentials replaced by REDACTED; strings over 80 characters under text, description, content and thinking " +
			"replaced by filler of the same length and line count; body re-indented (body_len is the size sent)",
		Time: c.at.Format(time.RFC3339Nano), Method: c.method, Path: c.path, Query: c.query,
		Headers: headers, BodyLen: len(c.body), Body: body, Status: c.status, Provider: c.provider,
	}
	out, err := json.MarshalIndent(rec, "", " ")
	return append(out, '\n'), err
}

// filler rewrites a JSON value keeping the order of object members, with long prose strings
// (under the keys text, description, content, thinking) replaced by filler of the same length
// and line count. key is the member name the value belongs to.
func filler(raw []byte, key string) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return raw, nil
	case raw[0] == '{':
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		b.WriteByte('{')
		for i := 0; dec.More(); i++ {
			t, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := t.(string)
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, err
			}
			fv, err := filler(v, k)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			b.Write(fv)
		}
		b.WriteByte('}')
		return b.Bytes(), nil
	case raw[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		b.WriteByte('[')
		for i, it := range items {
			fv, err := filler(it, key)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(fv)
		}
		b.WriteByte(']')
		return b.Bytes(), nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		switch key {
		case "text", "description", "content", "thinking":
			if len([]rune(s)) > 80 {
				enc, _ := json.Marshal(lorem(s))
				return enc, nil
			}
		}
		return raw, nil
	}
	return raw, nil
}

// lorem is filler with the same number of characters in each line as s.
func lorem(s string) string {
	const words = "lorem ipsum dolor sit amet "
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		n := len([]rune(l))
		lines[i] = strings.Repeat(words, n/len(words)+1)[:n]
	}
	return strings.Join(lines, "\n")
}
