// Package provider turns a relayed call into one provider's wire request, and that provider's
// response back into the Anthropic Messages API wire format.
//
// There is one file per provider type. Each type has an Adapter (URL, headers, body edits made
// through relay/body, response conversion) and an Authenticator that runs last, over the final
// bytes, so that a signature (SigV4) covers exactly what is sent. New chooses both with a single switch.
package provider

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ccrelay/ccrelay/relay/config"
)

// Op is the client operation being relayed.
type Op string

// Operations the relay forwards.
const (
	OpMessages    Op = "messages"
	OpCountTokens Op = "count_tokens"
)

// Call is the input of one upstream attempt.
type Call struct {
	Op Op
	// Model is the upstream model id, after model_mapping.
	Model string
	// Stream reports whether the client asked for SSE.
	Stream bool
	// Body is the request body to send: the client's bytes with the model already mapped and the
	// feature decisions applied. Adapters edit it only through relay/body and never re-marshal it.
	Body []byte
	// Header holds the inbound headers that may be forwarded (hop-by-hop headers and client
	// credentials already removed). Adapters may edit it.
	Header http.Header
	// Key is the upstream credential leased from the provider's key pool ("" when none).
	Key string
	// Bearer is a client's subscription token to pass through instead of Key. The relay sets it
	// only for providers of type anthropic with server.auth.allow_subscription.
	Bearer string
	// Degraded collects "feature=action" notes of what the adapter had to drop or change; the
	// relay reports them in the x-ccrelay-degraded response header.
	Degraded []string
	// URL is the upstream request's URL without its query, set by the relay once the adapter
	// built the request, for logs.
	URL string
}

// Adapter converts calls into requests for one provider and its responses back.
type Adapter interface {
	// Request builds the upstream request for c. The returned request's body is the final bytes,
	// also returned so that the Authenticator can sign them.
	Request(ctx context.Context, c *Call) (*http.Request, []byte, error)
	// Response converts an upstream response into the Anthropic wire format: a provider-specific
	// stream becomes SSE, a provider-specific error body becomes an Anthropic error. It may
	// return resp unchanged.
	Response(c *Call, resp *http.Response) (*http.Response, error)
}

// Authenticator puts the upstream credential on a finished request. It runs last.
type Authenticator interface {
	Authenticate(ctx context.Context, req *http.Request, body []byte, c *Call) error
}

// Provider is a configured upstream ready to take calls.
type Provider struct {
	Name    string
	Type    string
	Adapter Adapter
	Auth    Authenticator
	// Address is the upstream address shown in errors (scheme://host).
	Address string
}

// Env carries what a provider constructor needs from outside the configuration.
type Env struct {
	// Getenv reads environment variables; nil means os.Getenv.
	Getenv func(string) string
	// Transport is the only door to the network; credential helpers (metadata servers, token
	// endpoints) use it too. Nil means http.DefaultTransport.
	Transport http.RoundTripper
}

// New builds the provider described by cfg.
func New(ctx context.Context, cfg config.Provider, env Env) (*Provider, error) {
	p := &Provider{Name: cfg.Name, Type: cfg.Type}
	var err error
	switch cfg.Type {
	case config.TypeAnthropic, config.TypeZAI, config.TypeMiniMax, config.TypeOllama, config.TypeAzure:
		err = newAnthropicCompatible(ctx, p, cfg, env)
	case config.TypeBedrock:
		err = newBedrock(ctx, p, cfg, env)
	case config.TypeVertex:
		err = newVertex(ctx, p, cfg, env)
	default:
		err = fmt.Errorf("unknown provider type %q", cfg.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("provider %q: %w", cfg.Name, err)
	}
	return p, nil
}
