package conformance

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/tidwall/gjson"
)

// use is one feature a request uses, with the matrix cell that decides it.
type use struct {
	f          features.Feature
	cell       features.Cell
	overridden bool
}

// plan is what the matrix says the relay must do with one request for one provider type.
type plan struct {
	usage features.Usage
	uses  []use
	// refuse lists the features the relay must refuse (400, no upstream call).
	refuse []features.Feature
	// estimate reports a count_tokens call the relay answers itself.
	estimate bool
	// neutral lists the features the relay strips or degrades: left out of request matching.
	neutral []features.Feature
	// dropBetas are the anthropic-beta values the provider's allowlist drops.
	dropBetas []string
	// unknown are the top-level keys the unknown_fields cell covers (unaccepted).
	unknown []string
}

// expectUpstream reports whether the relay must call the provider.
func (p *plan) expectUpstream() bool { return len(p.refuse) == 0 && !p.estimate }

// action returns the action the plan gives a used feature.
func (p *plan) action(f features.Feature) features.Action {
	for _, u := range p.uses {
		if u.f == f {
			return u.cell.Action
		}
	}
	return features.Pass
}

// blocking returns the features whose action keeps the request from the provider: forcing
// them to pass is how a probe measures the provider's own support.
func (p *plan) blocking() []features.Feature {
	out := slices.Clone(p.refuse)
	if p.estimate {
		out = append(out, features.CountTokens)
	}
	return out
}

// makePlan reads the matrix (and the overrides) for every feature req uses on the provider
// type: the features of the relay's own decision (features.Decide), where unknown_fields
// depends on the provider's field list.
func makePlan(lookup func(string, features.Feature) features.Cell, providerType string, req *ClientRequest, upstreamModel string, overrides map[string]string) plan {
	pl := plan{usage: features.Detect(req.Body, req.betas())}
	pl.usage.CountTokens = req.isCount()
	pl.unknown = unaccepted(providerType, req.Body, &pl.usage)
	d := features.Decide(providerType, overrides, pl.usage)
	for _, it := range d.Items {
		f := it.Feature
		cell := lookup(providerType, f)
		u := use{f: f, cell: cell}
		if a, ok := overrides[f.String()]; ok && f.Valid(features.Action(a)) {
			u.cell.Action, u.overridden = features.Action(a), true
		}
		if !applies(&pl, u, providerType, upstreamModel) {
			continue
		}
		pl.uses = append(pl.uses, u)
		switch u.cell.Action {
		case features.Refuse:
			pl.refuse = append(pl.refuse, f)
		case features.Degrade:
			if f == features.CountTokens {
				pl.estimate = true
			} else {
				pl.neutral = append(pl.neutral, f)
			}
		case features.Strip:
			pl.neutral = append(pl.neutral, f)
		}
	}
	return pl
}

// applies reports whether a used feature's cell has anything to do with this request: a
// max_tokens within the model's ceiling, betas all in the allowlist, or a temperature in
// range are not affected by their cells' strip or degrade actions.
func applies(pl *plan, u use, providerType, model string) bool {
	switch u.f {
	case features.MaxTokens:
		ceiling := features.MaxTokensCeiling(providerType, model)
		return ceiling > 0 && pl.usage.MaxTokens > int64(ceiling)
	case features.AnthropicBeta:
		if u.cell.Action != features.Strip {
			return true
		}
		_, pl.dropBetas = features.FilterBetas(providerType, pl.usage.Betas)
		return len(pl.dropBetas) > 0
	case features.Temperature:
		if u.cell.Action != features.Degrade {
			return true
		}
		t := pl.usage.Temperature
		return providerType == "minimax" && (t <= 0 || t > 1)
	}
	return true
}

// present lists the features that can still be seen in the body a provider adapter sends, so
// that "pass" can be checked there.
var present = []features.Feature{
	features.Tools, features.ToolChoiceAuto, features.ToolChoiceAny, features.ToolChoiceTool,
	features.ToolChoiceNone, features.ThinkingEnabled, features.ThinkingAdaptive, features.ThinkingBudget,
	features.CacheControl, features.ImageBase64, features.ImageURL, features.PDFBase64, features.PDFURL,
	features.DocumentText, features.StopSequences, features.Metadata, features.SystemMessages,
	features.ContextManagement, features.DeferLoading, features.Effort, features.TopK, features.TopP,
	features.Temperature,
}

// unaccepted lists the top-level keys of body the unknown_fields cell covers on a provider
// type: for a provider with a field list (features.FieldAllowlist), every key outside it, null
// or not; otherwise the keys outside the Messages API (u.UnknownFields).
func unaccepted(providerType string, body []byte, u *features.Usage) []string {
	fields := features.FieldAllowlist(providerType)
	if fields == nil {
		return u.UnknownFields
	}
	var out []string
	gjson.ParseBytes(body).ForEach(func(k, _ gjson.Result) bool {
		if !slices.Contains(fields, k.String()) {
			out = append(out, k.String())
		}
		return true
	})
	return out
}

// noted reports whether the x-ccrelay-degraded header notes f: a "feature=action" note named
// after f.
func noted(degraded string, f features.Feature) bool {
	for _, note := range strings.Split(degraded, ";") {
		k, _, _ := strings.Cut(strings.TrimSpace(note), "=")
		if k = strings.TrimSpace(k); k == f.String() {
			return true
		}
	}
	return false
}

// sentUsage detects the features in the last request the relay sent upstream (a Bedrock
// count-tokens body is decoded first), with the betas of its header and its anthropic_beta,
// and returns that body.
func sentUsage(sent []sentRequest) (features.Usage, []string, []byte, bool) {
	if len(sent) == 0 {
		return features.Usage{}, nil, nil, false
	}
	s := sent[len(sent)-1]
	body := s.Body
	if in := gjson.GetBytes(body, "input.invokeModel.body"); in.Type == gjson.String {
		if raw, err := base64.StdEncoding.DecodeString(in.Str); err == nil {
			body = raw
		}
	}
	betas := betaSet(s.Header)
	for _, b := range gjson.GetBytes(body, "anthropic_beta").Array() {
		betas = append(betas, b.String())
	}
	return features.Detect(body, betas), betas, body, true
}

// checkActions checks, after the relay called the provider, that every used feature got its
// cell's action: stripped features are absent upstream and noted, degraded ones noted, passed
// ones still present.
func checkActions(res *Result, pl *plan, ex *exchange) map[features.Feature]string {
	fails := map[features.Feature]string{}
	up, upBetas, upBody, ok := sentUsage(ex.sent)
	if !ok {
		return fails
	}
	degraded := ex.header.Get("X-Ccrelay-Degraded")
	for _, u := range pl.uses {
		var why string
		switch u.cell.Action {
		case features.Strip:
			switch {
			case u.f == features.AnthropicBeta:
				for _, b := range pl.dropBetas {
					if slices.Contains(upBetas, b) {
						why = fmt.Sprintf("anthropic-beta %s is not in %s's allowlist but went upstream", b, res.Provider)
						break
					}
				}
			case u.f != features.UnknownFields && up.Uses(u.f):
				why = fmt.Sprintf("the matrix strips %s, but it went upstream at %s", u.f, up.Path(u.f))
			case u.f == features.UnknownFields:
				if left := unaccepted(res.Provider, upBody, &up); len(left) > 0 {
					why = fmt.Sprintf("the matrix strips unknown fields, but %v went upstream", left)
				}
			}
			if why == "" && !noted(degraded, u.f) {
				why = fmt.Sprintf("%s was stripped without a note in x-ccrelay-degraded (got %q)", u.f, degraded)
			}
		case features.Degrade:
			if !noted(degraded, u.f) {
				why = fmt.Sprintf("the matrix degrades %s, but x-ccrelay-degraded does not say so (got %q)", u.f, degraded)
			}
		case features.Pass:
			if slices.Contains(present, u.f) && !up.Uses(u.f) {
				why = fmt.Sprintf("the matrix passes %s, but the relay did not send it upstream (x-ccrelay-degraded: %q)", u.f, degraded)
			}
		}
		if why != "" {
			fails[u.f] = why
		}
	}
	return fails
}

// observable lists the features observe can measure from an answer.
var observable = []features.Feature{
	features.Streaming, features.Tools, features.ToolChoiceAny, features.ToolChoiceTool, features.StopSequences,
	features.ThinkingEnabled, features.CountTokens, features.CacheControl, features.ImageBase64,
	features.ImageURL, features.PDFBase64,
}

// observe reads what a provider's answer shows about its support of f. It returns "" when
// the answer cannot show it.
func observe(f features.Feature, req *ClientRequest, ex *exchange) (features.Support, string) {
	if ex.err != nil {
		return "", ""
	}
	ok := ex.status == 200 && ex.msgErr == nil
	rejected := ex.status == 400 || ex.status == 404 || ex.status == 405 || ex.status == 422
	body := req.Body
	switch f {
	case features.Streaming:
		if ex.stream && ex.grammar == nil {
			return features.Full, "a valid event stream"
		}
	case features.Tools:
		if ok && firstBlock(ex, "tool_use") != nil {
			return features.Full, "the model called a tool"
		}
		if rejected {
			return features.None, fmt.Sprintf("%d: %s", ex.status, errorMessage(ex.body))
		}
	case features.ToolChoiceAny:
		if ok && firstBlock(ex, "tool_use") != nil {
			return features.Full, "a tool call was forced"
		}
		if ok {
			return features.None, "tool_choice any, but the model answered without a tool call"
		}
	case features.ToolChoiceTool:
		want := gjson.GetBytes(body, "tool_choice.name").String()
		if b := firstBlock(ex, "tool_use"); ok && b != nil {
			if b.Name == want {
				return features.Full, "the named tool " + want + " was called"
			}
			return features.None, fmt.Sprintf("tool_choice named %s, but the model called %s", want, b.Name)
		}
		if ok {
			return features.None, "tool_choice named " + want + ", but the model called no tool"
		}
	case features.StopSequences:
		if !ok {
			break
		}
		seqs := gjson.GetBytes(body, "stop_sequences").Array()
		if ex.msg.StopReason == "stop_sequence" {
			for _, s := range seqs {
				if s.String() == ex.msg.StopSequence {
					return features.Full, "stop_reason stop_sequence, stop_sequence " + ex.msg.StopSequence
				}
			}
			return features.Partial, fmt.Sprintf("stop_reason stop_sequence, but stop_sequence is %q", ex.msg.StopSequence)
		}
		text := allText(ex)
		for _, s := range seqs {
			if strings.Contains(text, s.String()) {
				return features.None, "the answer runs past the stop sequence " + s.String()
			}
		}
		return features.Partial, "the answer stopped, but stop_reason is " + ex.msg.StopReason
	case features.ThinkingEnabled:
		if rejected {
			return features.None, fmt.Sprintf("%d: %s", ex.status, errorMessage(ex.body))
		}
		if !ok {
			break
		}
		b := firstBlock(ex, "thinking")
		switch {
		case b == nil:
			return features.None, "no thinking block"
		case b.Signature == "":
			return features.Partial, "a thinking block without a signature"
		}
		return features.Full, "a thinking block with its signature"
	case features.CountTokens:
		if ex.status == 200 && gjson.GetBytes(ex.body, "input_tokens").Type == gjson.Number {
			return features.Full, "input_tokens from the provider"
		}
		if ex.status == 404 || ex.status == 405 {
			return features.None, fmt.Sprintf("%d: %s", ex.status, errorMessage(ex.body))
		}
	case features.CacheControl:
		if ok && (ex.msg.Usage.CacheCreationInputTokens > 0 || ex.msg.Usage.CacheReadInputTokens > 0) {
			return features.Full, fmt.Sprintf("cache_creation_input_tokens %d, cache_read_input_tokens %d",
				ex.msg.Usage.CacheCreationInputTokens, ex.msg.Usage.CacheReadInputTokens)
		}
		if ok {
			return "", "accepted; no cache tokens reported (the prompt may be under the cacheable minimum)"
		}
	case features.ImageBase64, features.ImageURL, features.PDFBase64:
		if rejected {
			return features.None, fmt.Sprintf("%d: %s", ex.status, errorMessage(ex.body))
		}
		if ok {
			return "", "accepted; whether the model saw it is not observable"
		}
	}
	return "", ""
}

// firstBlock returns the first content block of a type in the answer, or nil.
func firstBlock(ex *exchange, typ string) *blockView {
	for _, b := range ex.msg.Content {
		if b.Type == typ {
			return &blockView{Name: b.Name, Signature: b.Signature}
		}
	}
	return nil
}

// blockView is the part of a block observations read.
type blockView struct{ Name, Signature string }

// allText concatenates the answer's text blocks.
func allText(ex *exchange) string {
	var b strings.Builder
	for _, c := range ex.msg.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// errorMessage returns an Anthropic error body's message, cut short.
func errorMessage(body []byte) string {
	m := gjson.GetBytes(body, "error.message").String()
	if m == "" {
		m = strings.TrimSpace(string(body))
	}
	return clip(m, 160)
}

// scoped lists the features whose "partial" means available for some models, regions or
// deployments only: one answer, full or none, cannot contradict it.
var scoped = []features.Feature{features.CountTokens, features.ImageBase64}

// agree compares declared and observed support and says what contradicts.
func agree(f features.Feature, declared, observed features.Support) (bool, string) {
	if observed == "" || declared == features.Unknown || declared == "" || declared == observed {
		return true, ""
	}
	if declared == features.Partial && slices.Contains(scoped, f) {
		return true, ""
	}
	return false, fmt.Sprintf("the matrix declares %s, the provider shows %s", declared, observed)
}

// matrixRows summarises a provider type's results per feature.
func matrixRows(opts *Options, providerType string, results []Result) []MatrixRow {
	byFeature := map[string]*MatrixRow{}
	var order []string
	for _, r := range results {
		for _, o := range r.Matrix {
			row, ok := byFeature[o.Feature]
			if !ok {
				f, _ := features.ParseFeature(o.Feature)
				cell := opts.lookup(providerType, f)
				row = &MatrixRow{Feature: o.Feature, Declared: o.Declared, Action: o.Action, Verdict: verdictUnverified, Evidence: cell.Evidence}
				byFeature[o.Feature] = row
				order = append(order, o.Feature)
			}
			row.Cases = append(row.Cases, r.Case)
			switch {
			case !o.OK:
				row.Verdict, row.Detail = verdictContradicted, r.Case+": "+o.Detail
			case row.Verdict == verdictContradicted:
			case o.Observed != "" && o.Declared == features.Unknown:
				row.Observed, row.Verdict = o.Observed, verdictUnknown
				row.Detail = fmt.Sprintf("%s (%s) observed %s: the matrix can say so", r.Case, r.Provenance.Kind, o.Observed)
			case o.Observed != "" && o.Evidence:
				row.Observed, row.Verdict = o.Observed, verdictAgrees
			case o.Action != features.Pass && row.Verdict == verdictUnverified:
				row.Verdict = verdictAgrees
			}
		}
	}
	out := make([]MatrixRow, 0, len(order))
	all := features.AllFeatures()
	slices.SortStableFunc(order, func(a, b string) int {
		fa, _ := features.ParseFeature(a)
		fb, _ := features.ParseFeature(b)
		return slices.Index(all, fa) - slices.Index(all, fb)
	})
	for _, name := range order {
		out = append(out, *byFeature[name])
	}
	return out
}
