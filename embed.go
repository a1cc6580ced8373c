// Package ccrelay holds the data files the ccrelay binary carries with it, so that an
// installed binary (go install) runs the conformance suite without a clone: the cassettes and
// the conformance cases' canonical requests.
package ccrelay

import "embed"

// Cassettes holds cassettes/<provider type>/<case>.yaml, their client request overrides
// (<case>.request.json) and cassettes/README.md.
//
//go:embed cassettes
var Cassettes embed.FS

// Requests holds fixtures/requests/<case>.json, the canonical client request of each case.
//
//go:embed fixtures/requests
var Requests embed.FS

// ClaudeCode holds fixtures/claude-code/<version>/: the requests real Claude Code versions sent
// through ccrelay (recorded by scripts/cc-versions), replayed as the cc-<version>-<scenario>
// conformance cases.
//
//go:embed fixtures/claude-code
var ClaudeCode embed.FS
