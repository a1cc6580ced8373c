package relay

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/provider"
	"github.com/ccrelay/ccrelay/relay/route"
)

// inspect checks the body and peeks the fields the relay routes on, without unmarshalling it:
// the one pass that read the body (relay/body) validated it and read its top-level parameters.
// The nested features are read later, only for a candidate that needs them (usesFor).
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
	in.uses = u
	in.model = t.Model
	in.stream = in.op == provider.OpMessages && t.Stream
	in.session = route.SessionKey(in.header, t.MetadataUserID)
	return nil
}

// usesFor returns the features the request uses, as deep as u's matrix row needs them: the
// top-level parameters, or, when the row acts on nested features (cache_control in messages,
// images, documents, tools...), what the walk of every node found (the body walks itself at
// most once per request).
func (in *inbound) usesFor(u *upstream) *features.Usage {
	if in.uses.Shallow && u.deep {
		deep := features.UsageOf(in.req, in.header.Values("Anthropic-Beta"), true)
		deep.CountTokens = in.uses.CountTokens
		in.uses = deep
	}
	return &in.uses
}
