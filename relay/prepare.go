package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/fetch"
	"github.com/ccrelay/ccrelay/relay/provider"
)

// plan is one candidate provider made ready for a request: the body it will be sent (model
// mapped, feature decisions applied) and the notes of what was changed.
type plan struct {
	u     *upstream
	model string // upstream model id
	body  []byte
	notes []string
	// header is the forwardable header for this provider when it differs from the client's
	// (anthropic-beta filtered by the matrix); nil means the inbound header as is.
	header http.Header
	// estimate answers count_tokens locally (estimate.Tokens) instead of asking u, which
	// cannot count.
	estimate bool
}

// planner hands out a request's candidates in the router's order, each made ready for its
// attempt only when the attempt loop reaches it (capability-aware routing, lazily): its matrix
// decision, and the body it will be sent (model mapped, features stripped or degraded, foreign
// thinking blocks removed). Every body starts again from the client's original bytes. A
// candidate whose matrix row refuses the request is skipped; the walk of every message and
// tool (body.Request.Nested) runs only when a candidate whose row acts on nested features is
// reached, and at most once per request (inbound.usesFor).
type planner struct {
	r     *Relay
	ctx   context.Context
	in    *inbound
	order []candidate
	next  int
	// origin is the provider that signed the history's thinking blocks ("" when unknown), and
	// hasThinking whether the history has any.
	origin      string
	hasThinking bool
	refusal     *features.Refusal // the first refusal, answered when nothing else could be tried
	planned     int               // plans handed out
	seen        []string          // providers planned, by name
}

// last reports whether no candidate follows the one handed out last.
func (pn *planner) last() bool { return pn.next >= len(pn.order) }

// Next returns the next candidate's plan, nil when none is left. Candidates that refuse the
// request are skipped (and counted); a count_tokens call for a provider that cannot count is
// planned as the relay's estimate or on routing.count_tokens' provider.
func (pn *planner) Next() (*plan, *apierr.Error) {
	r, in := pn.r, pn.in
	for pn.next < len(pn.order) {
		c := pn.order[pn.next]
		pn.next++
		name := c.u.cfg.Name
		pl, ref, e := r.prepare(pn.ctx, in, c, pn.origin, pn.hasThinking)
		if e != nil {
			return nil, e
		}
		if ref != nil {
			c.u.count(ref.Feature.String() + "=refused")
			r.log.Info("refused by the feature matrix", "provider", name, "feature", ref.Feature.String(), "at", ref.Path)
			if pn.refusal == nil {
				pn.refusal = ref
			}
			continue
		}
		if pl.estimate {
			if to, ok := strings.CutPrefix(r.cfg.Routing.CountTokens, "provider:"); ok {
				// Ask a provider that counts instead (Anthropic's count endpoint is free).
				u := r.upstream(to)
				if u == nil || slices.Contains(pn.seen, to) {
					continue
				}
				model, _ := serves(u, in.routeModel)
				pl, ref, e = r.prepare(pn.ctx, in, candidate{u: u, model: model}, pn.origin, pn.hasThinking)
				if e != nil {
					return nil, e
				}
				if ref != nil || pl.estimate {
					continue
				}
				pl.notes = append(pl.notes, "count_tokens=provider:"+to)
			} else if r.cfg.Routing.CountTokens == config.CountTokensRefuse {
				if pn.refusal == nil {
					pn.refusal = &features.Refusal{Feature: features.CountTokens, Status: http.StatusNotFound, Type: apierr.NotFound,
						Message: fmt.Sprintf("provider %q (%s) cannot count tokens, and routing.count_tokens is refuse; set it to estimate or provider:NAME", name, c.u.cfg.Type)}
				}
				continue
			}
		}
		pn.seen = append(pn.seen, pl.u.cfg.Name)
		pn.planned++
		return pl, nil
	}
	return nil, nil
}

// refused is the answer when every candidate refused the request and none was tried: the
// first refusal.
func (pn *planner) refused() *apierr.Error {
	if pn.planned > 0 || pn.refusal == nil {
		return nil
	}
	return &apierr.Error{Status: pn.refusal.Status, Type: pn.refusal.Type, Message: pn.refusal.Message}
}

// prepare makes one candidate's plan: the matrix decision for the features the request uses
// (refuse, strip, degrade), foreign thinking blocks removed, betas filtered, model mapped.
func (r *Relay) prepare(ctx context.Context, in *inbound, c candidate, origin string, hasThinking bool) (*plan, *features.Refusal, *apierr.Error) {
	u := c.u
	d := u.row.Decide(in.usesFor(u))
	d.ProviderName = u.cfg.Name
	if ref := d.Refusal(); ref != nil {
		return nil, ref, nil
	}
	pl := &plan{u: u, model: c.model, body: in.body}
	if in.op == provider.OpCountTokens && d.Action(features.CountTokens) == features.Degrade {
		pl.estimate = true
		return pl, nil, nil
	}
	if d.NeedsInline() {
		b, err := r.fetcher.Inline(ctx, pl.body)
		if err != nil {
			var se *fetch.SourceError
			if errors.As(err, &se) {
				return nil, features.FetchRefusal(se.PDF, se.Path, se.Error()), nil
			}
			return nil, nil, errorf(http.StatusBadRequest, "could not fetch a URL source for provider %q: %v", u.cfg.Name, err)
		}
		pl.body = b
	}
	if hasThinking && needsThinkingStrip(u, origin, in.body) {
		b, n, err := body.StripThinking(pl.body)
		if err != nil {
			return nil, nil, errorf(http.StatusInternalServerError, "could not remove foreign thinking blocks: %v", err)
		}
		pl.body = b
		pl.notes = append(pl.notes, "thinking_history=stripped:"+strconv.Itoa(n))
	}
	// Most requests to a Claude platform need no edit at all: skip Apply then.
	if ceiling := features.MaxTokensCeiling(u.cfg.Type, c.model); !d.Inert(ceiling) {
		b, notes, err := features.Apply(pl.body, d, ceiling)
		if err != nil {
			var ref *features.Refusal
			if errors.As(err, &ref) {
				return nil, ref, nil
			}
			return nil, nil, errorf(http.StatusInternalServerError, "could not adapt the request for provider %q: %v", u.cfg.Name, err)
		}
		pl.body = b
		pl.notes = append(pl.notes, notes...)
	}
	if len(in.uses.Betas) > 0 && !slices.Equal(d.Betas, in.uses.Betas) {
		pl.header = in.header.Clone()
		if len(d.Betas) == 0 {
			pl.header.Del("Anthropic-Beta")
		} else {
			pl.header.Set("Anthropic-Beta", strings.Join(d.Betas, ","))
		}
	}
	if c.model != in.model {
		b, err := body.Set(pl.body, "model", c.model)
		if err != nil {
			return nil, nil, errorf(http.StatusInternalServerError, "could not map model %q to %q: %v", in.model, c.model, err)
		}
		pl.body = b
	}
	return pl, nil, nil
}

// upstream returns the enabled provider called name, or nil.
func (r *Relay) upstream(name string) *upstream {
	for _, u := range r.upstreams {
		if u.cfg.Name == name {
			return u
		}
	}
	return nil
}
