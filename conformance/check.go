package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/sse"
	"github.com/tidwall/gjson"
)

// validStops are the stop reasons of the Messages API (wire.md A.1).
var validStops = []string{"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded"}

// evaluate replays a case and records its checks: the relay's request against the recording,
// the client's answer against the case, and the matrix cells of the features it uses. A case
// the matrix keeps from the provider (refusal, local estimate) is checked for the relay's own
// answer; its cassette, when it has an interaction, is then replayed as a probe with those
// cells forced to pass, to measure the provider's own support.
func evaluate(ctx context.Context, opts *Options, res *Result, providerType string, c *Case, cf *cassetteFile, req *ClientRequest) {
	ix := firstInteraction(cf)
	up, err := replayProvider(providerType, ix)
	if err != nil {
		res.fail("cassette", err.Error())
		return
	}
	overrides := opts.configOverrides(providerType)
	pl := makePlan(opts.lookup, providerType, req, up.model, overrides)
	clientModel := req.Model()
	if c.KeepModel {
		clientModel = ""
	}

	ex := replay(ctx, opts, up, clientModel, overrides, cf, req, &pl)
	answer := ex
	if pl.expectUpstream() {
		checkUpstream(res, providerType, cf, ex, "")
		checkAnswer(res, providerType, c, req, ex)
	} else {
		checkRelayAnswer(res, &pl, ex)
		answer = nil
		if ix != nil {
			probe := make(map[string]string, len(overrides)+1)
			for k, v := range overrides {
				probe[k] = v
			}
			for _, f := range pl.blocking() {
				probe[f.String()] = string(features.Pass)
			}
			ppl := makePlan(opts.lookup, providerType, req, up.model, probe)
			answer = replay(ctx, opts, up, clientModel, probe, cf, req, &ppl)
			checkUpstream(res, providerType, cf, answer, "probe: ")
			checkShape(res, answer, "probe: ")
		}
	}
	recordMatrix(res, &pl, ex, answer, req, cf)
}

// replay runs one exchange against a fresh copy of the cassette.
func replay(ctx context.Context, opts *Options, up upstream, clientModel string, overrides map[string]string, cf *cassetteFile, req *ClientRequest, pl *plan) *exchange {
	g := newGate()
	m := &matcher{neutral: pl.neutral, unknown: pl.unknown}
	fresh := cf.fresh()
	if fresh != nil {
		fresh.c.Matcher = m.Match
	}
	tr := &replayTransport{cf: fresh, m: m, gate: g, creds: metadataStub{}}
	var rt http.RoundTripper = tr
	if opts.wrap != nil {
		rt = opts.wrap(rt)
	}
	cfg := replayConfig(up.cfg, clientModel, up.model, overrides)
	if opts.mutate != nil {
		opts.mutate(cfg)
	}
	ex := run(ctx, cfg, rt, g, req, hermeticGetenv)
	ex.sent, ex.used, ex.stalls = tr.requests(), tr.interactionUsed(), g.stalled()
	if !ex.used {
		ex.mismatch = m.lastMismatch()
	}
	return ex
}

// checkUpstream checks that the relay called the provider once, with the recorded request, the
// provider's own credential and never the client's.
func checkUpstream(res *Result, providerType string, cf *cassetteFile, ex *exchange, prefix string) {
	if ex.err != nil {
		res.fail(prefix+"relay", ex.err.Error())
		return
	}
	switch {
	case len(ex.sent) == 0:
		res.fail(prefix+"upstream request", fmt.Sprintf("the relay answered %d without calling the provider: %s", ex.status, errorMessage(ex.body)))
		return
	case !ex.used && ex.mismatch != "":
		res.fail(prefix+"upstream request", fmt.Sprintf("does not match cassettes/%s: %s", cf.name, ex.mismatch))
		return
	case !ex.used:
		res.fail(prefix+"upstream request", fmt.Sprintf("the relay's request was not served by cassettes/%s", cf.name))
		return
	case len(ex.sent) > 1:
		res.fail(prefix+"upstream request", fmt.Sprintf("the relay sent %d requests upstream, want 1", len(ex.sent)))
		return
	}
	res.check(prefix+"upstream request", true, "matches cassettes/"+cf.name)
	s := ex.sent[0]
	for k, vs := range s.Header {
		for _, v := range vs {
			if strings.Contains(v, clientKey) {
				res.fail(prefix+"credentials", "the client's key went upstream in "+k)
				return
			}
		}
	}
	if why := checkAuth(providerType, s); why != "" {
		res.fail(prefix+"credentials", why)
		return
	}
	res.check(prefix+"credentials", true, "provider credential only")
}

// checkAuth checks the upstream credential of a provider type's replay.
func checkAuth(providerType string, s sentRequest) string {
	h := s.Header
	switch providerType {
	case config.TypeBedrock:
		a := h.Get("Authorization")
		if !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential="+awsKeyID+"/") || !strings.Contains(a, "/bedrock/aws4_request") {
			return fmt.Sprintf("want a SigV4 signature for service bedrock with the test key, got Authorization %q", clip(a, 80))
		}
		if h.Get("X-Amz-Date") == "" {
			return "SigV4 request without X-Amz-Date"
		}
	case config.TypeVertex:
		if h.Get("Authorization") != "Bearer "+googleToken {
			return "want Authorization: Bearer <Google access token>"
		}
	case config.TypeMiniMax:
		if h.Get("Authorization") != "Bearer "+providerKey {
			return "want Authorization: Bearer <key> (wire.md B.6)"
		}
	default:
		if h.Get("X-Api-Key") != providerKey {
			return "want x-api-key: <key>"
		}
	}
	return ""
}

// checkAnswer checks what the client received against the case.
func checkAnswer(res *Result, providerType string, c *Case, req *ClientRequest, ex *exchange) {
	if ex.err != nil {
		return // reported by checkUpstream
	}
	switch c.Kind {
	case KindMessage:
		checkMessage(res, c, req, ex)
	case KindCount:
		checkCount(res, ex, "")
	case KindError:
		w := c.errorWant(providerType)
		checkError(res, ex, w.Status, w.Type, "")
		if w.Status == http.StatusTooManyRequests {
			res.check("retry-after", ex.header.Get("Retry-After") != "", "a 429 tells the client when to retry: "+ex.header.Get("Retry-After"))
		}
		if c.Dialect {
			checkNormalized(res, providerType, w, ex)
		}
	case KindStreamError:
		checkStreamError(res, ex)
	}
	if len(c.Repairs) > 0 {
		checkRepairs(res, c.Repairs, ex)
	}
}

// degradedNotes returns the notes of x-ccrelay-degraded, header and trailer together.
func degradedNotes(ex *exchange) []string {
	var out []string
	for _, h := range []http.Header{ex.header, ex.trailer} {
		for _, v := range h.Values("X-Ccrelay-Degraded") {
			for _, n := range strings.Split(v, ";") {
				if n = strings.TrimSpace(n); n != "" && !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// normalizedNote is the prefix of the note that announces a rewritten upstream error.
const normalizedNote = "error=normalized:"

// checkNormalized checks the announcement of a dialect error: "error=normalized:RULE" in
// x-ccrelay-degraded when the relay rewrote the provider's answer, and a message that names the
// provider type; no such note when the answer was Anthropic's own and passed unchanged.
func checkNormalized(res *Result, providerType string, w ErrorWant, ex *exchange) {
	if ex.err != nil {
		return
	}
	var rule string
	for _, n := range degradedNotes(ex) {
		if r, ok := strings.CutPrefix(n, normalizedNote); ok {
			rule = r
		}
	}
	msg := gjson.GetBytes(ex.body, "error.message").String()
	switch {
	case w.Normalized && rule == "":
		res.fail("normalized", fmt.Sprintf("the provider's answer is not Anthropic's, but x-ccrelay-degraded %q has no %sRULE note", ex.header.Get("X-Ccrelay-Degraded"), normalizedNote))
	case w.Normalized && !strings.Contains(msg, providerType):
		res.fail("normalized", fmt.Sprintf("the message %q does not name the provider type %s", clip(msg, 160), providerType))
	case w.Normalized:
		res.check("normalized", true, normalizedNote+rule+" ("+w.Evidence+")")
	case rule != "":
		res.fail("normalized", fmt.Sprintf("an Anthropic error should pass unchanged, but x-ccrelay-degraded says %s%s", normalizedNote, rule))
	default:
		res.check("normalized", true, "passed unchanged ("+w.Evidence+")")
	}
}

// checkRepairs checks that the relay announced each stream repair the case expects, in the
// X-Ccrelay-Degraded trailer of a stream (the header of an answer that is not streamed).
func checkRepairs(res *Result, want []string, ex *exchange) {
	if ex.err != nil {
		return
	}
	got := degradedNotes(ex)
	var missing []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	where := "header"
	if ex.stream {
		where = "trailer"
	}
	if len(missing) > 0 {
		res.fail("repairs announced", fmt.Sprintf("x-ccrelay-degraded (%s) lacks %s; it says %q", where, strings.Join(missing, ", "), strings.Join(got, "; ")))
		return
	}
	res.check("repairs announced", true, "x-ccrelay-degraded "+where+": "+strings.Join(want, "; "))
}

// checkMessage checks a 200 message answer.
func checkMessage(res *Result, c *Case, req *ClientRequest, ex *exchange) {
	if ex.status != http.StatusOK {
		res.fail("status", fmt.Sprintf("%d, want 200: %s", ex.status, errorMessage(ex.body)))
		return
	}
	res.check("status", true, "200")
	if req.Stream() != ex.stream {
		res.fail("stream", fmt.Sprintf("request stream=%v, response content-type %q", req.Stream(), ex.header.Get("Content-Type")))
		return
	}
	if ex.stream {
		switch {
		case ex.grammar != nil:
			res.fail("sse grammar", ex.grammar.Error())
		case len(ex.events) == 0:
			res.fail("sse grammar", "no events")
		case ex.events[len(ex.events)-1].Name != "message_stop":
			res.fail("sse grammar", fmt.Sprintf("the stream %s: %s", lastEvent(ex), clip(string(ex.events[len(ex.events)-1].Data), 200)))
		default:
			res.check("sse grammar", true, fmt.Sprintf("%d events, %s", len(ex.events), lastEvent(ex)))
		}
		if len(ex.stalls) > 0 {
			res.fail("streamed", fmt.Sprintf("the relay asked for upstream chunks %v before the client had the events before them: the stream is buffered", ex.stalls))
		} else {
			res.check("streamed", true, "each event reached the client before the next was read upstream")
		}
		checkMessageDelta(res, ex)
	}
	if ex.msgErr != nil {
		res.fail("message", ex.msgErr.Error())
		return
	}
	m := ex.msg
	var why []string
	if m.Role != "assistant" || m.ID == "" {
		why = append(why, fmt.Sprintf("role %q id %q", m.Role, m.ID))
	}
	if !slices.Contains(validStops, m.StopReason) {
		why = append(why, fmt.Sprintf("stop_reason %q is not a Messages API stop reason", m.StopReason))
	} else if len(c.Stop) > 0 && !slices.Contains(c.Stop, m.StopReason) {
		why = append(why, fmt.Sprintf("stop_reason %s, want %s", m.StopReason, strings.Join(c.Stop, " or ")))
	}
	offered := toolNames(req)
	types := make([]string, 0, len(m.Content))
	for i, b := range m.Content {
		types = append(types, b.Type)
		switch b.Type {
		case "tool_use":
			var in map[string]any
			if err := json.Unmarshal(b.Input, &in); err != nil {
				why = append(why, fmt.Sprintf("content[%d] tool_use input %s is not a JSON object", i, clip(string(b.Input), 80)))
			}
			if len(offered) > 0 && !slices.Contains(offered, b.Name) {
				why = append(why, fmt.Sprintf("content[%d] calls %q, which the request did not offer", i, b.Name))
			}
		case "thinking":
			if b.Thinking == "" {
				why = append(why, fmt.Sprintf("content[%d] thinking block is empty", i))
			}
		}
	}
	for _, want := range c.Blocks {
		if !slices.Contains(types, want) {
			why = append(why, fmt.Sprintf("no %s block (got %v)", want, types))
		}
	}
	if slices.Contains(c.Blocks, "text") && strings.TrimSpace(allText(ex)) == "" {
		why = append(why, "the text is empty")
	}
	if m.Usage.OutputTokens <= 0 {
		why = append(why, fmt.Sprintf("usage.output_tokens %d", m.Usage.OutputTokens))
	}
	if c.DeltaInput && m.Usage.InputTokens <= 0 {
		why = append(why, fmt.Sprintf("usage.input_tokens %d: the input count the provider sent in message_delta did not reach the client", m.Usage.InputTokens))
	}
	if len(why) > 0 {
		res.fail("message", strings.Join(why, "; "))
		return
	}
	res.check("message", true, fmt.Sprintf("%v, stop_reason %s, output_tokens %d", types, m.StopReason, m.Usage.OutputTokens))
}

// checkMessageDelta checks the message_delta a client receives: a usage object with an integer
// output_tokens (the npm SDK reads it unguarded) and one of the Messages API's stop reasons (the
// Go SDK hands an empty one on).
func checkMessageDelta(res *Result, ex *exchange) {
	for _, ev := range ex.events {
		if ev.Name != "message_delta" {
			continue
		}
		d := gjson.ParseBytes(ev.Data)
		out, sr := d.Get("usage.output_tokens"), d.Get("delta.stop_reason").String()
		switch {
		case !d.Get("usage").IsObject():
			res.fail("message_delta", "no usage object: "+clip(string(ev.Data), 160))
		case out.Type != gjson.Number || out.Float() != float64(out.Int()) || out.Int() < 0:
			res.fail("message_delta", "usage.output_tokens is not a count: "+clip(string(ev.Data), 160))
		case !slices.Contains(validStops, sr):
			res.fail("message_delta", fmt.Sprintf("stop_reason %q is not a Messages API stop reason", sr))
		default:
			res.check("message_delta", true, fmt.Sprintf("stop_reason %s, usage %s", sr, clip(d.Get("usage").Raw, 120)))
		}
		return
	}
}

// toolNames lists the names of the tools a request offers.
func toolNames(req *ClientRequest) []string {
	var out []string
	for _, t := range gjson.GetBytes(req.Body, "tools").Array() {
		out = append(out, t.Get("name").String())
	}
	return out
}

// lastEvent names a stream's last event.
func lastEvent(ex *exchange) string {
	if len(ex.events) == 0 {
		return "no event"
	}
	return "ends with " + ex.events[len(ex.events)-1].Name
}

// checkCount checks a count_tokens answer: 200 and an integer input_tokens.
func checkCount(res *Result, ex *exchange, prefix string) {
	n := gjson.GetBytes(ex.body, "input_tokens")
	if ex.status != http.StatusOK || n.Type != gjson.Number || n.Float() != float64(n.Int()) || n.Int() < 1 {
		res.fail(prefix+"count_tokens", fmt.Sprintf("%d %s, want 200 {\"input_tokens\": N}", ex.status, clip(string(ex.body), 200)))
		return
	}
	res.check(prefix+"count_tokens", true, fmt.Sprintf("input_tokens %d", n.Int()))
}

// checkError checks an error answer: status, Anthropic shape and type, request id.
func checkError(res *Result, ex *exchange, status int, typ, prefix string) {
	if ex.status != status {
		res.fail(prefix+"status", fmt.Sprintf("%d, want %d: %s", ex.status, status, clip(string(ex.body), 200)))
		return
	}
	res.check(prefix+"status", true, fmt.Sprint(status))
	b := gjson.ParseBytes(ex.body)
	switch {
	case mediaType(ex.header.Get("Content-Type")) != "application/json":
		res.fail(prefix+"error shape", "content-type "+ex.header.Get("Content-Type"))
	case b.Get("type").String() != "error" || b.Get("error.message").String() == "":
		res.fail(prefix+"error shape", "not {\"type\":\"error\",\"error\":{\"type\",\"message\"}}: "+clip(string(ex.body), 200))
	case b.Get("error.type").String() != typ:
		res.fail(prefix+"error shape", fmt.Sprintf("error.type %s, want %s", b.Get("error.type").String(), typ))
	case ex.header.Get("Request-Id") == "":
		res.fail(prefix+"error shape", "no request-id header")
	default:
		res.check(prefix+"error shape", true, typ+": "+errorMessage(ex.body))
	}
}

// checkStreamError checks a 200 stream that ends with an Anthropic error event.
func checkStreamError(res *Result, ex *exchange) {
	if ex.status != http.StatusOK || !ex.stream {
		res.fail("status", fmt.Sprintf("%d %s, want 200 text/event-stream", ex.status, ex.header.Get("Content-Type")))
		return
	}
	res.check("status", true, "200 text/event-stream")
	if ex.grammar != nil {
		res.fail("sse grammar", ex.grammar.Error())
		return
	}
	last := ex.events[len(ex.events)-1]
	d := gjson.ParseBytes(last.Data)
	if last.Name != "error" || d.Get("type").String() != "error" || d.Get("error.type").String() == "" || d.Get("error.message").String() == "" {
		res.fail("error event", fmt.Sprintf("the stream ends with %s %s, want an Anthropic error event", last.Name, clip(string(last.Data), 120)))
		return
	}
	for _, ev := range ex.events {
		if ev.Name == "message_stop" {
			res.fail("error event", "the stream has a message_stop before its error event")
			return
		}
	}
	if why := completedBadTool(ex.events); why != "" {
		res.fail("error event", why)
		return
	}
	res.check("sse grammar", true, fmt.Sprintf("%d events, no message_stop", len(ex.events)))
	res.check("error event", true, d.Get("error.type").String()+": "+clip(d.Get("error.message").String(), 120))
}

// completedBadTool reports a tool_use block (or server or MCP tool use) that reached the client
// whole, with its content_block_stop, although its input is not a JSON object.
func completedBadTool(events []sse.Event) string {
	type block struct {
		start string
		input strings.Builder
		delta bool
	}
	open := map[int64]*block{}
	for _, ev := range events {
		d := gjson.ParseBytes(ev.Data)
		idx := d.Get("index").Int()
		switch ev.Name {
		case "content_block_start":
			switch d.Get("content_block.type").String() {
			case "tool_use", "server_tool_use", "mcp_tool_use":
				open[idx] = &block{start: d.Get("content_block.input").Raw}
			}
		case "content_block_delta":
			if b := open[idx]; b != nil && d.Get("delta.type").String() == "input_json_delta" {
				b.input.WriteString(d.Get("delta.partial_json").String())
				b.delta = true
			}
		case "content_block_stop":
			b := open[idx]
			if b == nil {
				continue
			}
			in := b.start
			if b.delta {
				in = b.input.String()
			}
			if strings.TrimSpace(in) != "" && !gjson.Parse(in).IsObject() {
				return fmt.Sprintf("block %d, a tool call whose input %s is not a JSON object, reached the client whole", idx, clip(in, 80))
			}
			delete(open, idx)
		}
	}
	return ""
}

// checkShape checks that a probe's answer, whatever it is, reached the client in the
// Anthropic form.
func checkShape(res *Result, ex *exchange, prefix string) {
	switch {
	case ex.err != nil:
	case ex.stream:
		if ex.grammar != nil {
			res.fail(prefix+"sse grammar", ex.grammar.Error())
		} else {
			res.check(prefix+"sse grammar", true, fmt.Sprintf("%d events", len(ex.events)))
		}
	case ex.status == http.StatusOK && gjson.GetBytes(ex.body, "input_tokens").Exists():
		checkCount(res, ex, prefix)
	case ex.status == http.StatusOK:
		if ex.msgErr != nil {
			res.fail(prefix+"message", ex.msgErr.Error())
		} else {
			res.check(prefix+"message", true, "stop_reason "+ex.msg.StopReason)
		}
	default:
		checkError(res, ex, ex.status, gjson.GetBytes(ex.body, "error.type").String(), prefix)
		if gjson.GetBytes(ex.body, "error.type").String() == "" {
			res.fail(prefix+"error shape", "not an Anthropic error: "+clip(string(ex.body), 200))
		}
	}
}

// checkRelayAnswer checks the relay's own answer to a case the matrix keeps from the provider:
// a 400 naming the refused feature, or a local count_tokens estimate marked as such.
func checkRelayAnswer(res *Result, pl *plan, ex *exchange) {
	if ex.err != nil {
		res.fail("relay", ex.err.Error())
		return
	}
	if len(ex.sent) > 0 {
		what := "refuses " + joinFeatures(pl.refuse)
		if len(pl.refuse) == 0 {
			what = "answers count_tokens with a local estimate"
		}
		res.fail("matrix action", fmt.Sprintf("the matrix %s, but the relay called the provider (%d upstream request)", what, len(ex.sent)))
		return
	}
	if len(pl.refuse) > 0 {
		checkError(res, ex, http.StatusBadRequest, "invalid_request_error", "refusal ")
		return
	}
	checkCount(res, ex, "estimate ")
	if !noted(ex.header.Get("X-Ccrelay-Degraded"), features.CountTokens) {
		res.fail("estimate note", fmt.Sprintf("x-ccrelay-degraded %q does not say count_tokens was estimated", ex.header.Get("X-Ccrelay-Degraded")))
	}
}

// joinFeatures lists feature names.
func joinFeatures(fs []features.Feature) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = f.String()
	}
	return strings.Join(s, ", ")
}

// recordMatrix fills res.Matrix: for each used feature that matters (probed by the case, or
// with an action other than pass), whether the relay applied the cell's action and whether the
// provider's answer agrees with the declared support.
func recordMatrix(res *Result, pl *plan, ex, answer *exchange, req *ClientRequest, cf *cassetteFile) {
	actionFails := map[features.Feature]string{}
	switch {
	case pl.expectUpstream() && ex.err == nil && ex.used:
		actionFails = checkActions(res, pl, ex)
	case !pl.expectUpstream() && len(ex.sent) > 0:
		for _, f := range pl.blocking() {
			actionFails[f] = fmt.Sprintf("the matrix's action is %s, but the relay called the provider", pl.action(f))
		}
	}
	probed := caseProbes(res.Case)
	// An answer shows the provider's support of a feature only if the recorded request carried
	// it (a cassette made with the feature stripped says nothing about it).
	var recorded features.Usage
	if ix := firstInteraction(cf); ix != nil {
		recorded, _, _, _ = sentUsage([]sentRequest{{Header: ix.Request.Headers, Body: []byte(ix.Request.Body)}})
	}
	for _, u := range pl.uses {
		if !slices.Contains(probed, u.f) && u.cell.Action == features.Pass {
			continue
		}
		o := Observation{Feature: u.f.String(), Declared: u.cell.Support, Action: u.cell.Action,
			Overridden: u.overridden, Evidence: cf.prov.Evidence(), OK: true}
		if why, bad := actionFails[u.f]; bad {
			o.OK, o.Detail = false, why
		}
		switch {
		case answer == nil || !o.OK:
		case slices.Contains(present, u.f) && !recorded.Uses(u.f):
			o.Detail = "not measured: the recorded request did not carry it"
		default:
			o.Observed, o.Detail = observe(u.f, req, answer)
			if ok, why := agree(u.f, u.cell.Support, o.Observed); !ok {
				o.OK, o.Detail = false, why+" ("+o.Detail+")"
			}
		}
		res.Matrix = append(res.Matrix, o)
	}
}

// caseProbes returns the features a case probes.
func caseProbes(name string) []features.Feature {
	if c, ok := caseByName(name); ok {
		return c.Probes
	}
	return nil
}
