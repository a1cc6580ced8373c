package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/urfave/cli/v2"
)

// keyRand is where new client keys' secrets come from; the tests replace it.
var keyRand io.Reader = rand.Reader

// secretBytes is the size of a client key's random part: 32 bytes, 256 bits.
const secretBytes = 32

// keysCommand is `ccrelay keys`, the client keys of server.auth.keys.
func keysCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "keys",
		Usage: "make client keys for server.auth.keys",
		Subcommands: []*cli.Command{{
			Name:      "new",
			Usage:     "print a new client key's secret, once, and the configuration lines that hold its digest",
			UsageText: "ccrelay keys new --name NAME [--models 'claude-sonnet-*,claude-haiku-*'] [--rpm N] [--tpm N] [--max-concurrent N] [--daily-usd X] [--monthly-usd X] [--expires 2026-12-31] [--toml]",
			Description: "The secret is ccr_ and 32 random bytes in base64url. The relay keeps only its SHA-256 digest\n" +
				"(key_sha256), so the secret cannot be shown again: give it to its user now. Paste the lines printed\n" +
				"under server.auth.keys and the relay accepts the key (on its next reload).",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "name", Required: true, Usage: "the key's `NAME` in logs and metrics (letters, digits, . _ - @ +)"},
				&cli.StringFlag{Name: "models", Usage: "comma-separated model `PATTERNS` the key may use (exact, prefix-*, *); default every model"},
				&cli.IntFlag{Name: "rpm", Usage: "requests per minute (rpm_limit)"},
				&cli.IntFlag{Name: "tpm", Usage: "tokens per minute (tpm_limit)"},
				&cli.IntFlag{Name: "max-concurrent", Usage: "requests in flight (max_concurrent)"},
				&cli.Float64Flag{Name: "daily-usd", Usage: "spend per UTC day, in USD (budget_usd.daily)"},
				&cli.Float64Flag{Name: "monthly-usd", Usage: "spend per calendar month, in USD (budget_usd.monthly)"},
				&cli.StringFlag{Name: "expires", Usage: "`DATE` (valid through that day, UTC) or RFC 3339 date-time the key stops working"},
				&cli.BoolFlag{Name: "toml", Usage: "print the configuration lines in TOML instead of YAML"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return &exitError{code: 2, err: fmt.Errorf("keys new takes no arguments, got %q", c.Args().Slice())}
				}
				k := config.ClientKey{
					Name: c.String("name"), RPMLimit: c.Int("rpm"), TPMLimit: c.Int("tpm"), MaxConcurrent: c.Int("max-concurrent"),
					BudgetUSD: config.Budget{Daily: c.Float64("daily-usd"), Monthly: c.Float64("monthly-usd")},
					Expires:   config.Expiry{Text: c.String("expires")},
				}
				for _, m := range strings.Split(c.String("models"), ",") {
					if m = strings.TrimSpace(m); m != "" {
						k.Models = append(k.Models, m)
					}
				}
				secret, err := newSecret()
				if err != nil {
					return err
				}
				k.KeySHA256 = config.SecretDigest(secret)
				yamlLines, tomlLines := clientKeyYAML(k), clientKeyTOML(k)
				if err := checkClientKey(yamlLines); err != nil {
					return &exitError{code: 2, err: err}
				}
				lines, where := yamlLines, "the list server.auth.keys (YAML)"
				if c.Bool("toml") {
					lines, where = tomlLines, "the TOML configuration"
				}
				fmt.Fprintf(stdout, "Client key %q. Its secret, shown this once (the relay keeps only its digest):\n\n", k.Name)
				fmt.Fprintf(stdout, "  %s\n\n", secret)
				fmt.Fprintf(stdout, "Claude Code sends it with ANTHROPIC_AUTH_TOKEN=%s (or as ANTHROPIC_API_KEY, or from an apiKeyHelper).\n", secret)
				fmt.Fprintf(stdout, "Add these lines to %s:\n\n%s", where, lines)
				return nil
			},
		}},
	}
}

// newSecret returns "ccr_" and secretBytes random bytes in base64url.
func newSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(keyRand, b); err != nil {
		return "", fmt.Errorf("keys new: no randomness: %w", err)
	}
	return "ccr_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// entryStyle is how a server.auth.keys entry is written in one configuration language.
type entryStyle struct {
	head   string // before the entry
	first  string // before its first key
	indent string // before its other keys
	sep    string // between a key and its value
	budget string // the budget's inline table, a format for its fields
}

var (
	// yamlEntry is an entry of a YAML list, indented as under server: auth: keys:.
	yamlEntry = entryStyle{first: "    - ", indent: "      ", sep: ": ", budget: "{%s}"}
	// tomlEntry is an array-of-tables entry.
	tomlEntry = entryStyle{head: "[[server.auth.keys]]\n", sep: " = ", budget: "{ %s }"}
)

// clientKeyYAML is k as an entry of server.auth.keys in YAML.
func clientKeyYAML(k config.ClientKey) string { return clientKeyEntry(k, yamlEntry) }

// clientKeyTOML is k as an entry of server.auth.keys in TOML.
func clientKeyTOML(k config.ClientKey) string { return clientKeyEntry(k, tomlEntry) }

// clientKeyEntry writes k's set fields in style st; strings are JSON-quoted, which both
// languages read.
func clientKeyEntry(k config.ClientKey, st entryStyle) string {
	var b strings.Builder
	b.WriteString(st.head)
	field := func(key, value string) {
		if b.Len() == len(st.head) {
			b.WriteString(st.first)
		} else {
			b.WriteString(st.indent)
		}
		b.WriteString(key + st.sep + value + "\n")
	}
	field("name", strconv.Quote(k.Name))
	field("key_sha256", strconv.Quote(k.KeySHA256))
	if len(k.Models) > 0 {
		field("models", "["+quotedList(k.Models)+"]")
	}
	for _, l := range []struct {
		key string
		v   int
	}{{"rpm_limit", k.RPMLimit}, {"tpm_limit", k.TPMLimit}, {"max_concurrent", k.MaxConcurrent}} {
		if l.v != 0 {
			field(l.key, strconv.Itoa(l.v))
		}
	}
	if k.BudgetUSD.Daily > 0 || k.BudgetUSD.Monthly > 0 {
		field("budget_usd", fmt.Sprintf(st.budget, budgetFields(k.BudgetUSD, st.sep)))
	}
	if k.Expires.Text != "" {
		field("expires", strconv.Quote(k.Expires.Text))
	}
	return b.String()
}

// budgetFields are the budget's set fields, "daily: 5, monthly: 50" (sep ": " or " = ").
func budgetFields(bu config.Budget, sep string) string {
	var parts []string
	if bu.Daily != 0 {
		parts = append(parts, "daily"+sep+strconv.FormatFloat(bu.Daily, 'f', -1, 64))
	}
	if bu.Monthly != 0 {
		parts = append(parts, "monthly"+sep+strconv.FormatFloat(bu.Monthly, 'f', -1, 64))
	}
	return strings.Join(parts, ", ")
}

// quotedList is `"a", "b"`: JSON-style strings, valid in YAML flow lists and TOML arrays.
func quotedList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// flagOf names the keys new flag of a server.auth.keys[0] key path.
var flagOf = map[string]string{
	"name": "--name", "models": "--models", "rpm_limit": "--rpm", "tpm_limit": "--tpm",
	"max_concurrent": "--max-concurrent", "budget_usd.daily": "--daily-usd", "budget_usd.monthly": "--monthly-usd",
	"expires": "--expires",
}

// checkClientKey loads the entry as the relay would, so that what is printed is what loads; its
// problems are reported by flag.
func checkClientKey(entry string) error {
	doc := "server:\n  auth:\n    keys:\n" + entry + "providers: [{name: p, type: ollama}]\n"
	_, err := config.Parse([]byte(doc), "keys-new.yaml", nil)
	var ce *config.Error
	if !errors.As(err, &ce) {
		return err
	}
	var msgs []string
	for _, p := range ce.Problems {
		path := strings.TrimPrefix(p.Path, "server.auth.keys[0].")
		if i := strings.IndexByte(path, '['); i > 0 {
			path = path[:i]
		}
		if f, ok := flagOf[path]; ok {
			path = f
		}
		msgs = append(msgs, path+": "+p.Msg)
	}
	return errors.New(strings.Join(msgs, "\n"))
}
