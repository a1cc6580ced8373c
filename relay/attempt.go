package relay

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/keys"
	"github.com/ccrelay/ccrelay/relay/provider"
	"github.com/ccrelay/ccrelay/relay/route"
)

// attemptLog collects what happened to a request's attempts, for the x-ccrelay-attempts
// header and the log line.
type attemptLog struct {
	n       int
	reasons []string
}

func (a *attemptLog) fail(provider, reason string) {
	a.reasons = append(a.reasons, provider+"="+reason)
}

// attempt tries the candidates in the router's order until one answers with something the
// client should see. Before the first byte reaches the client, a transport error, a
// response-header timeout, or a 429, 5xx or 529 moves on: a 429 first to the provider's next
// key, everything else to the next provider (another key of an unreachable or failing host
// would fail the same way). Attempts are sequential, never fanned out, and bounded by
// routing.max_attempts and routing.failover_timeout. Once a response is being relayed there is
// no way back.
func (r *Relay) attempt(w *recorder, req *http.Request, in *inbound, plans []*plan) {
	var (
		log        attemptLog
		lastErr    *failure
		soonest    time.Duration // the soonest moment a rate-limited key frees up
		allLimited = true
	)
	deadline := time.Time{}
	if d := r.cfg.Routing.FailoverTimeout.D(); d > 0 {
		deadline = r.now().Add(d)
	}
	maxAttempts := r.cfg.Routing.MaxAttempts
	for i, pl := range plans {
		u := pl.u
		if pl.estimate {
			r.answerEstimate(w, in, pl, &log)
			return
		}
		if ok, _ := r.router.Allow(u.cfg.Name); !ok {
			log.fail(u.cfg.Name, "circuit_open")
			allLimited = false
			continue
		}
		tried, retried := map[int]bool{}, map[int]bool{}
		// Only the last candidate waits for a rate-limited key (routing.max_wait): before
		// that, another provider is a better answer than waiting.
		mayWait := i == len(plans)-1
		for {
			if maxAttempts > 0 && log.n >= maxAttempts || !deadline.IsZero() && r.now().After(deadline) {
				r.finish(w, &log, lastErr, allLimited, soonest)
				return
			}
			lease, waited, err := r.lease(req, in, u, mayWait)
			if err != nil {
				var un *keys.Unavailable
				if errors.As(err, &un) {
					if len(tried) == 0 {
						log.fail(u.cfg.Name, "keys_unavailable")
					}
					if un.RetryAfter > 0 && (soonest == 0 || un.RetryAfter < soonest) {
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
					lease.Release(keys.Outcome{Status: 0, Usage: 0})
					break
				}
				retried[lease.Index()] = true
			}
			tried[lease.Index()] = true
			allLimited = false
			log.n++
			outcome := r.try(w, req, in, pl, lease, &log)
			switch outcome.next {
			case done:
				return
			case nextKey:
				lastErr = outcome.fail
				if outcome.retryAfter > 0 && (soonest == 0 || outcome.retryAfter < soonest) {
					soonest = outcome.retryAfter
				}
				continue
			case nextProvider:
				lastErr = outcome.fail
			}
			break
		}
	}
	r.finish(w, &log, lastErr, allLimited, soonest)
}

// finish answers when no attempt produced a response for the client.
func (r *Relay) finish(w *recorder, log *attemptLog, last *failure, allLimited bool, soonest time.Duration) {
	w.Header().Set(hdrAttempts, attemptsHeader(log.n, log.reasons, r.cfg.Routing.Debug))
	if last != nil {
		last.write(w)
		return
	}
	var lastErr *apierr.Error
	switch {
	case allLimited && soonest > 0:
		lastErr = errorf(http.StatusTooManyRequests, "every key of every provider that serves this model is rate limited or cooling down; retry after %s", soonest.Round(time.Second))
		lastErr.RetryAfter = int((soonest + time.Second - 1) / time.Second)
	case allLimited:
		lastErr = errorf(http.StatusServiceUnavailable, "no usable key: every key of every provider that serves this model was rejected by its provider (401/403) and taken out of rotation")
	default:
		lastErr = errorf(http.StatusServiceUnavailable, "no provider could take the request: %s", strings.Join(log.reasons, ", "))
	}
	writeError(w, lastErr)
}

// lease takes a key from the provider's pool, preferring the session's key for prompt-cache
// affinity. With mayWait, it waits up to routing.max_wait for a rate-limited key (honouring
// its retry-after) and reports whether it waited; it never queues a request longer.
func (r *Relay) lease(req *http.Request, in *inbound, u *upstream, mayWait bool) (*keys.Lease, bool, error) {
	est := len(in.body) / 4
	if !r.sticky {
		return r.leaseAny(req, u, est, mayWait)
	}
	if b, ok := r.affinity.Get(in.session); ok && in.session != "" && b.Provider == u.cfg.Name {
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
	if mw := r.cfg.Routing.MaxWait.D(); mayWait && mw > 0 && errors.As(err, &un) && un.RetryAfter > 0 && un.RetryAfter <= mw {
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
	fail       *failure
	retryAfter time.Duration
}

// failure is why an attempt did not answer the client: a relay error (transport failures) or
// the upstream's own answer, kept so that if it is the last one the client gets it unchanged.
type failure struct {
	err    *apierr.Error
	status int
	header http.Header
	body   []byte
}

// capture keeps a retryable upstream answer (at most 64 KiB of it) and closes its body.
func capture(resp *http.Response) *failure {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return &failure{status: resp.StatusCode, header: resp.Header, body: body}
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
	resp, ub, err := r.roundTrip(req, u, call, in.pooled)
	if err != nil {
		lease.Release(keys.Outcome{Err: err, Usage: -1})
		if req.Context().Err() != nil {
			return tryResult{next: done} // the client went away; nobody to answer
		}
		r.router.Report(u.cfg.Name, false)
		e := transportError(u, err)
		log.fail(u.cfg.Name, reasonOf(err))
		r.log.Warn("attempt failed", "provider", u.cfg.Name, "error", e.Message)
		return tryResult{next: nextProvider, fail: &failure{err: e}}
	}
	status := resp.StatusCode
	switch {
	case in.op == provider.OpCountTokens && (status == http.StatusNotFound || status == http.StatusMethodNotAllowed || status == http.StatusNotImplemented):
		// The provider does not count tokens: try the next one, without holding it against
		// the provider's health or the key.
		lease.Release(keys.Outcome{Status: status, Header: resp.Header, Usage: 0})
		log.fail(u.cfg.Name, "count_tokens_unsupported")
		return tryResult{next: nextProvider, fail: capture(resp)}
	case status == http.StatusTooManyRequests:
		v := lease.Release(keys.Outcome{Status: status, Header: resp.Header, Usage: -1})
		log.fail(u.cfg.Name, "429")
		if v.CooledFor > 0 {
			r.log.Info("key cooling down", "provider", u.cfg.Name, "key", lease.Index(), "for", v.CooledFor)
		}
		return tryResult{next: nextKey, fail: capture(resp), retryAfter: v.CooledFor}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		v := lease.Release(keys.Outcome{Status: status, Header: resp.Header, Usage: -1})
		if v.Disabled {
			r.log.Warn("key rejected by provider and taken out of rotation", "provider", u.cfg.Name, "key", lease.Index(), "status", status)
		}
		if u.pool.Len() > 1 {
			log.fail(u.cfg.Name, strconv.Itoa(status))
			return tryResult{next: nextKey, fail: capture(resp)}
		}
		r.router.Report(u.cfg.Name, true) // the provider answered; the key is the problem
	case retryable(status):
		lease.Release(keys.Outcome{Status: status, Header: resp.Header, Usage: -1})
		r.router.Report(u.cfg.Name, false)
		log.fail(u.cfg.Name, strconv.Itoa(status))
		return tryResult{next: nextProvider, fail: capture(resp)}
	default:
		r.router.Report(u.cfg.Name, true)
	}
	h := w.Header()
	h.Set(hdrProvider, u.cfg.Name)
	h.Set(hdrAttempts, attemptsHeader(log.n, log.reasons, r.cfg.Routing.Debug))
	if len(call.Degraded) > 0 {
		h.Set(hdrDegraded, strings.Join(call.Degraded, "; "))
		u.count(call.Degraded...)
		r.log.Info("degraded", "provider", u.cfg.Name, "notes", strings.Join(call.Degraded, "; "))
	}
	// The response is committed: no other candidate will be tried, so the body is no longer
	// needed (a long stream holds none).
	in.release()
	pl.body, call.Body = nil, nil
	usage := r.relayResponse(w, req, u, resp, ub)
	lease.Release(keys.Outcome{Status: status, Header: resp.Header, Usage: usage.total()})
	if status < 300 && in.session != "" && r.sticky {
		r.affinity.Set(in.session, route.Binding{Provider: u.cfg.Name, Key: lease.Index()})
	}
	return tryResult{next: done}
}

// answerEstimate answers count_tokens for a provider that cannot count, with the relay's
// local estimate, and says so in x-ccrelay-degraded.
func (r *Relay) answerEstimate(w *recorder, in *inbound, pl *plan, log *attemptLog) {
	h := w.Header()
	h.Set(hdrProvider, pl.u.cfg.Name)
	h.Set(hdrAttempts, attemptsHeader(log.n, log.reasons, r.cfg.Routing.Debug))
	h.Set(hdrDegraded, "count_tokens=estimated")
	pl.u.count("count_tokens=estimated")
	r.log.Info("degraded", "provider", pl.u.cfg.Name, "notes", "count_tokens=estimated")
	writeJSON(w, http.StatusOK, struct {
		InputTokens int `json:"input_tokens"`
	}{features.Estimate(in.body)})
}

// usage is the token usage read from a response, for the key pool's tpm accounting.
type usage struct {
	input, output int
	known         bool
}

func (u usage) total() int {
	if !u.known {
		return -1
	}
	return u.input + u.output
}

// String is for logs.
func (u usage) String() string { return fmt.Sprintf("%d+%d", u.input, u.output) }
