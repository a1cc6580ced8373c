// Package features is the relay's feature policy: which Messages API features each provider
// type supports, and what to do with a request that uses one. It reads and edits no bytes
// itself: relay/body finds what a request holds and makes the edits the actions ask for.
//
// The feature matrix (matrix_data.go) is the single source of truth: provider type × feature →
// support (full, partial, none, unknown), default action (pass, strip, degrade, refuse), a note
// and the evidence. What a provider accepts is decided there, the anthropic-beta allowlists
// included (betas.go, applied by FilterBetas, the one filter), and the top-level keys Bedrock
// and Vertex accept (fields.go: every other key is the unknown_fields cell's, removed by
// Apply). A provider's `features:` configuration overrides actions by feature name
// (ValidateConfig checks every provider of a loaded configuration; whoever loads one calls
// it). Render prints the matrix for the CLI and README; the dialect table (dialect.go) says
// how each provider's errors become Anthropic's.
//
// The relay calls, per upstream attempt:
//
//	req := body.Read(...)                                  // validated, top level read (relay/body)
//	u := features.UsageOf(req, betas, row.NeedsDeep())     // the nested walk only when the row acts on it
//	u.CountTokens = isCountTokensRoute
//	d := row.Decide(&u)
//	d.ProviderName = p.Name
//	if r := d.Refusal(); r != nil { answer r.Status, r.Type, r.Message }
//	if u.CountTokens && d.Action(features.CountTokens) == features.Degrade {
//		answer {"input_tokens": estimate.Tokens(body)} with x-ccrelay-degraded: count_tokens=estimated
//	}
//	if d.NeedsInline() { body, err = fetcher.Inline(ctx, body) } // relay/fetch; err: FetchRefusal
//	body, notes, err := features.Apply(body, d, features.MaxTokensCeiling(p.Type, upstreamModel))
//	send d.Betas as anthropic-beta (bedrock: the body's anthropic_beta), notes as x-ccrelay-degraded
//
// Apply expresses each action as edits of relay/body (body.Edits), made in one copy of the body
// as sjson makes them, so every byte that is not edited is forwarded unchanged.
package features
