// Package claudecode loads the requests recorded from real Claude Code
// (fixtures/real-traffic/claude-code), for the tests and benchmarks of the packages that read
// request bodies. It imports nothing of the relay, so that any of its packages can use it.
package claudecode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// Request is one recorded request with a JSON object body.
type Request struct {
	Name        string   // the file name without .json
	Body        []byte   // as stored: the fixture's indented JSON
	Compact     []byte   // the same, compacted (close to the wire size)
	Betas       []string // the anthropic-beta header's values, as recorded
	CountTokens bool     // a count_tokens request
	Reply       string   // the capturing server's reply, when recorded
}

// Dir is where the recordings are, found from this file's own place in the repository, so
// that a test in any package can load them.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "fixtures", "real-traffic", "claude-code")
}

// Requests loads every recording in Dir, failing t when they cannot be read.
func Requests(t testing.TB) []Request {
	t.Helper()
	reqs, err := Load(Dir())
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// Load reads every recording in dir (fixtures/real-traffic/claude-code), sorted by name,
// skipping the ones without a JSON object body.
func Load(dir string) ([]Request, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no Claude Code recordings in %s", dir)
	}
	sort.Strings(files)
	var out []Request
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		body := gjson.GetBytes(raw, "body")
		if !body.IsObject() {
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(body.Raw)); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		var betas []string
		gjson.GetBytes(raw, "headers.anthropic-beta").ForEach(func(_, v gjson.Result) bool {
			betas = append(betas, v.Str)
			return true
		})
		out = append(out, Request{
			Name:        strings.TrimSuffix(filepath.Base(f), ".json"),
			Body:        []byte(body.Raw),
			Compact:     compact.Bytes(),
			Betas:       betas,
			CountTokens: strings.Contains(gjson.GetBytes(raw, "path").Str, "count_tokens"),
			Reply:       gjson.GetBytes(raw, "reply").Str,
		})
	}
	return out, nil
}
