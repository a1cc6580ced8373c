package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/body"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/tidwall/gjson"
)

// vertexAnthropicVersion is the anthropic_version Vertex AI requires in the body.
const vertexAnthropicVersion = "vertex-2023-10-16"

// vertex serves Claude on Google Vertex AI through rawPredict (wire.md B.3). Its responses are
// Anthropic-shaped already, except errors, which come in Google's shape.
type vertex struct {
	base    *url.URL
	project string
	region  string
}

// newVertex configures a vertex provider from gcp_project_id and gcp_region (falling back to
// ANTHROPIC_VERTEX_PROJECT_ID / GOOGLE_CLOUD_PROJECT, the credentials' project, and
// CLOUD_ML_REGION / GOOGLE_CLOUD_LOCATION). Credentials are Application Default Credentials; see
// newGoogleTokenSource. base_url overrides the regional host.
func newVertex(ctx context.Context, p *Provider, cfg config.Provider, env Env) error {
	getenv := getenvFunc(env)
	region := cfg.GCPRegion
	if region == "" {
		region = firstEnv(getenv, "CLOUD_ML_REGION", "GOOGLE_CLOUD_LOCATION")
	}
	if region == "" {
		return errors.New("vertex needs gcp_region")
	}
	if !validHostLabel(region) {
		return fmt.Errorf("vertex: invalid gcp_region %q", region)
	}
	creds, err := newGoogleTokenSource(ctx, env)
	if err != nil {
		return err
	}
	project := cfg.GCPProjectID
	if project == "" {
		project = firstEnv(getenv, "ANTHROPIC_VERTEX_PROJECT_ID", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")
	}
	if project == "" {
		project = creds.projectID
	}
	if project == "" {
		return errors.New("vertex needs gcp_project_id")
	}
	raw := cfg.BaseURL
	if raw == "" {
		raw = "https://" + VertexHost(region)
	}
	u, err := parseBaseURL(raw)
	if err != nil {
		return err
	}
	p.Adapter = &vertex{base: u, project: project, region: region}
	p.Auth = &googleAuth{creds: creds}
	p.Address = u.Scheme + "://" + u.Host
	return nil
}

// VertexHost is the Vertex AI API host of a region (wire.md B.3).
func VertexHost(region string) string {
	switch region {
	case "global":
		return "aiplatform.googleapis.com"
	case "us", "eu":
		return "aiplatform." + region + ".rep.googleapis.com"
	}
	return region + "-aiplatform.googleapis.com"
}

// Request implements Adapter. The body gets anthropic_version and loses model (which moves to
// the path) except for count_tokens, whose endpoint is shared by all models; stream stays.
// anthropic-beta stays a header, filtered by the Vertex table; dropped betas are noted in
// c.Degraded. The relay has removed the top-level keys Vertex does not accept already
// (features.Apply, the unknown_fields cell).
func (v *vertex) Request(ctx context.Context, c *Call) (*http.Request, []byte, error) {
	if c.Model == "" {
		return nil, nil, errors.New("vertex: no model")
	}
	msg := c.Body
	if err := checkObject("vertex", msg); err != nil {
		return nil, nil, err
	}
	betas := filterBetas("vertex", headerBetas(c.Header), c)
	msg, err := body.Set(msg, "anthropic_version", vertexAnthropicVersion)
	if err != nil {
		return nil, nil, fmt.Errorf("vertex: set anthropic_version: %w", err)
	}
	model, method := c.Model, "rawPredict"
	if c.Op == OpCountTokens {
		model = "count-tokens"
		if msg, err = body.Set(msg, "model", c.Model); err != nil {
			return nil, nil, fmt.Errorf("vertex: set model: %w", err)
		}
	} else {
		if msg, err = body.DeleteTopLevel(msg, "model"); err != nil {
			return nil, nil, fmt.Errorf("vertex: remove model: %w", err)
		}
		if c.Stream {
			method = "streamRawPredict"
		}
	}

	req, err := newPost(ctx, v.modelURL(model, method), c.Header, msg)
	if err != nil {
		return nil, nil, fmt.Errorf("vertex: %w", err)
	}
	req.Header.Del("X-Api-Key")
	req.Header.Del("Authorization")
	req.Header.Del("Anthropic-Beta")
	if len(betas) > 0 {
		req.Header.Set("Anthropic-Beta", strings.Join(betas, ","))
	}
	return req, msg, nil
}

// modelURL builds /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:{method}.
func (v *vertex) modelURL(model, method string) string {
	seg := []string{"v1", "projects", v.project, "locations", v.region, "publishers", "anthropic", "models", model + ":" + method}
	raw := make([]string, len(seg))
	for i, s := range seg {
		raw[i] = url.PathEscape(s)
	}
	raw[len(raw)-1] = url.PathEscape(model) + ":" + method
	u := *v.base
	u.Path = v.base.Path + "/" + strings.Join(seg, "/")
	u.RawPath = v.base.EscapedPath() + "/" + strings.Join(raw, "/")
	return u.String()
}

// Response implements Adapter: success passes through (Vertex streams Anthropic SSE); errors
// in Google's shape become Anthropic errors, while Anthropic-shaped ones pass through.
func (v *vertex) Response(_ *Call, resp *http.Response) (*http.Response, error) {
	if resp.StatusCode < 400 {
		return resp, nil
	}
	body, err := readSmallBody(resp)
	if err != nil {
		return nil, fmt.Errorf("vertex: %w", err)
	}
	if apierr.IsAnthropicShaped(body) {
		setBody(resp, body)
		return resp, nil
	}
	status, typ, msg := mapGoogleError(resp.StatusCode, body)
	setError(resp, status, typ, msg, gjson.GetBytes(body, "request_id").String())
	return resp, nil
}

// googleStatuses maps Google's canonical error status to what the client sees (wire.md B.3).
var googleStatuses = map[string]anthropicError{
	"RESOURCE_EXHAUSTED":  {429, apierr.RateLimit},
	"UNAUTHENTICATED":     {401, apierr.Authentication},
	"PERMISSION_DENIED":   {403, apierr.Permission},
	"NOT_FOUND":           {404, apierr.NotFound},
	"INVALID_ARGUMENT":    {400, apierr.InvalidRequest},
	"FAILED_PRECONDITION": {400, apierr.InvalidRequest},
	"OUT_OF_RANGE":        {400, apierr.InvalidRequest},
	"UNAVAILABLE":         {529, apierr.Overloaded},
	"INTERNAL":            {500, apierr.API},
	"UNKNOWN":             {500, apierr.API},
	"DEADLINE_EXCEEDED":   {504, apierr.Timeout},
}

// mapGoogleError returns the status, Anthropic type and message of a Google error body:
// {"error":{"code","message","status"}}, possibly wrapped in a JSON array.
func mapGoogleError(status int, body []byte) (int, string, string) {
	e := gjson.ParseBytes(body)
	if e.IsArray() {
		e = e.Get("0")
	}
	e = e.Get("error")
	msg := e.Get("message").String()
	if msg == "" && e.Type == gjson.String {
		msg = e.String()
	}
	if msg == "" {
		msg = strings.TrimSpace(string(body))
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if m, ok := googleStatuses[e.Get("status").String()]; ok {
		return m.status, m.typ, msg
	}
	if code := int(e.Get("code").Int()); code >= 400 && code < 600 {
		status = code
	}
	if status == http.StatusServiceUnavailable {
		return 529, apierr.Overloaded, msg
	}
	return status, apierr.TypeForStatus(status), msg
}
