package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if !strings.Contains(stdout, "report written to "+out) {
		t.Errorf("stdout: %q", stdout)
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
	for _, want := range []string{"matrix row ollama", "tool_choice_any", "recorded-live", "0 failed, 1 not applicable"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
