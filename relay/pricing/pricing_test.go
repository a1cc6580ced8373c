package pricing_test

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/pricing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"claude-sonnet-4-5", "claude-sonnet-4-5"},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"Claude-Haiku-4-5-20251001", "claude-haiku-4-5"},
		{"claude-3-5-sonnet-latest", "claude-3-5-sonnet"},
		{"anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"},
		{"us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"},
		{"global.anthropic.claude-haiku-5-5", "claude-haiku-5-5"},
		{"anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"},
		{"claude-sonnet-4-5@20250929", "claude-sonnet-4-5"},
		{"claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"},
		{"claude-opus-4-6[1m]", "claude-opus-4-6"},
		{"GLM-4.5-Air", "glm-4.5-air"},
		{"glm-4.6", "glm-4.6"},
		{"MiniMax-M2.5", "minimax-m2.5"},
		{"qwen3-coder:30b", "qwen3-coder:30b"},
		{"my-claude-deployment", "my-claude-deployment"},
	} {
		if got := pricing.Normalize(tc.in); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCost(t *testing.T) {
	usage := pricing.Tokens{Input: 1000, Output: 2000, CacheRead: 100_000, CacheCreation: 10_000}
	for _, tc := range []struct {
		name, typ, model string
		t                pricing.Tokens
		override         *pricing.Price
		want             float64
		known            bool
	}{
		// 1000×3 + 2000×15 + 100000×0.30 + 10000×3.75 = 100500 µ$
		{"anthropic sonnet 4.5, dated id", config.TypeAnthropic, "claude-sonnet-4-5-20250929", usage, nil, 0.1005, true},
		{"bedrock inherits anthropic", config.TypeBedrock, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", usage, nil, 0.1005, true},
		{"vertex inherits anthropic", config.TypeVertex, "claude-sonnet-4-5@20250929", usage, nil, 0.1005, true},
		{"azure inherits anthropic", config.TypeAzure, "claude-sonnet-4-5", usage, nil, 0.1005, true},
		// 1000×4 + 2000×20 + 100000×0.20 + 10000×5 = 114000 µ$
		{"opus 5.5", config.TypeAnthropic, "claude-opus-5-5", usage, nil, 0.114, true},
		// 1000×2 + 2000×10 + 100000×0.10 + 10000×2.5 = 57000 µ$
		{"sonnet 5.5 cache read after 2026-10-07", config.TypeAnthropic, "claude-sonnet-5-5", usage, nil, 0.057, true},
		// 1h writes at 2× input: 1000×3 + 2000×15 + 100000×0.30 + 4000×3.75 + 6000×6 = 114000 µ$
		{"1h cache writes", config.TypeAnthropic, "claude-sonnet-4-5",
			pricing.Tokens{Input: 1000, Output: 2000, CacheRead: 100_000, CacheCreation: 10_000, CacheCreation1h: 6000}, nil, 0.114, true},
		// prompt 111000 > 100K: 1000×0.5 + 2000×2.5 + 100000×0.05 + 10000×0.625 = 16750 µ$
		{"haiku 5.5 over 100K prompt", config.TypeAnthropic, "claude-haiku-5-5", usage, nil, 0.01675, true},
		// prompt 11000: 1000×0.1 + 2000×0.5 + 0 + 10000×0.125 = 2350 µ$
		{"haiku 5.5 short prompt", config.TypeAnthropic, "claude-haiku-5-5",
			pricing.Tokens{Input: 1000, Output: 2000, CacheCreation: 10_000}, nil, 0.00235, true},
		// 1000×0.6 + 2000×2.2 + 100000×0.11 + 10000×0.6 = 22000 µ$
		{"zai glm-4.6, writes at input", config.TypeZAI, "glm-4.6", usage, nil, 0.022, true},
		{"zai free flash model is known", config.TypeZAI, "GLM-4.5-Flash", usage, nil, 0, true},
		// 1000×0.3 + 2000×1.2 + 100000×0.03 + 10000×0.375 = 9450 µ$
		{"minimax m2.5", config.TypeMiniMax, "MiniMax-M2.5", usage, nil, 0.00945, true},
		{"ollama is free", config.TypeOllama, "qwen3-coder:30b", usage, nil, 0, true},
		{"unknown anthropic model", config.TypeAnthropic, "claude-unheard-of-9", usage, nil, 0, false},
		{"a zai model is not in the anthropic table", config.TypeAnthropic, "glm-4.6", usage, nil, 0, false},
		{"unknown provider type", "other", "claude-sonnet-4-5", usage, nil, 0, false},
		{"override wins", config.TypeAnthropic, "claude-unheard-of-9", usage,
			&pricing.Price{Input: 1, Output: 1, CacheRead: 1, CacheWrite5m: 1, CacheWrite1h: 1}, 0.113, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, known := pricing.Cost(tc.typ, tc.model, tc.t, tc.override)
			if math.Abs(got-tc.want) > 1e-12 || known != tc.known {
				t.Errorf("Cost = %v, %v; want %v, %v", got, known, tc.want, tc.known)
			}
		})
	}
}

// TestEveryPriceCitesItsSource keeps the table honest: a price without a source and a date
// does not go in.
func TestEveryPriceCitesItsSource(t *testing.T) {
	for _, typ := range []string{config.TypeAnthropic, config.TypeZAI, config.TypeMiniMax} {
		for id, p := range pricing.Table(typ) {
			for _, q := range []*pricing.Price{&p, p.Long} {
				if q == nil {
					continue
				}
				if !strings.Contains(q.Source, "https://") || q.Date == "" {
					t.Errorf("%s %s: source %q, date %q", typ, id, q.Source, q.Date)
				}
				if q.Input < 0 || q.Output < 0 || q.CacheRead < 0 || q.CacheWrite5m < 0 || q.CacheWrite1h < 0 {
					t.Errorf("%s %s: negative price %+v", typ, id, q)
				}
			}
			if pricing.Normalize(id) != id {
				t.Errorf("%s: key %q is not normalized (%q)", typ, id, pricing.Normalize(id))
			}
		}
	}
}

// TestTableGolden renders the table with its sources (testdata/prices.golden, refreshed with
// -update), so that a change of price shows in review.
func TestTableGolden(t *testing.T) {
	var b strings.Builder
	for _, typ := range []string{config.TypeAnthropic, config.TypeZAI, config.TypeMiniMax} {
		tab := pricing.Table(typ)
		ids := make([]string, 0, len(tab))
		for id := range tab {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		fmt.Fprintf(&b, "## %s (USD per million tokens: input, output, 5m cache write, 1h cache write, cache read)\n", typ)
		for _, id := range ids {
			p := tab[id]
			fmt.Fprintf(&b, "%-24s %s\n", id, rates(p))
			if p.Long != nil {
				fmt.Fprintf(&b, "%-24s %s (prompt over %d tokens)\n", "", rates(*p.Long), p.LongAbove)
			}
			fmt.Fprintf(&b, "%-24s   %s, read %s\n", "", p.Source, p.Date)
		}
	}
	golden(t, filepath.Join("testdata", "prices.golden"), b.String())
}

func rates(p pricing.Price) string {
	return fmt.Sprintf("%g / %g / %g / %g / %g", p.Input, p.Output, p.CacheWrite5m, p.CacheWrite1h, p.CacheRead)
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run go test -update to accept):\n%s", path, got)
	}
}

// loadConfig loads a configuration from src, written to a file named name.
func loadConfig(t *testing.T, name, src string) *config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const pricedYAML = `
providers:
  - name: claude
    type: anthropic
    keys: [{key: k}]
  - name: cheap
    type: bedrock
    aws_region: us-east-1
    pricing:
      input: 1
      output: 2
      models:
        "claude-opus-4-6": {input: 4, output: 20, cache_read: 0.4}
  - name: local
    type: ollama
  - name: glm
    type: zai
    keys: [{key: k}]
`

const pricedTOML = `
[[providers]]
name = "claude"
type = "anthropic"
keys = [{key = "k"}]

[[providers]]
name = "cheap"
type = "bedrock"
aws_region = "us-east-1"
[providers.pricing]
input = 1
output = 2.0
[providers.pricing.models."claude-opus-4-6"]
input = 4
output = 20
cache_read = 0.4

[[providers]]
name = "local"
type = "ollama"

[[providers]]
name = "glm"
type = "zai"
keys = [{key = "k"}]
`

func TestBookPricesByProviderWithItsOverrides(t *testing.T) {
	usage := pricing.Tokens{Input: 1000, Output: 2000, CacheRead: 100_000, CacheCreation: 10_000}
	for _, file := range []struct{ name, src string }{{"c.yaml", pricedYAML}, {"c.toml", pricedTOML}} {
		t.Run(file.name, func(t *testing.T) {
			cfg := loadConfig(t, file.name, file.src)
			var logs bytes.Buffer
			book, err := pricing.NewBook(cfg.Providers, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name, provider, model string
				want                  float64
				known                 bool
			}{
				{"the table", "claude", "claude-sonnet-4-5-20250929", 0.1005, true},
				// input 1, output 2, the rest from the table (0.30 read, 3.75 write): 1000 + 4000 + 30000 + 37500 µ$
				{"provider-wide rates over the table", "cheap", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 0.0725, true},
				// 4, 20, 0.4 and the table's 5m write of Opus 4.6 (6.25): 4000 + 40000 + 40000 + 62500 µ$
				{"per-model rates, matched normalized", "cheap", "global.anthropic.claude-opus-4-6-v1:0", 0.1465, true},
				// input 1 and output 2 alone price an unknown model: 1000 + 4000 µ$
				{"an override prices an unknown model", "cheap", "anthropic.claude-unheard-of", 0.005, true},
				{"ollama is free", "local", "qwen3-coder:30b", 0, true},
				{"no provider answered", "", "", 0, true},
				{"unknown model", "glm", "glm-99", 0, false},
				{"unknown model again, flagged once", "glm", "glm-99", 0, false},
				{"unknown provider", "nobody", "claude-sonnet-4-5", 0, false},
			} {
				got, known := book.Cost(tc.provider, tc.model, usage)
				if math.Abs(got-tc.want) > 1e-12 || known != tc.known {
					t.Errorf("%s: Cost = %v, %v; want %v, %v", tc.name, got, known, tc.want, tc.known)
				}
			}
			if n := strings.Count(logs.String(), "no price for this model"); n != 2 {
				t.Errorf("unknown models logged %d times, want 2 (glm-99 once, nobody's once):\n%s", n, logs.String())
			}
			if !strings.Contains(logs.String(), "model=glm-99") {
				t.Errorf("the log does not name the model:\n%s", logs.String())
			}
		})
	}
}

func TestPricingRefusesWhatIsNotAPositiveNumber(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"c.yaml", "providers:\n  - name: a\n    type: ollama\n    pricing: {input: -1}\n", "want a positive number"},
		{"c.yaml", "providers:\n  - name: a\n    type: ollama\n    pricing: {input: cheap}\n", "want a number"},
		{"c.toml", "[[providers]]\nname = \"a\"\ntype = \"ollama\"\n[providers.pricing]\noutput = \"3\"\n", "want a number"},
		{"c.yaml", "providers:\n  - name: a\n    type: ollama\n    pricing: {inptu: 1}\n", `did you mean "input"`},
	} {
		p := filepath.Join(t.TempDir(), tc.name)
		if err := os.WriteFile(p, []byte(tc.src), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.src, err, tc.want)
		}
	}
}
