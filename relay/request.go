package relay

import (
	"net/http"

	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/ccrelay/ccrelay/relay/clientkey"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/provider"
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
	// uses are the features of the matrix the body uses (not its token usage): its top-level
	// parameters until a candidate needs more (usesFor).
	uses features.Usage
	// scenario is the routing.scenarios rule the request matched (nil: none), and routeModel
	// the client-side name it is routed as: the rule's model, or model.
	scenario   *scenario
	routeModel string
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

// serveMessages is a Messages or count_tokens request's way through the relay, step by step
// (see the package comment for the file of each step).
func (r *Relay) serveMessages(w *recorder, req *http.Request, op provider.Op) {
	in, e := r.admit(w, req, op) // admit.go, and inspect.go for the body's facts
	if e != nil {
		writeError(w, e)
		return
	}
	defer in.release()                         // the body's buffer goes back once nothing needs it
	defer r.settleClient(req.Context(), w, in) // account.go: the client key's tokens and spend
	w.model, w.stream, w.session = in.model, in.stream, in.session
	pn, skipped, e := r.route(req.Context(), w, in) // route.go
	if e != nil {
		writeError(w, e)
		return
	}
	// attempt.go: prepare.go makes each candidate ready as the loop reaches it; the answer
	// that reaches the client is committed (commit.go), streamed (stream.go) and accounted
	// (account.go).
	r.attempt(w, req, in, pn, skipped)
}
