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
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/provider"
	"github.com/tidwall/sjson"
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
	// estimate answers count_tokens locally (features.Estimate) instead of asking u, which
	// cannot count.
	estimate bool
}

// plan orders the candidates with the routing strategy and prepares each one's body, skipping
// the candidates whose feature matrix row refuses the request (capability-aware routing).
// Every body starts again from the client's original bytes. When every candidate refuses, the
// first refusal is the answer. skipped are the candidates the router left out because their
// circuit is open, so that the answer can say why they were not tried.
func (r *Relay) plan(ctx context.Context, in *inbound, cands []candidate) (plans []*plan, skipped []*upstream, _ *apierr.Error) {
	// Candidates are few (the configured providers): slices and linear searches, no maps.
	allowed := make([]string, 0, len(cands))
	for _, c := range cands {
		allowed = append(allowed, c.u.cfg.Name)
	}
	byName := func(name string) (candidate, bool) {
		for _, c := range cands {
			if c.u.cfg.Name == name {
				return c, true
			}
		}
		return candidate{}, false
	}
	// Affinity: a history with signed thinking sticks to the provider that signed it; otherwise
	// a session sticks to the provider that served it, so its prompt cache stays warm.
	preferred, origin, hasThinking := "", "", false
	if in.usage.ThinkingHistory {
		origin, hasThinking = r.thinkingOrigin(in.body)
		if _, ok := byName(origin); ok {
			preferred = origin
		}
	}
	if r.sticky && preferred == "" && in.session != "" {
		if b, ok := r.affinity.Get(in.session); ok {
			preferred = b.Provider
		}
	}
	order := r.router.Order(in.model, allowed, preferred)
	if len(order) < len(allowed) {
		for _, c := range cands {
			if !slices.Contains(order, c.u.cfg.Name) {
				skipped = append(skipped, c.u)
			}
		}
	}
	plans = make([]*plan, 0, len(order))
	var refusal *features.Refusal
	var seen []string // providers planned, by name
	for _, name := range order {
		c, _ := byName(name)
		pl, ref, e := r.prepare(ctx, in, c, origin, hasThinking)
		if e != nil {
			return nil, nil, e
		}
		if ref != nil {
			c.u.count(ref.Feature.String() + "=refused")
			r.log.Info("refused by the feature matrix", "provider", name, "feature", ref.Feature.String(), "at", ref.Path)
			if refusal == nil {
				refusal = ref
			}
			continue
		}
		if pl.estimate {
			if to, ok := strings.CutPrefix(r.cfg.Routing.CountTokens, "provider:"); ok {
				// Ask a provider that counts instead (Anthropic's count endpoint is free).
				u := r.upstream(to)
				if u == nil || slices.Contains(seen, to) {
					continue
				}
				model, _ := serves(u, in.model)
				pl, ref, e = r.prepare(ctx, in, candidate{u: u, model: model}, origin, hasThinking)
				if e != nil {
					return nil, nil, e
				}
				if ref != nil || pl.estimate {
					continue
				}
				pl.notes = append(pl.notes, "count_tokens=provider:"+to)
			} else if r.cfg.Routing.CountTokens == config.CountTokensRefuse {
				if refusal == nil {
					refusal = &features.Refusal{Feature: features.CountTokens, Status: http.StatusNotFound, Type: apierr.NotFound,
						Message: fmt.Sprintf("provider %q (%s) cannot count tokens, and routing.count_tokens is refuse; set it to estimate or provider:NAME", name, c.u.cfg.Type)}
				}
				continue
			}
		}
		seen = append(seen, pl.u.cfg.Name)
		plans = append(plans, pl)
	}
	if len(plans) == 0 && refusal != nil {
		return nil, nil, &apierr.Error{Status: refusal.Status, Type: refusal.Type, Message: refusal.Message}
	}
	return plans, skipped, nil
}

// prepare makes one candidate's plan: the matrix decision for the features the request uses
// (refuse, strip, degrade), foreign thinking blocks removed, betas filtered, model mapped.
func (r *Relay) prepare(ctx context.Context, in *inbound, c candidate, origin string, hasThinking bool) (*plan, *features.Refusal, *apierr.Error) {
	u := c.u
	d := u.row.Decide(&in.usage)
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
		b, err := r.inliner.Inline(ctx, pl.body)
		if err != nil {
			var ref *features.Refusal
			if errors.As(err, &ref) {
				return nil, ref, nil
			}
			return nil, nil, errorf(http.StatusBadRequest, "could not fetch a URL source for provider %q: %v", u.cfg.Name, err)
		}
		pl.body = b
	}
	if hasThinking && needsThinkingStrip(u, origin, in.body) {
		b, n, err := stripThinking(pl.body)
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
	if len(in.usage.Betas) > 0 && !slices.Equal(d.Betas, in.usage.Betas) {
		pl.header = in.header.Clone()
		if len(d.Betas) == 0 {
			pl.header.Del("Anthropic-Beta")
		} else {
			pl.header.Set("Anthropic-Beta", strings.Join(d.Betas, ","))
		}
	}
	if c.model != in.model {
		b, err := sjson.SetBytes(pl.body, "model", c.model)
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
