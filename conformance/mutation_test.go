package conformance

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/tidwall/sjson"
)

// These tests break the relay, a cassette or the matrix on purpose and check that the suite
// notices: a conformance suite that cannot fail proves nothing.

// runOne replays one case for one provider type with opts' hooks.
func runOne(t *testing.T, opts Options, providerType, caseName string) Result {
	t.Helper()
	opts.Providers, opts.Case = []string{providerType}, caseName
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep.Providers[0].Results[0]
}

// mustFail checks that a result failed, with a failure mentioning want.
func mustFail(t *testing.T, r Result, want string) {
	t.Helper()
	if r.Status != Fail {
		t.Fatalf("%s/%s passed; want a failure mentioning %q", r.Provider, r.Case, want)
	}
	all := strings.Join(r.Failures(), "\n")
	if !strings.Contains(all, want) {
		t.Fatalf("%s/%s failed, but not with %q:\n%s", r.Provider, r.Case, want, all)
	}
}

// editBody returns a transport that edits every request body the relay sends upstream before
// the replay sees it: a stand-in for a regression in a provider adapter.
func editBody(edit func([]byte) []byte) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if isCredentialRequest(r) {
				return next.RoundTrip(r)
			}
			b, _ := io.ReadAll(r.Body)
			b = edit(b)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			return next.RoundTrip(r)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBrokenRelayFails(t *testing.T) {
	tests := []struct {
		name, provider, caseName, want string
		opts                           func(*Options)
	}{
		{"a relay that forgets model_mapping fails on anthropic", "anthropic", "text-basic", "body differs",
			func(o *Options) { o.mutate = func(c *config.Config) { c.Providers[0].ModelMapping = nil } }},
		{"a relay that maps to the wrong model fails on bedrock (model in the path)", "bedrock", "tool-use", "path /model/",
			func(o *Options) {
				o.mutate = func(c *config.Config) {
					for k := range c.Providers[0].ModelMapping {
						c.Providers[0].ModelMapping[k] = "anthropic.claude-3-haiku-20240307-v1:0"
					}
				}
			}},
		{"a relay that maps to the wrong model fails on vertex", "vertex", "text-stream", "path /v1/projects/",
			func(o *Options) {
				o.mutate = func(c *config.Config) {
					for k := range c.Providers[0].ModelMapping {
						c.Providers[0].ModelMapping[k] = "claude-3-5-haiku@20241022"
					}
				}
			}},
		{"a Bedrock adapter that does not add anthropic_version fails", "bedrock", "text-basic", `"anthropic_version"`,
			func(o *Options) {
				o.wrap = editBody(func(b []byte) []byte { b, _ = sjson.DeleteBytes(b, "anthropic_version"); return b })
			}},
		{"a Vertex adapter that keeps model in the body fails", "vertex", "tool-use", `"model"`,
			func(o *Options) {
				o.wrap = editBody(func(b []byte) []byte { b, _ = sjson.SetBytes(b, "model", "claude-3-7-sonnet@20250219"); return b })
			}},
		{"a Bedrock count-tokens body that loses a field inside the base64 fails", "bedrock", "count-tokens", "body differs",
			func(o *Options) {
				o.wrap = editBody(func(b []byte) []byte { return bytes.Replace(b, []byte(`"body":"`), []byte(`"body":"e30K`), 1) })
			}},
		{"a relay that drops a tool from the request fails", "anthropic", "tool-use-stream", "body differs",
			func(o *Options) {
				o.wrap = editBody(func(b []byte) []byte { b, _ = sjson.DeleteBytes(b, "tools"); return b })
			}},
		{"a relay that forwards the client's key fails", "zai", "text-basic", "client's key",
			func(o *Options) {
				o.wrap = func(next http.RoundTripper) http.RoundTripper {
					return roundTripFunc(func(r *http.Request) (*http.Response, error) {
						r.Header.Set("X-Forwarded-Api-Key", clientKey)
						return next.RoundTrip(r)
					})
				}
			}},
		{"a relay that sends MiniMax an x-api-key instead of a bearer token fails", "minimax", "text-basic", "Authorization",
			func(o *Options) {
				o.wrap = func(next http.RoundTripper) http.RoundTripper {
					return roundTripFunc(func(r *http.Request) (*http.Response, error) {
						r.Header.Set("X-Api-Key", r.Header.Get("Authorization"))
						r.Header.Del("Authorization")
						return next.RoundTrip(r)
					})
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := repoOptions()
			if r := runOne(t, opts, tt.provider, tt.caseName); r.Status != Pass {
				t.Fatalf("unbroken %s/%s does not pass: %v", tt.provider, tt.caseName, r.Failures())
			}
			tt.opts(&opts)
			mustFail(t, runOne(t, opts, tt.provider, tt.caseName), tt.want)
		})
	}
}

// TestBufferingRelayFails checks the lockstep replay: a provider path that reads the whole
// upstream stream before passing it on is reported as buffering.
func TestBufferingRelayFails(t *testing.T) {
	defer func(d time.Duration) { stallTimeout = d }(stallTimeout)
	stallTimeout = 50 * time.Millisecond
	opts := repoOptions()
	opts.wrap = func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(r)
			if err != nil {
				return nil, err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body = io.NopCloser(bytes.NewReader(b))
			return resp, nil
		})
	}
	mustFail(t, runOne(t, opts, "bedrock", "tool-use-stream"), "buffered")
	mustFail(t, runOne(t, opts, "anthropic", "thinking-stream"), "buffered")
}

// mutateCassette returns a copy of the repository's cassettes with one file edited.
func mutateCassette(t *testing.T, name string, edit func(string) string) fs.FS {
	t.Helper()
	root := filepath.Join("..", "cassettes")
	m := fstest.MapFS{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == name {
			edited := edit(string(b))
			if edited == string(b) {
				t.Fatalf("the edit does not change %s", name)
			}
			b = []byte(edited)
		}
		m[rel] = &fstest.MapFile{Data: b}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMutatedCassetteFails(t *testing.T) {
	tests := []struct {
		name, provider, caseName, file, want string
		edit                                 func(string) string
	}{
		{"a recorded request with another max_tokens no longer matches", "anthropic", "text-basic", "anthropic/text-basic.yaml", "max_tokens",
			func(s string) string { return strings.Replace(s, `"max_tokens":4000`, `"max_tokens":4001`, 1) }},
		{"a stream without message_stop fails", "vertex", "text-stream", "vertex/text-stream.yaml", "sse grammar",
			func(s string) string { return strings.Replace(s, "event: message_stop", "event: message_stopped", 1) }},
		// The relay may refuse such an answer itself (502) or pass it on for the check of the
		// tool_use input to fail: either way the case fails, naming tool_use.
		{"a tool_use whose input is not JSON fails", "anthropic", "tool-use", "anthropic/tool-use.yaml", "tool_use",
			func(s string) string {
				return strings.Replace(s, `"input":{"location":"Florence,Italy"}`, `"input":"Florence"`, 1)
			}},
		{"an error of the wrong type fails", "anthropic", "error-unknown-model", "anthropic/error-unknown-model.yaml", "error.type",
			func(s string) string { return strings.Replace(s, `"not_found_error"`, `"api_error"`, 1) }},
		{"a cassette without a provenance header is refused", "zai", "text-basic", "zai/text-basic.yaml", "provenance",
			func(s string) string { return regexp.MustCompile(`(?m)^# provenance: .*\n`).ReplaceAllString(s, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := repoOptions()
			opts.Cassettes = mutateCassette(t, tt.file, tt.edit)
			mustFail(t, runOne(t, opts, tt.provider, tt.caseName), tt.want)
		})
	}
}

// TestBrokenMatrixFails changes one matrix cell and checks that the replays that measure it
// fail: the cassettes keep the matrix honest.
func TestBrokenMatrixFails(t *testing.T) {
	flip := func(provider string, f features.Feature, cell features.Cell) func(string, features.Feature) features.Cell {
		return func(p string, g features.Feature) features.Cell {
			if p == provider && g == f {
				return cell
			}
			return features.Lookup(p, g)
		}
	}
	tests := []struct {
		name, provider, caseName, want string
		lookup                         func(string, features.Feature) features.Cell
	}{
		{"stop sequences declared partial on anthropic", "anthropic", "stop-sequence", "declares partial",
			flip("anthropic", features.StopSequences, features.Cell{Support: features.Partial, Action: features.Pass})},
		{"prompt caching declared unsupported on bedrock", "bedrock", "cache-control", "declares none",
			flip("bedrock", features.CacheControl, features.Cell{Support: features.None, Action: features.Pass})},
		{"thinking declared without signatures on anthropic", "anthropic", "thinking-stream", "declares partial",
			flip("anthropic", features.ThinkingEnabled, features.Cell{Support: features.Partial, Action: features.Pass})},
		{"forced tool choice declared ignored on vertex", "vertex", "tool-choice-tool", "declares none",
			flip("vertex", features.ToolChoiceTool, features.Cell{Support: features.None, Action: features.Pass})},
		{"a refusal the relay does not make", "anthropic", "tool-choice-any", "refuse",
			flip("anthropic", features.ToolChoiceAny, features.Cell{Support: features.None, Action: features.Refuse})},
		{"a strip the relay does not make", "anthropic", "cache-control", "strips cache_control",
			flip("anthropic", features.CacheControl, features.Cell{Support: features.None, Action: features.Strip})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := repoOptions()
			if r := runOne(t, opts, tt.provider, tt.caseName); r.Status != Pass {
				t.Fatalf("with the real matrix %s/%s does not pass: %v", tt.provider, tt.caseName, r.Failures())
			}
			opts.lookup = tt.lookup
			mustFail(t, runOne(t, opts, tt.provider, tt.caseName), tt.want)
		})
	}
}
