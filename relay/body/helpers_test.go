package body

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ccrelay/ccrelay/relay/relaytest/claudecode"
)

// trafficDir holds the recorded real traffic (read only).
const trafficDir = "../../fixtures/real-traffic"

// testdata returns a file of testdata/ (hand-made bodies: every feature the walker reports in
// one request, and awkward but valid spellings).
func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// corpus is every body the package's tests know.
func corpus(t testing.TB) [][]byte {
	bodies := [][]byte{testdata(t, "kitchen_sink.json"), testdata(t, "awkward.json")}
	for _, r := range claudecode.Requests(t) {
		bodies = append(bodies, r.Compact, r.Body)
	}
	for _, s := range extraBodies {
		bodies = append(bodies, []byte(s))
	}
	return bodies
}

// extraBodies are small hand-made bodies with edge cases.
var extraBodies = []string{
	`{"model":"m","cache_control":{"type":"ephemeral"},"messages":[]}`,
	`{"model":"m","cache_control":null,"messages":[]}`,
	`{"mod\u0065l":"escaped key","messages":[],"stre\u0061m":true}`,
	`{"model":"m","messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"}]}],"stream":true}`,
	`[{"model":"not an object"}]`,
	`{"model":"m","messages":[]`,
	`{"model":"m","messages":[],"metadata":{"user_id":"u1"},"tool_choice":{"type":"none"},"thinking":{"type":"enabled","budget_tokens":1024}}`,
	`{"model":"a","messages":[],"model":"b"}`,
	`{"a":"\"`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a\\"}]}]}`,
}
