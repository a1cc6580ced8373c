package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/sha256.txt")

func firstTurn(t *testing.T) *Record {
	t.Helper()
	rec, err := LoadRecord(filepath.Join("..", "..", "..", filepath.FromSlash(DefaultFixture)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Body) != 48941 {
		t.Fatalf("the recorded first turn compacts to %d B, want 48941", len(rec.Body))
	}
	return rec
}

type tblock struct {
	Type         string          `json:"type"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Thinking     *string         `json:"thinking"`
	Signature    string          `json:"signature"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type msg struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

func (m msg) blocks(t *testing.T) []tblock {
	if len(m.Content) > 0 && m.Content[0] == '"' {
		return nil
	}
	var bs []tblock
	if err := json.Unmarshal(m.Content, &bs); err != nil {
		t.Fatal(err)
	}
	return bs
}

// TestGenerate checks the bodies the benchmarks use: exact size, valid JSON, the recorded
// top-level members (each once, in order, byte for byte except messages), turns shaped as
// Claude Code sends them, and the same bytes every time (testdata/sha256.txt).
func TestGenerate(t *testing.T) {
	rec := firstTurn(t)
	first, err := object(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sums []string
	bodies := map[string][]byte{}
	for _, label := range append(DefaultSizes, "60k", "3m") {
		target, err := ParseSize(label)
		if err != nil {
			t.Fatal(err)
		}
		body, st, err := Generate(rec.Body, target, DefaultSeed)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		again, _, _ := Generate(rec.Body, target, DefaultSeed)
		if !bytes.Equal(body, again) {
			t.Fatalf("%s: not deterministic", label)
		}
		bodies[label] = body
		sums = append(sums, fmt.Sprintf("%x  %s", sha256.Sum256(body), label))
		t.Logf("%s: %s", label, st)
		if target == FirstTurn {
			if !bytes.Equal(body, rec.Body) {
				t.Fatal("49k is not the first turn as is")
			}
			continue
		}
		if len(body) != target || st.Size != target {
			t.Fatalf("%s: %d B, want %d", label, len(body), target)
		}
		top, err := object(body) // also fails on a key seen twice
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		if len(top) != len(first) {
			t.Fatalf("%s: %d top-level keys, want %d", label, len(top), len(first))
		}
		var messages []msg
		for i, kv := range top {
			if kv.k != first[i].k {
				t.Fatalf("%s: top-level key %d is %q, want %q", label, i, kv.k, first[i].k)
			}
			if kv.k == "messages" {
				if err := json.Unmarshal(kv.v, &messages); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if !bytes.Equal(kv.v, first[i].v) {
				t.Fatalf("%s: %s differs from the recorded one", label, kv.k)
			}
		}
		checkMessages(t, label, messages)
	}
	// The turns do not depend on the target: the 250k body's messages, but for its last
	// (size-filling) exchange, begin the 1m body's.
	m250, m1m := messagesOf(t, bodies["250k"]), messagesOf(t, bodies["1m"])
	for i := 0; i < len(m250)-2; i++ {
		if !bytes.Equal(m250[i], m1m[i]) {
			t.Fatalf("message %d of the 250k body is not the 1m body's", i)
		}
	}

	golden := filepath.Join("testdata", "sha256.txt")
	got := strings.Join(sums, "\n") + "\n"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run TestGenerate -update writes it)", err)
	}
	if got != string(want) {
		t.Fatalf("the generated bodies changed (benchmarks before and after are no longer comparable):\n%s\nwant:\n%s\n"+
			"If that is intended, rewrite %s with go test -run TestGenerate -update and say so in the commit.", got, want, golden)
	}
}

func messagesOf(t *testing.T, body []byte) []json.RawMessage {
	var b struct{ Messages []json.RawMessage }
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	return b.Messages
}

func checkMessages(t *testing.T, label string, ms []msg) {
	t.Helper()
	if ms[0].Role != "user" || ms[1].Role != "system" {
		t.Fatalf("%s: the recorded first turn's messages are not first", label)
	}
	if ms[1].Content[0] != '"' {
		t.Fatalf("%s: the system message is not a string once it is no longer last", label)
	}
	caches, thinking := 0, 0
	var pending map[string]bool // tool_use ids awaiting their result
	prev := "user"
	for i := 2; i < len(ms); i++ {
		m := ms[i]
		bs := m.blocks(t)
		want := map[string]string{"user": "assistant", "assistant": "user"}[prev]
		if m.Role != want {
			t.Fatalf("%s: message %d is %s after %s", label, i, m.Role, prev)
		}
		prev = m.Role
		for j, b := range bs {
			if len(b.CacheControl) > 0 {
				caches++
				if i != len(ms)-1 || j != len(bs)-1 || string(b.CacheControl) != `{"type":"ephemeral"}` {
					t.Fatalf("%s: cache_control on block %d of message %d", label, j, i)
				}
			}
		}
		switch m.Role {
		case "assistant":
			if len(pending) > 0 {
				t.Fatalf("%s: message %d: tool_use without tool_result", label, i)
			}
			if bs[0].Type != "thinking" || bs[0].Thinking == nil || len(bs[0].Signature) < 300 {
				t.Fatalf("%s: message %d does not start with a signed thinking block", label, i)
			}
			if sig, err := base64.StdEncoding.DecodeString(bs[0].Signature); err != nil || sig[0] != 0x12 {
				t.Fatalf("%s: message %d: signature is not Anthropic-shaped base64: %v", label, i, err)
			}
			thinking++
			pending = map[string]bool{}
			for _, b := range bs[1:] {
				if b.Type == "tool_use" {
					if !strings.HasPrefix(b.ID, "toolu_01") || len(b.ID) != 30 || !json.Valid(b.Input) {
						t.Fatalf("%s: message %d: tool_use %q", label, i, b.ID)
					}
					switch b.Name {
					case "Bash", "Read", "Edit", "Grep":
					default:
						t.Fatalf("%s: tool %q", label, b.Name)
					}
					pending[b.ID] = true
				}
			}
		case "user":
			for _, b := range bs {
				if b.Type == "tool_result" {
					if !pending[b.ToolUseID] {
						t.Fatalf("%s: message %d: tool_result for %q, not asked", label, i, b.ToolUseID)
					}
					delete(pending, b.ToolUseID)
				}
			}
			if len(pending) > 0 {
				t.Fatalf("%s: message %d: %d tool_use without tool_result", label, i, len(pending))
			}
		}
	}
	if prev != "user" || caches != 1 || thinking < 2 {
		t.Fatalf("%s: last role %s, %d cache_control in messages, %d thinking blocks", label, prev, caches, thinking)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"49k": FirstTurn, "first": FirstTurn, "250k": 250000, "1m": 1000000, "1.5m": 1500000, "300000": 300000, "2MB": 2000000} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1k"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): no error", in)
		}
	}
	rec := firstTurn(t)
	if _, _, err := Generate(rec.Body, 50000, DefaultSeed); err == nil {
		t.Error("a target just above the first turn: no error")
	}
}

// TestFixture checks that a generated record reads back as the recorded request with the body.
func TestFixture(t *testing.T) {
	rec := firstTurn(t)
	body, st, err := Generate(rec.Body, 250000, DefaultSeed)
	if err != nil {
		t.Fatal(err)
	}
	data, err := rec.Fixture(body, Describe(DefaultFixture, 250000, DefaultSeed, st))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := LoadRecord(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Body, body) || back.Path != rec.Path || back.Query != "beta=true" {
		t.Fatalf("record: path %q query %q, body equal %v", back.Path, back.Query, bytes.Equal(back.Body, body))
	}
	if back.Headers["x-api-key"] != nil || back.Headers["anthropic-beta"] == nil {
		t.Fatal("record headers: credentials kept or betas lost")
	}
	if !strings.Contains(string(data), "derived from the recorded first-turn request "+DefaultFixture) {
		t.Fatal("record does not say where it comes from")
	}
}
