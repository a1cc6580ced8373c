package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// matrixCell is one case of relay/features/testdata/cells.json: the features package's
// defaultCases (one per non-pass matrix cell) and overrideCases, as data.
type matrixCell struct {
	Set         string            `json:"set"`
	Name        string            `json:"name"`
	Provider    string            `json:"provider"`
	Overrides   map[string]string `json:"overrides"`
	Betas       []string          `json:"betas"`
	CountTokens bool              `json:"count_tokens"`
	Ceiling     int               `json:"ceiling"`
	In          string            `json:"in"`
	Out         string            `json:"out"` // "" means unchanged
	Notes       []string          `json:"notes"`
	Refusal     string            `json:"refusal"`
	BetasOut    []string          `json:"betas_out"` // absent: no anthropic-beta is sent on
}

func loadMatrixCells(t *testing.T) []matrixCell {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("features", "testdata", "cells.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []matrixCell `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) == 0 {
		t.Fatal("cells.json holds no cases")
	}
	return doc.Cases
}

// cellsNotThroughTheRelay are the cases that describe a state the relay never reaches.
var cellsNotThroughTheRelay = map[string]string{
	"ollama/image_url/degrade without Inliner": "the case checks Apply called without Inliner.Inline; the relay always " +
		"inlines first (it would fetch https://example.com/a.png), so this refusal cannot happen through it",
}

// TestMatrixCellsThroughTheRelay sends every case of the feature matrix's unit table through
// the relay, to a fake upstream of the case's provider type (named "local", as the refusals
// say), and checks what the client saw and what reached the upstream.
func TestMatrixCellsThroughTheRelay(t *testing.T) {
	cells := loadMatrixCells(t)
	ok := interaction(t, "ollama/01-text-nonstream.json")
	okStream := interaction(t, "ollama/02-text-stream.json")
	tokenURL, _ := fakeGoogleToken(t)
	adc := filepath.Join(t.TempDir(), "adc.json")
	if err := os.WriteFile(adc, []byte(`{"type":"authorized_user","client_id":"id.apps.googleusercontent.com","client_secret":"s","refresh_token":"r","token_uri":"`+tokenURL+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}

	names := map[string]bool{}
	for _, c := range cells {
		names[c.Name] = true
	}
	for name := range cellsNotThroughTheRelay {
		if !names[name] {
			t.Errorf("cellsNotThroughTheRelay names %q, which cells.json does not hold", name)
		}
	}

	for _, c := range cells {
		t.Run(c.Name, func(t *testing.T) {
			if why, skip := cellsNotThroughTheRelay[c.Name]; skip {
				t.Skip(why)
			}
			// The relay wants model and messages; add them where the unit case leaves them out.
			in, model := completeBody(t, c.In)
			want := c.In
			if c.Out != "" {
				want = c.Out
			}
			want, _ = completeBody(t, want)
			stream := gjson.Get(in, "stream").Bool() && !c.CountTokens

			// The ceiling is the mapped (upstream) model's: map to a model that has it.
			upModel := model
			if c.Ceiling != features.MaxTokensCeiling(c.Provider, model) {
				upModel = modelWithCeiling(c.Provider, c.Ceiling)
				if upModel == "" {
					t.Fatalf("no model of %s has the max_tokens ceiling %d", c.Provider, c.Ceiling)
				}
				if want, _ = sjson.Set(want, "model", upModel); !gjson.Get(want, "model").Exists() {
					t.Fatal("could not map the model in the expected body")
				}
			}

			var handler http.Handler
			switch {
			case c.CountTokens:
				handler = relaytest.Status(200, http.Header{"Content-Type": {"application/json"}}, `{"input_tokens":7}`)
			case c.Provider == config.TypeBedrock && stream:
				t.Fatal("no recorded Bedrock event stream is wired up for a streaming case")
			case c.Provider == config.TypeBedrock:
				handler = relaytest.Status(200, http.Header{"Content-Type": {"application/json"}}, string(ok.Response.Body))
			case stream:
				handler = relaytest.Replay(okStream)
			default:
				handler = relaytest.Replay(ok)
			}
			up := relaytest.NewUpstream(t, handler)

			var p config.Provider
			var env map[string]string
			switch c.Provider {
			case config.TypeBedrock:
				p = config.Provider{Name: "local", Type: config.TypeBedrock, BaseURL: up.URL, AWSRegion: "us-east-1",
					AWSAccessKeyID: "AKIDEXAMPLE", AWSSecretAccessKey: "secret"}
			case config.TypeVertex:
				p = config.Provider{Name: "local", Type: config.TypeVertex, BaseURL: up.URL, GCPProjectID: "example-project", GCPRegion: "us-east5"}
				env = map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": adc}
			default:
				p = providerFor(c.Provider, "local", up.URL, "k")
			}
			p.Features = c.Overrides
			if err := features.ValidateOverrides(c.Overrides); err != nil {
				// The row ignores an invalid override (the features package's cell); a relay is
				// never built with one: relay.New refuses it as config validation does.
				_, nerr := relay.New(context.Background(), relay.Options{Config: configWith(p)})
				if nerr == nil || !strings.Contains(nerr.Error(), err.Error()) {
					t.Fatalf("relay.New with overrides %v: error %v, want one that says %q", c.Overrides, nerr, err)
				}
				return
			}
			if upModel != model {
				p.ModelMapping = map[string]string{model: upModel}
			}
			base := startRelayEnv(t, configWith(p), env)

			path := "/v1/messages"
			if c.CountTokens {
				path = "/v1/messages/count_tokens"
			}
			resp, body := postBetas(t, base+path, []byte(in), c.Betas)
			sent := up.Requests()
			degraded := resp.Header.Get("X-Ccrelay-Degraded")

			// Refused: the relay answers, the upstream never hears of it.
			if c.Refusal != "" {
				status, typ := http.StatusBadRequest, "invalid_request_error"
				if strings.Split(c.Name, "/")[1] == "count_tokens" {
					status, typ = http.StatusNotFound, "not_found_error"
				}
				wantAnthropicError(t, resp, body, status, typ)
				if msg := gjson.GetBytes(body, "error.message").String(); msg != c.Refusal {
					t.Errorf("refusal message (-want +got):\n%s", cmp.Diff(c.Refusal, msg))
				}
				if len(sent) != 0 {
					t.Errorf("a refused request reached the upstream: %s", sent[0].Body)
				}
				return
			}

			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Ccrelay-Provider"); got != "local" {
				t.Errorf("x-ccrelay-provider = %q", got)
			}

			// count_tokens answered with the relay's estimate: nothing goes upstream.
			if c.CountTokens && slices.Contains(c.Notes, "count_tokens=estimated") {
				if diff := cmp.Diff(c.Notes, splitNotes(degraded)); diff != "" {
					t.Errorf("x-ccrelay-degraded (-want +got):\n%s", diff)
				}
				if n := gjson.GetBytes(body, "input_tokens"); n.Type != gjson.Number || n.Int() <= 0 {
					t.Errorf("estimate body %s, want input_tokens", body)
				}
				if len(sent) != 0 {
					t.Errorf("the estimate asked the upstream: %s", sent[0].Body)
				}
				return
			}

			// The client's view: the upstream's answer, relayed.
			switch {
			case c.CountTokens:
				if gjson.GetBytes(body, "input_tokens").Int() != 7 {
					t.Errorf("count body %s", body)
				}
			case stream:
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
					t.Errorf("content-type %q for a stream", ct)
				}
				if _, err := readEvents(t, bytes.NewReader(body)); err != nil {
					t.Errorf("stream: %v\n%s", err, body)
				}
			default:
				if !jsonEq(t, body, ok.Response.Body) {
					t.Errorf("client body %s, want the upstream's %s", body, ok.Response.Body)
				}
			}

			// What reached the upstream: one request.
			if len(sent) != 1 {
				t.Fatalf("the upstream got %d requests, want 1", len(sent))
			}
			got := sent[0]
			switch c.Provider {
			case config.TypeBedrock, config.TypeVertex:
				checkCloudUpstream(t, c, got, want, upModel, stream, degraded)
			default:
				if diff := cmp.Diff(c.Notes, splitNotes(degraded)); diff != "" {
					t.Errorf("x-ccrelay-degraded (-want +got):\n%s", diff)
				}
				if wantPath := upstreamPath(c.Provider) + strings.TrimPrefix(path, "/v1/messages"); got.Path != wantPath {
					t.Errorf("upstream path %q, want %q", got.Path, wantPath)
				}
				if string(got.Body) != want {
					t.Errorf("upstream body (-want +got):\n%s", cmp.Diff(want, string(got.Body)))
				}
				if diff := cmp.Diff(strings.Join(c.BetasOut, ","), strings.Join(got.Header.Values("Anthropic-Beta"), ",")); diff != "" {
					t.Errorf("upstream anthropic-beta (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// checkCloudUpstream checks a Bedrock or Vertex request: the case's body (from which the
// matrix has removed the top-level keys the cloud does not take, with its notes) after the
// adapter's own changes (anthropic_version added, model to the path, betas into the body on
// Bedrock), and no top-level key outside the provider's list (features.FieldAllowlist) unless
// the case passes them (features: {unknown_fields: pass}).
func checkCloudUpstream(t *testing.T, c matrixCell, got relaytest.Received, want, upModel string, stream bool, degraded string) {
	t.Helper()
	version, wantPath := "vertex-2023-10-16", "/v1/projects/example-project/locations/us-east5/publishers/anthropic/models/"+upModel+":rawPredict"
	if stream {
		wantPath = strings.TrimSuffix(wantPath, ":rawPredict") + ":streamRawPredict"
	}
	if c.Provider == config.TypeBedrock {
		version, wantPath = "bedrock-2023-05-31", "/model/"+upModel+"/invoke"
	}
	if c.CountTokens {
		t.Fatalf("no upstream count_tokens check for %s", c.Provider)
	}
	if got.Path != wantPath {
		t.Errorf("upstream path %q, want %q", got.Path, wantPath)
	}
	fields := features.FieldAllowlist(c.Provider)
	gjson.ParseBytes(got.Body).ForEach(func(k, _ gjson.Result) bool {
		if !slices.Contains(fields, k.String()) && c.Overrides["unknown_fields"] != "pass" {
			t.Errorf("top-level key %q reached %s, which does not accept it", k.String(), c.Provider)
		}
		return true
	})

	// The expected body: the case's out without model (in the path) and, on Bedrock, stream.
	exp := want
	gone := []string{"model"}
	if c.Provider == config.TypeBedrock {
		gone = append(gone, "stream")
	}
	for _, key := range gone {
		var err error
		if exp, err = sjson.Delete(exp, key); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(c.Notes, splitNotes(degraded)); diff != "" {
		t.Errorf("x-ccrelay-degraded (-want +got):\n%s", diff)
	}

	if v := gjson.GetBytes(got.Body, "anthropic_version").String(); v != version {
		t.Errorf("anthropic_version %q, want %q", v, version)
	}
	body, _ := sjson.DeleteBytes(got.Body, "anthropic_version")
	var betas []string
	if c.Provider == config.TypeBedrock {
		gjson.GetBytes(body, "anthropic_beta").ForEach(func(_, v gjson.Result) bool {
			betas = append(betas, v.String())
			return true
		})
		body, _ = sjson.DeleteBytes(body, "anthropic_beta")
		if h := got.Header.Values("Anthropic-Beta"); len(h) != 0 {
			t.Errorf("bedrock got an anthropic-beta header %q", h)
		}
	} else if h := got.Header.Get("Anthropic-Beta"); h != "" {
		betas = strings.Split(h, ",")
	}
	if diff := cmp.Diff(c.BetasOut, betas); diff != "" {
		t.Errorf("upstream betas (-want +got):\n%s", diff)
	}
	if !jsonEq(t, body, []byte(exp)) {
		t.Errorf("upstream body, without anthropic_version and anthropic_beta:\n%s\nwant (JSON-equal)\n%s", body, exp)
	}
}

// completeBody adds "model":"m" and "messages":[] to a case body that lacks them, and returns
// the body and its model.
func completeBody(t *testing.T, body string) (string, string) {
	t.Helper()
	var err error
	if !gjson.Get(body, "model").Exists() {
		if body, err = sjson.Set(body, "model", "m"); err != nil {
			t.Fatal(err)
		}
	}
	if !gjson.Get(body, "messages").Exists() {
		if body, err = sjson.SetRaw(body, "messages", "[]"); err != nil {
			t.Fatal(err)
		}
	}
	return body, gjson.Get(body, "model").String()
}

// modelWithCeiling returns a model whose max_tokens ceiling on the provider type is ceiling.
func modelWithCeiling(typ string, ceiling int) string {
	for _, m := range features.ModelCeilings() {
		if features.MaxTokensCeiling(typ, m.Model) == ceiling {
			return m.Model
		}
	}
	return ""
}

// postBetas posts body with each beta as its own anthropic-beta header line.
func postBetas(t *testing.T, url string, body []byte, betas []string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	for _, b := range betas {
		req.Header.Add("Anthropic-Beta", b)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, out
}

// splitNotes splits x-ccrelay-degraded into its notes (nil when there is none).
func splitNotes(h string) []string {
	if h == "" {
		return nil
	}
	return strings.Split(h, "; ")
}
