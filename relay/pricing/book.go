package pricing

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ccrelay/ccrelay/relay/config"
)

// Book prices requests by the name of the provider that served them, as a relay.Record names
// it: it knows each configured provider's type and `pricing:`. It logs each model it has no
// price for once. A Book is safe for concurrent use; the usage log and the metrics can share
// one, so that an unknown model is flagged once in all.
type Book struct {
	providers map[string]bookEntry
	log       *slog.Logger
	flagged   sync.Map // provider + "\x00" + model → struct{}
	// prices caches Price by provider + "\x00" + model, up to maxCached entries (a provider
	// that serves any model name could be sent any number of them).
	prices sync.Map
	cached atomic.Int64
	// nflagged counts the flagged models: past maxCached, no more are logged.
	nflagged atomic.Int64
}

// maxCached bounds the entries of Book.prices.
const maxCached = 4096

type cachedPrice struct {
	p     Price
	known bool
}

type bookEntry struct {
	typ     string
	pricing *config.Pricing
}

// NewBook builds the book of a configuration's providers; log receives the unknown-model
// warnings (nil discards them). A price override that is negative is refused (the decoder of
// the configuration refuses those too).
func NewBook(providers []config.Provider, log *slog.Logger) (*Book, error) {
	b := &Book{providers: make(map[string]bookEntry, len(providers)), log: log}
	for i, p := range providers {
		if p.Pricing != nil {
			if err := checkRates(p.Pricing.Rates()); err != nil {
				return nil, fmt.Errorf("providers[%d].pricing: %w", i, err)
			}
			for m, r := range p.Pricing.Models {
				if err := checkRates(r); err != nil {
					return nil, fmt.Errorf("providers[%d].pricing.models.%s: %w", i, m, err)
				}
			}
		}
		b.providers[p.Name] = bookEntry{typ: p.Type, pricing: p.Pricing}
	}
	return b, nil
}

func checkRates(r config.PriceRates) error {
	for _, f := range []*float64{r.Input, r.Output, r.CacheWrite5m, r.CacheWrite1h, r.CacheRead} {
		if f != nil && !(*f >= 0) {
			return fmt.Errorf("a price must be a positive number of USD per million tokens, got %v", *f)
		}
	}
	return nil
}

// Price returns the price of model (the upstream model id) at the named provider: the
// provider's `pricing:` for that model, or its provider-wide rates, over the table's price; a
// rate the configuration leaves out is the table's. known is false when neither has one.
func (b *Book) Price(provider, model string) (p Price, known bool) {
	e, ok := b.providers[provider]
	if !ok {
		return Price{}, false
	}
	p, known = Lookup(e.typ, model)
	if e.pricing == nil {
		return p, known
	}
	rates, src := e.pricing.Rates(), fmt.Sprintf("configuration: providers[name=%s].pricing", provider)
	if r, ok := modelRates(e.pricing.Models, model); ok {
		rates, src = r, fmt.Sprintf("configuration: providers[name=%s].pricing.models", provider)
	}
	set := false
	for _, f := range []struct {
		v   *float64
		dst *float64
	}{
		{rates.Input, &p.Input}, {rates.Output, &p.Output}, {rates.CacheWrite5m, &p.CacheWrite5m},
		{rates.CacheWrite1h, &p.CacheWrite1h}, {rates.CacheRead, &p.CacheRead},
	} {
		if f.v != nil {
			*f.dst, set = *f.v, true
		}
	}
	if !set {
		return p, known
	}
	// An override is one flat price: the table's prompt-length tier no longer applies.
	p.Long, p.LongAbove, p.Source, p.Date = nil, 0, src, ""
	return p, true
}

// modelRates finds model's entry in a `pricing.models` map, comparing normalized ids.
func modelRates(models map[string]config.PriceRates, model string) (config.PriceRates, bool) {
	if r, ok := models[model]; ok {
		return r, true
	}
	n := Normalize(model)
	for k, r := range models {
		if Normalize(k) == n {
			return r, true
		}
	}
	return config.PriceRates{}, false
}

// Cost prices t for the request the named provider served with upstreamModel. A request no
// provider served (provider "") costs 0 and is known. known is false when there is no price;
// the first time a (provider, model) has none, it is logged.
func (b *Book) Cost(provider, upstreamModel string, t Tokens) (usd float64, known bool) {
	if provider == "" {
		return 0, true
	}
	key := provider + "\x00" + upstreamModel
	var p Price
	var ok bool
	if c, hit := b.prices.Load(key); hit {
		p, ok = c.(*cachedPrice).p, c.(*cachedPrice).known
	} else {
		p, ok = b.Price(provider, upstreamModel)
		if b.cached.Add(1) <= maxCached {
			b.prices.Store(key, &cachedPrice{p, ok})
		}
	}
	if !ok {
		b.flag(key, provider, upstreamModel)
		return 0, false
	}
	return p.Cost(t), true
}

// flag logs an unknown model once.
func (b *Book) flag(key, provider, model string) {
	if b.log == nil || b.nflagged.Load() > maxCached {
		return
	}
	if _, dup := b.flagged.LoadOrStore(key, struct{}{}); dup {
		return
	}
	if b.nflagged.Add(1) > maxCached {
		b.log.Warn("no price for many models: no more are logged", slog.Int("models", maxCached))
		return
	}
	typ := b.providers[provider].typ
	b.log.Warn("no price for this model: its requests cost 0 in the usage log and the metrics; set the provider's pricing: (USD per million tokens) to price it",
		slog.String("provider", provider), slog.String("type", typ), slog.String("model", model))
}
