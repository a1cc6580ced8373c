package pricing

import "github.com/ccrelay/ccrelay/relay/config"

// The price table. Every row was read from the page its Source names, on the day its Date
// gives (tableDate: the day the stored copies of those pages were read for this table; where a
// copy carries its own capture date, the Source says so). Where the official page's copy was
// cut short, the Source also names the public copies the rest was read from. A model that no
// page gave all five prices of is left out: it costs 0 and is flagged once in the log (Book),
// until someone adds it here or sets the provider's `pricing:`.
//
// Anthropic: cache writes are 1.25× (5 minutes) and 2× (1 hour) the input price, cache reads
// 0.1× it, except where a row says otherwise (Fable 5.1 and Mythos 5.1 read at 0.025×, Opus
// 5.5 and Sonnet 5.5 at 0.05×, per the pricing page's prompt caching section). The Batch API's
// discount, fast mode, US-only inference (1.1×) and the clouds' regional premiums are not in
// the table: the relay does not see them.
//
// Z.AI and MiniMax: their Anthropic-compatible endpoints report cache reads; Z.AI charges no
// write premium ("Cached Input Storage: Limited-time Free"), so a token written to its cache is
// charged as input.

// tableDate is the day the table's sources were read.
const tableDate = "2026-12-05"

// Sources.
const (
	srcAnthropic = "https://platform.claude.com/docs/en/about-claude/pricing (Model pricing table)"
	// The older copy of the same page, docs.anthropic.com, lists the Claude 3 and early Claude
	// 4 models the current one has retired from its table.
	srcAnthropicLegacy = "https://docs.anthropic.com/en/docs/about-claude/pricing (Model pricing table)"
	// Sonnet 4.5, Sonnet 4.6 and Haiku 4.5: rows of the pricing page past where the stored copy
	// of platform.claude.com was cut, read from copies of that table (docs.electronhub.ai
	// prompt-caching guide; claudecodeguides.com caching table), and Haiku 4.5's $1/$5 from
	// the comparison table of https://platform.claude.com/docs/zh-CN/models/sonnet-5/overview.
	srcAnthropicCopies = srcAnthropic + "; rows read from copies of that table: https://docs.electronhub.ai/guides/prompt-caching, https://claudecodeguides.com/claude-prompt-caching-pricing-and-cost-savings/"
	srcOpus55          = "https://platform.claude.com/docs/zh-CN/models/opus-5-5/overview (Pricing: input, output, 5m and 1h cache write, cache read)"
	srcOpus5           = srcAnthropic + "; https://platform.claude.com/docs/about-claude/models/whats-new-opus-5 (Pricing)"
	srcSonnet5         = "https://platform.claude.com/docs/zh-CN/models/sonnet-5/overview (Pricing: input, output, 5m and 1h cache write, cache read)"
	// Sonnet 5.5's overview page lists a $0.20 cache read; Anthropic cut it to $0.10 (0.05×)
	// on 2026-10-07, which the stored copy of the page predates. The cut is the pricing page's
	// 0.05× multiplier for Sonnet 5.5, as quoted from it by docs.rs/synaps (pricing module)
	// and applied by kurofune/claudit v1.9.2 and TheKrush/PromptFuel v1.0.23.
	srcSonnet55 = "https://platform.claude.com/docs/zh-CN/models/sonnet-5-5/overview (input, output, cache writes); cache read $0.10 since 2026-10-07: " + srcAnthropic + " (prompt caching: 0.05x for Sonnet 5.5, quoted by https://docs.rs/synaps/0.10.2/synaps_cli/pricing/), kurofune/claudit v1.9.2"
	// Haiku 5.5 is priced by prompt length. The official overview gives input from $0.10 for
	// prompts up to 100K tokens and output from $0.50 (its stored copy is cut at the pricing
	// list); the over-100K prices and the cache prices are from apidog.com's Haiku 5.5 API
	// guide (2026-10-08) and kurofune/claudit v1.9.2 (read against the pricing page on
	// 2026-10-24), which agree.
	srcHaiku55 = "https://platform.claude.com/docs/en/models/haiku-5-5/overview (input from $0.10 up to 100K-token prompts, output from $0.50); tiers and cache prices: https://apidog.com/blog/how-to-use-claude-haiku-5-5-api/, kurofune/claudit v1.9.2"

	// Z.AI's page, as captured on 2026-07-31 (a copy with GLM-5.1 and 5.2; an undated copy
	// of the same page without them has the same prices for the other models).
	srcZAI = "https://docs.z.ai/guides/overview/pricing (Text Models; captured 2026-07-31); cache hits 1/5 of input and free cache storage: https://docs.z.ai/help/faq"

	// MiniMax's international page was read through copies that quote it: LiteLLM's MiniMax
	// provider documentation (M2, M2.1, M2.1-lightning), LiteLLM's MiniMax-M2.5 announcement,
	// getagentseal/codeburn#118 and promptfoo's MiniMax page (M2.7, M2.7-highspeed). The
	// Chinese page (platform.minimaxi.com, CNY) has the same structure: cache writes 1.25×
	// input.
	srcMiniMax = "https://platform.minimax.io/docs/guides/pricing-paygo (quoted by https://docs.litellm.ai/docs/providers/minimax, https://docs.litellm.ai/blog/minimax_m2_5, getagentseal/codeburn#118, https://www.promptfoo.dev/docs/providers/minimax/); CNY page: https://platform.minimaxi.com/docs/guides/pricing-paygo.md"
)

// anthropicRow is a row of Anthropic's table whose cache prices are the standard multiples of
// the input price, except the cache read, given.
func anthropicRow(input, output, cacheRead float64, src string) Price {
	return Price{Input: input, Output: output, CacheWrite5m: input * 1.25, CacheWrite1h: input * 2,
		CacheRead: cacheRead, Source: src, Date: tableDate}
}

var anthropicPrices = func() map[string]Price {
	m := map[string]Price{}
	add := func(p Price, ids ...string) {
		for _, id := range ids {
			m[id] = p
		}
	}
	add(anthropicRow(10, 50, 0.25, srcAnthropic), "claude-fable-5-1", "claude-mythos-5-1")
	add(anthropicRow(10, 50, 1, srcAnthropic), "claude-fable-5", "claude-mythos-5")
	add(anthropicRow(4, 20, 0.20, srcOpus55), "claude-opus-5-5")
	add(anthropicRow(5, 25, 0.50, srcOpus5), "claude-opus-5")
	add(anthropicRow(5, 25, 0.50, srcAnthropic), "claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6", "claude-opus-4-5")
	add(anthropicRow(15, 75, 1.50, srcAnthropic), "claude-opus-4-1")
	add(anthropicRow(15, 75, 1.50, srcAnthropicLegacy), "claude-opus-4", "claude-opus-4-0", "claude-3-opus")
	add(anthropicRow(2, 10, 0.10, srcSonnet55), "claude-sonnet-5-5")
	add(anthropicRow(2, 10, 0.20, srcSonnet5), "claude-sonnet-5")
	add(anthropicRow(3, 15, 0.30, srcAnthropicCopies), "claude-sonnet-4-6", "claude-sonnet-4-5")
	add(anthropicRow(3, 15, 0.30, srcAnthropicLegacy), "claude-sonnet-4", "claude-sonnet-4-0",
		"claude-3-7-sonnet", "claude-3-5-sonnet")
	add(anthropicRow(1, 5, 0.10, srcAnthropicCopies), "claude-haiku-4-5")
	add(Price{Input: 0.80, Output: 4, CacheWrite5m: 1, CacheWrite1h: 1.6, CacheRead: 0.08,
		Source: srcAnthropicLegacy, Date: tableDate}, "claude-3-5-haiku")
	add(Price{Input: 0.25, Output: 1.25, CacheWrite5m: 0.30, CacheWrite1h: 0.50, CacheRead: 0.03,
		Source: srcAnthropicLegacy, Date: tableDate}, "claude-3-haiku")
	long := anthropicRow(0.50, 2.50, 0.05, srcHaiku55)
	haiku55 := anthropicRow(0.10, 0.50, 0.01, srcHaiku55)
	haiku55.LongAbove, haiku55.Long = 100_000, &long
	add(haiku55, "claude-haiku-5-5")
	return m
}()

// zaiRow is a row of Z.AI's table: no cache write premium.
func zaiRow(input, cacheRead, output float64) Price {
	return Price{Input: input, Output: output, CacheWrite5m: input, CacheWrite1h: input, CacheRead: cacheRead,
		Source: srcZAI, Date: tableDate}
}

var zaiPrices = map[string]Price{
	"glm-5.2":        zaiRow(1.4, 0.26, 4.4),
	"glm-5.1":        zaiRow(1.4, 0.26, 4.4),
	"glm-5":          zaiRow(1, 0.2, 3.2),
	"glm-5-turbo":    zaiRow(1.2, 0.24, 4.0),
	"glm-4.7":        zaiRow(0.6, 0.11, 2.2),
	"glm-4.7-flashx": zaiRow(0.07, 0.01, 0.4),
	"glm-4.6":        zaiRow(0.6, 0.11, 2.2),
	"glm-4.5":        zaiRow(0.6, 0.11, 2.2),
	"glm-4.5-x":      zaiRow(2.2, 0.45, 8.9),
	"glm-4.5-air":    zaiRow(0.2, 0.03, 1.1),
	"glm-4.5-airx":   zaiRow(1.1, 0.22, 4.5),
	"glm-4.7-flash":  zaiRow(0, 0, 0),
	"glm-4.5-flash":  zaiRow(0, 0, 0),
}

// minimaxRow is a row of MiniMax's table; one cache write price whatever the lifetime.
func minimaxRow(input, output, cacheRead, cacheWrite float64) Price {
	return Price{Input: input, Output: output, CacheWrite5m: cacheWrite, CacheWrite1h: cacheWrite, CacheRead: cacheRead,
		Source: srcMiniMax, Date: tableDate}
}

var minimaxPrices = map[string]Price{
	"minimax-m2.7":           minimaxRow(0.3, 1.2, 0.06, 0.375),
	"minimax-m2.7-highspeed": minimaxRow(0.6, 2.4, 0.06, 0.375),
	"minimax-m2.5":           minimaxRow(0.3, 1.2, 0.03, 0.375),
	"minimax-m2.1":           minimaxRow(0.3, 1.2, 0.03, 0.375),
	"minimax-m2.1-lightning": minimaxRow(0.3, 2.4, 0.03, 0.375),
	"minimax-m2":             minimaxRow(0.3, 1.2, 0.03, 0.375),
}

// Table lists every priced model of a provider type's table, keyed by normalized model id.
// The map is a copy.
func Table(providerType string) map[string]Price {
	src := tableOf(providerType)
	out := make(map[string]Price, len(src))
	for k, v := range src {
		out[k] = v
	}
	return out
}

// tableOf is the built-in table of a provider type's models (config.TypeFacts.PriceTable); nil
// when it has none.
func tableOf(providerType string) map[string]Price {
	switch config.Facts(providerType).PriceTable {
	case "anthropic":
		return anthropicPrices
	case "zai":
		return zaiPrices
	case "minimax":
		return minimaxPrices
	}
	return nil
}
