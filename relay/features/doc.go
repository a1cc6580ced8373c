// Package features knows which Messages API features each provider type supports, finds the
// features a request uses, and adapts the request to the provider before it is forwarded.
//
// The feature matrix (matrix_data.go) is the single source of truth: provider type × feature →
// support (full, partial, none, unknown), default action (pass, strip, degrade, refuse), a note
// and the evidence. A provider's `features:` configuration overrides actions by feature name
// (ValidateOverrides checks it at load time). Render prints the matrix for the CLI and README.
//
// The relay calls, per upstream attempt:
//
//	u := features.Detect(body, r.Header.Values("anthropic-beta")) // one pass, no unmarshal
//	u.CountTokens = isCountTokensRoute
//	d := features.Decide(p.Type, p.Features, u)
//	d.ProviderName = p.Name
//	if r := d.Refusal(); r != nil { answer r.Status, r.Type, r.Message }
//	if u.CountTokens && d.Action(features.CountTokens) == features.Degrade {
//		answer {"input_tokens": features.Estimate(body)} with x-ccrelay-degraded: count_tokens=estimated
//	}
//	if d.NeedsInline() { body, err = inliner.Inline(ctx, body) } // err is a *Refusal
//	body, notes, err := features.Apply(body, d, features.MaxTokensCeiling(p.Type, upstreamModel))
//	send d.Betas as anthropic-beta (bedrock: the body's anthropic_beta), notes as x-ccrelay-degraded
//
// Detect, Apply, Estimate and Inline never unmarshal the body. They read it in one pass with a
// small allocation-free scanner (scan.go: it finds where each value starts and ends, which
// gjson's ForEach cannot do without unescaping every string it passes) and gjson for the few
// values they need; they edit it with sjson, so every byte that is not edited is forwarded
// unchanged.
package features
