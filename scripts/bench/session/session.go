// Package session generates the request bodies of a long Claude Code session for ccrelay's
// benchmarks (scripts/bench and relay/bench_body_test.go).
//
// It starts from a recorded Claude Code first-turn request (by default
// fixtures/real-traffic/claude-code/claude-code-2.1.332__02-tool-roundtrip-req1.messages.json) and
// appends turns as Claude Code does when a session goes on, until the body reaches a target size:
//
//   - assistant turns: a thinking block with a signature (Anthropic's shape: base64, several
//     hundred bytes; the thinking text itself is empty because the recorded request asks for
//     "display": "omitted"), usually a text block, and tool_use blocks for Bash, Read, Edit and
//     Grep with realistic inputs (sometimes several Reads at once);
//   - user turns: tool_result blocks with file contents (Read's line-numbered form), command
//     output and Edit confirmations, and now and then a new prompt after the assistant
//     finished a task;
//   - cache_control {"type": "ephemeral"} only on the last block of the last message, as Claude
//     Code sends it; the earlier messages lose theirs, and the role "system" message becomes a
//     string once it is no longer last (both as in the recorded second request,
//     claude-code-2.1.332__03-tool-roundtrip-req2-tool_result.messages.json).
//
// Everything else of the recorded body is kept byte for byte: the top-level keys in their
// order, each once, the system blocks, the 12 tools, metadata, thinking, context_management,
// output_config and stream. The last tool_result is cut so that the body has exactly the target
// size. Generation is deterministic: the same first turn, target and seed give the same bytes,
// and the turns do not depend on the target, so a smaller body's turns are the beginning of a
// larger one's (only the last, size-filling exchange differs), as in a session that grows.
package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultFixture is the recorded Claude Code first-turn request the benchmarks start from,
// relative to the repository root.
const DefaultFixture = "fixtures/real-traffic/claude-code/claude-code-2.1.332__02-tool-roundtrip-req1.messages.json"

// DefaultSeed is the seed of the benchmarks' bodies.
const DefaultSeed uint64 = 1

// FirstTurn is the target that means "the recorded first turn as is".
const FirstTurn = 0

// DefaultSizes are the benchmarks' body sizes: the first turn as is (48,941 bytes), 250 KB and
// 1 MB (decimal: 250,000 and 1,000,000 bytes).
var DefaultSizes = []string{"49k", "250k", "1m"}

// Record is a recorded request (the real-traffic fixture format).
type Record struct {
	Source  string // the file it was read from
	Method  string
	Path    string
	Query   string
	Headers map[string][]string
	Body    []byte // compacted
}

// LoadRecord reads a recorded request and compacts its body (as scripts/bench/load sends it).
// A relative path is looked up from the working directory and then its parents, so the
// default fixture path works from anywhere inside the repository.
func LoadRecord(path string) (*Record, error) {
	raw, err := os.ReadFile(FindUp(path))
	if err != nil {
		return nil, err
	}
	var fx struct {
		Method  string              `json:"method"`
		Path    string              `json:"path"`
		Query   string              `json:"query"`
		Headers map[string][]string `json:"headers"`
		Body    json.RawMessage     `json:"body"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	body := []byte(fx.Body)
	if len(body) > 0 && body[0] == '"' { // a body recorded as a string
		var s string
		if err := json.Unmarshal(body, &s); err != nil {
			return nil, fmt.Errorf("%s: body: %w", path, err)
		}
		body = []byte(s)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return nil, fmt.Errorf("%s: body is not JSON: %w", path, err)
	}
	r := &Record{Source: path, Method: fx.Method, Path: fx.Path, Query: fx.Query, Headers: fx.Headers, Body: compact.Bytes()}
	if r.Method == "" {
		r.Method = "POST"
	}
	if r.Path == "" {
		r.Path = "/v1/messages"
	}
	return r, nil
}

// Fixture returns a request record in the real-traffic format (which scripts/bench/load reads
// with -fixture) holding body, with the recorded method, path, query and headers (without
// credentials, host and length) and a description of where the body comes from.
func (r *Record) Fixture(body []byte, description string) ([]byte, error) {
	h := map[string][]string{}
	for k, v := range r.Headers {
		switch strings.ToLower(k) {
		case "host", "content-length", "connection", "x-api-key", "authorization":
			continue
		}
		h[k] = v
	}
	type record struct {
		Description string              `json:"description"`
		Method      string              `json:"method"`
		Path        string              `json:"path"`
		Query       string              `json:"query,omitempty"`
		Headers     map[string][]string `json:"headers"`
		BodyLen     int                 `json:"body_len"`
		Body        json.RawMessage     `json:"body"`
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(record{description, r.Method, r.Path, r.Query, h, len(body), body}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseSize reads a body size: "49k" or "first" is the recorded first turn as is (FirstTurn);
// otherwise a number of bytes with an optional decimal suffix k (1,000) or m (1,000,000), as in
// "250k" and "1m".
func ParseSize(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "49k", "first", "0":
		return FirstTurn, nil
	}
	mult := 1
	switch {
	case strings.HasSuffix(t, "k"), strings.HasSuffix(t, "kb"):
		mult, t = 1000, strings.TrimSuffix(strings.TrimSuffix(t, "b"), "k")
	case strings.HasSuffix(t, "m"), strings.HasSuffix(t, "mb"):
		mult, t = 1000*1000, strings.TrimSuffix(strings.TrimSuffix(t, "b"), "m")
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("body size %q: want 49k (the first turn as is), or bytes such as 250k, 1m or 300000", s)
	}
	return int(f * float64(mult)), nil
}

// Stats describes a generated body.
type Stats struct {
	Size       int            // bytes
	FirstTurn  bool           // the recorded first turn as is
	Messages   int            // messages in the body
	Appended   int            // messages appended to the first turn
	Thinking   int            // thinking blocks (each with a signature)
	ToolUses   map[string]int // tool_use blocks by tool name
	Prompts    int            // new user prompts after a finished task
	Signatures int            // bytes of signatures
}

func (s Stats) String() string {
	if s.FirstTurn {
		return fmt.Sprintf("%d B, the recorded first turn as is (%d messages)", s.Size, s.Messages)
	}
	var tools []string
	for _, n := range []string{"Bash", "Read", "Edit", "Grep"} {
		if s.ToolUses[n] > 0 {
			tools = append(tools, fmt.Sprintf("%d %s", s.ToolUses[n], n))
		}
	}
	return fmt.Sprintf("%d B, %d messages (%d appended: %d thinking blocks with signatures, tool_use %s, %d new prompts)",
		s.Size, s.Messages, s.Appended, s.Thinking, strings.Join(tools, ", "), s.Prompts)
}

// minFill is the smallest tool_result content the last exchange may get: generation stops
// adding exchanges when the next one would leave less room than this for the last one.
const minFill = 256

// Generate returns the body of a long session: first (a compacted Claude Code first-turn
// request body) with turns appended until the body has exactly target bytes. target
// FirstTurn returns first unchanged.
func Generate(first []byte, target int, seed uint64) ([]byte, Stats, error) {
	top, err := object(first)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("first turn: %w", err)
	}
	mi := -1
	for i, kv := range top {
		if kv.k == "messages" {
			mi = i
		}
	}
	if mi < 0 {
		return nil, Stats{}, errors.New("first turn: no messages")
	}
	var orig []json.RawMessage
	if err := json.Unmarshal(top[mi].v, &orig); err != nil {
		return nil, Stats{}, fmt.Errorf("first turn: messages: %w", err)
	}
	if target == FirstTurn {
		return first, Stats{Size: len(first), FirstTurn: true, Messages: len(orig), ToolUses: map[string]int{}}, nil
	}

	// The first turn's messages as Claude Code resends them once the session goes on.
	var msgs [][]byte
	for i, m := range orig {
		nm, err := normalize(m)
		if err != nil {
			return nil, Stats{}, fmt.Errorf("first turn: message %d: %w", i, err)
		}
		msgs = append(msgs, nm)
	}

	// size of the body with msgs as its messages: everything but the messages array, the
	// brackets, the messages and their commas.
	fixed := len(first) - len(top[mi].v) + 2
	size := fixed
	for i, m := range msgs {
		size += len(m)
		if i > 0 {
			size++
		}
	}
	add := func(m []byte) { size += len(m) + 1 }
	cost := func(ms ...[]byte) int {
		n := 0
		for _, m := range ms {
			n += len(m) + 1
		}
		return n
	}

	g := newGen(rand.New(rand.NewPCG(seed, 0x5e55_10_17)))
	// The last exchange (a test run whose output fills the body to the target) comes from its
	// own random stream, so that the turns before it do not depend on the target.
	last := lastExchange(rand.New(rand.NewPCG(seed, uint64(target))))
	la, empty := last.assistant(), last.user.encode(true)
	st := Stats{ToolUses: map[string]int{}}
	var appended [][]byte
	for {
		ex := g.next()
		a, u := ex.assistant(), ex.user.encode(false)
		if size+cost(a, u)+cost(la, empty)+minFill > target {
			break
		}
		add(a)
		add(u)
		appended = append(appended, a, u)
		st.count(ex)
	}
	need := target - (size + cost(la, empty))
	if need < minFill {
		return nil, Stats{}, fmt.Errorf("target %d B is too small: the first turn is %d B; use 49k for the first turn as is", target, len(first))
	}
	last.user.results[0].content = fill(last.r, need)
	lu := last.user.encode(true)
	st.count(last)
	appended = append(appended, la, lu)

	var arr bytes.Buffer
	arr.Grow(target)
	arr.WriteByte('[')
	for i, m := range append(msgs, appended...) {
		if i > 0 {
			arr.WriteByte(',')
		}
		arr.Write(m)
	}
	arr.WriteByte(']')
	top[mi].v = arr.Bytes()
	body := encodeObject(top)
	if len(body) != target {
		return nil, Stats{}, fmt.Errorf("internal: generated %d B, want %d", len(body), target)
	}
	if !json.Valid(body) {
		return nil, Stats{}, errors.New("internal: generated body is not valid JSON")
	}
	st.Size = len(body)
	st.Messages = len(msgs) + len(appended)
	st.Appended = len(appended)
	return body, st, nil
}

func (s *Stats) count(ex *exchange) {
	s.Thinking++
	s.Signatures += len(ex.signature)
	for _, t := range ex.tools {
		s.ToolUses[t.name]++
	}
	if ex.user.prompt != "" {
		s.Prompts++
	}
}

// ---------------------------------------------------------------- JSON helpers

type kv struct {
	k string
	v json.RawMessage
}

// object decodes a JSON object into its members in order; a key seen twice is an error.
func object(raw []byte) ([]kv, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not an object")
	}
	var out []kv
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		if seen[k] {
			return nil, fmt.Errorf("key %q twice", k)
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, kv{k, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

func encodeObject(kvs []kv) []byte {
	n := 2
	for _, m := range kvs {
		n += len(m.k) + len(m.v) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, m := range kvs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, marshal(m.k)...)
		b = append(b, ':')
		b = append(b, m.v...)
	}
	return append(b, '}')
}

// marshal encodes v as JavaScript's JSON.stringify would: no HTML escaping, no newline.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// normalize drops cache_control from a message's blocks and turns a role "system" message of
// one text block into a string, as Claude Code resends them once they are not last.
func normalize(m json.RawMessage) ([]byte, error) {
	kvs, err := object(m)
	if err != nil {
		return nil, err
	}
	role := ""
	for _, x := range kvs {
		if x.k == "role" {
			_ = json.Unmarshal(x.v, &role)
		}
	}
	for i, x := range kvs {
		if x.k != "content" || len(x.v) == 0 || x.v[0] != '[' {
			continue
		}
		var blocks []json.RawMessage
		if err := json.Unmarshal(x.v, &blocks); err != nil {
			return nil, err
		}
		var out [][]byte
		for _, b := range blocks {
			bk, err := object(b)
			if err != nil {
				return nil, err
			}
			var kept []kv
			for _, y := range bk {
				if y.k != "cache_control" {
					kept = append(kept, y)
				}
			}
			out = append(out, encodeObject(kept))
		}
		if role == "system" && len(out) == 1 {
			var tb struct {
				Type string  `json:"type"`
				Text *string `json:"text"`
			}
			if json.Unmarshal(out[0], &tb) == nil && tb.Type == "text" && tb.Text != nil {
				kvs[i].v = marshal(*tb.Text)
				continue
			}
		}
		kvs[i].v = append(append([]byte{'['}, bytes.Join(out, []byte{','})...), ']')
	}
	return encodeObject(kvs), nil
}

// ---------------------------------------------------------------- blocks

type cacheControl struct {
	Type string `json:"type"`
}

var ephemeral = &cacheControl{Type: "ephemeral"}

type thinkingBlock struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

type textBlock struct {
	Type         string        `json:"type"`
	Text         string        `json:"text"`
	CacheControl *cacheControl `json:"cache_control,omitempty"`
}

type toolUseBlock struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name"`
	Input any    `json:"input"`
}

type toolResultBlock struct {
	ToolUseID    string        `json:"tool_use_id"`
	Type         string        `json:"type"`
	Content      string        `json:"content"`
	IsError      bool          `json:"is_error"`
	CacheControl *cacheControl `json:"cache_control,omitempty"`
}

type message struct {
	Role    string `json:"role"`
	Content []any  `json:"content"`
}

type bashInput struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

type readInput struct {
	FilePath string `json:"file_path"`
	Offset   int    `json:"offset,omitempty"`
	Limit    int    `json:"limit,omitempty"`
}

type editInput struct {
	FilePath  string `json:"file_path"`
	OldString string `json:"old_string"`
	NewString string `json:"new_string"`
}

type grepInput struct {
	Pattern    string `json:"pattern"`
	Path       string `json:"path,omitempty"`
	OutputMode string `json:"output_mode"`
}

// ---------------------------------------------------------------- exchanges

type toolCall struct {
	id, name string
	input    any
}

type result struct {
	id, content string
	isError     bool
}

// userTurn answers an assistant turn: its tool results, or a new prompt.
type userTurn struct {
	results []result
	prompt  string
}

// exchange is one assistant turn and the user turn that answers it.
type exchange struct {
	r         *rand.Rand // lastExchange's: fills the result
	signature string
	text      string
	tools     []toolCall
	user      userTurn
}

// assistant renders the assistant turn.
func (ex *exchange) assistant() []byte {
	content := []any{thinkingBlock{Type: "thinking", Thinking: "", Signature: ex.signature}}
	if ex.text != "" {
		content = append(content, textBlock{Type: "text", Text: ex.text})
	}
	for _, t := range ex.tools {
		content = append(content, toolUseBlock{Type: "tool_use", ID: t.id, Name: t.name, Input: t.input})
	}
	return marshal(message{Role: "assistant", Content: content})
}

// encode renders the user turn; last puts cache_control on its last block.
func (u *userTurn) encode(last bool) []byte {
	var content []any
	if u.prompt != "" {
		tb := textBlock{Type: "text", Text: u.prompt}
		if last {
			tb.CacheControl = ephemeral
		}
		content = append(content, tb)
	}
	for i, r := range u.results {
		rb := toolResultBlock{ToolUseID: r.id, Type: "tool_result", Content: r.content, IsError: r.isError}
		if last && i == len(u.results)-1 {
			rb.CacheControl = ephemeral
		}
		content = append(content, rb)
	}
	return marshal(message{Role: "user", Content: content})
}

// fill returns command output whose JSON string encoding (without the quotes) is exactly n
// bytes. The output is ASCII; newlines, tabs, quotes and backslashes take two bytes encoded.
func fill(r *rand.Rand, n int) string {
	var b strings.Builder
	b.Grow(n)
	enc := 0
	for enc < n {
		line := testLine(r) + "\n"
		for i := 0; i < len(line) && enc < n; i++ {
			c, w := line[i], 1
			switch c {
			case '\n', '\t', '"', '\\':
				w = 2
			}
			if enc+w > n {
				c, w = ' ', 1
			}
			b.WriteByte(c)
			enc += w
		}
	}
	return b.String()
}

func testLine(r *rand.Rand) string {
	pkg := pick(r, packages)
	switch r.IntN(6) {
	case 0:
		return fmt.Sprintf("=== RUN   Test%s%s", title(pick(r, nouns)), title(pick(r, verbs)))
	case 1:
		return fmt.Sprintf("--- PASS: Test%s%s (0.%02ds)", title(pick(r, nouns)), title(pick(r, verbs)), r.IntN(100))
	case 2:
		return fmt.Sprintf("    %s_test.go:%d: %s %s after %d attempts", pick(r, nouns), 20+r.IntN(400), pick(r, nouns), pick(r, verbs), 1+r.IntN(4))
	case 3:
		return fmt.Sprintf("ok  \tgithub.com/ccrelay/ccrelay/%s\t%d.%03ds", pkg, r.IntN(4), r.IntN(1000))
	case 4:
		return fmt.Sprintf("PASS\ncoverage: %d.%d%% of statements", 50+r.IntN(49), r.IntN(10))
	default:
		return fmt.Sprintf("time=2026-11-26T10:%02d:%02dZ level=INFO msg=request provider=%s status=200 ms=%d", r.IntN(60), r.IntN(60), pick(r, []string{"anthropic", "zai", "ollama"}), r.IntN(900))
	}
}

// Describe is the provenance of a generated body, for the description of its request record.
func Describe(fixture string, target int, seed uint64, st Stats) string {
	if target == FirstTurn {
		return fmt.Sprintf("The recorded Claude Code 2.1.332 first-turn request %s as is (body compacted): %s.", fixture, st)
	}
	return fmt.Sprintf("A long Claude Code session derived from the recorded first-turn request %s: "+
		"its body (compacted) with turns appended by scripts/bench/session (seed %d, target %d B): %s. "+
		"The appended turns are generated (thinking signatures, tool ids, file contents and command output are synthetic); "+
		"the rest of the body (system, tools, metadata, thinking, context_management, output_config, stream) is the recorded one, byte for byte.",
		fixture, seed, target, st)
}

// FindUp resolves a relative path against the working directory or, failing that, its
// parents; an absolute path, or one found nowhere, is returned as it is.
func FindUp(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	dir, err := os.Getwd()
	if err != nil {
		return path
	}
	for {
		p := filepath.Join(dir, path)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return path
		}
		dir = parent
	}
}
