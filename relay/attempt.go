package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/estimate"
	"github.com/ccrelay/ccrelay/relay/keys"
	"github.com/ccrelay/ccrelay/relay/provider"
	"github.com/ccrelay/ccrelay/relay/route"
	"github.com/tidwall/gjson"
)

// attemptLog collects what happened to a request's candidates, for the x-ccrelay-attempts
// header, the access line, the WARN line of each failed attempt and the combined error.
type attemptLog struct {
	n       int        // upstream attempts made
	reasons []string   // "provider=reason", in order
	fails   []*failure // why each candidate (or key) did not answer, in order
	// attempts are the attempts and skips for the accounting, the answering one last.
	attempts []Attempt
	// pending is the last failure not yet logged: its WARN line names the action that
	// followed it, which is known only at the next attempt or at the end.
	pending *failure
}

// fail records f.
func (a *attemptLog) fail(f *failure) {
	a.reasons = append(a.reasons, f.provider+"="+f.reason)
	a.fails = append(a.fails, f)
	a.attempts = append(a.attempts, Attempt{Provider: f.provider, Key: f.key, Outcome: outcomeOf(f.reason, f.status), Status: f.status})
}

// outcomeOf is the outcome of a failed attempt in the words of the accounting (Attempt): the
// failure's reason, with statuses grouped.
func outcomeOf(reason string, status int) string {
	switch reason {
	case "refused", "transport_error":
		return "unreachable"
	case "timeout", "circuit_open", "key_rejected", "billing", "keys_unavailable", "keys_rejected", "count_tokens_unsupported":
		return reason
	}
	if g := statusGroup(status); g != "" {
		return g
	}
	return reason
}

// statusGroup groups an upstream error status as the accounting does: 429 and 529 alone, then
// 5xx and 4xx; "" for a status under 400.
func statusGroup(status int) string {
	switch {
	case status == 429 || status == 529:
		return strconv.Itoa(status)
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	}
	return ""
}

// warnPending writes the WARN line of the pending failed attempt, with the action taken.
func (r *Relay) warnPending(log *attemptLog, action string) {
	f := log.pending
	if f == nil {
		return
	}
	log.pending = nil
	attrs := []slog.Attr{slog.String("provider", f.provider)}
	if f.key >= 0 {
		attrs = append(attrs, slog.Int("key", f.key))
	}
	if f.status > 0 {
		attrs = append(attrs, slog.Int("status", f.status))
	}
	attrs = append(attrs, slog.String("error", f.cause), slog.String("action", action))
	r.log.LogAttrs(context.Background(), slog.LevelWarn, "attempt failed", attrs...)
}

// attempt tries the candidates in the router's order until one answers with something the
// client should see. Before the first byte reaches the client, a transport error, a
// response-header timeout, a 429, 5xx or 529, a 404, and a 401 or 403 of the relay's own
// key move on: a 429 or a rejected key first to the provider's next key, everything else to
// the next provider (another key of an unreachable or failing host would fail the same way).
// Attempts are sequential, never fanned out, and bounded by routing.max_attempts and
// routing.failover_timeout. Once a response is being relayed there is no way back.
//
// skipped are the candidates the router left out because their circuit is open; they are
// listed first in the combined error when nobody answers.
func (r *Relay) attempt(w *recorder, req *http.Request, in *inbound, pn *planner, skipped []*upstream) {
	var (
		log        attemptLog
		soonest    time.Duration // the soonest moment a rate-limited key frees up
		allLimited = len(skipped) == 0
	)
	defer func() { w.attempts = log.attempts }()
	for _, u := range skipped {
		log.fail(r.circuitFailure(u))
	}
	deadline := time.Time{}
	if d := r.cfg.Routing.FailoverTimeout.D(); d > 0 {
		deadline = r.now().Add(d)
	}
	maxAttempts := r.cfg.Routing.MaxAttempts
	for {
		pl, e := pn.Next()
		if e != nil {
			writeError(w, e)
			return
		}
		if pl == nil {
			break
		}
		u := pl.u
		if pl.estimate {
			r.warnPending(&log, "answering with the relay's estimate from "+u.cfg.Name)
			r.answerEstimate(w, in, pl, &log)
			return
		}
		ok, probe := r.router.Allow(u.cfg.Name)
		if !ok {
			log.fail(r.circuitFailure(u))
			allLimited = false
			continue
		}
		tried, retried := map[int]bool{}, map[int]bool{}
		// Only the last candidate waits for a rate-limited key (routing.max_wait): before
		// that, another provider is a better answer than waiting.
		mayWait := pn.last()
		for {
			if maxAttempts > 0 && log.n >= maxAttempts || !deadline.IsZero() && r.now().After(deadline) {
				r.finish(w, &log, allLimited, soonest)
				return
			}
			lease, waited, err := r.lease(req, in, u, mayWait, !probe && len(tried) == 0)
			if errors.Is(err, errCircuitShared) {
				log.fail(r.circuitFailure(u))
				allLimited = false
				break
			}
			if err != nil {
				var un *keys.Unavailable
				if errors.As(err, &un) {
					if len(tried) == 0 {
						log.fail(keysFailure(u, un))
						if un.Rejected {
							allLimited = false
						}
					}
					if !un.Rejected && un.RetryAfter > 0 && (soonest == 0 || un.RetryAfter < soonest) {
						soonest = un.RetryAfter
					}
				}
				break
			}
			if tried[lease.Index()] {
				// Every usable key of this provider has had its turn (a provider without keys,
				// index -1, has one turn), unless the relay waited out a key's retry-after
				// within routing.max_wait: then that key gets one more turn.
				if !waited || retried[lease.Index()] {
					r.settle(u, lease, attemptEnd{}) // not used
					break
				}
				retried[lease.Index()] = true
			}
			tried[lease.Index()] = true
			allLimited = false
			log.n++
			if log.pending != nil {
				next := "trying provider " + u.cfg.Name
				if log.pending.provider == u.cfg.Name && lease.Index() >= 0 {
					next = "trying key " + strconv.Itoa(lease.Index()) + " of " + u.cfg.Name
				}
				r.warnPending(&log, next)
			}
			outcome := r.try(w, req, in, pl, lease, &log)
			if w.committed {
				return // the answer went to the client (commit.go): never fail over after it
			}
			switch outcome.next {
			case done:
				return
			case nextKey:
				if outcome.retryAfter > 0 && (soonest == 0 || outcome.retryAfter < soonest) {
					soonest = outcome.retryAfter
				}
				continue
			}
			break
		}
	}
	if e := pn.refused(); e != nil {
		writeError(w, e) // every candidate refused the request: nothing was tried
		return
	}
	r.finish(w, &log, allLimited, soonest)
}

// finish answers when no attempt produced a response for the client. One failure is answered
// as it is (the upstream's own error, already Anthropic-shaped); several are combined into one
// error that lists each candidate's failure in order and takes its status and type from the
// first, so that a fallback's "model not found" never hides why the primary failed.
func (r *Relay) finish(w *recorder, log *attemptLog, allLimited bool, soonest time.Duration) {
	w.Header().Set(hdrAttempts, attemptsHeader(log.n, log.reasons, r.cfg.Routing.Debug))
	w.failed = strings.Join(log.reasons, ",")
	switch {
	case allLimited && soonest > 0:
		r.warnPending(log, "no candidate left")
		e := errorf(http.StatusTooManyRequests, "every key of every provider that serves this model is rate limited or cooling down; retry after %s", soonest.Round(time.Second))
		e.RetryAfter = int((soonest + time.Second - 1) / time.Second)
		writeError(w, e)
		return
	case len(log.fails) == 0:
		r.warnPending(log, "no candidate left")
		writeError(w, errorf(http.StatusServiceUnavailable, "no provider could take the request"))
		return
	}
	first := log.fails[0]
	if len(log.fails) == 1 {
		r.warnPending(log, "no candidate left; answering with its error")
		if len(first.notes) > 0 {
			w.Header().Set(hdrDegraded, strings.Join(first.notes, "; "))
			w.notes = first.notes
		}
		first.write(w)
		return
	}
	r.warnPending(log, "no candidate left; answering with every candidate's failure")
	status, typ := first.statusType()
	parts := make([]string, len(log.fails))
	for i, f := range log.fails {
		parts[i] = f.label() + ": " + f.cause
	}
	e := &apierr.Error{Status: status, Type: typ,
		Message: "no provider could answer (" + strconv.Itoa(len(log.fails)) + " failures, in order): " + strings.Join(parts, "; ")}
	if ra := first.retryAfter; ra > 0 && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) {
		e.RetryAfter = int((ra + time.Second - 1) / time.Second)
	}
	writeError(w, e)
}

// circuitFailure says why u's open circuit keeps the request away.
func (r *Relay) circuitFailure(u *upstream) *failure {
	s, _ := r.router.Skipped(u.cfg.Name)
	cause := fmt.Sprintf("skipped after %d consecutive failures", s.Failures)
	if s.For > 0 {
		cause = fmt.Sprintf("skipped for %s after %d consecutive failures", s.For.Round(time.Second), s.Failures)
	}
	if s.Cause != "" {
		cause += "; last: " + s.Cause
	}
	e := errorf(http.StatusServiceUnavailable, "provider %q is %s", u.cfg.Name, cause)
	f := &failure{provider: u.cfg.Name, key: -1, reason: "circuit_open", cause: cause, err: e, retryAfter: s.For}
	if s.For > 0 {
		e.RetryAfter = int((s.For + time.Second - 1) / time.Second)
	}
	return f
}

// keysFailure says why no key of u could be leased: all rate limited, or all rejected.
func keysFailure(u *upstream, un *keys.Unavailable) *failure {
	f := &failure{provider: u.cfg.Name, key: -1, reason: "keys_unavailable", retryAfter: un.RetryAfter}
	if un.Rejected {
		f.reason = "keys_rejected"
		f.cause = "every configured key was rejected by the provider (401/403 or billing) and is out of rotation: " + un.Reason
		f.err = errorf(http.StatusBadGateway, "provider %q rejected its configured keys: %s; check the keys in the configuration (the relay probes a rejected key again after routing.key_retry)", u.cfg.Name, un.Reason)
		return f
	}
	f.cause = "every key is rate limited or cooling down: " + un.Reason
	f.err = errorf(http.StatusTooManyRequests, "every key of provider %q is rate limited or cooling down: %s", u.cfg.Name, un.Reason)
	if un.RetryAfter > 0 {
		f.err.RetryAfter = int((un.RetryAfter + time.Second - 1) / time.Second)
	}
	return f
}

// lease takes a key from the provider's pool, preferring the session's key for prompt-cache
// affinity. With mayWait, it waits up to routing.max_wait for a rate-limited key (honouring
// its retry-after) and reports whether it waited; it never queues a request longer.
//
// With shared state, the key is admitted by the shared state too (shared.admit; circuit asks
// it to check the provider's circuit as well): a key it holds back is given back and another
// taken, and an open circuit is errCircuitShared.
func (r *Relay) lease(req *http.Request, in *inbound, u *upstream, mayWait, circuit bool) (*keys.Lease, bool, error) {
	if r.shared == nil {
		return r.leaseLocal(req, in, u, mayWait)
	}
	for tries := 0; ; tries++ {
		l, waited, err := r.leaseLocal(req, in, u, mayWait)
		if err != nil {
			return l, waited, err
		}
		err = r.shared.admit(req.Context(), u, l, len(in.body)/4, circuit)
		if err == nil || errors.Is(err, errCircuitShared) || tries > u.pool.Len() {
			if err != nil {
				return nil, false, err
			}
			return l, waited, nil
		}
		circuit = false
	}
}

// leaseLocal is lease from the pool alone.
func (r *Relay) leaseLocal(req *http.Request, in *inbound, u *upstream, mayWait bool) (*keys.Lease, bool, error) {
	est := len(in.body) / 4
	if !r.sticky {
		return r.leaseAny(req, u, est, mayWait)
	}
	if b, ok := r.affinity.Get(in.pinKey()); ok && in.session != "" && b.Provider == u.cfg.Name {
		if l, err := u.pool.LeasePrefer(est, b.Key); err == nil {
			return l, false, nil
		}
	}
	return r.leaseAny(req, u, est, mayWait)
}

// leaseAny takes any key from the provider's pool (see lease).
func (r *Relay) leaseAny(req *http.Request, u *upstream, est int, mayWait bool) (*keys.Lease, bool, error) {
	l, err := u.pool.Lease(est)
	var un *keys.Unavailable
	if mw := r.cfg.Routing.MaxWait.D(); mayWait && mw > 0 && errors.As(err, &un) && !un.Rejected && un.RetryAfter > 0 && un.RetryAfter <= mw {
		l, err = u.pool.LeaseWait(req.Context(), est, mw)
		return l, err == nil, err
	}
	return l, false, err
}

type nextStep int

const (
	done nextStep = iota
	nextKey
	nextProvider
)

type tryResult struct {
	next       nextStep
	retryAfter time.Duration
}

// failure is why a candidate did not answer the client: a relay error (transport failures,
// rejected keys, open circuits) or the upstream's own answer, kept so that if it is the only
// one the client gets it as it was.
type failure struct {
	provider string
	key      int    // the key's index, -1 when no key was involved
	keys     int    // how many keys the provider has, to say which one failed
	reason   string // a word for x-ccrelay-attempts and the access line: 429, unreachable, ...
	cause    string // one line for logs and the combined error
	// retryAfter is how long the failure is expected to last, when known.
	retryAfter time.Duration

	err    *apierr.Error
	status int
	header http.Header
	body   []byte
	// notes are what the relay changed in the request and the answer (x-ccrelay-degraded).
	notes []string
}

// label names the failed candidate in the combined error: the provider, and the key when the
// provider has several.
func (f *failure) label() string {
	if f.key >= 0 && f.keys > 1 {
		return f.provider + " (key " + strconv.Itoa(f.key) + ")"
	}
	return f.provider
}

// statusType is the status and Anthropic error type the failure answers with; zero for a nil
// failure.
func (f *failure) statusType() (int, string) {
	if f == nil {
		return 0, ""
	}
	if f.err != nil {
		return f.err.Status, f.err.Type
	}
	typ := gjson.GetBytes(f.body, "error.type").Str
	if !apierr.IsType(typ) {
		typ = apierr.TypeForStatus(f.status)
	}
	return f.status, typ
}

// capture keeps a failed upstream answer (at most 64 KiB of it) and closes its body. The
// cause is the status and the upstream's own message.
func capture(u *upstream, key int, reason string, resp *http.Response) *failure {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	f := &failure{provider: u.cfg.Name, key: key, keys: u.pool.Len(), reason: reason,
		status: resp.StatusCode, header: resp.Header, body: body}
	f.cause = strconv.Itoa(resp.StatusCode) + " " + upstreamMessage(body)
	return f
}

// upstreamMessage is the message of an upstream error body, cut to 300 bytes. Every adapter
// has already put error bodies in Anthropic's envelope (features.NormalizeError for the
// Anthropic-compatible types, the Bedrock and Vertex converters for theirs); a body that
// still is not one is quoted as text.
func upstreamMessage(body []byte) string {
	if v := gjson.GetBytes(body, "error.message"); v.Type == gjson.String && v.Str != "" {
		return clip(v.Str, 300)
	}
	return clip(strings.Join(strings.Fields(string(body)), " "), 300)
}

// clip cuts s to at most n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// write answers the client with the failure.
func (f *failure) write(w http.ResponseWriter) {
	if f.err != nil {
		writeError(w, f.err)
		return
	}
	copyResponseHeader(w.Header(), f.header)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(f.status)
	w.Write(f.body)
}

// try makes one attempt with one key and either answers the client (done) or says where to
// go next.
func (r *Relay) try(w *recorder, req *http.Request, in *inbound, pl *plan, lease *keys.Lease, log *attemptLog) tryResult {
	u := pl.u
	header := in.header
	if pl.header != nil {
		header = pl.header
	}
	call := &provider.Call{
		Op:       in.op,
		Model:    pl.model,
		Stream:   in.stream,
		Body:     pl.body,
		Header:   header,
		Key:      lease.Key(),
		Degraded: append([]string(nil), pl.notes...),
	}
	if u.cfg.Type == config.TypeAnthropic {
		call.Bearer = in.bearer
	}
	r.checkContext(u, pl.model, pl.body) // Ollama cuts prompts over its context length silently
	started := r.now()
	resp, ub, err := r.roundTrip(req, u, call, in.req)
	if err != nil {
		if req.Context().Err() != nil {
			r.settle(u, lease, attemptEnd{err: err, tokens: -1})
			return tryResult{next: done} // the client went away; nobody to answer
		}
		e := transportError(u, err)
		cause := transportCause(u, err)
		r.settle(u, lease, attemptEnd{err: err, tokens: -1, health: healthDown, cause: cause})
		f := &failure{provider: u.cfg.Name, key: lease.Index(), keys: u.pool.Len(), reason: reasonOf(err), cause: cause, err: e}
		log.fail(f)
		log.pending = f
		r.debugAttempt(u, lease, call, 0, r.now().Sub(started), err)
		return tryResult{next: nextProvider}
	}
	status := resp.StatusCode
	r.debugAttempt(u, lease, call, status, r.now().Sub(started), nil)
	ownKey := call.Bearer == "" // the relay's configured key, not the client's token
	var f *failure              // an error answer, read whole (it is small) and already normalized
	if status >= 400 {
		f = capture(u, lease.Index(), strconv.Itoa(status), resp)
		f.notes = call.Degraded
	}
	_, errType := f.statusType()
	billing := errType == apierr.Billing
	switch {
	case status < 400:
		// The provider answered: its health is reported now (a half-open circuit closes), the
		// key is settled with the usage once the answer is relayed (below).
		r.report(u, healthUp, "")
	case in.op == provider.OpCountTokens && (status == http.StatusNotFound || status == http.StatusMethodNotAllowed || status == http.StatusNotImplemented):
		// The provider does not count tokens: try the next one, without holding it against
		// the provider's health or the key.
		r.settle(u, lease, attemptEnd{status: status, header: resp.Header})
		f.reason = "count_tokens_unsupported"
		log.fail(f)
		return tryResult{next: nextProvider}
	case (status == http.StatusUnauthorized || status == http.StatusForbidden || billing) && ownKey:
		// The provider refused the relay's own key (authentication, or its balance or quota):
		// that is the relay's problem, not the client's (a 401 would tell Claude Code that its
		// own key is wrong). Take the key out of rotation until its re-probe, and try the next
		// key, then the next provider.
		// The provider answered; the key is the problem.
		v := r.settle(u, lease, attemptEnd{status: status, header: resp.Header, tokens: -1, rejected: billing, health: healthUp})
		f.reason = "key_rejected"
		what := "rejected its configured key"
		if billing {
			f.reason, what = "billing", "refused its configured key for billing or quota:"
		}
		f.cause = fmt.Sprintf("%s %d (%s)", what, lease.Index(), f.cause)
		if v.Disabled {
			f.cause += fmt.Sprintf("; the key is out of rotation, probed again in %s", v.RetryIn.Round(time.Second))
		}
		if !billing {
			f.err = errorf(http.StatusBadGateway, "provider %q rejected its configured key %d (%d): %s; fix the key in the configuration (this is not about your own credential)",
				u.cfg.Name, lease.Index(), status, upstreamMessage(f.body))
		}
		log.fail(f)
		log.pending = f
		return tryResult{next: nextKey}
	case status == http.StatusTooManyRequests:
		v := r.settle(u, lease, attemptEnd{status: status, header: resp.Header, tokens: -1})
		f.retryAfter = v.CooledFor
		if v.CooledFor > 0 {
			f.cause += " (key cooling down for " + v.CooledFor.Round(time.Second).String() + ")"
		}
		log.fail(f)
		log.pending = f
		return tryResult{next: nextKey, retryAfter: v.CooledFor}
	case status == http.StatusNotFound && in.op == provider.OpMessages:
		// Not this provider's model (or not an Anthropic endpoint): another may serve it.
		r.settle(u, lease, attemptEnd{status: status, header: resp.Header, health: healthUp})
		log.fail(f)
		log.pending = f
		return tryResult{next: nextProvider}
	case retryable(status):
		r.settle(u, lease, attemptEnd{status: status, header: resp.Header, tokens: -1, health: healthDown, cause: f.cause})
		log.fail(f)
		log.pending = f
		return tryResult{next: nextProvider}
	case !ownKey && (status == http.StatusUnauthorized || status == http.StatusForbidden):
		// The client's own forwarded token was refused: the client's answer, unchanged.
		r.settle(u, lease, attemptEnd{health: healthUp})
		r.answerFailure(w, u, f, log)
		return tryResult{next: done}
	default:
		r.settle(u, lease, attemptEnd{status: status, header: resp.Header, health: healthUp})
		if len(log.fails) > 0 {
			// A client error after earlier failures: the client gets every candidate's story.
			log.fail(f)
			log.pending = f
			return tryResult{next: nextProvider}
		}
		r.answerFailure(w, u, f, log)
		return tryResult{next: done}
	}
	r.commit(w, u, &Attempt{Provider: u.cfg.Name, Key: lease.Index(), Outcome: "ok", Status: status}, call.Degraded, log)
	w.upstreamModel = pl.model
	w.upstreamID = resp.Header.Get("Request-Id")
	if status < 300 && in.session != "" && r.sticky {
		r.shareBinding(in.pinKey(), u, lease.Index())
	}
	// No other candidate will be tried, so the client's body is no longer needed (a long
	// stream holds none).
	in.release()
	pl.body, call.Body = nil, nil
	usage := r.relayResponse(w, req, u, resp, ub) // stream.go
	w.tokens = usage.tokens()
	r.settle(u, lease, attemptEnd{status: status, header: resp.Header, tokens: usage.total()})
	if status < 300 && in.session != "" && r.sticky {
		r.affinity.Set(in.pinKey(), route.Binding{Provider: u.cfg.Name, Key: lease.Index()})
	}
	return tryResult{next: done}
}

// answerFailure answers the client with one provider's error answer (a client error, such as
// a 400, that no other candidate would answer differently).
func (r *Relay) answerFailure(w *recorder, u *upstream, f *failure, log *attemptLog) {
	r.commit(w, u, &Attempt{Provider: u.cfg.Name, Key: f.key, Outcome: outcomeOf(f.reason, f.status), Status: f.status}, f.notes, log)
	w.upstreamID = f.header.Get("Request-Id")
	f.write(w)
}

// debugAttempt writes, at debug level, one line per upstream attempt: provider, key index,
// the upstream URL without its query (which could carry a credential), status or error,
// time to the response headers, and what was changed in the request.
func (r *Relay) debugAttempt(u *upstream, lease *keys.Lease, call *provider.Call, status int, d time.Duration, err error) {
	if !r.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("provider", u.cfg.Name), slog.Int("key", lease.Index()),
		slog.String("url", call.URL), slog.String("model", call.Model), slog.Duration("ttfb", d)}
	if err != nil {
		attrs = append(attrs, slog.String("error", transportCause(u, err)))
	} else {
		attrs = append(attrs, slog.Int("status", status))
	}
	if len(call.Degraded) > 0 {
		attrs = append(attrs, slog.String("degraded", strings.Join(call.Degraded, "; ")))
	}
	r.log.LogAttrs(context.Background(), slog.LevelDebug, "attempt", attrs...)
}

// answerEstimate answers count_tokens for a provider that cannot count, with the relay's
// local estimate, and says so in x-ccrelay-degraded.
func (r *Relay) answerEstimate(w *recorder, in *inbound, pl *plan, log *attemptLog) {
	r.commit(w, pl.u, nil, []string{"count_tokens=estimated"}, log)
	writeJSON(w, http.StatusOK, struct {
		InputTokens int `json:"input_tokens"`
	}{estimate.Tokens(in.body)})
}

// usage is the token usage read from a response, for the key pool's tpm accounting (input
// counts the cache tokens too) and the relay's accounting.
type usage struct {
	input, output            int
	cacheRead, cacheCreation int
	known                    bool
}

// tokens is the usage as Anthropic reports it: input without the cache counts.
func (u usage) tokens() Tokens {
	return Tokens{Input: u.input - u.cacheRead - u.cacheCreation, Output: u.output,
		CacheRead: u.cacheRead, CacheCreation: u.cacheCreation, Known: u.known}
}

func (u usage) total() int {
	if !u.known {
		return -1
	}
	return u.input + u.output
}

// String is for logs.
func (u usage) String() string { return fmt.Sprintf("%d+%d", u.input, u.output) }

// retryable reports whether an upstream status moves the request to the next candidate.
func retryable(status int) bool {
	switch status {
	case 429, 500, 502, 503, 504, 529:
		return true
	}
	return false
}

// roundTrip sends one call to one provider and converts its response to the Anthropic form.
// rb is the client's body: the upstream request holds its buffer (body.Request.Track) until
// the transport closes the request body, since the body sent may be (or share) those bytes.
//
// The upstream call has a context of its own: it is cancelled when the client's request is (a
// client that leaves cancels the upstream call) until the response body is detached (see
// upstreamBody.detach), and always when the response body is closed.
func (r *Relay) roundTrip(req *http.Request, u *upstream, call *provider.Call, rb *body.Request) (*http.Response, *upstreamBody, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(req.Context()))
	stop := context.AfterFunc(req.Context(), cancel)
	fail := func(err error) (*http.Response, *upstreamBody, error) {
		stop()
		cancel()
		return nil, nil, err
	}
	out, body, err := u.p.Adapter.Request(ctx, call)
	if err != nil {
		return fail(fmt.Errorf("prepare request: %w", err))
	}
	call.URL = out.URL.Scheme + "://" + out.URL.Host + out.URL.Path
	if rb != nil && out.Body != nil && out.Body != http.NoBody {
		out.Body = rb.Track(out.Body)
		if gb := out.GetBody; gb != nil {
			out.GetBody = func() (io.ReadCloser, error) {
				rc, err := gb()
				if err != nil {
					return nil, err
				}
				return rb.Track(rc), nil
			}
		}
	}
	if err := u.p.Auth.Authenticate(ctx, out, body, call); err != nil {
		if out.Body != nil {
			out.Body.Close() // the transport never sees it
		}
		return fail(fmt.Errorf("authenticate: %w", err))
	}
	u.inFlight.Add(1)
	resp, err := r.transport.RoundTrip(out)
	if err != nil {
		u.inFlight.Add(-1)
		return fail(err)
	}
	ub := &upstreamBody{ReadCloser: resp.Body, u: u, stop: stop, cancel: cancel}
	resp.Body = ub
	resp, err = u.p.Adapter.Response(call, resp)
	if err != nil {
		ub.Close()
		return nil, nil, err
	}
	return resp, ub, nil
}

// upstreamBody is the body of an upstream response as the transport returned it (an adapter
// may read it through a converter). It keeps the provider's in-flight count, and the upstream
// call's context, until it is closed.
type upstreamBody struct {
	io.ReadCloser
	u      *upstream
	stop   func() bool // stops the client's request from cancelling the call
	cancel context.CancelFunc
	done   atomic.Bool // the idle watch may close the body while the relay does
}

func (b *upstreamBody) Close() error {
	err := b.ReadCloser.Close()
	if b.done.CompareAndSwap(false, true) {
		b.u.inFlight.Add(-1)
		b.stop()
		b.cancel()
	}
	return err
}

// detach lets the call outlive the client's request: only Close ends it then.
func (b *upstreamBody) detach() { b.stop() }

// reasonOf is a short reason for x-ccrelay-attempts.
func reasonOf(err error) string {
	switch {
	case isTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	}
	return "transport_error"
}
