package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// aliceDigest is the SHA-256 of "ccr_alice".
var aliceDigest = SecretDigest("ccr_alice")

func TestClientKeysDecodeFromYAMLAndTOML(t *testing.T) {
	yamlSrc := `
	server:
	  auth:
	    api_key: shared
	    keys:
	      - name: alice
	        key_sha256: ` + aliceDigest + `
	        models: ["claude-sonnet-*", "claude-haiku-*"]
	        rpm_limit: 60
	        tpm_limit: 200000
	        max_concurrent: 4
	        budget_usd: {daily: 5, monthly: 50.5}
	        expires: 2026-12-31
	      - name: ci-bot
	        key_sha256: ` + strings.ToUpper(SecretDigest("ccr_bot")) + `
	        expires: "2026-06-30T18:00:00+02:00"
	providers:
	- {name: o, type: ollama}
	`
	tomlSrc := `
	[server.auth]
	api_key = "shared"

	[[server.auth.keys]]
	name = "alice"
	key_sha256 = "` + aliceDigest + `"
	models = ["claude-sonnet-*", "claude-haiku-*"]
	rpm_limit = 60
	tpm_limit = 200000
	max_concurrent = 4
	budget_usd = { daily = 5, monthly = 50.5 }
	expires = 2026-12-31

	[[server.auth.keys]]
	name = "ci-bot"
	key_sha256 = "` + strings.ToUpper(SecretDigest("ccr_bot")) + `"
	expires = 2026-06-30T18:00:00+02:00

	[[providers]]
	name = "o"
	type = "ollama"
	`
	want := []ClientKey{
		{
			Name: "alice", KeySHA256: aliceDigest, Models: []string{"claude-sonnet-*", "claude-haiku-*"},
			RPMLimit: 60, TPMLimit: 200000, MaxConcurrent: 4, BudgetUSD: Budget{Daily: 5, Monthly: 50.5},
			Expires: Expiry{At: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Text: "2026-12-31"},
		},
		{
			Name: "ci-bot", KeySHA256: strings.ToUpper(SecretDigest("ccr_bot")),
			Expires: Expiry{At: time.Date(2026, 6, 30, 16, 0, 0, 0, time.UTC)},
		},
	}
	for file, src := range map[string]string{"c.yaml": yamlSrc, "c.toml": tomlSrc} {
		t.Run(file, func(t *testing.T) {
			cfg, err := Parse([]byte(dedent(src)), file, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Warnings) > 0 {
				t.Errorf("warnings: %q", cfg.Warnings)
			}
			got := cfg.Server.Auth.Keys
			// Compare instants, not locations, and leave out the text of the date-time (TOML
			// writes it its own way).
			for i := range got {
				if !got[i].Expires.At.Equal(want[i].Expires.At) {
					t.Errorf("keys[%d].expires = %v, want %v", i, got[i].Expires.At, want[i].Expires.At)
				}
				got[i].Expires.At = want[i].Expires.At
			}
			got[1].Expires.Text = ""
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if d, ok := got[1].Digest(); !ok || d != [32]byte(sumOf("ccr_bot")) {
				t.Errorf("an upper-case digest does not decode to the secret's digest")
			}
		})
	}
}

func TestClientKeysProblemsHaveKeyPaths(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "a digest that is not 64 hexadecimal digits",
			src: `
			server:
			  auth:
			    keys:
			    - {name: a, key_sha256: "abc"}
			    - {name: b, key_sha256: "` + strings.Repeat("zz", 32) + `"}
			    - {name: c, key_sha256: "ccr_0123456789"}
			providers: [{name: o, type: ollama}]
			`,
			want: []string{
				`c.yaml:4: server.auth.keys[0].key_sha256: want 64 hexadecimal digits (a SHA-256 digest), got 3 characters`,
				`c.yaml:5: server.auth.keys[1].key_sha256: want 64 hexadecimal digits (a SHA-256 digest), got 64 characters with a character that is not hexadecimal`,
				`c.yaml:6: server.auth.keys[2].key_sha256: want 64 hexadecimal digits (a SHA-256 digest), got 14 characters; this looks like the secret itself: put its digest here (ccrelay keys new prints it)`,
			},
		},
		{
			name: "duplicate names and duplicate secrets, the api_key's included",
			src: `
			server:
			  auth:
			    api_key: ccr_alice
			    keys:
			    - {name: alice, key_sha256: ` + aliceDigest + `}
			    - {name: alice, key_sha256: ` + SecretDigest("other") + `}
			    - {name: bob, key: other}
			providers: [{name: o, type: ollama}]
			`,
			want: []string{
				`c.yaml:5: server.auth.keys[0]: client key "alice" has the same secret as server.auth.api_key; give each key its own`,
				`c.yaml:6: server.auth.keys[1].name: duplicate client key name "alice" (also server.auth.keys[0])`,
				`c.yaml:7: server.auth.keys[2]: client key "bob" has the same secret as server.auth.keys[1] (alice); give each key its own`,
			},
		},
		{
			name: "a missing name, a name unfit for logs, no secret, both secrets",
			src: `
			server:
			  auth:
			    keys:
			    - {key_sha256: ` + aliceDigest + `}
			    - {name: "bob smith", key_sha256: ` + SecretDigest("b") + `}
			    - {name: carol}
			    - {name: dan, key: d, key_sha256: ` + SecretDigest("d") + `}
			providers: [{name: o, type: ollama}]
			`,
			want: []string{
				`c.yaml:4: server.auth.keys[0].name: name is required (it names the key in logs and metrics)`,
				`c.yaml:5: server.auth.keys[1].name: want 1 to 64 letters, digits and . _ - @ +, got "bob smith"`,
				`c.yaml:6: server.auth.keys[2].key_sha256: key_sha256 is required: the hex SHA-256 of the key's secret (ccrelay keys new prints it)`,
				`c.yaml:7: server.auth.keys[3]: set key_sha256 or key, not both`,
			},
		},
		{
			name: "bad expiries",
			src: `
			server:
			  auth:
			    keys:
			    - {name: a, key_sha256: ` + SecretDigest("a") + `, expires: "31/12/2026"}
			    - {name: b, key_sha256: ` + SecretDigest("b") + `, expires: "2026-12-31T18:00:00"}
			    - {name: c, key_sha256: ` + SecretDigest("c") + `, expires: 2026}
			providers: [{name: o, type: ollama}]
			`,
			want: []string{
				`c.yaml:4: server.auth.keys[0].expires: want an RFC 3339 date such as "2026-12-31" (valid through that day, UTC) or a date and time such as "2026-12-31T18:00:00Z", got "31/12/2026"`,
				`c.yaml:5: server.auth.keys[1].expires: want an offset after the time, such as "2026-12-31T18:00:00Z" or "2026-12-31T18:00:00+02:00", got "2026-12-31T18:00:00"`,
				`c.yaml:6: server.auth.keys[2].expires: want an RFC 3339 date such as "2026-12-31" (valid through that day, UTC) or a date and time such as "2026-12-31T18:00:00Z", got "2026"`,
			},
		},
		{
			name: "negative limits and budgets, bad model patterns, an unknown key",
			src: `
			server:
			  auth:
			    keys:
			    - name: a
			      key_sha256: ` + SecretDigest("a") + `
			      rpm_limit: -1
			      max_concurrent: -2
			      budget_usd: {daily: -5, weekly: 3}
			      models: ["", "claude-*-sonnet"]
			providers: [{name: o, type: ollama}]
			`,
			want: []string{
				`c.yaml:6: server.auth.keys[0].rpm_limit: want 0 (no limit) or more, got -1`,
				`c.yaml:7: server.auth.keys[0].max_concurrent: want 0 (no limit) or more, got -2`,
				`c.yaml:8: server.auth.keys[0].budget_usd.daily: want a positive number, got -5`,
				`c.yaml:8: server.auth.keys[0].budget_usd.weekly: unknown key "weekly"; known keys here: daily, monthly`,
				`c.yaml:9: server.auth.keys[0].models[0]: want a model name, a prefix ending in "*" or "*", got ""`,
				`c.yaml:9: server.auth.keys[0].models[1]: want a model name, a prefix ending in "*" or "*", got "claude-*-sonnet"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(dedent(tt.src)), "c.yaml", nil)
			if diff := cmp.Diff(tt.want, problemLines(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientKeyInPlainTextIsAcceptedWithAWarningThatHoldsOnlyItsDigest(t *testing.T) {
	src := `
	server:
	  auth:
	    keys:
	    - {name: alice, key: ccr_alice}
	providers: [{name: o, type: ollama}]
	`
	cfg, err := Parse([]byte(dedent(src)), "c.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`c.yaml:4: server.auth.keys[0].key: client key "alice" is in plain text in the configuration; replace key with key_sha256: "` + aliceDigest + `"`}
	if diff := cmp.Diff(want, cfg.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if d, ok := cfg.Server.Auth.Keys[0].Digest(); !ok || d != [32]byte(sumOf("ccr_alice")) {
		t.Errorf("the plaintext key's digest is not its SHA-256")
	}
}
