package clientkey

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/state"
)

// concurrencyTTL bounds the life of a key's in-flight counter in the store: a relay that dies
// with requests in flight leaves its increments behind (in a shared store) for at most this
// long. A counter that expires under requests in flight counts them as ended, so the key may
// briefly have up to twice max_concurrent in flight.
const concurrencyTTL = time.Hour

// Ticket is an admitted request's hold on its key's limits, settled once by Done. A nil
// Ticket (no key, or a key without limits) settles nothing.
type Ticket struct {
	t        *Table
	k        *Key
	inFlight bool  // counted in the key's in-flight counter
	charged  int64 // tokens charged to the tpm bucket at admission
}

// Admit checks the key's budget and takes its rate, token and concurrency limits for one
// request: over a budget is a 402 billing_error naming it and when it resets, over a limit a
// 429 rate_limit_error with RetryAfter. estimate is the request's input tokens, asked for
// only when the key has a tpm_limit. Store errors admit the request (the shared store reports
// none: it falls back to local state).
//
// Every check and charge goes to the store in one batch (one round trip on Redis): the
// budgets are read, the in-flight count incremented, the rpm and tpm rates taken. The first
// check that fails, in that order, is the answer, and what the batch took is given back in a
// second batch, on that refusal's path only.
func (t *Table) Admit(ctx context.Context, k *Key, estimate func() int) (*Ticket, *apierr.Error) {
	if k == nil || !k.limited() {
		return nil, nil
	}
	share := t.store.Share()
	budgets := t.budgets(k, t.now().UTC())
	ops := make([]state.Op, 0, len(budgets)+3)
	for _, b := range budgets {
		ops = append(ops, state.Add(b.key, 0, b.ttl))
	}
	conc, rpm, tpm := -1, -1, -1 // their ops' indexes
	var est int64
	if k.conc > 0 {
		conc = len(ops)
		ops = append(ops, state.Add(k.storeKey("inflight"), 1, concurrencyTTL))
	}
	if k.rpm > 0 {
		rpm = len(ops)
		ops = append(ops, state.Take(k.storeKey("rpm"), scaled(k.rpm, share), time.Minute, 1))
	}
	if k.tpm > 0 {
		est = int64(max(estimate(), 1))
		tpm = len(ops)
		ops = append(ops, state.Take(k.storeKey("tpm"), scaled(k.tpm, share), time.Minute, est))
	}
	t.store.Batch(ctx, ops) // each op carries its own error
	taken := func(i int) bool { return i >= 0 && ops[i].Err == nil && (ops[i].Kind == state.OpAdd || ops[i].OK) }
	var refusal *apierr.Error
	for i, b := range budgets {
		if ops[i].Err == nil && ops[i].Sum >= b.limit*share {
			refusal = b.refusal(k, ops[i].Sum, share)
			break
		}
	}
	switch {
	case refusal != nil:
	case taken(conc) && int64(ops[conc].Sum) > scaled(k.conc, share):
		refusal = overLimit(fmt.Sprintf("client key %q has %d requests in flight, its max_concurrent%s; retry when one ends",
			k.Name, scaled(k.conc, share), shareNote(share)), time.Second)
	case rpm >= 0 && ops[rpm].Err == nil && !ops[rpm].OK:
		refusal = overLimit(fmt.Sprintf("client key %q is over its rpm_limit of %d requests per minute%s; retry in %s",
			k.Name, scaled(k.rpm, share), shareNote(share), seconds(ops[rpm].Wait)), ops[rpm].Wait)
	case tpm >= 0 && ops[tpm].Err == nil && !ops[tpm].OK:
		refusal = overLimit(fmt.Sprintf("client key %q is over its tpm_limit of %d tokens per minute%s (this request is estimated at %d input tokens); retry in %s",
			k.Name, scaled(k.tpm, share), shareNote(share), est, seconds(ops[tpm].Wait)), ops[tpm].Wait)
	}
	if refusal != nil {
		var back []state.Op
		if taken(conc) {
			back = append(back, state.Add(k.storeKey("inflight"), -1, concurrencyTTL))
		}
		if taken(rpm) {
			back = append(back, state.Take(k.storeKey("rpm"), scaled(k.rpm, share), time.Minute, -1))
		}
		if taken(tpm) {
			back = append(back, state.Take(k.storeKey("tpm"), scaled(k.tpm, share), time.Minute, -est))
		}
		if len(back) > 0 {
			t.store.Batch(ctx, back)
		}
		return nil, refusal
	}
	tk := &Ticket{t: t, k: k, inFlight: taken(conc)}
	if taken(tpm) {
		tk.charged = min(est, scaled(k.tpm, share))
	}
	return tk, nil
}

// Done settles the request: it ends its place in flight, corrects the tpm bucket from the
// estimate to tokens (input, cache included, and output; negative when unknown, which keeps
// the estimate) and adds usd to the key's daily and monthly spend.
func (tk *Ticket) Done(ctx context.Context, tokens int, usd float64) {
	if tk == nil {
		return
	}
	t, k := tk.t, tk.k
	tk.endInFlight(ctx)
	if k.tpm > 0 && tokens >= 0 && int64(tokens) != tk.charged {
		limit := scaled(k.tpm, t.store.Share())
		// The bucket holds at most a minute's worth: a larger debt is forgiven.
		diff := min(int64(tokens)-tk.charged, limit)
		ok, wait, err := t.store.Take(ctx, k.storeKey("tpm"), limit, time.Minute, diff)
		if err == nil && !ok {
			// More than the bucket has room for: charge what fits.
			per := time.Minute / time.Duration(limit)
			if fit := diff - int64((wait+per-1)/per); fit > 0 {
				t.store.Take(ctx, k.storeKey("tpm"), limit, time.Minute, fit)
			}
		}
	}
	if usd > 0 {
		for _, b := range t.budgets(k, t.now().UTC()) {
			t.store.Add(ctx, b.key, usd, b.ttl)
		}
	}
	tk.k = nil // settled once
}

// endInFlight takes the request out of the key's in-flight counter. A counter that expired
// under it would go below zero: the decrement is undone.
func (tk *Ticket) endInFlight(ctx context.Context) {
	if !tk.inFlight {
		return
	}
	tk.inFlight = false
	key := tk.k.storeKey("inflight")
	if n, err := tk.t.store.Add(ctx, key, -1, concurrencyTTL); err == nil && n < 0 {
		tk.t.store.Add(ctx, key, 1, concurrencyTTL)
	}
}

// budget is one of a key's spending limits in the period that holds now.
type budget struct {
	name   string // daily or monthly
	limit  float64
	key    string    // the period's counter
	resets time.Time // the end of the period
	ttl    time.Duration
}

// budgets returns the key's budgets for the periods that hold at now (UTC): the day, which
// resets at midnight, and the month, which resets on the first. Each period has a counter of
// its own, kept a day past its end.
func (t *Table) budgets(k *Key, now time.Time) []budget {
	var out []budget
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if k.daily > 0 {
		end := day.AddDate(0, 0, 1)
		out = append(out, budget{name: "daily", limit: k.daily, key: k.storeKey("usd:day:" + day.Format(time.DateOnly)),
			resets: end, ttl: end.Sub(now) + 24*time.Hour})
	}
	if k.month > 0 {
		first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		end := first.AddDate(0, 1, 0)
		out = append(out, budget{name: "monthly", limit: k.month, key: k.storeKey("usd:month:" + first.Format("2006-01")),
			resets: end, ttl: end.Sub(now) + 24*time.Hour})
	}
	return out
}

// refusal is the 402 of a spent budget.
func (b budget) refusal(k *Key, spent, share float64) *apierr.Error {
	when := "midnight UTC"
	if b.name == "monthly" {
		when = "the first of the month, UTC"
	}
	return apierr.New(http.StatusPaymentRequired, fmt.Sprintf(
		"client key %q has spent $%.4f of its %s budget of $%.2f%s (server.auth.keys[name=%s].budget_usd.%s); it resets at %s (%s)",
		k.Name, spent, b.name, b.limit*share, shareNote(share), k.Name, b.name, b.resets.Format(time.RFC3339), when))
}

// storeKey names one of the key's counters in the store.
func (k *Key) storeKey(what string) string { return "client:" + k.Name + ":" + what }

// scaled is limit times the store's share, at least 1.
func scaled(limit int64, share float64) int64 {
	if share >= 1 {
		return limit
	}
	return max(1, int64(math.Floor(float64(limit)*share)))
}

// shareNote says that a limit is this instance's share, when it is.
func shareNote(share float64) string {
	if share >= 1 {
		return ""
	}
	return " (this instance's share while the shared state is unreachable)"
}

// overLimit is a 429 with retry-after in whole seconds, at least 1.
func overLimit(msg string, wait time.Duration) *apierr.Error {
	e := apierr.New(http.StatusTooManyRequests, msg)
	e.RetryAfter = int(max(1, (wait+time.Second-1)/time.Second))
	return e
}

// seconds formats a wait as whole seconds, at least 1s.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%ds", max(1, (d+time.Second-1)/time.Second))
}
