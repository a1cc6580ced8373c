package relay_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/ccrelay/ccrelay/relay/relaytest/claudecode"
	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// innerSSE rebuilds, from a recorded Bedrock stream's CRC-checked frame view, the Anthropic SSE
// that the frames carry: the "matching Anthropic SSE" a direct client would have read.
func innerSSE(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(relaytest.Fixture(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	gjson.GetBytes(data, "response.eventstream_frames_decoded").ForEach(func(_, f gjson.Result) bool {
		raw, err := base64.StdEncoding.DecodeString(f.Get("payload_json.bytes").Str)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", gjson.GetBytes(raw, "type").Str, raw)
		return true
	})
	return b.String()
}

// bedrockClientBody turns a recorded InvokeModel body back into the client's request: the
// model named, Bedrock's anthropic_version gone, streaming asked for.
func bedrockClientBody(t *testing.T, recorded, model string, stream bool) string {
	t.Helper()
	b, _ := sjson.Delete(recorded, "anthropic_version")
	b, _ = sjson.Set(b, "model", model)
	if stream {
		b, _ = sjson.Set(b, "stream", true)
	}
	return b
}

func TestSDKAccumulatesTheSameMessageFromABedrockEventStreamAsFromTheAnthropicSSE(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(relaytest.Fixture(t, "bedrock/fantasy/bedrock-anthropic-claude-haiku-4-5.simple_streaming.0.json")), "*stream*.json"))
	if len(files) < 8 {
		t.Fatalf("found %d recorded Bedrock streams", len(files))
	}
	for _, path := range files {
		rel := "bedrock/fantasy/" + filepath.Base(path)
		t.Run(filepath.Base(path), func(t *testing.T) {
			ix := interaction(t, rel)
			u, _ := url.Parse(ix.Request.URL)
			modelID, _ := url.PathUnescape(strings.Split(strings.TrimPrefix(u.EscapedPath(), "/model/"), "/")[0])
			up := relaytest.NewUpstream(t, relaytest.Replay(ix))
			direct := relaytest.NewUpstream(t, relaytest.SSE(splitSSE(innerSSE(t, rel)), 0))

			p := config.Provider{Name: "bedrock", Type: config.TypeBedrock, BaseURL: up.URL, AWSRegion: "us-east-1",
				AWSAccessKeyID: "AKIDEXAMPLE", AWSSecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
				ModelMapping: map[string]string{"claude-test": modelID}}
			base := startRelay(t, configWith(p))
			body := bedrockClientBody(t, ix.Request.Body, "claude-test", true)

			want, wantTypes := streamedMessage(t, direct.URL, body)
			got, gotTypes := streamedMessage(t, base, body)
			if diff := cmp.Diff(asJSON(t, want), asJSON(t, got)); diff != "" {
				t.Errorf("message through the relay from Bedrock differs (-anthropic sse +relay):\n%s", diff)
			}
			if diff := cmp.Diff(wantTypes, gotTypes); diff != "" {
				t.Errorf("event types differ:\n%s", diff)
			}
			r := up.Requests()[0]
			if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || r.Header.Get("X-Amz-Date") == "" {
				t.Errorf("request not signed with SigV4: %q", r.Header.Get("Authorization"))
			}
			if r.Path != "/model/"+modelID+"/invoke-with-response-stream" {
				t.Errorf("path %q", r.Path)
			}
			if !jsonEq(t, r.Body, []byte(ix.Request.Body)) {
				t.Errorf("Bedrock received\n%s\nwant the recorded\n%s", r.Body, ix.Request.Body)
			}
		})
	}
}

func splitSSE(s string) []string {
	var out []string
	for _, e := range relaytest.SplitSSE([]byte(s)) {
		out = append(out, string(e))
	}
	return out
}

func jsonEq(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return cmp.Equal(x, y)
}

// fakeGoogleToken is an OAuth token endpoint on loopback that hands out one token.
func fakeGoogleToken(t *testing.T) (tokenURL string, calls func() int) {
	n := 0
	up := relaytest.NewUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"ya29.test-token","expires_in":3600,"token_type":"Bearer"}`)
	}))
	return up.URL + "/token", func() int { return n }
}

func TestVertexThroughTheRelayWithApplicationDefaultCredentials(t *testing.T) {
	tokenURL, _ := fakeGoogleToken(t)
	dir := t.TempDir()
	adc := filepath.Join(dir, "adc.json")
	os.WriteFile(adc, []byte(`{"type":"authorized_user","client_id":"id.apps.googleusercontent.com","client_secret":"s","refresh_token":"r","token_uri":"`+tokenURL+`"}`), 0o600)

	for _, rel := range []string{"vertex/fantasy/vertex-claude-3-7-sonnet.simple_streaming.0.json", "vertex/fantasy/vertex-claude-3-7-sonnet.tool_streaming.0.json", "vertex/fantasy/vertex-claude-3-7-sonnet.simple.0.json"} {
		t.Run(filepath.Base(rel), func(t *testing.T) {
			ix := interaction(t, rel)
			up := relaytest.NewUpstream(t, relaytest.Replay(ix))
			direct := relaytest.NewUpstream(t, relaytest.Replay(ix))
			p := config.Provider{Name: "vertex", Type: config.TypeVertex, BaseURL: up.URL, GCPProjectID: "example-project", GCPRegion: "us-east5",
				ModelMapping: map[string]string{"claude-test": "claude-3-7-sonnet@20250219"}}
			cfg := configWith(p)
			r := startRelayEnv(t, cfg, map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": adc})
			body, _ := sjson.Delete(ix.Request.Body, "anthropic_version")
			body, _ = sjson.Set(body, "model", "claude-test")
			stream := gjson.Get(body, "stream").Bool()
			if stream {
				want, _ := streamedMessage(t, direct.URL, body)
				got, _ := streamedMessage(t, r, body)
				if diff := cmp.Diff(asJSON(t, want), asJSON(t, got)); diff != "" {
					t.Errorf("(-direct +relay):\n%s", diff)
				}
			} else {
				resp, out := post(t, r+"/v1/messages", []byte(body), nil)
				if resp.StatusCode != 200 || !jsonEq(t, out, ix.Response.Body) {
					t.Errorf("%d %s", resp.StatusCode, out)
				}
			}
			got := up.Requests()[0]
			if got.Header.Get("Authorization") != "Bearer ya29.test-token" {
				t.Errorf("authorization %q", got.Header.Get("Authorization"))
			}
			recorded, _ := url.Parse(ix.Request.URL)
			if got.Path != recorded.Path {
				t.Errorf("path %q, want %q", got.Path, recorded.Path)
			}
			if !jsonEq(t, got.Body, []byte(ix.Request.Body)) {
				t.Errorf("Vertex received\n%s\nwant the recorded\n%s", got.Body, ix.Request.Body)
			}
		})
	}
}

// TestClaudeCodeRequestsReachTheCloudsWithAcceptedKeysOnly sends every recorded Claude Code
// and SDK request through the relay to a fake Bedrock and a fake Vertex, and checks what they
// received: only the top-level keys the provider accepts (features.FieldAllowlist), its
// anthropic_version, the betas it accepts, and the conversation untouched; and what the client
// was told in x-ccrelay-degraded.
func TestClaudeCodeRequestsReachTheCloudsWithAcceptedKeysOnly(t *testing.T) {
	reqs := claudecode.Requests(t)
	tokenURL, _ := fakeGoogleToken(t)
	adc := filepath.Join(t.TempDir(), "adc.json")
	if err := os.WriteFile(adc, []byte(`{"type":"authorized_user","client_id":"id.apps.googleusercontent.com","client_secret":"s","refresh_token":"r","token_uri":"`+tokenURL+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	bedrockBetas := []string{"interleaved-thinking-2025-05-14", "mid-conversation-tool-changes-2026-07-01", "tool-search-tool-2025-10-19", "effort-2025-11-24"}
	vertexBetas := []string{"interleaved-thinking-2025-05-14", "context-management-2025-06-27", "per-turn-control-2026-07-01", "tool-search-tool-2025-10-19"}
	type want struct {
		betas []string
		notes []string
	}
	// Dropped betas: claude-code, context-management, per-turn-control and thinking-token-count
	// on Bedrock; claude-code, mid-conversation-tool-changes, thinking-token-count and effort on
	// Vertex. advanced-tool-use is renamed to tool-search-tool silently.
	messages := [2]want{
		{bedrockBetas, []string{"context_management=stripped", "anthropic_beta=stripped:4"}},
		{vertexBetas, []string{"anthropic_beta=stripped:4"}},
	}
	// claude-code, context-management (Bedrock only) and token-counting.
	count := [2]want{
		{[]string{"interleaved-thinking-2025-05-14"}, []string{"anthropic_beta=stripped:3"}},
		{[]string{"interleaved-thinking-2025-05-14", "context-management-2025-06-27"}, []string{"anthropic_beta=stripped:2"}},
	}
	wants := map[string][2]want{ // by recording: on bedrock, on vertex
		"claude-code-2.1.332__01-p-say-hi.messages":                        messages,
		"claude-code-2.1.332__02-tool-roundtrip-req1.messages":             messages,
		"claude-code-2.1.332__03-tool-roundtrip-req2-tool_result.messages": messages,
		"claude-code-2.1.332__04-context-count_tokens-small":               count,
		"claude-code-2.1.332__05-context-count_tokens-tools":               count,
		// Interactive Claude Code also sends safeguards, and afk-mode among the betas.
		"claude-code-2.1.332__06-interactive-say-hi.messages": {
			{append(slices.Clone(bedrockBetas), "dangerous-tool-use-2026-09-03", "thinking-display-updates-2026-08-18"),
				[]string{"context_management=stripped", "anthropic_beta=stripped:5", "unknown_fields=stripped:safeguards"}},
			{append(slices.Clone(vertexBetas), "dangerous-tool-use-2026-09-03", "thinking-display-updates-2026-08-18"),
				[]string{"anthropic_beta=stripped:5", "unknown_fields=stripped:safeguards"}},
		},
		"sdks__go-v2.15.0-stream.messages": {},
		"sdks__go-v2.15.0.count_tokens":    {},
		"sdks__npm-1.14.0-stream.messages": {},
		"sdks__npm-1.14.0.count_tokens":    {},
	}
	for _, r := range reqs {
		ws, ok := wants[r.Name]
		if !ok {
			t.Errorf("%s: no expectation for this recording", r.Name)
			continue
		}
		client := r.Body
		path := "/v1/messages"
		if r.CountTokens {
			path += "/count_tokens"
		}
		stream := gjson.GetBytes(client, "stream").Bool() && !r.CountTokens
		for i, typ := range []string{config.TypeBedrock, config.TypeVertex} {
			w := ws[i]
			t.Run(typ+"/"+r.Name, func(t *testing.T) {
				var handler http.Handler
				ct := http.Header{"Content-Type": {"application/json"}}
				var p config.Provider
				var env map[string]string
				switch typ {
				case config.TypeBedrock:
					switch {
					case r.CountTokens:
						handler = relaytest.Status(200, ct, `{"inputTokens":42}`)
					case stream:
						handler = relaytest.Replay(interaction(t, "bedrock/fantasy/bedrock-anthropic-claude-opus-4-6.simple_streaming.0.json"))
					default:
						handler = relaytest.Replay(interaction(t, "bedrock/fantasy/bedrock-anthropic-claude-opus-4-6.simple.0.json"))
					}
					p = config.Provider{Name: "cloud", Type: typ, AWSRegion: "us-east-1", AWSAccessKeyID: "AKIDEXAMPLE", AWSSecretAccessKey: "secret"}
				case config.TypeVertex:
					switch {
					case r.CountTokens:
						handler = relaytest.Status(200, ct, `{"input_tokens":42}`)
					case stream:
						handler = relaytest.Replay(interaction(t, "vertex/fantasy/vertex-claude-3-7-sonnet.simple_streaming.0.json"))
					default:
						handler = relaytest.Replay(interaction(t, "vertex/fantasy/vertex-claude-3-7-sonnet.simple.0.json"))
					}
					p = config.Provider{Name: "cloud", Type: typ, GCPProjectID: "example-project", GCPRegion: "us-east5"}
					env = map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": adc}
				}
				up := relaytest.NewUpstream(t, handler)
				p.BaseURL = up.URL
				upModel := map[string]string{config.TypeBedrock: "us.anthropic.claude-opus-4-6-v1", config.TypeVertex: "claude-opus-4-6"}[typ]
				p.ModelMapping = map[string]string{gjson.GetBytes(client, "model").String(): upModel}
				base := startRelayEnv(t, configWith(p), env)

				resp, out := postBetas(t, base+path, client, r.Betas)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, out)
				}
				sent := up.Requests()
				if len(sent) != 1 {
					t.Fatalf("the upstream got %d requests, want 1", len(sent))
				}
				got := sent[0].Body
				if typ == config.TypeBedrock && r.CountTokens {
					if keys := gjson.GetBytes(got, "@keys").Array(); len(keys) != 1 || len(gjson.GetBytes(got, "input").Map()) != 1 {
						t.Errorf("count body %s: want only input.invokeModel", got)
					}
					got, _ = base64.StdEncoding.DecodeString(gjson.GetBytes(got, "input.invokeModel.body").String())
					if mt := gjson.GetBytes(got, "max_tokens"); mt.Int() != 1 {
						t.Errorf("count body max_tokens %s, want 1 added", mt.Raw)
					}
				}

				fields := features.FieldAllowlist(typ)
				gjson.ParseBytes(got).ForEach(func(k, _ gjson.Result) bool {
					key := k.String()
					if !slices.Contains(fields, key) || typ == config.TypeBedrock && (key == "model" || key == "stream") {
						t.Errorf("top-level key %q reached %s", key, typ)
					}
					return true
				})
				version := map[string]string{config.TypeBedrock: "bedrock-2023-05-31", config.TypeVertex: "vertex-2023-10-16"}[typ]
				if v := gjson.GetBytes(got, "anthropic_version").String(); v != version {
					t.Errorf("anthropic_version %q, want %q", v, version)
				}
				kept := []string{"messages", "system", "tools", "thinking", "metadata", "output_config"}
				if typ == config.TypeVertex {
					kept = append(kept, "context_management", "stream")
				}
				for _, k := range kept {
					if a, b := gjson.GetBytes(client, k).Raw, gjson.GetBytes(got, k).Raw; a != b {
						t.Errorf("%s changed", k)
					}
				}
				var gotBetas []string
				if typ == config.TypeBedrock {
					gjson.GetBytes(got, "anthropic_beta").ForEach(func(_, v gjson.Result) bool {
						gotBetas = append(gotBetas, v.String())
						return true
					})
				} else if h := sent[0].Header.Get("Anthropic-Beta"); h != "" {
					gotBetas = strings.Split(h, ",")
				}
				if diff := cmp.Diff(w.betas, gotBetas); diff != "" {
					t.Errorf("betas (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(w.notes, splitNotes(resp.Header.Get("X-Ccrelay-Degraded"))); diff != "" {
					t.Errorf("x-ccrelay-degraded (-want +got):\n%s", diff)
				}
			})
		}
	}
	if len(reqs) != len(wants) {
		t.Errorf("%d recordings, %d expectations", len(reqs), len(wants))
	}
}
