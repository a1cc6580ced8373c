package provider

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/tidwall/gjson"
)

// bedrockAnthropicVersion is the anthropic_version Bedrock requires in the body.
const bedrockAnthropicVersion = "bedrock-2023-05-31"

// bedrockCountMaxTokens is the max_tokens given to a count-tokens body that has none: Bedrock
// validates the wrapped body as a Messages request, where max_tokens is required.
const bedrockCountMaxTokens = 1

// bedrock serves Claude on Amazon Bedrock through InvokeModel (wire.md B.2).
type bedrock struct {
	base   *url.URL
	region string
}

// newBedrock configures a bedrock provider: aws_region (or AWS_REGION / AWS_DEFAULT_REGION)
// is required; base_url overrides https://bedrock-runtime.{region}.amazonaws.com.
func newBedrock(ctx context.Context, p *Provider, cfg config.Provider, env Env) error {
	region := cfg.AWSRegion
	if region == "" {
		region = firstEnv(getenvFunc(env), "AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if region == "" {
		return errors.New("bedrock needs aws_region")
	}
	if !validHostLabel(region) {
		return fmt.Errorf("bedrock: invalid aws_region %q", region)
	}
	raw := cfg.BaseURL
	if raw == "" {
		raw = "https://bedrock-runtime." + region + ".amazonaws.com"
	}
	u, err := parseBaseURL(raw)
	if err != nil {
		return err
	}
	auth, err := newBedrockAuth(ctx, cfg, region, env)
	if err != nil {
		return err
	}
	p.Adapter = &bedrock{base: u, region: region}
	p.Auth = auth
	p.Address = u.Scheme + "://" + u.Host
	return nil
}

// Request implements Adapter. The body is edited with relay/body only: anthropic_version is
// added, model and stream removed (they are in the path), and the anthropic-beta header values
// move into anthropic_beta, with the body's own values; betas Bedrock does not accept are
// dropped and noted in c.Degraded. The relay has removed the top-level keys Bedrock does not
// accept already (features.Apply, the unknown_fields cell). count_tokens wraps that body,
// base64-encoded, for /count-tokens.
func (b *bedrock) Request(ctx context.Context, c *Call) (*http.Request, []byte, error) {
	if c.Model == "" {
		return nil, nil, errors.New("bedrock: no model")
	}
	msg, err := b.messagesBody(c)
	if err != nil {
		return nil, nil, err
	}
	model, action := c.Model, "invoke"
	switch {
	case c.Op == OpCountTokens:
		action = "count-tokens"
		model = bedrockFoundationModel(model)
		if !gjson.GetBytes(msg, "max_tokens").Exists() {
			if msg, err = body.Set(msg, "max_tokens", countMaxTokens(msg)); err != nil {
				return nil, nil, fmt.Errorf("bedrock: set max_tokens: %w", err)
			}
		}
		wrapped := make([]byte, 0, len(`{"input":{"invokeModel":{"body":""}}}`)+base64.StdEncoding.EncodedLen(len(msg)))
		wrapped = append(wrapped, `{"input":{"invokeModel":{"body":"`...)
		wrapped = base64.StdEncoding.AppendEncode(wrapped, msg)
		msg = append(wrapped, `"}}}`...)
	case c.Stream:
		action = "invoke-with-response-stream"
	}

	req, err := newPost(ctx, b.modelURL(model, action), c.Header, msg)
	if err != nil {
		return nil, nil, fmt.Errorf("bedrock: %w", err)
	}
	// The anthropic headers are in the body now; Accept-Encoding is left to the transport (which
	// then decodes gzip itself) so that an encoding the event-stream decoder cannot read is
	// never negotiated.
	for _, h := range []string{"Anthropic-Beta", "Anthropic-Version", "X-Api-Key", "Authorization", "Accept-Encoding", "Host", "Content-Length"} {
		req.Header.Del(h)
	}
	if c.Op != OpCountTokens && c.Stream {
		req.Header.Set("Accept", "application/vnd.amazon.eventstream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	return req, msg, nil
}

// messagesBody returns the Bedrock-shaped Messages body of c.
func (b *bedrock) messagesBody(c *Call) ([]byte, error) {
	msg := c.Body
	if err := checkObject("bedrock", msg); err != nil {
		return nil, err
	}
	betas := headerBetas(c.Header)
	for _, v := range gjson.GetBytes(msg, "anthropic_beta").Array() {
		if s := strings.TrimSpace(v.String()); s != "" {
			betas = append(betas, s)
		}
	}
	betas = filterBetas("bedrock", betas, c)

	var err error
	for _, k := range []string{"model", "stream", "anthropic_beta"} {
		if msg, err = body.DeleteTopLevel(msg, k); err != nil {
			return nil, fmt.Errorf("bedrock: remove %s: %w", k, err)
		}
	}
	if msg, err = body.Set(msg, "anthropic_version", bedrockAnthropicVersion); err != nil {
		return nil, fmt.Errorf("bedrock: set anthropic_version: %w", err)
	}
	if len(betas) > 0 {
		if msg, err = body.Set(msg, "anthropic_beta", betas); err != nil {
			return nil, fmt.Errorf("bedrock: set anthropic_beta: %w", err)
		}
	}
	return msg, nil
}

// countMaxTokens is a small max_tokens that keeps a count body valid: above the thinking
// budget when there is one.
func countMaxTokens(msg []byte) int64 {
	if budget := gjson.GetBytes(msg, "thinking.budget_tokens"); budget.Exists() {
		return budget.Int() + 1
	}
	return bedrockCountMaxTokens
}

// bedrockGeoPrefixes are the inference-profile prefixes of model ids. CountTokens rejects
// inference profiles ("The provided model doesn't support counting tokens.",
// fixtures/real-traffic/bedrock/pydantic-ai/test_anthropic_bedrock_count_tokens_error.0.json)
// and accepts the bare foundation model (…_real_api.0.json).
var bedrockGeoPrefixes = []string{"global.", "us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca."}

// bedrockFoundationModel strips an inference-profile prefix from a model id.
func bedrockFoundationModel(model string) string {
	for _, p := range bedrockGeoPrefixes {
		if rest, ok := strings.CutPrefix(model, p); ok && strings.Contains(rest, ".") {
			return rest
		}
	}
	return model
}

// modelURL builds /model/{id}/{action}. The raw id goes into URL.Path and the escaped id (':'
// as %3A, '/' as %2F, as ARNs need) into URL.RawPath, so the request line carries the escaped
// form and SigV4 signs that.
func (b *bedrock) modelURL(model, action string) string {
	u := *b.base
	u.Path = b.base.Path + "/model/" + model + "/" + action
	u.RawPath = b.base.EscapedPath() + "/model/" + escapeModelID(model) + "/" + action
	return u.String()
}

// escapeModelID escapes a model id or ARN as one path segment, ':' included.
func escapeModelID(id string) string {
	return strings.ReplaceAll(url.PathEscape(id), ":", "%3A")
}

// Response implements Adapter: errors become Anthropic errors, a stream's event-stream body
// becomes SSE, and a count-tokens answer {"inputTokens":N} becomes {"input_tokens":N}.
func (b *bedrock) Response(c *Call, resp *http.Response) (*http.Response, error) {
	if resp.StatusCode >= 400 {
		return b.errorResponse(c, resp)
	}
	switch {
	case c.Op == OpCountTokens:
		body, err := readSmallBody(resp)
		if err != nil {
			return nil, fmt.Errorf("bedrock count-tokens: %w", err)
		}
		n := gjson.GetBytes(body, "inputTokens")
		if n.Type != gjson.Number {
			setError(resp, http.StatusBadGateway, apierr.API, "bedrock count-tokens: unexpected response: "+truncate(string(body), 200), resp.Header.Get("X-Amzn-Requestid"))
			return resp, nil
		}
		resp.Header.Set("Content-Type", "application/json")
		setBody(resp, []byte(`{"input_tokens":`+strconv.FormatInt(n.Int(), 10)+`}`))
	case c.Stream:
		resp.Body = newBedrockSSE(resp.Body)
		resp.Header.Set("Content-Type", "text/event-stream")
		resp.Header.Set("Cache-Control", "no-cache")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
	}
	return resp, nil
}

// errorResponse replaces a Bedrock error with the Anthropic error of the same meaning, keeping
// Bedrock's message.
func (b *bedrock) errorResponse(c *Call, resp *http.Response) (*http.Response, error) {
	body, err := readSmallBody(resp)
	if err != nil {
		return nil, fmt.Errorf("bedrock: %w", err)
	}
	if apierr.IsAnthropicShaped(body) {
		setBody(resp, body)
		return resp, nil
	}
	status, typ, msg := mapBedrockError(resp.StatusCode, resp.Header, body)
	if c.Op == OpCountTokens {
		msg = fmt.Sprintf("bedrock count-tokens for model %q in %s (CountTokens is available for some models and regions only): %s",
			bedrockFoundationModel(c.Model), b.region, msg)
	}
	setError(resp, status, typ, msg, resp.Header.Get("X-Amzn-Requestid"))
	return resp, nil
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
