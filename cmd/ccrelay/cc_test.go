package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ccTranscript runs ccrelay commands in dir and returns what a user would see: each command,
// its output and exit status, with the temporary directory shown as DIR and the backup times
// as TIME (with the -N suffix of a second backup in the same second dropped: whether two
// backups fall in the same second depends on the machine's load).
type ccTranscript struct {
	t   *testing.T
	dir string
	b   strings.Builder
}

var backupTime = regexp.MustCompile(`\d{8}T\d{6}Z(-\d+)?`)

func (tr *ccTranscript) run(args ...string) int {
	tr.t.Helper()
	code, out, errs := runCLI(tr.t, args...)
	tr.b.WriteString("$ ccrelay " + strings.Join(args, " ") + "\n" + out + errs)
	if code != 0 {
		fmt.Fprintf(&tr.b, "(exit status %d)\n", code)
	}
	return code
}

func (tr *ccTranscript) file(name string) string {
	tr.t.Helper()
	data, err := os.ReadFile(filepath.Join(tr.dir, name))
	if err != nil {
		tr.b.WriteString("# " + name + ": does not exist\n")
		return ""
	}
	tr.b.WriteString("# " + name + ":\n" + string(data))
	if !strings.HasSuffix(string(data), "\n") {
		tr.b.WriteString("\n# (no newline at the end)\n")
	}
	return string(data)
}

func (tr *ccTranscript) String() string {
	s := strings.ReplaceAll(tr.b.String(), tr.dir, "DIR")
	return backupTime.ReplaceAllString(s, "TIME")
}

func newTranscript(t *testing.T) *ccTranscript {
	t.Setenv("CCRELAY_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("CLAUDE_CONFIG_DIR", "")
	dir := t.TempDir()
	return &ccTranscript{t: t, dir: dir}
}

// A settings file as Claude Code writes it (JSON.stringify with two spaces, no final newline).
const claudeWritten = `{
  "model": "opus",
  "permissions": {
    "allow": [
      "Bash(npm run test:*)"
    ],
    "deny": []
  },
  "env": {
    "DISABLE_TELEMETRY": "1",
    "ANTHROPIC_BASE_URL": "https://gateway.example.com"
  },
  "hooks": {},
  "statusLine": {
    "type": "command",
    "command": "echo <&>"
  }
}`

func TestCCInitAndRemove(t *testing.T) {
	tr := newTranscript(t)
	settings := filepath.Join(tr.dir, "settings.json")
	os.WriteFile(settings, []byte(claudeWritten), 0o644)
	tr.file("settings.json")
	if code := tr.run("cc", "init", "--settings", settings); code != 0 {
		t.Errorf("init: exit status %d", code)
	}
	tr.file("settings.json")
	baks, _ := filepath.Glob(settings + ".bak-*")
	if len(baks) != 1 {
		t.Fatalf("backups: %q", baks)
	}
	if b, _ := os.ReadFile(baks[0]); string(b) != claudeWritten {
		t.Errorf("the backup is not the file as it was:\n%s", b)
	}
	rec, _ := os.ReadFile(recordPath(settings))
	if strings.Contains(string(rec), `"ccrelay"`) {
		t.Errorf("the record holds the token itself, not its digest:\n%s", rec)
	}
	if fi, err := os.Stat(recordPath(settings)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the record's mode: %v %v", fi.Mode(), err)
	}
	if fi, _ := os.Stat(settings); fi.Mode().Perm() != 0o644 {
		t.Errorf("init changed the settings file's mode to %v", fi.Mode())
	}
	tr.run("cc", "init", "--settings", settings)
	if code := tr.run("cc", "remove", "--settings", settings); code != 0 {
		t.Errorf("remove: exit status %d", code)
	}
	if got := tr.file("settings.json"); got != claudeWritten {
		t.Errorf("remove did not give back the file Claude Code wrote")
	}
	tr.file("settings.json.ccrelay")
	tr.run("cc", "remove", "--settings", settings)
	golden(t, "cc-init-remove.golden", tr.String())
}

func TestCCInitCreatesTheFileAndRemoveDeletesIt(t *testing.T) {
	tr := newTranscript(t)
	t.Setenv("CLAUDE_CONFIG_DIR", filepath.Join(tr.dir, "claude"))
	settings := filepath.Join(tr.dir, "claude", "settings.json")
	tr.run("cc", "init", "--url", "http://127.0.0.1:9999/")
	tr.file("claude/settings.json")
	if fi, err := os.Stat(settings); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("a new settings file (in $CLAUDE_CONFIG_DIR) should be 0600: %v", err)
	}
	tr.run("cc", "remove")
	if _, err := os.Stat(settings); !os.IsNotExist(err) {
		t.Errorf("remove kept the file init created: %v", err)
	}
	golden(t, "cc-init-new-file.golden", tr.String())
}

func TestCCRemoveLeavesWhatTheUserChanged(t *testing.T) {
	tr := newTranscript(t)
	settings := filepath.Join(tr.dir, "settings.json")
	os.WriteFile(settings, []byte(`{"env": {"ANTHROPIC_AUTH_TOKEN": "old-token-123456"}, "theme": "dark"}`), 0o600)
	cfg := filepath.Join(tr.dir, "relay.yaml")
	os.WriteFile(cfg, []byte("server:\n  listen: 0.0.0.0:9000\n  auth:\n    api_key: relay-secret-key-0001\nproviders:\n  - name: claude\n    type: anthropic\n    keys: [{key: test}]\n"), 0o600)
	tr.run("cc", "init", "--settings", settings, "--config", cfg, "--env", "ANTHROPIC_MODEL=claude-sonnet-5-5")
	tr.file("settings.json")
	// The user edits the base URL by hand; the token and the model stay what init set.
	s, err := readSettings(settings)
	if err != nil {
		t.Fatal(err)
	}
	s.setEnv(envBaseURL, "http://10.0.0.5:9000")
	os.WriteFile(settings, s.bytes(false), 0o600)
	tr.run("cc", "remove", "--settings", settings)
	got := tr.file("settings.json")
	var v struct {
		Env   map[string]string `json:"env"`
		Theme string            `json:"theme"`
	}
	json.Unmarshal([]byte(got), &v)
	if v.Env[envBaseURL] != "http://10.0.0.5:9000" || v.Env[envAuthToken] != "old-token-123456" || v.Env["ANTHROPIC_MODEL"] != "" || v.Theme != "dark" {
		t.Errorf("after remove: %+v", v)
	}
	golden(t, "cc-remove-changed.golden", tr.String())
}

func TestCCInitRefusesABrokenFile(t *testing.T) {
	for _, tt := range []struct{ name, content, want string }{
		{"invalid JSON", `{"env": {"A": "b",}}`, "is not a JSON object"},
		{"an array", `[1, 2]`, "is not a JSON object (not a JSON object)"},
		{"env is not an object", `{"env": "ANTHROPIC_BASE_URL=x"}`, `"env" is not a JSON object`},
		{"an env value is not a string", `{"env": {"DEBUG": 1}}`, "env.DEBUG is not a string"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTranscript(t)
			settings := filepath.Join(tr.dir, "settings.json")
			os.WriteFile(settings, []byte(tt.content), 0o644)
			code, out, errs := runCLI(t, "cc", "init", "--settings", settings, "--url", "http://127.0.0.1:8787")
			if code != 1 || !strings.Contains(errs, tt.want) || !strings.Contains(errs, "nothing was changed") {
				t.Errorf("exit status %d, stdout %q, stderr %q", code, out, errs)
			}
			if b, _ := os.ReadFile(settings); string(b) != tt.content {
				t.Errorf("the file changed: %s", b)
			}
			if m, _ := filepath.Glob(filepath.Join(tr.dir, "*")); len(m) != 1 {
				t.Errorf("files written beside it: %q", m)
			}
		})
	}
}

func TestCCInitWithSubscriptionLeavesTheTokenAlone(t *testing.T) {
	tr := newTranscript(t)
	settings := filepath.Join(tr.dir, "settings.json")
	cfg := filepath.Join(tr.dir, "relay.yaml")
	os.WriteFile(cfg, []byte("server:\n  auth:\n    allow_subscription: true\nproviders:\n  - name: claude\n    type: anthropic\n"), 0o600)
	tr.run("cc", "init", "--settings", settings, "--config", cfg)
	got := tr.file("settings.json")
	if strings.Contains(got, envAuthToken) {
		t.Errorf("init set a token that would replace the subscription login")
	}
	golden(t, "cc-init-subscription.golden", tr.String())
}

func TestCCSettingsRoundTripsWhatClaudeCodeWrote(t *testing.T) {
	s, err := parseObject([]byte(claudeWritten))
	if err != nil {
		t.Fatal(err)
	}
	f := &settingsFile{exists: true, raw: []byte(claudeWritten), top: s}
	f.env, _ = parseObject(s.get("env"))
	if got := string(f.bytes(false)); got != claudeWritten {
		t.Errorf("re-encoding changed the file:\n%s", got)
	}
}
