package relay_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeModel is one model installed in the fake Ollama.
type fakeModel struct {
	name    string // as /api/tags lists it: "scripted:latest"
	trained int    // model_info "llama.context_length"
	numCtx  int    // PARAMETER num_ctx of its Modelfile; 0 when unset
}

// fakeOllama is an Ollama v0.17.4 as strict as the real one on the endpoints the relay uses.
// Its bytes were taken from a real Ollama 0.17.4 (../shared/tools/ollama-local): the native
// API's answers and errors ({"error":"model 'x' not found"}, gin's text/plain 404 and 405), and
// for POST /v1/messages the recorded answers in fixtures/real-traffic/ollama, with the model
// name the client asked for, as Ollama echoes it.
type fakeOllama struct {
	t   testing.TB
	srv *httptest.Server
	// defaultCtx is the server's context for a model without num_ctx (OLLAMA_CONTEXT_LENGTH, else
	// 4096 without a large GPU).
	defaultCtx int

	mu        sync.Mutex
	models    []fakeModel
	loaded    map[string]int // model → the context it was loaded with
	asked     []string       // the model of each POST /v1/messages, as sent
	native    []*http.Request
	nonStream []byte
	stream    []byte
}

// newFakeOllama starts a fake Ollama on 127.0.0.1 with the given models installed.
func newFakeOllama(t testing.TB, models ...fakeModel) *fakeOllama {
	t.Helper()
	f := newFakeOllamaUnstarted(t, models...)
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// newFakeOllamaUnstarted builds the fake without serving; startOn serves it on a given address.
func newFakeOllamaUnstarted(t testing.TB, models ...fakeModel) *fakeOllama {
	t.Helper()
	f := &fakeOllama{t: t, defaultCtx: 4096, models: models, loaded: map[string]int{}}
	f.nonStream = []byte(interaction(t, "ollama/01-text-nonstream.json").Response.Body)
	f.stream = []byte(interaction(t, "ollama/02-text-stream.json").Response.Body)
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	return f
}

// startOn serves the fake on addr (a port reserved by freeAddr), as an Ollama started late.
func (f *fakeOllama) startOn(addr string) {
	f.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		f.t.Fatalf("fake ollama: listen on %s: %v", addr, err)
	}
	f.srv.Listener.Close()
	f.srv.Listener = ln
	f.srv.Start()
	f.t.Cleanup(f.srv.Close)
}

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// install adds a model, as "ollama pull" does.
func (f *fakeOllama) install(m fakeModel) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.models = append([]fakeModel{m}, f.models...) // the newest first, as /api/tags lists them
}

// askedModels returns the model of each POST /v1/messages received.
func (f *fakeOllama) askedModels() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

// find resolves a name as Ollama does ("scripted" is "scripted:latest").
func (f *fakeOllama) find(name string) (fakeModel, bool) {
	if !strings.Contains(name, ":") {
		name += ":latest"
	}
	for _, m := range f.models {
		if m.name == name {
			return m, true
		}
	}
	return fakeModel{}, false
}

func (f *fakeOllama) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	route := map[string]string{
		"/api/version": "GET", "/api/tags": "GET", "/api/ps": "GET", "/api/show": "POST", "/v1/messages": "POST",
	}
	method, ok := route[r.URL.Path]
	switch {
	case !ok:
		text(w, http.StatusNotFound, "404 page not found")
		return
	case r.Method != method && !(method == "GET" && r.Method == http.MethodHead):
		if method == "GET" {
			w.Header().Set("Allow", "HEAD, GET")
		} else {
			w.Header().Set("Allow", method)
		}
		text(w, http.StatusMethodNotAllowed, "405 method not allowed")
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		f.native = append(f.native, r)
		if r.Header.Get("Authorization") != "" || r.Header.Get("X-Api-Key") != "" {
			f.t.Errorf("fake ollama: %s %s carries a credential; the relay's probes and discovery must not", r.Method, r.URL.Path)
		}
	}
	switch r.URL.Path {
	case "/api/version":
		ollamaJSON(w, http.StatusOK, map[string]string{"version": "0.17.4"})
	case "/api/tags":
		type details struct {
			ParentModel string   `json:"parent_model"`
			Format      string   `json:"format"`
			Family      string   `json:"family"`
			Families    []string `json:"families"`
			Size        string   `json:"parameter_size"`
			Quant       string   `json:"quantization_level"`
		}
		type model struct {
			Name       string  `json:"name"`
			Model      string  `json:"model"`
			ModifiedAt string  `json:"modified_at"`
			Size       int     `json:"size"`
			Digest     string  `json:"digest"`
			Details    details `json:"details"`
		}
		out := struct {
			Models []model `json:"models"`
		}{Models: []model{}}
		for i, m := range f.models {
			out.Models = append(out.Models, model{Name: m.name, Model: m.name,
				ModifiedAt: time.Date(2026, 12, 5, 3, 45, 28, 0, time.UTC).Add(-time.Duration(i) * time.Minute).Format(time.RFC3339Nano),
				Size:       1505823, Digest: fmt.Sprintf("%064x", i+1),
				Details: details{Format: "gguf", Family: "llama", Families: []string{"llama"}, Size: "374K", Quant: "unknown"}})
		}
		ollamaJSON(w, http.StatusOK, out)
	case "/api/ps":
		type running struct {
			Name          string `json:"name"`
			Model         string `json:"model"`
			Size          int    `json:"size"`
			ExpiresAt     string `json:"expires_at"`
			SizeVRAM      int    `json:"size_vram"`
			ContextLength int    `json:"context_length"`
		}
		out := struct {
			Models []running `json:"models"`
		}{Models: []running{}}
		for _, m := range f.models {
			if n, ok := f.loaded[m.name]; ok {
				out.Models = append(out.Models, running{Name: m.name, Model: m.name, Size: 1521152,
					ExpiresAt: "2026-12-05T03:55:18.215777415Z", ContextLength: n})
			}
		}
		ollamaJSON(w, http.StatusOK, out)
	case "/api/show":
		b, _ := io.ReadAll(r.Body)
		var req struct {
			Model string `json:"model"`
			Name  string `json:"name"`
		}
		switch err := json.Unmarshal(b, &req); {
		case len(b) == 0:
			ollamaJSON(w, http.StatusBadRequest, map[string]string{"error": "missing request body"})
			return
		case err != nil:
			ollamaJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		name := req.Model
		if name == "" {
			name = req.Name
		}
		if name == "" {
			ollamaJSON(w, http.StatusBadRequest, map[string]string{"error": "model is required"})
			return
		}
		m, ok := f.find(name)
		if !ok {
			ollamaJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("model '%s' not found", name)})
			return
		}
		params := `stop                           "<|end|>"`
		if m.numCtx > 0 {
			params = fmt.Sprintf("num_ctx                        %d\n", m.numCtx) + params
		}
		ollamaJSON(w, http.StatusOK, map[string]any{
			"parameters": params,
			"details":    map[string]any{"format": "gguf", "family": "llama", "families": []string{"llama"}},
			"model_info": map[string]any{
				"general.architecture": "llama", "general.parameter_count": 374400,
				"llama.context_length": m.trained, "llama.embedding_length": 384,
			},
			"capabilities": []string{"completion", "tools"},
			"modified_at":  "2026-12-05T03:45:28.070109594Z",
		})
	case "/v1/messages":
		b, _ := io.ReadAll(r.Body)
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		json.Unmarshal(b, &req)
		f.asked = append(f.asked, req.Model)
		m, ok := f.find(req.Model)
		if !ok {
			// Ollama 0.17.4's answer, byte for byte but the request id.
			body := fmt.Sprintf(`{"type":"error","error":{"type":"not_found_error","message":"model '%s' not found"},"request_id":"req_3ad8412546a01fa390ea1b1f"}`, req.Model)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, body)
			return
		}
		ctx := f.defaultCtx
		if m.numCtx > 0 {
			ctx = m.numCtx
		}
		f.loaded[m.name] = min(ctx, m.trained)
		echo := strings.ReplaceAll
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			io.WriteString(w, echo(string(f.stream), `"model":"scripted"`, `"model":`+quote(req.Model)))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, echo(string(f.nonStream), `"model":"scripted"`, `"model":`+quote(req.Model)))
	}
}

// ollamaJSON answers as Ollama's gin handlers do.
func ollamaJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// text answers with gin's plain-text 404 and 405.
func text(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
