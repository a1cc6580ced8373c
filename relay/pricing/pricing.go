// Package pricing prices a request's token usage in USD, from a table of list prices kept as
// data (table.go) and a provider's own `pricing:` from the configuration.
//
// Prices are USD per million tokens, per model: input (uncached), output, cache writes with a
// 5 minute and a 1 hour lifetime, and cache reads. Every price in the table names the public
// page it was read from and the day it was read. A model the table does not know costs 0 and
// is reported as unknown; Book logs it once.
//
// Bedrock, Vertex AI and Azure (Foundry) serve Anthropic's models: they are priced with
// Anthropic's table (list prices; a cloud's regional premium or a negotiated discount needs
// the provider's `pricing:`). Ollama runs locally and costs nothing.
//
// The cache write lifetime is not in the usage the relay records (relay.Tokens has one
// cache_creation count): cache writes are charged at the 5 minute rate unless
// Tokens.CacheCreation1h says how many of them were 1 hour writes. The 5 minute rate is the
// lower one, so a cost is never overstated for want of the split.
//
// The package imports no part of the relay but its configuration, so that the relay itself
// (its metrics) can use it.
package pricing

import (
	"strings"

	"github.com/ccrelay/ccrelay/relay/config"
)

// Price is what one model costs, in USD per million tokens.
type Price struct {
	Input, Output, CacheWrite5m, CacheWrite1h, CacheRead float64
	// LongAbove, when positive, is a prompt size in tokens (input, cache reads and cache
	// writes together) above which the whole request, output included, is charged at Long.
	LongAbove int
	Long      *Price
	// Source is the public page (or the configuration key) the price comes from; Date is when
	// it was read there.
	Source, Date string
}

// Tokens is the usage of one request, counted as Anthropic reports it: Input excludes the
// cache reads and writes, which are counted apart.
type Tokens struct {
	Input, Output, CacheRead, CacheCreation int
	// CacheCreation1h is the part of CacheCreation written with a 1 hour lifetime, when the
	// usage says so (Anthropic's cache_creation.ephemeral_1h_input_tokens); 0 charges every
	// cache write at the 5 minute rate.
	CacheCreation1h int
}

// Prompt is the size of the request's prompt: input, cache reads and cache writes.
func (t Tokens) Prompt() int { return t.Input + t.CacheRead + t.CacheCreation }

// Cost is the price of t in USD.
func (p Price) Cost(t Tokens) float64 {
	if p.Long != nil && p.LongAbove > 0 && t.Prompt() > p.LongAbove {
		return p.Long.Cost(t)
	}
	w1h := min(max(t.CacheCreation1h, 0), t.CacheCreation)
	w5m := t.CacheCreation - w1h
	sum := float64(t.Input)*p.Input + float64(t.Output)*p.Output + float64(t.CacheRead)*p.CacheRead +
		float64(w5m)*p.CacheWrite5m + float64(w1h)*p.CacheWrite1h
	return sum / 1e6
}

// Cost prices t for a model served by a provider of providerType (config.TypeAnthropic, ...),
// by upstreamModel, the model id the provider was asked for. A non-nil override is used as
// it is. known is false when neither the override nor the table has a price: usd is then 0.
func Cost(providerType, upstreamModel string, t Tokens, override *Price) (usd float64, known bool) {
	if override != nil {
		return override.Cost(t), true
	}
	p, ok := Lookup(providerType, upstreamModel)
	if !ok {
		return 0, false
	}
	return p.Cost(t), true
}

// Lookup returns the table's price of a model served by a provider of providerType. The model
// id is normalized first (Normalize), so dated ids and Bedrock's and Vertex AI's forms of
// Anthropic's ids find Anthropic's price.
func Lookup(providerType, model string) (Price, bool) {
	if config.Facts(providerType).PriceTable == "local" {
		return Price{Source: "local: Ollama runs on the operator's machine", Date: tableDate}, true
	}
	p, ok := tableOf(providerType)[Normalize(model)]
	return p, ok
}

// Normalize reduces a model id to the table's key: lower case, and for Anthropic's models
// without what the clouds and dates add to them:
//
//	claude-sonnet-4-5-20250929                          → claude-sonnet-4-5
//	us.anthropic.claude-sonnet-4-5-20250929-v1:0        → claude-sonnet-4-5 (Bedrock)
//	arn:aws:bedrock:…:inference-profile/us.anthropic.…  → (the same, after the last '/')
//	claude-3-5-sonnet-v2@20241022                       → claude-3-5-sonnet (Vertex AI)
//	claude-opus-4-6[1m]                                 → claude-opus-4-6
func Normalize(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	m = strings.TrimSuffix(m, "[1m]")
	if i := strings.IndexByte(m, '@'); i > 0 {
		m = m[:i]
	}
	// Bedrock: an optional geography ("us.", "eu.", "apac.", "global.") then "anthropic.".
	if i := strings.Index(m, "anthropic."); i >= 0 && !strings.Contains(strings.TrimSuffix(m[:i], "."), ".") {
		m = m[i+len("anthropic."):]
	}
	if !strings.HasPrefix(m, "claude") {
		return m
	}
	if i := strings.LastIndexByte(m, ':'); i > 0 && digits(m[i+1:]) {
		m = m[:i]
	}
	if i := strings.LastIndex(m, "-v"); i > 0 && digits(m[i+2:]) {
		m = m[:i]
	}
	m = strings.TrimSuffix(m, "-latest")
	if i := strings.LastIndexByte(m, '-'); i > 0 && len(m)-i-1 == 8 && digits(m[i+1:]) {
		m = m[:i]
	}
	return m
}

// digits reports whether s is a non-empty run of ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
