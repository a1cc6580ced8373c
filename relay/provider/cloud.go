package provider

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/tidwall/gjson"
)

// This file holds what the cloud providers share: the body checks of Bedrock and Vertex, and
// the environment and HTTP client of every credential helper. What Bedrock and Vertex accept
// is a fact of the feature matrix, applied before a body reaches them: the top-level keys
// (relay/features/fields.go) by features.Apply, and the anthropic-beta values
// (relay/features/betas.go) by its one filter, features.FilterBetas. The adapters only
// translate the body (model and stream into the URL, anthropic_version, Bedrock's
// anthropic_beta array).

// checkObject reports an error unless body is one JSON object; name prefixes it.
func checkObject(name string, body []byte) error {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return fmt.Errorf("%s: request body is not a JSON object", name)
	}
	return nil
}

// filterBetas keeps the client's beta values the provider type accepts, renamed where it
// spells them differently, in order and without duplicates: the feature matrix's one filter
// (features.FilterBetas). The values left out are noted as the matrix notes them:
// "anthropic_beta=stripped:N". The relay has filtered the header's values already (the matrix's
// anthropic_beta cell); what is left to drop here came in Bedrock's body anthropic_beta array.
func filterBetas(providerType string, betas []string, c *Call) []string {
	keep, dropped := features.FilterBetas(providerType, betas)
	if len(dropped) > 0 {
		addDegraded(c, "anthropic_beta=stripped:"+strconv.Itoa(len(dropped)))
	}
	return keep
}

// headerBetas returns the comma-separated values of every anthropic-beta header, trimmed,
// without empty or repeated ones.
func headerBetas(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Anthropic-Beta") {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" && !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
	}
	return out
}

// addDegraded appends a note to c.Degraded unless it is already there (a Call may be built
// into a request more than once).
func addDegraded(c *Call, note string) {
	if !slices.Contains(c.Degraded, note) {
		c.Degraded = append(c.Degraded, note)
	}
}

// getenvFunc returns env.Getenv, or os.Getenv when it is nil.
func getenvFunc(env Env) func(string) string {
	if env.Getenv != nil {
		return env.Getenv
	}
	return os.Getenv
}

// firstEnv returns the first non-empty value among the named variables.
func firstEnv(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// httpClient returns an http.Client that uses env.Transport (nil means the default transport).
func httpClient(env Env) *http.Client {
	if env.Transport == nil {
		return &http.Client{Transport: http.DefaultTransport}
	}
	return &http.Client{Transport: env.Transport}
}

// validHostLabel reports whether s may be used inside a host name (regions such as us-east-1).
func validHostLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
