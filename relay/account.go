package relay

import (
	"context"
	"net/http"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/keys"
	"github.com/ccrelay/ccrelay/relay/pricing"
)

// Record is what one request came to, handed to the relay's accounting (metrics, the usage
// log) once its answer is complete. It holds no credential and no body.
type Record struct {
	Time     time.Time // when the request arrived
	ID       string    // the relay's request id
	Method   string
	Path     string
	Status   int
	Stream   bool
	Duration time.Duration
	// TTFB is the time to the first byte of the answer sent to the client; zero when nothing
	// was sent.
	TTFB time.Duration

	// Model is the client-side model name ("" when the request did not get that far);
	// UpstreamModel what the provider that answered was asked for.
	Model, UpstreamModel string
	// Provider is the provider that answered ("" when none did).
	Provider string
	// UpstreamID is the provider's request id, when it sent one.
	UpstreamID string
	// Session is Claude Code's session id (x-claude-code-session-id or metadata.user_id).
	Session string
	// Scenario is the routing.scenarios scenario that routed the request ("": none).
	Scenario string
	// Client names the client key that was accepted ("" without named client keys).
	Client string
	// Tokens are the usage the provider reported (or the stream repair estimated).
	Tokens Tokens
	// Attempts are the upstream attempts and skips, in order, each with its outcome.
	Attempts []Attempt
	// Degraded lists what the relay changed in the request or the answer
	// ("cache_control=stripped", "stream_usage=repaired", ...).
	Degraded []string
}

// Tokens is a request's token usage, as Anthropic reports it: Input excludes the cache
// counts, which are kept apart.
type Tokens struct {
	Input, Output, CacheRead, CacheCreation int
	// Known reports that the provider reported usage at all.
	Known bool
}

// Attempt is one candidate's part in a request.
type Attempt struct {
	Provider string
	// Key is the key's index in the provider's pool, -1 when no key was involved.
	Key int
	// Outcome is ok, or why the attempt failed or was skipped: unreachable, timeout, 429,
	// 4xx, 5xx (and 529), circuit_open, key_rejected, billing, keys_unavailable,
	// count_tokens_unsupported, or the status of an error answer.
	Outcome string
	// Status is the upstream status, 0 when there was none.
	Status int
}

// Observer receives the record of each finished request. It is called on the request's
// goroutine after the answer is complete: it must be quick (count, or hand the record to a
// writer of its own) and must not keep the record's slices.
type Observer interface {
	Observe(*Record)
}

// account builds the request's record and hands it to the observers. Nothing is built when
// there is no observer.
func (r *Relay) account(req *http.Request, w *recorder, id string, start time.Time, d time.Duration) {
	if len(r.observers) == 0 {
		return
	}
	rec := Record{
		Time: start, ID: id, Method: req.Method, Path: req.URL.Path, Status: w.status, Stream: w.stream,
		Duration: d, Model: w.model, UpstreamModel: w.upstreamModel, Provider: w.Header().Get(hdrProvider),
		UpstreamID: w.upstreamID, Session: w.session, Scenario: w.scenario, Client: w.client, Tokens: w.tokens, Attempts: w.attempts,
	}
	if !w.firstAt.IsZero() {
		rec.TTFB = w.firstAt.Sub(start)
	}
	rec.Degraded = w.notes
	for _, o := range r.observers {
		o.Observe(&rec)
	}
}

// fallbackPrice prices a served request's tokens for a client key's budget when neither the
// provider's price nor the price of the client-side model is known: Claude Sonnet's list
// price, so that an unpriced model still spends the budget rather than nothing.
var fallbackPrice = pricing.Price{Input: 3, Output: 15, CacheWrite5m: 3.75, CacheWrite1h: 6, CacheRead: 0.3}

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

// attemptEnd is how one upstream attempt ended, as its accounting needs it.
type attemptEnd struct {
	status int
	header http.Header // the upstream's response headers: retry-after, rate-limit budgets
	err    error       // the transport error, when there was no response
	// tokens the attempt used, for the key's tpm budget: -1 unknown (the estimate charged at
	// lease time stands), 0 none.
	tokens int
	// rejected says the provider refused the key for billing or quota (out of rotation
	// like a 401, see keys.Outcome).
	rejected bool
	health   health
	cause    string // why the provider failed, for its circuit (health == healthDown)
}

// health is what an attempt says about its provider, for the circuit breaker.
type health int

const (
	healthUnchanged health = iota // nothing: a 429, a key not used, a call the client left
	healthUp                      // the provider answered
	healthDown                    // the provider failed: counts toward opening its circuit
)

// settle is the one place an attempt is accounted: the key goes back to its pool with the
// status, the rate-limit headers and the tokens used (cooldowns and rejections are learned
// there), and the provider's health is reported. It returns the pool's verdict on the key.
func (r *Relay) settle(u *upstream, lease *keys.Lease, e attemptEnd) keys.Verdict {
	v := lease.Release(keys.Outcome{Status: e.status, Header: e.header, Usage: e.tokens, Err: e.err, Rejected: e.rejected})
	r.report(u, e.health, e.cause)
	return v
}

// report tells the router how the provider did (see settle); a response being relayed reports
// its provider up as soon as it answers, and settles its key when the answer is complete.
func (r *Relay) report(u *upstream, h health, cause string) {
	switch h {
	case healthUp:
		r.router.Report(u.cfg.Name, true)
	case healthDown:
		r.router.Fail(u.cfg.Name, cause)
	}
}
