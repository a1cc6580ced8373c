package relay_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
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
