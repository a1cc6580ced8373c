package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/tidwall/gjson"
)

// ClientRequest is what the conformance client sends to the relay: a canonical request
// (fixtures/requests/<case>.json) or a cassette's client request override
// (cassettes/<provider>/<case>.request.json).
type ClientRequest struct {
	// Description says what the request is and where it comes from.
	Description string `json:"description"`
	// Method and Path are the HTTP method and the relay path (/v1/messages or
	// /v1/messages/count_tokens).
	Method string `json:"method"`
	Path   string `json:"path"`
	// Headers are the client headers, credentials excepted (the runner adds its own).
	Headers map[string][]string `json:"headers"`
	// Body is the JSON body, sent byte for byte.
	Body json.RawMessage `json:"body"`
	// DerivedFrom names the recorded upstream request an override was derived from.
	DerivedFrom string `json:"derived_from,omitempty"`
	// Generator describes how an override was derived.
	Generator string `json:"generator,omitempty"`

	// file is where the request was read from, for messages.
	file string
}

// overrideSuffix ends the name of a cassette's client request override.
const overrideSuffix = ".request.json"

// parseClientRequest decodes a request file.
func parseClientRequest(data []byte, file string) (*ClientRequest, error) {
	var r ClientRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("conformance: %s: %w", file, err)
	}
	if r.Method == "" {
		r.Method = http.MethodPost
	}
	if r.Path == "" {
		r.Path = "/v1/messages"
	}
	if !gjson.ValidBytes(r.Body) || !gjson.ParseBytes(r.Body).IsObject() {
		return nil, fmt.Errorf("conformance: %s: body is not a JSON object", file)
	}
	r.file = file
	return &r, nil
}

// loadCanonical reads fixtures/requests/<case>.json from fsys (rooted at fixtures/requests).
func loadCanonical(fsys fs.FS, name string) (*ClientRequest, error) {
	file := name + ".json"
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("conformance: canonical request of case %s: %w", name, err)
	}
	return parseClientRequest(data, "fixtures/requests/"+file)
}

// loadOverride reads the client request override beside a cassette, if there is one.
func loadOverride(fsys fs.FS, providerType, name string) (*ClientRequest, error) {
	file := path.Join(providerType, name+overrideSuffix)
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("conformance: %w", err)
	}
	return parseClientRequest(data, "cassettes/"+file)
}

// Model returns the request's model.
func (r *ClientRequest) Model() string { return gjson.GetBytes(r.Body, "model").String() }

// Stream reports whether the request asks for a stream.
func (r *ClientRequest) Stream() bool { return gjson.GetBytes(r.Body, "stream").Bool() }

// header returns the request headers as an http.Header.
func (r *ClientRequest) header() http.Header {
	h := make(http.Header, len(r.Headers))
	for k, vs := range r.Headers {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return h
}

// betas returns the anthropic-beta values of the request, split.
func (r *ClientRequest) betas() []string {
	var out []string
	for _, v := range r.header().Values("Anthropic-Beta") {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				out = append(out, b)
			}
		}
	}
	return out
}

// isCount reports whether the request is a count_tokens call.
func (r *ClientRequest) isCount() bool {
	path, _, _ := strings.Cut(r.Path, "?")
	return strings.HasSuffix(path, "/count_tokens")
}
