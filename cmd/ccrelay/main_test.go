package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"ccrelay"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIGoldenOutputs(t *testing.T) {
	t.Setenv("CCRELAY_CONFIG", "")
	tests := []struct {
		name   string
		args   []string
		code   int
		golden string
	}{
		{"help lists the commands", []string{"--help"}, 0, "help.golden"},
		{"serve help explains how to point Claude Code at it", []string{"serve", "--help"}, 0, "serve-help.golden"},
		{"config validate help", []string{"config", "validate", "--help"}, 0, "validate-help.golden"},
		{"cc init help says what it sets and how to undo it", []string{"cc", "init", "--help"}, 0, "cc-init-help.golden"},
		{"cc doctor help lists the checks", []string{"cc", "doctor", "--help"}, 0, "cc-doctor-help.golden"},
		{"a valid seed config validates", []string{"config", "validate", "../../fixtures/configs/14-multi-provider.toml"}, 0, "validate-ok.golden"},
		{"a mapping is listed exact names first, then patterns, then the models list", []string{"config", "validate", "testdata/patterns.yaml"}, 0, "validate-patterns.golden"},
		{"a seed config with a mapping and a models list", []string{"config", "validate", "../../fixtures/configs/05-ollama.yaml"}, 0, "validate-ollama.golden"},
		{"a broken config names the line, the key path and the fix", []string{"config", "validate", "testdata/broken.yaml"}, 1, "validate-broken.golden"},
		{"a missing file is an error", []string{"config", "validate", "testdata/does-not-exist.yaml"}, 1, "validate-missing.golden"},
	}
	t.Setenv("ANTHROPIC_API_KEY", "test")
	t.Setenv("ZAI_API_KEY", "test")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errs)
			}
			// The version in --help depends on how the test binary was built.
			out = strings.Replace(out, "VERSION:\n   "+buildVersion()+"\n", "VERSION:\n   (the build's version)\n", 1)
			golden(t, tt.golden, "$ ccrelay "+strings.Join(tt.args, " ")+"\n"+out+errs)
		})
	}
}

// lineWriter hands stdout lines to a channel so the test can wait for the listening line.
type lineWriter struct {
	w *io.PipeWriter
}

func (l lineWriter) Write(p []byte) (int, error) { return l.w.Write(p) }

func TestServeRelaysToTheConfiguredProvider(t *testing.T) {
	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "ollama/01-text-nonstream.json"))
	// Looped: serve's Relay.Start also asks the ollama provider's native API (GET /api/version,
	// GET /api/tags), which this replayer answers with the same recording.
	up := relaytest.NewUpstream(t, relaytest.ReplayWith(relaytest.ReplayOptions{Loop: true}, ix))
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "ccrelay.yaml")
	os.WriteFile(cfgPath, []byte(`providers:
  - name: "local"
    type: "ollama"
    base_url: "`+up.URL+`"
`), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"ccrelay", "serve", "--config", cfgPath, "--listen", "127.0.0.1:0"}, lineWriter{pw}, io.Discard)
		pw.Close()
	}()
	addr, runLine := "", ""
	sc := bufio.NewScanner(pr)
	re := regexp.MustCompile(`^ccrelay: listening on (http://127\.0\.0\.1:\d+)$`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
		if strings.Contains(sc.Text(), "warning") {
			t.Errorf("serve on loopback printed a warning: %s", sc.Text())
		}
		if strings.HasPrefix(sc.Text(), "ccrelay: run Claude Code with: ") {
			runLine = sc.Text()
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		t.Fatal("serve never printed its address")
	}
	if want := "ccrelay: run Claude Code with: ANTHROPIC_BASE_URL=" + addr + " ANTHROPIC_AUTH_TOKEN=ccrelay claude"; runLine != want {
		t.Errorf("serve printed %q, want %q", runLine, want)
	}
	resp, err := http.Post(addr+"/v1/messages", "application/json", strings.NewReader(ix.Request.Body))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, ix.Response.Body) {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited with %d after shutdown", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

func TestTheREADMEMatrixIsGeneratedFromTheFeatureTable(t *testing.T) {
	var grid strings.Builder
	features.RenderGrid(&grid, true)
	table := grid.String()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	begin := strings.Index(s, "<!-- matrix:begin")
	end := strings.Index(s, "<!-- matrix:end -->")
	if begin < 0 || end < begin {
		t.Fatal("README.md has no matrix markers")
	}
	begin += strings.Index(s[begin:], "-->\n") + len("-->\n")
	if *update {
		s = s[:begin] + table + s[end:]
		if err := os.WriteFile("../../README.md", []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(table, s[begin:end]); diff != "" {
		t.Errorf("README.md's matrix differs from the feature table (run go test ./cmd/ccrelay -update):\n%s", diff)
	}
}

func TestMatrixCommandRejectsUnknownNames(t *testing.T) {
	if code, _, errs := runCLI(t, "matrix", "--provider", "openai"); code != 2 || !strings.Contains(errs, "anthropic") {
		t.Errorf("unknown provider: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "matrix", "--format", "xml"); code != 2 || !strings.Contains(errs, "markdown") {
		t.Errorf("unknown format: %d %q", code, errs)
	}
	if code, out, _ := runCLI(t, "matrix", "--provider", "ollama", "--format", "json"); code != 0 || !strings.Contains(out, "cache_control") {
		t.Errorf("json: %d", code)
	}
}

func TestTheREADMEConfigurationExampleLoads(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	s = s[strings.Index(s, "## Configuration reference"):]
	start := strings.Index(s, "```yaml\n") + len("```yaml\n")
	end := strings.Index(s[start:], "```")
	lookup := func(string) (string, bool) { return "dummy", true }
	if _, err := config.Parse([]byte(s[start:start+end]), "README.yaml", lookup); err != nil {
		t.Errorf("the README's configuration example does not load:\n%v", err)
	}
}
