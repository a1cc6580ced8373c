package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/features"
)

// conform runs `ccrelay conform ARGS` in process and returns the exit status and output, the
// way run does for the registered commands.
func conform(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := newApp(&stdout, &stderr)
	registered := false
	for _, c := range app.Commands {
		registered = registered || c.Name == "conform"
	}
	if !registered {
		app.Commands = append(app.Commands, conformCommand(&stdout, &stderr))
	}
	code := 0
	if err := app.RunContext(context.Background(), append([]string{"ccrelay", "conform"}, args...)); err != nil {
		var ee *exitError
		if !errors.As(err, &ee) {
			t.Fatalf("conform %v: %v", args, err)
		}
		code = ee.code
		if ee.err != nil && ee.err.Error() != "" {
			stderr.WriteString("ccrelay: " + ee.err.Error() + "\n")
		}
	}
	return code, stdout.String(), stderr.String()
}

// repoCassettes is the repository's cassettes directory, seen from this package.
var repoCassettes = filepath.Join("..", "..", "cassettes")

func TestConformReplaysAndExitsZero(t *testing.T) {
	code, out, errOut := conform(t, "--provider", "anthropic", "--case", "tool-use-stream", "--cassettes", repoCassettes)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"anthropic (replay)", "tool-use-stream", "PASS", "real-traffic", "matrix row anthropic", "1 passed, 0 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestConformJUnitToFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "conform.xml")
	code, stdout, stderr := conform(t, "--provider", "bedrock,vertex", "--case", "text-stream", "--cassettes", repoCassettes, "--format", "junit", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &suites); err != nil {
		t.Fatalf("not JUnit XML: %v\n%s", err, data)
	}
	if len(suites.Suites) != 2 || suites.Suites[0].Name != "conformance/bedrock" || suites.Suites[0].Cases[0].Name != "text-stream" {
		t.Fatalf("unexpected suites: %+v", suites)
	}
	if !strings.Contains(stdout, "report written to "+out) || !strings.Contains(stdout, "bedrock: 1 passed — 1 recorded") || !strings.Contains(stdout, "vertex: 1 passed — 1 recorded") {
		t.Errorf("stdout does not have each provider's line and the file: %q", stdout)
	}
}

func TestConformMissingCassetteFails(t *testing.T) {
	code, out, _ := conform(t, "--provider", "zai", "--case", "text-basic", "--cassettes", t.TempDir())
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	if !strings.Contains(out, "zai/text-basic.yaml is missing; record it with `ccrelay conform --record --provider zai --case text-basic`") {
		t.Errorf("the failure does not say how to record the cassette:\n%s", out)
	}
}

func TestConformUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no provider", nil, "--provider TYPE"},
		{"unknown provider", []string{"--provider", "openai"}, `unknown provider type "openai"`},
		{"unknown case", []string{"--all", "--case", "nope"}, `unknown case "nope"`},
		{"unknown format", []string{"--all", "--format", "yaml"}, `--format "yaml"`},
		{"both provider and all", []string{"--all", "--provider", "zai"}, "not both"},
		{"force without record", []string{"--all", "--force"}, "go with --record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := conform(t, append(tt.args, "--cassettes", repoCassettes)...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, tt.want)
			}
		})
	}
}

// TestConformUsesEmbeddedCassettes runs where there is no ./cassettes: the binary's own copy
// is used, as after `go install`.
func TestConformUsesEmbeddedCassettes(t *testing.T) {
	t.Chdir(t.TempDir())
	code, out, errOut := conform(t, "--provider", "vertex", "--case", "tool-use")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "cassettes built into the binary") {
		t.Errorf("stderr does not say the embedded cassettes are used: %q", errOut)
	}
}

func TestConformList(t *testing.T) {
	code, out, _ := conform(t, "--list")
	if code != 0 || !strings.Contains(out, "claude-code-session") || !strings.Contains(out, "error-midstream") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestConformOllamaOffline is the acceptance check: the whole ollama row replays offline from a
// clone and exits 0.
func TestConformOllamaOffline(t *testing.T) {
	code, out, errOut := conform(t, "--provider", "ollama", "--cassettes", repoCassettes)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"matrix row ollama", "tool_choice_any", "recorded-live", "0 failed, 5 not applicable"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestConformHelp keeps the usage and description of `ccrelay conform --help` in
// testdata/conform-help.golden (-update rewrites it); the options, which share flags with
// other commands, are left out.
func TestConformHelp(t *testing.T) {
	code, out, errOut := conform(t, "--help")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	head, _, ok := strings.Cut(out, "OPTIONS:")
	if !ok {
		t.Fatalf("no OPTIONS section:\n%s", out)
	}
	golden(t, "conform-help.golden", head)
	for _, flag := range []string{"--base-url URL", "--record", "--model MODEL"} {
		if !strings.Contains(out, flag) {
			t.Errorf("the options lack %s", flag)
		}
	}
}

// TestConformSaysWhatCasesRestOn checks the per-provider line in every format on copies of
// zai cassettes relabelled documented: one with a (synthetic) url passes and counts as
// documented, one without a url fails to load and says why.
func TestConformSaysWhatCasesRestOn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cassettes")
	if err := os.MkdirAll(filepath.Join(dir, "zai"), 0o755); err != nil {
		t.Fatal(err)
	}
	relabel := func(caseName, url string) {
		src := filepath.Join(repoCassettes, "zai", caseName)
		data, err := os.ReadFile(src + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, l := range strings.SplitAfter(string(data), "\n") {
			if strings.HasPrefix(l, "# provenance: ") || strings.HasPrefix(l, "# url: ") {
				continue
			}
			b.WriteString(l)
			if i == 0 {
				b.WriteString("# provenance: documented\n# source: synthetic, for the conform tests\n")
				if url != "" {
					b.WriteString("# url: " + url + "\n")
				}
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "zai", caseName+".yaml"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if req, err := os.ReadFile(src + ".request.json"); err == nil {
			if err := os.WriteFile(filepath.Join(dir, "zai", caseName+".request.json"), req, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	const url = "https://docs.example.invalid/claude-api#example"
	relabel("text-basic", url)
	relabel("text-stream", "")

	const (
		documented = "zai: 1 passed — 0 recorded, 1 documented, 0 derived, 0 relay-only"
		noURL      = "zai: 0 passed, 1 failed — 0 recorded, 0 documented, 0 derived, 0 relay-only, 1 without a usable cassette"
		why        = "cassettes/zai/text-stream.yaml: provenance documented without the documentation's address; add a header line `# url: https://...`"
	)
	tests := []struct {
		caseName, format string
		code             int
		want             []string
	}{
		{"text-basic", "text", 0, []string{documented, "text-basic  PASS    documented", "1 passed, 0 failed — 0 recorded, 1 documented, 0 derived, 0 relay-only"}},
		{"text-basic", "markdown", 0, []string{"- " + documented, "| text-basic | pass | documented | " + url + " |"}},
		{"text-basic", "json", 0, []string{`"documented": 1,`, `"recorded": 0,`, `"url": "` + url + `"`}},
		{"text-basic", "junit", 0, []string{`<property name="cassettes.documented" value="1">`, `<property name="cassettes.recorded" value="0">`,
			`<property name="cassettes.derived" value="0">`, `<property name="summary" value="` + documented + `">`}},
		{"text-stream", "text", 1, []string{noURL, why}},
		{"text-stream", "markdown", 1, []string{"- " + noURL, why}},
		{"text-stream", "json", 1, []string{`"missing": 1`, why}},
		{"text-stream", "junit", 1, []string{`<property name="cassettes.missing" value="1">`, `<property name="summary" value="` + noURL + `">`, why}},
	}
	for _, tt := range tests {
		t.Run(tt.caseName+"/"+tt.format, func(t *testing.T) {
			code, out, errOut := conform(t, "--provider", "zai", "--case", tt.caseName, "--cassettes", dir, "--format", tt.format)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// fakeZAI stands in for Z.AI's Anthropic endpoint (base URL <server>/api/anthropic) on
// 127.0.0.1: 401 unless x-api-key is key; otherwise every message is answered with a text that
// runs past the stop sequence of the stop-sequence case ("scripted"), streamed when asked, and
// the key is echoed in a response header so that the scrub is tested where it is not expected.
func fakeZAI(t *testing.T, key string) *httptest.Server {
	t.Helper()
	const text = "Hello! I am a scripted stand-in for Z.AI."
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != key || r.URL.Path != "/api/anthropic/v1/messages" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
			return
		}
		w.Header().Set("X-Echo-Key", "seen "+key)
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"msg_fake","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":%q}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":12}}`, req.Model, text)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range [][2]string{
			{"message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_fake","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}`, req.Model)},
			{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
			{"content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%q}}`, text)},
			{"content_block_stop", `{"type":"content_block_stop","index":0}`},
			{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":12}}`},
			{"message_stop", `{"type":"message_stop"}`},
		} {
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev[0], ev[1])
		}
	}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("the fake upstream listens on %s, want loopback", srv.URL)
	}
	return srv
}

// TestConformRecordZAIFromTheEnvironment runs the documented one command,
// `ZAI_API_KEY=... ccrelay conform --provider zai --record`, offline: --base-url points the
// recording at a local stand-in. The cassette it writes is recorded-live and holds no key, the
// report counts it as recorded, and the drift report names stop_sequences, which the stand-in
// ignores, unless the matrix already declares it unsupported.
func TestConformRecordZAIFromTheEnvironment(t *testing.T) {
	const key = "zai-env-key-0123456789abcdef"
	up := fakeZAI(t, key)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("CCRELAY_CONFIG", "")
	t.Setenv("ZAI_API_KEY", key)
	work := t.TempDir()
	t.Chdir(work) // no ./ccrelay.yaml and no ./cassettes: the key comes from the environment

	base := up.URL + "/api/anthropic"
	code, out, errOut := conform(t, "--provider", "zai", "--record", "--case", "stop-sequence", "--base-url", base, "--model", "glm-4.6")
	if code == 2 {
		t.Fatalf("exit 2\n%s\n%s", out, errOut)
	}
	data, err := os.ReadFile(filepath.Join(work, "cassettes", "zai", "stop-sequence.yaml"))
	if err != nil {
		t.Fatalf("no cassette written: %v\n%s\n%s", err, out, errOut)
	}
	s := strings.ReplaceAll(string(data), "\n#   ", " ") // join the header's continuation lines
	for _, want := range []string{"# provenance: recorded-live", "against " + base + "/v1/messages (upstream model glm-4.6)",
		"ccrelay conform --record --provider zai --case stop-sequence --base-url " + base + " --model glm-4.6", "REDACTED"} {
		if !strings.Contains(s, want) {
			t.Errorf("the cassette lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, key) {
		t.Errorf("the cassette holds the key:\n%s", s)
	}
	if !strings.Contains(errOut, "zai/stop-sequence: recording") {
		t.Errorf("no progress on stderr: %q", errOut)
	}
	if !strings.Contains(out, "— 1 recorded, 0 documented, 0 derived, 0 relay-only") {
		t.Errorf("the report does not count the cassette as recorded:\n%s", out)
	}
	cell := features.Lookup("zai", features.StopSequences)
	drift := fmt.Sprintf("zai stop_sequences: declared %s, observed none (stop-sequence)", cell.Support)
	if cell.Support == features.None {
		drift = "drift: none"
	}
	if !strings.Contains(out, drift) {
		t.Errorf("the drift report lacks %q:\n%s", drift, out)
	}
}
