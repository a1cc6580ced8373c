package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/ccrelay/ccrelay/relay/clientkey"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/provider"
	"github.com/ccrelay/ccrelay/relay/route"
)

// inbound is what the relay knows about a client request after admitting and inspecting it.
type inbound struct {
	op provider.Op
	// req is the client's body, read once and never modified, and what is known about it
	// (relay/body); body is its bytes, nil once released.
	req    *body.Request
	body   []byte
	model  string
	stream bool
	header http.Header // forwardable client headers
	bearer string      // subscription token, when allowed
	// client is the client key the request came with (nil: none configured), ticket its
	// hold on the key's limits (clients.go), settled when the answer is complete.
	client *clientkey.Key
	ticket *clientkey.Ticket
	// session identifies the client's conversation for prompt-cache affinity
	// (x-claude-code-session-id or metadata.user_id); "" when unknown.
	session string
	// usage is what the feature matrix found in the body: its top-level parameters until a
	// candidate needs more (usageFor).
	usage features.Usage
	// scenario is the routing.scenarios rule the request matched (nil: none), and routeModel
	// the client-side name it is routed as: the rule's model, or model.
	scenario   *scenario
	routeModel string
}

// usageFor returns the features the request uses, as deep as u's matrix row needs them: the
// top-level parameters, or, when the row acts on nested features (cache_control in messages,
// images, documents, tools...), what the walk of every node found (the body walks itself at
// most once per request).
func (in *inbound) usageFor(u *upstream) *features.Usage {
	if in.usage.Shallow && u.deep {
		deep := features.UsageOf(in.req, in.header.Values("Anthropic-Beta"), true)
		deep.CountTokens = in.usage.CountTokens
		in.usage = deep
	}
	return &in.usage
}

// release drops the inbound's reference to the body buffer, once the body is no longer needed:
// when a response is committed (no other candidate will be tried) or the request ends.
// Upstream requests still sending it hold their own references.
func (in *inbound) release() {
	if in.req != nil {
		in.req.Release()
	}
	in.body = nil
}

// candidate is a provider that can serve the request, with the upstream model id.
type candidate struct {
	u     *upstream
	model string
}

func (r *Relay) serveMessages(w *recorder, req *http.Request, op provider.Op) {
	in, e := r.admit(w, req, op)
	if e != nil {
		writeError(w, e)
		return
	}
	defer in.release()
	defer r.settleClient(req.Context(), w, in)
	w.model, w.stream, w.session = in.model, in.stream, in.session
	in.routeModel = in.model
	if sc := r.matchScenario(in); sc != nil {
		in.scenario, w.scenario = sc, sc.rule.When
		w.Header().Set(hdrScenario, sc.rule.When)
		if sc.rule.Model != "" {
			in.routeModel = sc.rule.Model
		}
	}
	cands, e := r.findCandidates(req.Context(), in.routeModel)
	if e == nil && in.scenario != nil {
		cands, e = in.scenario.apply(cands, in.routeModel)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	pn, skipped := r.plan(req.Context(), in, cands)
	r.attempt(w, req, in, pn, skipped)
}

// admit authenticates the client, reads the body once under the size limit, inspects it and
// applies the client key's policy (clients.go).
func (r *Relay) admit(w *recorder, req *http.Request, op provider.Op) (*inbound, *apierr.Error) {
	k, bearer, e := r.authenticate(w, req)
	if e != nil {
		return nil, e
	}
	in := &inbound{op: op, header: upstreamHeader(req.Header), client: k}
	if r.cfg.Server.Auth.AllowSubscription {
		in.bearer = bearer
	}
	rb, err := body.Read(req.Body, req.ContentLength, r.maxBody)
	switch {
	case errors.Is(err, body.ErrTooLarge):
		return nil, errorf(http.StatusRequestEntityTooLarge,
			"request body is larger than the relay's limit of %d bytes (server.max_body_bytes)", r.maxBody)
	case err != nil:
		return nil, errorf(http.StatusBadRequest, "could not read the request body: %v", err)
	}
	in.req, in.body = rb, rb.Bytes()
	if e := inspect(in); e != nil {
		in.release()
		return nil, e
	}
	if e := r.admitClient(req.Context(), in); e != nil {
		in.release()
		return nil, e
	}
	return in, nil
}

// inspect checks the body and peeks the fields the relay routes on, without unmarshalling it:
// the one pass that read the body (relay/body) validated it and read its top-level parameters.
// The nested features are read later, only for a candidate that needs them (usageFor).
func inspect(in *inbound) *apierr.Error {
	if len(in.body) == 0 {
		return errorf(http.StatusBadRequest, "request body is empty; send a JSON object with model, max_tokens and messages")
	}
	// The structure is checked (string contents are left to the provider).
	t := in.req.Top()
	if !t.Valid {
		var v any
		err := json.Unmarshal(in.body, &v) // error path only: for the offset of the mistake
		if err == nil {
			err = errors.New("unbalanced or misplaced structure")
		}
		return errorf(http.StatusBadRequest, "request body is not valid JSON: %v", err)
	}
	if !t.Object {
		return errorf(http.StatusBadRequest, "request body must be a JSON object")
	}
	switch {
	case t.Duplicate != "":
		return errorf(http.StatusBadRequest, "%s: the key appears more than once in the request body; send each top-level key once (the relay and the provider could read different values)", t.Duplicate)
	case !t.HasModel:
		return errorf(http.StatusBadRequest, "model: field required")
	case !t.ModelIsString || t.Model == "":
		return errorf(http.StatusBadRequest, "model: want a non-empty string")
	case !t.HasMessages:
		return errorf(http.StatusBadRequest, "messages: field required")
	case !t.MessagesArray:
		return errorf(http.StatusBadRequest, "messages: want an array of messages")
	}
	u := features.UsageOf(in.req, in.header.Values("Anthropic-Beta"), false) // it splits comma lists
	u.CountTokens = in.op == provider.OpCountTokens
	in.usage = u
	in.model = t.Model
	in.stream = in.op == provider.OpMessages && t.Stream
	in.session = route.SessionKey(in.header, t.MetadataUserID)
	return nil
}

// candidates returns the providers that serve model, in configuration order. A provider serves a model it maps or lists; one that declares no
// models serves any model under its own name.
func (r *Relay) candidates(model string) ([]candidate, *apierr.Error) {
	var out []candidate
	for _, u := range r.upstreams {
		if m, ok := serves(u, model); ok {
			out = append(out, candidate{u: u, model: m})
		}
	}
	if len(out) == 0 {
		if len(r.upstreams) == 0 {
			return nil, errorf(http.StatusServiceUnavailable, "no provider is enabled in the configuration")
		}
		return nil, errorf(http.StatusNotFound, "model %q is not served by any provider; known models: %s",
			model, strings.Join(r.knownModels(), ", "))
	}
	return out, nil
}

// serves reports whether the candidate u serves the client model, and the upstream id to send:
// the configured model_mapping (exact names, then patterns) and models list first, then what
// the relay discovered from the provider itself (discovered.go).
func serves(u *upstream, model string) (string, bool) {
	if len(u.cfg.Models) > 0 || len(u.cfg.ModelMapping) > 0 || !u.hasDiscovery() {
		return u.cfg.Serves(model)
	}
	return u.discoveredServes(model)
}

// knownModels lists what the enabled providers serve as configured, for an answer that names
// them: each model_mapping key (patterns as written, "claude-*") and each listed model, in
// provider order, without duplicates.
func (r *Relay) knownModels() []string {
	var out []string
	for _, u := range r.upstreams {
		mapping, models := u.cfg.ModelMapping, u.cfg.Models
		if d := u.discovered.p.Load(); d != nil && len(mapping) == 0 && len(models) == 0 {
			mapping, models = d.mapping, d.installed
		}
		for _, k := range slices.Sorted(maps.Keys(mapping)) {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
		for _, m := range models {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

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
