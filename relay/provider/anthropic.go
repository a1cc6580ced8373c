package provider

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
)

// anthropicCompatible serves the provider types that speak the Anthropic Messages API as is:
// anthropic, zai, minimax, ollama and azure. They differ only in base URL and auth header.
type anthropicCompatible struct {
	base      *url.URL
	typ, name string // the provider's type (its dialect) and name, for error messages
}

// authHeader says how a provider type takes its key.
type authHeader int

const (
	authXAPIKey authHeader = iota // x-api-key: KEY
	authBearer                    // Authorization: Bearer KEY
)

type keyAuth struct {
	typ  string
	mode authHeader
}

func newAnthropicCompatible(_ context.Context, p *Provider, cfg config.Provider, env Env) error {
	raw := cfg.BaseURL
	if raw == "" && cfg.Type == config.TypeAzure {
		if cfg.AzureResourceName == "" {
			return fmt.Errorf("azure needs azure_resource_name (or base_url)")
		}
		raw = "https://" + cfg.AzureResourceName + ".services.ai.azure.com/anthropic"
	}
	if raw == "" {
		raw = config.DefaultBaseURL(cfg.Type)
	}
	u, err := parseBaseURL(raw)
	if err != nil {
		return err
	}
	p.Adapter = &anthropicCompatible{base: u, typ: cfg.Type, name: cfg.Name}
	mode := authXAPIKey
	if config.Facts(cfg.Type).Auth == "bearer" {
		mode = authBearer
	}
	p.Auth = &keyAuth{typ: cfg.Type, mode: mode}
	if cfg.Type == config.TypeAzure && strings.EqualFold(cfg.AzureAuth, "entra") {
		auth, err := newAzureEntraAuth(cfg, env)
		if err != nil {
			return err
		}
		p.Auth = auth
	}
	p.Address = u.Scheme + "://" + u.Host
	return nil
}

// parseBaseURL checks a base_url and trims its trailing slash.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base_url %q: want an absolute http or https URL", raw)
	}
	return u, nil
}

// Request implements Adapter.
func (a *anthropicCompatible) Request(ctx context.Context, c *Call) (*http.Request, []byte, error) {
	path := "/v1/messages"
	if c.Op == OpCountTokens {
		path = "/v1/messages/count_tokens"
	}
	u := *a.base
	u.Path = a.base.Path + path
	u.RawPath = ""
	req, err := newPost(ctx, u.String(), c.Header, c.Body)
	return req, c.Body, err
}

// Response implements Adapter: successful bodies are already in Anthropic form; error bodies
// are normalized by the provider type's dialect (features.NormalizeError): vendor error types
// and codes become Anthropic's, balance and quota errors billing_error, and bare, text or HTML
// bodies are wrapped naming the provider. A change is announced in c.Degraded
// ("error=normalized:RULE").
func (a *anthropicCompatible) Response(c *Call, resp *http.Response) (*http.Response, error) {
	if resp.StatusCode < 400 {
		return resp, nil
	}
	body, err := readSmallBody(resp)
	if err != nil {
		return nil, err
	}
	at := ""
	if resp.Request != nil && resp.Request.URL != nil {
		at = resp.Request.URL.Scheme + "://" + resp.Request.URL.Host + resp.Request.URL.Path
	}
	n := features.NormalizeError(a.typ, a.name, at, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	if n.Changed {
		resp.StatusCode = n.Status
		resp.Status = fmt.Sprintf("%d %s", n.Status, http.StatusText(n.Status))
		resp.Header.Set("Content-Type", "application/json")
		body = n.Body
		if c != nil {
			c.Degraded = append(c.Degraded, "error=normalized:"+n.Rule)
		}
	}
	setBody(resp, body)
	return resp, nil
}

// maxErrorBody caps how much of an upstream error body is read.
const maxErrorBody = 1 << 20

// newPost builds a POST with a body that ends exactly at its Content-Length, so the transport
// never reads past it (golang/go#40747), and that can be replayed (GetBody) for retries.
func newPost(ctx context.Context, url string, h http.Header, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if h != nil {
		req.Header = h.Clone()
	}
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body))
	return req, nil
}

// Authenticate implements Authenticator.
func (k *keyAuth) Authenticate(_ context.Context, req *http.Request, _ []byte, c *Call) error {
	req.Header.Del("X-Api-Key")
	req.Header.Del("Authorization")
	if c.Bearer != "" && k.typ == config.TypeAnthropic {
		req.Header.Set("Authorization", "Bearer "+c.Bearer)
		return nil
	}
	if c.Key == "" {
		return nil
	}
	if k.mode == authBearer {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	} else {
		req.Header.Set("X-Api-Key", c.Key)
	}
	return nil
}
