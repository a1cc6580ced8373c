package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/ccrelay/ccrelay"
)

// This file turns the recordings of real Claude Code versions (fixtures/claude-code/<version>/,
// written by scripts/cc-versions) into conformance cases: cc-<version>-<scenario> replays, to
// every provider type, the request of that scenario its run.json names (plain: the prompt's
// request; bash: the request carrying the Bash tool_result; context: the largest of /context's
// count_tokens requests), with the headers and body Claude Code sent. Their cassettes are
// derived (conformance/derive_test.go), like every case without a recording of its own.

// ClaudeCodeRun is one recorded version: fixtures/claude-code/<version>/run.json.
type ClaudeCodeRun struct {
	Provenance string          `json:"provenance"`
	Version    string          `json:"claude_code_version"`
	Recorded   string          `json:"recorded"`
	Runs       []ClaudeCodeRan `json:"runs"`
}

// ClaudeCodeRan is one scenario's run of that version.
type ClaudeCodeRan struct {
	Scenario string   `json:"scenario"`
	Command  string   `json:"command"`
	ExitCode int      `json:"exit_code"`
	IsError  *bool    `json:"is_error"`
	Result   string   `json:"result"`
	Requests int      `json:"requests"`
	Files    []string `json:"files"`
	Replayed string   `json:"replayed"`
	Note     string   `json:"note"`
}

// claudeCodeDir is where the recordings are, in ccrelay.ClaudeCode and in the repository.
const claudeCodeDir = "fixtures/claude-code"

// ClaudeCodeRuns reads the recorded versions from fsys (rooted at the repository; nil means
// the copy in the binary), newest version first.
func ClaudeCodeRuns(fsys fs.FS) ([]ClaudeCodeRun, error) {
	if fsys == nil {
		fsys = ccrelay.ClaudeCode
	}
	files, err := fs.Glob(fsys, claudeCodeDir+"/*/run.json")
	if err != nil {
		return nil, err
	}
	var out []ClaudeCodeRun
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var r ClaudeCodeRun
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("conformance: %s: %w", f, err)
		}
		if r.Version != path.Base(path.Dir(f)) {
			return nil, fmt.Errorf("conformance: %s is for version %q", f, r.Version)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b ClaudeCodeRun) int { return compareVersions(b.Version, a.Version) })
	return out, nil
}

// compareVersions compares dotted version numbers numerically.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// ClaudeCodeCase names the case that replays one scenario of one version.
func ClaudeCodeCase(version, scenario string) string { return "cc-" + version + "-" + scenario }

// scenarioTitles says what each scenario's replayed request is.
var scenarioTitles = map[string]string{
	"plain":   "`claude -p \"say hi\"`: its streamed request (12 tools, betas, a system message)",
	"bash":    "a Bash tool round trip: the request carrying the tool_use and its tool_result",
	"context": "`/context`: the largest of its count_tokens requests",
}

// claudeCodeCases makes the cases of the recorded versions.
func claudeCodeCases(runs []ClaudeCodeRun) []Case {
	var out []Case
	for _, r := range runs {
		for _, s := range r.Runs {
			if s.Replayed == "" {
				continue // the run sent no request to replay
			}
			c := Case{
				Name:      ClaudeCodeCase(r.Version, s.Scenario),
				Title:     "Claude Code " + r.Version + ", " + cmpOr(scenarioTitles[s.Scenario], s.Scenario),
				Recording: claudeCodeDir + "/" + r.Version + "/" + s.Replayed,
				Kind:      KindMessage, Stop: []string{"end_turn"}, Blocks: []string{"text"},
			}
			if s.Scenario == "context" {
				c.Kind, c.Stop, c.Blocks = KindCount, nil, nil
			}
			out = append(out, c)
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// claudeCodeErr is why the recordings in the binary could not be read (Run reports it).
var claudeCodeErr error

func init() {
	runs, err := ClaudeCodeRuns(nil)
	if err != nil {
		claudeCodeErr = err
		return
	}
	cases = append(cases, claudeCodeCases(runs)...)
}

// recording is a request file of fixtures/claude-code.
type recording struct {
	Provenance string              `json:"provenance"`
	Version    string              `json:"claude_code_version"`
	Scenario   string              `json:"scenario"`
	N          int                 `json:"n"`
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	Query      string              `json:"query"`
	Headers    map[string][]string `json:"headers"`
	Body       json.RawMessage     `json:"body"`
}

// recordedHeaders are the recorded headers a replay leaves out: the connection's, the
// credentials (the conformance client sends its own) and accept-encoding (the relay asks for
// no compression itself).
var recordedHeaders = []string{"host", "content-length", "connection", "accept-encoding", "x-api-key", "authorization",
	"proxy-authorization", "cookie", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"}

// loadRecording reads a recorded Claude Code request as the client request of its case: the
// method, path and query, headers and body Claude Code sent (the body compacted; the
// recording is indented for reading).
func loadRecording(file string) (*ClientRequest, error) {
	data, err := fs.ReadFile(ccrelay.ClaudeCode, file)
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	var rec recording
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("conformance: %s: %w", file, err)
	}
	var body bytes.Buffer
	if err := json.Compact(&body, rec.Body); err != nil {
		return nil, fmt.Errorf("conformance: %s: body: %w", file, err)
	}
	h := map[string][]string{}
	for k, v := range rec.Headers {
		if !slices.Contains(recordedHeaders, strings.ToLower(k)) {
			h[strings.ToLower(k)] = v
		}
	}
	p := rec.Path
	if rec.Query != "" {
		p += "?" + rec.Query
	}
	r := &ClientRequest{
		Description: fmt.Sprintf("request %d of the %s scenario, %s", rec.N, rec.Scenario, rec.Provenance),
		Method:      rec.Method, Path: p, Headers: h, Body: body.Bytes(),
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return parseClientRequest(b, file)
}

// caseRequest is a case's own client request: its recording, or its canonical request from
// fsys (rooted at fixtures/requests).
func caseRequest(fsys fs.FS, c *Case) (*ClientRequest, error) {
	if c.Recording != "" {
		return loadRecording(c.Recording)
	}
	return loadCanonical(fsys, c.Name)
}

// requestFile names a case's own client request in messages and provenance.
func (c *Case) requestFile() string {
	if c.Recording != "" {
		return c.Recording
	}
	return "fixtures/requests/" + c.Name + ".json"
}
