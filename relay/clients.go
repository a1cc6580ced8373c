package relay

import (
	"context"
	"net/http"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/clientkey"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/estimate"
	"github.com/ccrelay/ccrelay/relay/pricing"
	"github.com/ccrelay/ccrelay/relay/provider"
)

// fallbackPrice prices a served request's tokens for a client key's budget when neither the
// provider's price nor the price of the client-side model is known: Claude Sonnet's list
// price, so that an unpriced model still spends the budget rather than nothing.
var fallbackPrice = pricing.Price{Input: 3, Output: 15, CacheWrite5m: 3.75, CacheWrite1h: 6, CacheRead: 0.3}

// authenticate finds the client's key (clientkey.Table.Authenticate) and names it on the
// recorder. bearer is the client's own Authorization: Bearer token when it is not a relay key.
func (r *Relay) authenticate(w *recorder, req *http.Request) (*clientkey.Key, string, *apierr.Error) {
	apiKey, bearer := clientCredential(req.Header)
	k, bearer, e := r.clients.Authenticate(apiKey, bearer)
	if k != nil {
		w.client = k.Name
	}
	return k, bearer, e
}

// admitClient applies the client key's policy to an inspected request: the model must be one
// of the key's, and a Messages request must fit its budget and limits (count_tokens, which
// costs nothing, is only checked for the model). The ticket it takes is settled by
// settleClient.
func (r *Relay) admitClient(ctx context.Context, in *inbound) *apierr.Error {
	if in.client == nil {
		return nil
	}
	if e := r.clients.Permit(in.client, in.model); e != nil {
		return e
	}
	if in.op != provider.OpMessages {
		return nil
	}
	tk, e := r.clients.Admit(ctx, in.client, func() int { return estimate.Tokens(in.body) })
	in.ticket = tk
	return e
}

// settleClient settles the request's ticket once its answer is complete: the tokens it used
// correct the key's tpm bucket, and its cost is added to the key's spend. A request served
// with the client's own subscription token (pass-through) costs the key's budget nothing.
func (r *Relay) settleClient(ctx context.Context, w *recorder, in *inbound) {
	if in.ticket == nil {
		return
	}
	ctx = context.WithoutCancel(ctx) // a client that left still spent
	t := w.tokens
	used := -1
	if t.Known {
		used = t.Input + t.CacheRead + t.CacheCreation + t.Output
	}
	usd := 0.0
	if name := w.Header().Get(hdrProvider); name != "" && t.Known && !r.paidByClient(name, in) {
		usd = r.spendOf(name, w.upstreamModel, in.model, t)
	}
	in.ticket.Done(ctx, used, usd)
	in.ticket = nil
}

// paidByClient reports whether the provider that answered was sent the client's own token.
func (r *Relay) paidByClient(providerName string, in *inbound) bool {
	if in.bearer == "" {
		return false
	}
	for _, u := range r.upstreams {
		if u.cfg.Name == providerName {
			return u.cfg.Type == config.TypeAnthropic
		}
	}
	return false
}

// spendOf prices a served request for its client key's budget: the price the usage log and
// the metrics use (the table under the provider's pricing:), else the price of the
// client-side model in Anthropic's table (what the client asked for), else fallbackPrice.
func (r *Relay) spendOf(providerName, upstreamModel, clientModel string, t Tokens) float64 {
	pt := pricing.Tokens{Input: t.Input, Output: t.Output, CacheRead: t.CacheRead, CacheCreation: t.CacheCreation}
	if r.prices != nil {
		if usd, known := r.prices.Cost(providerName, upstreamModel, pt); known {
			return usd
		}
	}
	if p, ok := pricing.Lookup(config.TypeAnthropic, clientModel); ok {
		return p.Cost(pt)
	}
	return fallbackPrice.Cost(pt)
}
