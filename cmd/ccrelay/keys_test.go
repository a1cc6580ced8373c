package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
)

// countingRand is a deterministic randomness for golden output: 0, 1, 2, ...
func countingRand(t *testing.T) {
	old := keyRand
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	keyRand = bytes.NewReader(b)
	t.Cleanup(func() { keyRand = old })
}

func TestKeysNewGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		golden string
	}{
		{"YAML, with models, limits, budgets and an expiry", []string{"--name", "alice", "--models", "claude-sonnet-*, claude-haiku-*",
			"--rpm", "60", "--tpm", "200000", "--max-concurrent", "4", "--daily-usd", "5", "--monthly-usd", "50.5", "--expires", "2026-12-31"}, "keys-new.golden"},
		{"TOML", []string{"--name", "ci-bot", "--models", "claude-haiku-*", "--rpm", "10", "--daily-usd", "1.25", "--toml"}, "keys-new-toml.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			countingRand(t)
			code, out, errs := runCLI(t, append([]string{"keys", "new"}, tc.args...)...)
			if code != 0 || errs != "" {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden(t, tc.golden, out)
		})
	}
}

var secretRE = regexp.MustCompile(`(?m)^  (ccr_[A-Za-z0-9_-]+)$`)

func TestKeysNewPrintsLinesThatLoadAndHoldTheSecretsDigest(t *testing.T) {
	for _, format := range []string{"yaml", "toml"} {
		t.Run(format, func(t *testing.T) {
			args := []string{"keys", "new", "--name", "alice", "--models", "claude-sonnet-*", "--rpm", "60", "--daily-usd", "5", "--expires", "2026-12-31T18:00:00Z"}
			if format == "toml" {
				args = append(args, "--toml")
			}
			var secrets []string
			var outs []string
			for range 2 {
				code, out, errs := runCLI(t, args...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errs)
				}
				m := secretRE.FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("no secret in:\n%s", out)
				}
				secrets, outs = append(secrets, m[1]), append(outs, out)
			}
			if secrets[0] == secrets[1] {
				t.Fatalf("two new keys have the same secret")
			}
			raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secrets[0], "ccr_"))
			if err != nil || len(raw) < 32 {
				t.Fatalf("the secret is not ccr_ and at least 32 bytes in base64url: %d bytes, %v", len(raw), err)
			}
			lines := outs[0][strings.Index(outs[0], ":\n\n")+3:]
			lines = lines[strings.Index(lines, ":\n\n")+3:] // after the secret's paragraph, the lines
			doc, file := "server:\n  auth:\n    keys:\n"+lines+"providers: [{name: o, type: ollama}]\n", "c.yaml"
			if format == "toml" {
				doc, file = lines+"\n[[providers]]\nname = \"o\"\ntype = \"ollama\"\n", "c.toml"
			}
			cfg, err := config.Parse([]byte(doc), file, nil)
			if err != nil {
				t.Fatalf("the printed lines do not load: %v\n%s", err, doc)
			}
			if len(cfg.Warnings) > 0 {
				t.Errorf("warnings: %q", cfg.Warnings)
			}
			k := cfg.Server.Auth.Keys[0]
			if k.KeySHA256 != config.SecretDigest(secrets[0]) || k.Name != "alice" || k.RPMLimit != 60 || k.BudgetUSD.Daily != 5 ||
				strings.Join(k.Models, ",") != "claude-sonnet-*" || k.Expires.At.Format("2006-01-02T15:04") != "2026-12-31T18:00" {
				t.Errorf("loaded %+v", k)
			}
			if strings.Count(outs[0], secrets[0]) != 2 {
				t.Errorf("the secret is not printed exactly in the two places that show it once")
			}
		})
	}
}

func TestKeysNewRefusesBadFlagsByName(t *testing.T) {
	code, out, errs := runCLI(t, "keys", "new", "--name", "bob smith", "--rpm", "-1", "--models", "a*b", "--expires", "tomorrow")
	if code != 2 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	want := `ccrelay: --name: want 1 to 64 letters, digits and . _ - @ +, got "bob smith"
--models: want a model name, a prefix ending in "*" or "*", got "a*b"
--rpm: want 0 (no limit) or more, got -1
--expires: want an RFC 3339 date such as "2026-12-31" (valid through that day, UTC) or a date and time such as "2026-12-31T18:00:00Z", got "tomorrow"
`
	if errs != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errs, want)
	}
	if code, _, errs := runCLI(t, "keys", "new"); code == 0 || !strings.Contains(errs, `"name" not set`) {
		t.Errorf("without --name: exit %d, %q", code, errs)
	}
}

func TestTheREADMETeamKeysExampleLoads(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i := strings.Index(s, "## Team keys")
	if i < 0 {
		t.Fatal("README.md has no Team keys section")
	}
	s = s[i:]
	start := strings.Index(s, "```yaml\n") + len("```yaml\n")
	end := strings.Index(s[start:], "```")
	doc := s[start:start+end] + "providers: [{name: o, type: ollama}]\n"
	lookup := func(name string) (string, bool) { return "value-of-" + name, true }
	cfg, err := config.Parse([]byte(doc), "README.yaml", lookup)
	if err != nil {
		t.Fatalf("the README's team keys example does not load:\n%v", err)
	}
	if len(cfg.Server.Auth.Keys) != 2 || len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "plain text") {
		t.Errorf("keys %d, warnings %q: want two keys and the plaintext warning", len(cfg.Server.Auth.Keys), cfg.Warnings)
	}
}

func TestCCInitAsksForTheClientKeyOfARelayWithClientKeys(t *testing.T) {
	dir := t.TempDir()
	settings := filepath.Join(dir, "settings.json")
	cfg := filepath.Join(dir, "relay.yaml")
	os.WriteFile(cfg, []byte("server:\n  auth:\n    keys:\n      - {name: alice, key_sha256: \""+config.SecretDigest("ccr_a")+"\"}\nproviders:\n  - {name: o, type: ollama}\n"), 0o600)
	code, _, errs := runCLI(t, "cc", "init", "--settings", settings, "--config", cfg)
	if code == 0 || !strings.Contains(errs, "the relay has client keys (server.auth.keys): pass yours with --token") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if _, err := os.Stat(settings); err == nil {
		t.Errorf("settings written without a token")
	}
	if code, _, errs := runCLI(t, "cc", "init", "--settings", settings, "--config", cfg, "--token", "ccr_a"); code != 0 {
		t.Fatalf("with --token: exit %d, %s", code, errs)
	}
}
