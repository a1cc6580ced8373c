package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
)

// fakeZAIText is the answer of fakeZAI: it runs past the stop sequence of the stop-sequence
// case ("scripted"), as a provider that ignores stop_sequences would answer.
const fakeZAIText = "Hello! I am a scripted stand-in for Z.AI."

// fakeZAI stands in for Z.AI's Anthropic endpoint (base URL <server>/api/anthropic) on
// 127.0.0.1. It answers 401 unless the request carries key in x-api-key, echoes the key in a
// response header (as a careless gateway might, so that the scrub is tested where the key is
// not expected), and answers every message with fakeZAIText and stop_reason end_turn, as an
// event stream when the request asks for one.
func fakeZAI(t *testing.T, key string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != key {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
			return
		}
		w.Header().Set("X-Echo-Key", "seen "+key)
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		switch {
		case r.URL.Path == "/api/anthropic/v1/messages/count_tokens":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"input_tokens":9}`)
		case r.URL.Path != "/api/anthropic/v1/messages":
			http.NotFound(w, r)
		case req.Stream:
			w.Header().Set("Content-Type", "text/event-stream")
			for _, ev := range []struct{ name, data string }{
				{"message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_fake","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}`, req.Model)},
				{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
				{"content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%q}}`, fakeZAIText)},
				{"content_block_stop", `{"type":"content_block_stop","index":0}`},
				{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":12}}`},
				{"message_stop", `{"type":"message_stop"}`},
			} {
				fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data)
			}
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"msg_fake","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":%q}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":12}}`, req.Model, fakeZAIText)
		}
	}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("the fake upstream listens on %s, want loopback", srv.URL)
	}
	return srv
}

// TestRecordZAIAgainstAFake records zai cases against a local stand-in whose base_url the
// configuration points at: the cassettes are recorded-live, carry no key, and the drift report
// names the cell the stand-in contradicts (stop_sequences, declared full here).
func TestRecordZAIAgainstAFake(t *testing.T) {
	const key = "zai-live-key-0123456789abcdef"
	up := fakeZAI(t, key)
	dir := t.TempDir()
	cfg := &config.Config{Source: "test.yaml", Providers: []config.Provider{{
		Name: "zai", Type: "zai", BaseURL: up.URL + "/api/anthropic", Keys: []config.Key{{Key: key}},
	}}}
	cfg.ApplyDefaults()
	declared := features.Cell{Support: features.Full, Action: features.Pass, Evidence: "test: declared full"}
	for _, caseName := range []string{"text-basic", "stop-sequence"} {
		var progress bytes.Buffer
		rep, err := Run(context.Background(), Options{
			Providers: []string{"zai"}, Case: caseName,
			Record: true, Dir: dir, Config: cfg, Model: "glm-4.6",
			Requests: os.DirFS(filepath.Join("..", "fixtures", "requests")),
			Progress: &progress,
			Now:      func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) },
			lookup: func(p string, f features.Feature) features.Cell {
				if p == "zai" && f == features.StopSequences {
					return declared
				}
				return features.Lookup(p, f)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, "zai", caseName+".yaml"))
		if err != nil {
			t.Fatalf("%s: no cassette written: %v\n%s", caseName, err, progress.String())
		}
		cf, err := parseCassette(data, "zai/"+caseName+".yaml")
		if err != nil {
			t.Fatal(err)
		}
		if cf.prov.Kind != ProvenanceLive || !strings.Contains(cf.prov.Recorded, "2026-11-27T09:00:00Z against "+up.URL+"/api/anthropic/v1/messages (upstream model glm-4.6)") {
			t.Errorf("%s: provenance %+v", caseName, cf.prov)
		}
		s := string(data)
		if strings.Contains(s, key) || strings.Contains(s, clientKey) {
			t.Errorf("%s: the cassette holds a key:\n%s", caseName, s)
		}
		ix := cf.c.Interactions[0]
		if ix.Request.Headers.Get("X-Api-Key") != redacted || ix.Response.Headers.Get("X-Echo-Key") != "seen "+redacted {
			t.Errorf("%s: credential headers not redacted: request %v, response %v", caseName, ix.Request.Headers, ix.Response.Headers)
		}
		p := rep.Providers[0]
		if c := p.Summary.Cassettes; c.Recorded != 1 || c.RecordedLive != 1 || c.Derived != 0 {
			t.Errorf("%s: counts %+v, want 1 recorded (live)", caseName, c)
		}
		var text bytes.Buffer
		if err := rep.Write(&text, FormatText); err != nil {
			t.Fatal(err)
		}
		switch caseName {
		case "text-basic":
			if r := p.Results[0]; r.Status != Pass {
				t.Errorf("text-basic: %s %v", r.Status, r.Failures())
			}
			if len(rep.Drift) != 0 || !strings.Contains(text.String(), noDrift) {
				t.Errorf("text-basic: drift %+v; report:\n%s", rep.Drift, text.String())
			}
		case "stop-sequence":
			if len(rep.Drift) != 1 {
				t.Fatalf("stop-sequence: drift %+v, want stop_sequences", rep.Drift)
			}
			d := rep.Drift[0]
			if d.Provider != "zai" || d.Feature != "stop_sequences" || d.Declared != features.Full || d.Observed != features.None ||
				!strings.Contains(d.Detail, "zai no longer supports stop_sequences as declared: the matrix declares full, the provider shows none (the answer runs past the stop sequence scripted)") {
				t.Errorf("stop-sequence: drift %+v", d)
			}
			for _, want := range []string{"drift: where the recordings differ from the matrix (declared vs observed)",
				"zai stop_sequences: declared full, observed none (stop-sequence)",
				"zai: 0 passed, 1 failed — 1 recorded, 0 documented, 0 derived, 0 relay-only"} {
				if !strings.Contains(text.String(), want) {
					t.Errorf("stop-sequence: the report lacks %q:\n%s", want, text.String())
				}
			}
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "zai", "*.yaml")); len(files) != 2 {
		t.Errorf("cassettes written: %v, want 2", files)
	}
}

func TestRecordProviderFromConfigOrEnvironment(t *testing.T) {
	withZAI := &config.Config{Source: "ccrelay.yaml", Providers: []config.Provider{{Name: "glm", Type: "zai", Keys: []config.Key{{Key: "from-config"}}}}}
	onlyAnthropic := &config.Config{Source: "ccrelay.yaml", Providers: []config.Provider{{Name: "anthropic", Type: "anthropic", Keys: []config.Key{{Key: "a"}}}}}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name     string
		cfg      *config.Config
		env      map[string]string
		provider string
		wantKey  string
		err      string
	}{
		{"configuration", withZAI, map[string]string{"ZAI_API_KEY": "from-env"}, "zai", "from-config", ""},
		{"environment", nil, map[string]string{"ZAI_API_KEY": "from-env"}, "zai", "from-env", ""},
		{"environment where the configuration lacks the type", onlyAnthropic, map[string]string{"MINIMAX_API_KEY": "mm"}, "minimax", "mm", ""},
		{"neither", onlyAnthropic, nil, "zai", "", "no zai provider (the configuration ccrelay.yaml has none enabled): set ZAI_API_KEY or pass --config with one"},
		{"azure needs a configuration", nil, nil, "azure", "", "no azure provider (no configuration): pass --config with one (its key and azure_resource_name)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := recordProvider(tt.cfg, tt.provider, env(tt.env))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != tt.provider || len(p.Keys) != 1 || p.Keys[0].Key != tt.wantKey {
				t.Fatalf("provider %+v, want type %s with key %q", p, tt.provider, tt.wantKey)
			}
		})
	}
}
