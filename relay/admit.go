package relay

import (
	"context"
	"errors"
	"net/http"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/ccrelay/ccrelay/relay/clientkey"
	"github.com/ccrelay/ccrelay/relay/estimate"
	"github.com/ccrelay/ccrelay/relay/provider"
)

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
