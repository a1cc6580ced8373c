package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"gopkg.in/dnaeon/go-vcr.v2/cassette"
)

// derivedModel is the upstream model of derived cassettes, per provider type: a model id in
// each provider's documented form.
var derivedModel = map[string]string{
	"anthropic": "claude-sonnet-4-5-20250929",
	"zai":       "glm-4.6",
	"minimax":   "MiniMax-M2",
	"azure":     "claude-sonnet-4-5", // a deployment name (wire.md B.4)
	"bedrock":   "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
	"vertex":    "claude-sonnet-4-5@20250929",
	"ollama":    "scripted", // the project's scripted test model (shared/tools/ollama-local)
}

// docs names the documentation a derived cassette follows, per provider type.
var docs = map[string]string{
	"anthropic": "shared/spec/wire.md A (Messages API, SSE grammar A.1, errors A.2), B.1",
	"zai":       "shared/spec/wire.md B.5 (base https://api.z.ai/api/anthropic, x-api-key; Anthropic Messages format, behaviour beyond it undocumented)",
	"minimax":   "shared/spec/wire.md B.6 (base https://api.minimax.io/anthropic, Authorization: Bearer; Anthropic Messages format)",
	"azure":     "shared/spec/wire.md B.4 (https://{resource}.services.ai.azure.com/anthropic/v1/messages, x-api-key; body, SSE and errors are first-party Anthropic)",
	"bedrock":   "shared/spec/wire.md B.2 (InvokeModel: anthropic_version bedrock-2023-05-31, model in the path, event-stream frames, error table)",
	"vertex":    "shared/spec/wire.md B.3 (rawPredict/streamRawPredict: anthropic_version vertex-2023-10-16, plain SSE, Google error shape)",
	"ollama":    "shared/spec/wire.md B.7 (Ollama v0.14+: POST /v1/messages; a failed stream just ends)",
}

// fixture loads a real-traffic file.
func fixture(src string) (*relaytest.Interaction, error) {
	return relaytest.Load(filepath.Join("..", "fixtures", "real-traffic", src))
}

// identity returns a recording's response body without content encoding.
func identity(ix *relaytest.Interaction) ([]byte, bool) {
	for k, v := range ix.Response.Headers {
		if strings.EqualFold(k, "Content-Encoding") && len(v) > 0 && strings.EqualFold(v[0], "gzip") {
			return ix.Response.Decoded, true
		}
	}
	return ix.Response.Body, false
}

// headerOf converts recorded headers, leaving out the hop-by-hop and length headers and
// anything a scrub removes.
func headerOf(in map[string][]string, drop ...string) http.Header {
	skip := append([]string{"Content-Length", "Transfer-Encoding", "Connection", "Host", "Accept-Encoding",
		"Content-Encoding", "Cookie", "Set-Cookie", "Anthropic-Organization-Id"}, drop...)
	h := http.Header{}
	for k, vs := range in {
		ck := http.CanonicalHeaderKey(k)
		if slices.Contains(skip, ck) {
			continue
		}
		for _, v := range vs {
			h.Add(ck, v)
		}
	}
	return h
}

// fromRealTraffic converts a public recording into a cassette, with the client request that
// makes the relay send the recorded request.
func fromRealTraffic(p string, c *Case, src string) (made, error) {
	rec, err := fixture(src)
	if err != nil {
		return made{}, err
	}
	if rec.Request.URL == "" {
		return made{}, fmt.Errorf("%s has no request url", src)
	}
	body, gz := identity(rec)
	ix := &cassette.Interaction{
		Request: cassette.Request{
			Method:  rec.Request.Method,
			URL:     rec.Request.URL,
			Headers: headerOf(rec.Request.Headers),
			Body:    rec.Request.Body,
		},
		Response: cassette.Response{
			Code:    rec.Response.Status,
			Status:  fmt.Sprintf("%d %s", rec.Response.Status, http.StatusText(rec.Response.Status)),
			Headers: headerOf(rec.Response.Headers),
			Body:    string(body),
		},
	}
	client, err := clientFrom(p, c, rec.Request, "fixtures/real-traffic/"+src)
	if err != nil {
		return made{}, err
	}
	prov := Provenance{Kind: ProvenanceRealTraffic, Source: "fixtures/real-traffic/" + src, Upstream: rec.Source,
		Notes: slices.Clone(rec.Notes)}
	if gz {
		prov.Notes = append(prov.Notes, "the response was gzip-encoded on the wire; the cassette holds the decoded body (the relay never asks for compression)")
	}
	m := made{prov: prov, ix: ix}
	return withClient(m, c, client)
}

// withClient keeps an override only when it differs from the canonical request, and says in
// the provenance which client request the cassette is replayed with.
func withClient(m made, c *Case, client *ClientRequest) (made, error) {
	canon, err := canonical(c.Name)
	if err != nil {
		return made{}, err
	}
	if sameRequest(canon, client) {
		m.prov.ClientRequest = c.requestFile() + canonicalLabel(c)
		return m, nil
	}
	m.client = client
	m.prov.ClientRequest = c.Name + overrideSuffix + ", derived from " + client.DerivedFrom
	return m, nil
}

// sameRequest compares two client requests semantically.
func sameRequest(a, b *ClientRequest) bool {
	av, err1 := decodeJSON(a.Body)
	bv, err2 := decodeJSON(b.Body)
	if err1 != nil || err2 != nil || a.Path != b.Path {
		return false
	}
	eq := func(x, y any) bool { return fmt.Sprint(x) == fmt.Sprint(y) }
	return eq(av, bv) && eq(a.header(), b.header())
}

// clientFrom derives the client request that makes the relay send a recorded upstream request
// (the rules are listed at the top of derive_test.go).
func clientFrom(p string, c *Case, rec relaytest.Request, source string) (*ClientRequest, error) {
	canon, err := canonical(c.Name)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rec.URL)
	if err != nil {
		return nil, err
	}
	body := []byte(rec.Body)
	rh := headerOf(rec.Headers)
	h := map[string][]string{"anthropic-version": {"2023-06-01"}, "content-type": {"application/json"}}
	path := "/v1/messages"
	var betas []string
	var rule string
	model := canon.Model()
	switch p {
	case "bedrock":
		rule = "the recorded Bedrock body without anthropic_version, anthropic_beta moved to the anthropic-beta header, model added (and stream for invoke-with-response-stream)"
		if strings.HasSuffix(u.Path, "/count-tokens") {
			inner, err := base64.StdEncoding.DecodeString(gjson.GetBytes(body, "input.invokeModel.body").String())
			if err != nil {
				return nil, fmt.Errorf("%s: count-tokens body: %w", source, err)
			}
			body, path = inner, "/v1/messages/count_tokens"
		}
		for _, b := range gjson.GetBytes(body, "anthropic_beta").Array() {
			betas = append(betas, b.String())
		}
		if body, err = deleteKeys(body, "anthropic_version", "anthropic_beta"); err != nil {
			return nil, err
		}
		if c.KeepModel {
			model = bedrockModelOf(u)
		}
		if body, err = sjson.SetBytes(body, "model", model); err != nil {
			return nil, err
		}
		if strings.HasSuffix(u.Path, "/invoke-with-response-stream") {
			if body, err = sjson.SetBytes(body, "stream", true); err != nil {
				return nil, err
			}
		}
	case "vertex":
		rule = "the recorded Vertex body without anthropic_version, with model set"
		if strings.Contains(u.Path, "count-tokens:") {
			path = "/v1/messages/count_tokens"
		}
		if body, err = deleteKeys(body, "anthropic_version"); err != nil {
			return nil, err
		}
		if !c.KeepModel {
			if body, err = sjson.SetBytes(body, "model", model); err != nil {
				return nil, err
			}
		}
	default:
		rule = "the recorded body with model set to the case's client model; recorded anthropic-version and anthropic-beta headers"
		if strings.HasSuffix(u.Path, "/count_tokens") {
			path = "/v1/messages/count_tokens"
		}
		if v := rh.Get("Anthropic-Version"); v != "" {
			h["anthropic-version"] = []string{v}
		}
		if v := rh.Get("Anthropic-Beta"); v != "" {
			betas = append(betas, v)
		}
		if !c.KeepModel {
			if body, err = sjson.SetBytes(body, "model", model); err != nil {
				return nil, err
			}
		}
	}
	if len(betas) > 0 {
		h["anthropic-beta"] = []string{strings.Join(betas, ",")}
	}
	return &ClientRequest{
		Description: "The client request that makes the relay send the recorded upstream request of " + source + ".",
		Method:      "POST",
		Path:        path,
		Headers:     h,
		Body:        body,
		DerivedFrom: source,
		Generator:   "conformance/derive_test.go clientFrom (" + p + "): " + rule,
	}, nil
}

// bedrockModelOf returns the model id of a Bedrock /model/{id}/ path.
func bedrockModelOf(u *url.URL) string {
	segs := strings.Split(u.EscapedPath(), "/")
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] == "model" {
			id, _ := url.PathUnescape(segs[i+1])
			return id
		}
	}
	return ""
}

// deleteKeys removes top-level keys with sjson (order of the rest kept).
func deleteKeys(body []byte, keys ...string) ([]byte, error) {
	for _, k := range keys {
		if !gjson.GetBytes(body, k).Exists() {
			continue
		}
		var err error
		if body, err = sjson.DeleteBytes(body, k); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// response is a derived answer before it is put in a cassette.
type response struct {
	status int
	header http.Header
	body   []byte
	source string // where the bytes come from
}

// standIn names the real answer used where a case has no recording of its own: a real answer
// of the same provider (or of Anthropic) to another prompt, of the same kind.
func standIn(p string, stream bool) string {
	switch {
	case p == "bedrock" && stream:
		return "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.simple_streaming.0.json"
	case p == "bedrock":
		return "bedrock/fantasy/bedrock-anthropic-claude-sonnet-4-5.simple.0.json"
	case p == "vertex" && stream:
		return "vertex/fantasy/vertex-claude-3-7-sonnet.simple_streaming.0.json"
	case p == "vertex":
		return "vertex/fantasy/vertex-claude-3-7-sonnet.simple.0.json"
	case stream:
		return "anthropic/fantasy/claude-sonnet-4.simple_streaming.0.json"
	}
	return "anthropic/fantasy/claude-sonnet-4.simple.0.json"
}

// recordedResponse reads a real-traffic response.
func recordedResponse(src string) (response, error) {
	rec, err := fixture(src)
	if err != nil {
		return response{}, err
	}
	body, _ := identity(rec)
	return response{status: rec.Response.Status, header: headerOf(rec.Response.Headers), body: body, source: "fixtures/real-traffic/" + src}, nil
}

// derive makes a cassette from a provider's documentation: the upstream request a correct
// relay sends for the client request, and an answer in the provider's documented form, whose
// bytes come from a real recording wherever one exists.
func derive(p string, c *Case, canon *ClientRequest) (made, error) {
	client := canon
	var resp response
	var notes []string
	var err error
	source := docs[p]
	switch c.Name {
	case "error-unknown-model", "error-invalid-request", "error-rate-limited":
		client, resp, notes, err = deriveError(p, c, canon)
	case "error-midstream":
		resp, notes, err = deriveMidstream(p)
	case "error-billing", "error-vendor-type", "stream-missing-usage", "stream-zero-start-usage", "tool-input-not-object":
		resp, source, notes, err = deriveDialect(p, c.Name)
	default:
		if c.Recording != "" && canon.isCount() {
			resp, err = recordedResponse(realTraffic["anthropic/count-tokens"])
			notes = append(notes, "response bytes: a real Anthropic count_tokens answer to another request ("+resp.source+"), standing in: no provider's answer to this recorded Claude Code request exists; it proves the relay's handling, not the provider's support")
			break
		}
		// Top-level cache_control (the first-party API's automatic caching) is not in the
		// documented Bedrock and Vertex fields: their derived cache-control cassettes keep the
		// canonical, block-level request.
		firstParty := c.Name == "cache-control" && (p == "bedrock" || p == "vertex")
		if src, ok := realTraffic["anthropic/"+c.Name]; ok && p != "anthropic" && !firstParty {
			rec, err := fixture(src)
			if err != nil {
				return made{}, err
			}
			if client, err = clientFrom("anthropic", c, rec.Request, "fixtures/real-traffic/"+src); err != nil {
				return made{}, err
			}
			if resp, err = recordedResponse(src); err != nil {
				return made{}, err
			}
			notes = append(notes, "response bytes: a real Anthropic answer to this request ("+resp.source+"), since "+p+" documents the Anthropic Messages format; not a recording of "+p)
		} else {
			src := standIn(p, canon.Stream())
			resp, err = recordedResponse(src)
			notes = append(notes, "response bytes: a real answer to another prompt ("+resp.source+"), standing in: no recording of this case exists; it proves the relay's handling, not the provider's support")
		}
	}
	if err != nil {
		return made{}, err
	}
	model := derivedModel[p]
	if c.KeepModel {
		model = client.Model()
	}
	if client.isCount() && p == "bedrock" {
		model = strings.TrimPrefix(model, "us.")
	}
	req, err := upstreamRequest(p, client, model)
	if err != nil {
		return made{}, err
	}
	if resp, err = convertResponse(p, client, resp); err != nil {
		return made{}, err
	}
	ix := &cassette.Interaction{
		Request: req,
		Response: cassette.Response{
			Code: resp.status, Status: fmt.Sprintf("%d %s", resp.status, http.StatusText(resp.status)),
			Headers: resp.header, Body: string(resp.body),
		},
	}
	m := made{prov: Provenance{Kind: ProvenanceDerived, Source: source,
		Notes: append([]string{"request: what the documentation says a correct relay sends for the client request (not a recording)"}, notes...)}, ix: ix}
	if client == canon {
		m.prov.ClientRequest = c.requestFile() + canonicalLabel(c)
		return m, nil
	}
	return withClient(m, c, client)
}

// Documented top-level fields (wire.md B.2 and the AWS InvokeModel parameter list; B.3 and
// Anthropic's Vertex AI page): anything else is left out of a derived upstream body.
var (
	bedrockFields = []string{"anthropic_version", "anthropic_beta", "max_tokens", "messages", "system", "stop_sequences",
		"temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "metadata", "output_config"}
	vertexFields = []string{"anthropic_version", "model", "max_tokens", "messages", "system", "stream", "stop_sequences",
		"temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "metadata", "output_config", "context_management"}
)

// upstreamRequest is the documented upstream request for a client request.
func upstreamRequest(p string, client *ClientRequest, model string) (cassette.Request, error) {
	h := http.Header{"Content-Type": {"application/json"}}
	body := client.Body
	var err error
	cut := func(allowed []string) {
		for _, k := range topKeys(body) {
			if !slices.Contains(allowed, k) && err == nil {
				body, err = deleteKeys(body, k)
			}
		}
	}
	// A max_tokens above the model's ceiling is clamped when the matrix says degrade.
	clamp := func() {
		if features.Lookup(p, features.MaxTokens).Action != features.Degrade {
			return
		}
		if ceil := features.MaxTokensCeiling(p, model); ceil > 0 && gjson.GetBytes(body, "max_tokens").Int() > int64(ceil) && err == nil {
			body, err = sjson.SetBytes(body, "max_tokens", ceil)
		}
	}
	var u string
	switch p {
	case "bedrock":
		keep, _ := features.FilterBetas(p, client.betas())
		body, err = deleteKeys(body, "model", "stream")
		cut(bedrockFields)
		clamp()
		if err == nil {
			body, err = sjson.SetBytes(body, "anthropic_version", "bedrock-2023-05-31")
		}
		if err == nil && len(keep) > 0 {
			body, err = sjson.SetBytes(body, "anthropic_beta", keep)
		}
		action := "invoke"
		switch {
		case client.isCount():
			action = "count-tokens"
			// Bedrock validates the wrapped body as a Messages request, where max_tokens is
			// required; Claude Code's count_tokens bodies have none (fixtures/claude-code).
			if !gjson.GetBytes(body, "max_tokens").Exists() && err == nil {
				body, err = sjson.SetBytes(body, "max_tokens", 1)
			}
			body = []byte(`{"input":{"invokeModel":{"body":"` + base64.StdEncoding.EncodeToString(body) + `"}}}`)
		case client.Stream():
			action = "invoke-with-response-stream"
		}
		u = "https://bedrock-runtime.us-east-1.amazonaws.com/model/" + strings.ReplaceAll(url.PathEscape(model), ":", "%3A") + "/" + action
		h.Set("Authorization", redacted)
	case "vertex":
		keep, _ := features.FilterBetas(p, client.betas())
		cut(vertexFields)
		clamp()
		if err == nil {
			body, err = sjson.SetBytes(body, "anthropic_version", "vertex-2023-10-16")
		}
		target, method := model, "rawPredict"
		switch {
		case client.isCount():
			target = "count-tokens"
			if err == nil {
				body, err = sjson.SetBytes(body, "model", model)
			}
		default:
			if err == nil {
				body, err = deleteKeys(body, "model")
			}
			if client.Stream() {
				method = "streamRawPredict"
			}
		}
		u = "https://us-east5-aiplatform.googleapis.com/v1/projects/" + placeholderProject + "/locations/us-east5/publishers/anthropic/models/" + target + ":" + method
		h.Set("Authorization", redacted)
		if len(keep) > 0 {
			h.Set("Anthropic-Beta", strings.Join(keep, ","))
		}
	default:
		base := map[string]string{
			"anthropic": "https://api.anthropic.com",
			"zai":       "https://api.z.ai/api/anthropic",
			"minimax":   "https://api.minimax.io/anthropic",
			"azure":     "https://" + placeholderResource + ".services.ai.azure.com/anthropic",
			"ollama":    "http://localhost:11434",
		}[p]
		u = base + strings.SplitN(client.Path, "?", 2)[0]
		if model != client.Model() {
			body, err = sjson.SetBytes(body, "model", model)
		}
		clamp()
		ch := client.header()
		h.Set("Anthropic-Version", ch.Get("Anthropic-Version"))
		if b := client.betas(); len(b) > 0 {
			h.Set("Anthropic-Beta", strings.Join(b, ","))
		}
		if p == "minimax" {
			h.Set("Authorization", redacted)
		} else {
			h.Set("X-Api-Key", redacted)
		}
	}
	if err == nil {
		body, err = applyMatrix(p, client, body, model)
	}
	if err != nil {
		return cassette.Request{}, err
	}
	return cassette.Request{Method: "POST", URL: u, Headers: h, Body: string(body)}, nil
}

// applyMatrix makes a derived upstream body what a relay following the matrix sends: the
// fields of stripped features removed, and a MiniMax temperature outside (0, 1] clamped.
func applyMatrix(p string, client *ClientRequest, body []byte, model string) ([]byte, error) {
	inner := body
	if in := gjson.GetBytes(body, "input.invokeModel.body"); in.Type == gjson.String {
		raw, err := base64.StdEncoding.DecodeString(in.Str)
		if err != nil {
			return nil, err
		}
		inner = raw
	}
	pl := makePlan(features.Lookup, p, &ClientRequest{Path: client.Path, Headers: client.Headers, Body: inner}, model, nil)
	changed := false
	v, err := decodeJSON(inner)
	if err != nil {
		return nil, err
	}
	obj, _ := v.(map[string]any)
	for _, u := range pl.uses {
		switch {
		case u.f == features.AnthropicBeta || u.f == features.UnknownFields:
			// The Bedrock and Vertex field and beta lists above already did this.
		case u.cell.Action == features.Strip:
			neutralise(obj, u.f, pl.unknown)
			changed = true
		case u.f == features.Temperature && u.cell.Action == features.Degrade:
			obj["temperature"] = json.Number("0.01")
			if pl.usage.Temperature > 1 {
				obj["temperature"] = json.Number("1")
			}
			changed = true
		}
	}
	if !changed {
		return body, nil
	}
	out, err := json.Marshal(obj)
	if err != nil || len(inner) == len(body) {
		return out, err
	}
	return []byte(`{"input":{"invokeModel":{"body":"` + base64.StdEncoding.EncodeToString(out) + `"}}}`), nil
}

// topKeys lists the top-level keys of a JSON object in order.
func topKeys(body []byte) []string {
	var out []string
	gjson.ParseBytes(body).ForEach(func(k, _ gjson.Result) bool {
		out = append(out, k.String())
		return true
	})
	return out
}

// convertResponse puts an Anthropic-form answer in the provider's documented form: Bedrock
// streams become event-stream frames and count-tokens answers {"inputTokens":N} (B.2).
func convertResponse(p string, client *ClientRequest, r response) (response, error) {
	if p != "bedrock" || r.status != 200 {
		return r, nil
	}
	switch {
	case client.isCount():
		n := gjson.GetBytes(r.body, "input_tokens")
		if !n.Exists() {
			return r, nil
		}
		r.body = []byte(fmt.Sprintf(`{"inputTokens":%d}`, n.Int()))
		r.header = http.Header{"Content-Type": {"application/json"}}
	case mediaType(r.header.Get("Content-Type")) == "text/event-stream":
		frames, err := sseToFrames(r.body)
		if err != nil {
			return r, err
		}
		r.body = frames
		r.header = http.Header{"Content-Type": {"application/vnd.amazon.eventstream"}}
	}
	return r, nil
}

// sseToFrames wraps each SSE event (ping excepted: real Bedrock streams carry none) in a
// Bedrock chunk frame: {"bytes":"<base64 event JSON>","p":"<padding>"} (wire.md B.2).
func sseToFrames(sse []byte) ([]byte, error) {
	var out bytes.Buffer
	enc := eventstream.NewEncoder()
	const pad = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i, ev := range relaytest.SplitSSE(sse) {
		data := sseData(ev)
		if data == nil || gjson.GetBytes(data, "type").String() == "ping" {
			continue
		}
		payload := []byte(`{"bytes":"` + base64.StdEncoding.EncodeToString(data) + `","p":"` + pad[:1+(i*7)%len(pad)] + `"}`)
		if err := encodeFrame(enc, &out, "event", payload, map[string]string{":event-type": "chunk"}); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

// encodeFrame writes one event-stream frame.
func encodeFrame(enc *eventstream.Encoder, w *bytes.Buffer, messageType string, payload []byte, headers map[string]string) error {
	var hs eventstream.Headers
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		hs.Set(k, eventstream.StringValue(headers[k]))
	}
	hs.Set(":content-type", eventstream.StringValue("application/json"))
	hs.Set(":message-type", eventstream.StringValue(messageType))
	return enc.Encode(w, eventstream.Message{Headers: hs, Payload: payload})
}

// sseData returns the data of one raw SSE event (data lines joined), or nil.
func sseData(ev []byte) []byte {
	var parts []string
	for _, line := range strings.Split(strings.ReplaceAll(string(ev), "\r\n", "\n"), "\n") {
		if d, ok := strings.CutPrefix(line, "data:"); ok {
			parts = append(parts, strings.TrimPrefix(d, " "))
		}
	}
	if parts == nil {
		return nil
	}
	return []byte(strings.Join(parts, "\n"))
}

// canonicalLabel says what a case's own client request is, after its file name.
func canonicalLabel(c *Case) string {
	if c.Recording != "" {
		return " (as Claude Code sent it, credentials aside)"
	}
	return " (the canonical request)"
}
