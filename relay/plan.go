package relay

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/tidwall/sjson"
)

// plan is one candidate provider made ready for a request: the body it will be sent (model
// mapped, feature decisions applied) and the notes of what was changed.
type plan struct {
	u     *upstream
	model string // upstream model id
	body  []byte
	notes []string
}

// plan orders the candidates with the routing strategy and prepares each one's body. Every
// body starts again from the client's original bytes.
func (r *Relay) plan(in *inbound, cands []candidate) ([]*plan, *apierr.Error) {
	byName := make(map[string]candidate, len(cands))
	allowed := make([]string, 0, len(cands))
	for _, c := range cands {
		byName[c.u.cfg.Name] = c
		allowed = append(allowed, c.u.cfg.Name)
	}
	// Affinity: a history with signed thinking sticks to the provider that signed it; otherwise
	// a session sticks to the provider that served it, so its prompt cache stays warm.
	preferred, origin, hasThinking := "", "", false
	if bytes.Contains(in.body, []byte(`"signature"`)) || bytes.Contains(in.body, []byte(`"redacted_thinking"`)) {
		origin, hasThinking = r.thinkingOrigin(in.body)
		if _, ok := byName[origin]; ok {
			preferred = origin
		}
	}
	if b, ok := r.affinity.Get(in.session); ok && preferred == "" && in.session != "" {
		preferred = b.Provider
	}
	order := r.router.Order(in.model, allowed, preferred)
	plans := make([]*plan, 0, len(order))
	for _, name := range order {
		c := byName[name]
		pl := &plan{u: c.u, model: c.model, body: in.body}
		if hasThinking && needsThinkingStrip(c.u, origin, in.body) {
			b, n, err := stripThinking(pl.body)
			if err != nil {
				return nil, errorf(http.StatusInternalServerError, "could not remove foreign thinking blocks: %v", err)
			}
			pl.body = b
			pl.notes = append(pl.notes, "thinking_history=stripped:"+strconv.Itoa(n))
		}
		if c.model != in.model {
			b, err := sjson.SetBytes(pl.body, "model", c.model)
			if err != nil {
				return nil, errorf(http.StatusInternalServerError, "could not map model %q to %q: %v", in.model, c.model, err)
			}
			pl.body = b
		}
		plans = append(plans, pl)
	}
	return plans, nil
}
