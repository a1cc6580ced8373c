package relay

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
)

// ollamaAPI is the part of Ollama's native API the relay reads: the version (health), the
// installed models (discovery), a model's parameters and trained context, and the context of
// the loaded models. It never sends a key: these endpoints need none.
type ollamaAPI struct {
	base string // the provider's base URL without a trailing slash, e.g. http://127.0.0.1:11434
	rt   http.RoundTripper
}

// newOllamaAPI returns the native API of an ollama provider.
func newOllamaAPI(cfg config.Provider, rt http.RoundTripper) ollamaAPI {
	base := cfg.BaseURL
	if base == "" {
		base = config.DefaultBaseURL(config.TypeOllama)
	}
	return ollamaAPI{base: strings.TrimRight(base, "/"), rt: rt}
}

// maxOllamaBody caps what the relay reads of a native API answer (a /api/show answer with its
// template and license is a few tens of KB; tensors are not asked for).
const maxOllamaBody = 4 << 20

// call sends one request to the native API and decodes a 200 answer into out. Any other status
// is an error carrying Ollama's own message ({"error":"..."}).
func (a ollamaAPI) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxOllamaBody))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, http.StatusText(resp.StatusCode), msg)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: not Ollama's answer: %v", method, path, err)
	}
	return nil
}

// version asks GET /api/version.
func (a ollamaAPI) version(ctx context.Context) (string, error) {
	var v struct {
		Version string `json:"version"`
	}
	if err := a.call(ctx, http.MethodGet, "/api/version", nil, &v); err != nil {
		return "", err
	}
	if v.Version == "" {
		return "", fmt.Errorf("GET /api/version: no version in the answer; is this Ollama?")
	}
	return v.Version, nil
}

// tags lists the installed models (GET /api/tags), most recently modified first, as Ollama
// orders them; models modified in the same second, which Ollama leaves in no particular order,
// are ordered by their time in full and then by name, so the first model is the same every time.
func (a ollamaAPI) tags(ctx context.Context) ([]string, error) {
	type model struct {
		Name       string    `json:"name"`
		Model      string    `json:"model"`
		ModifiedAt time.Time `json:"modified_at"`
	}
	var v struct {
		Models *[]model `json:"models"`
	}
	if err := a.call(ctx, http.MethodGet, "/api/tags", nil, &v); err != nil {
		return nil, err
	}
	if v.Models == nil {
		return nil, fmt.Errorf("GET /api/tags: no models array in the answer; is this Ollama?")
	}
	ms := *v.Models
	slices.SortStableFunc(ms, func(a, b model) int {
		return cmp.Or(b.ModifiedAt.Compare(a.ModifiedAt), cmp.Compare(a.Name, b.Name))
	})
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		name := cmp.Or(m.Name, m.Model)
		if name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// modelContext is what POST /api/show tells about a model's context: the length it was trained
// for (model_info "<architecture>.context_length") and num_ctx when its Modelfile sets it.
type modelContext struct {
	trained int
	numCtx  int
}

// show asks POST /api/show {"model": model}.
func (a ollamaAPI) show(ctx context.Context, model string) (modelContext, error) {
	var v struct {
		Parameters string         `json:"parameters"`
		ModelInfo  map[string]any `json:"model_info"`
	}
	if err := a.call(ctx, http.MethodPost, "/api/show", map[string]string{"model": model}, &v); err != nil {
		return modelContext{}, err
	}
	var mc modelContext
	if arch, _ := v.ModelInfo["general.architecture"].(string); arch != "" {
		mc.trained = intOf(v.ModelInfo[arch+".context_length"])
	}
	if mc.trained == 0 { // an architecture key Ollama did not name: any *.context_length
		for k, x := range v.ModelInfo {
			if strings.HasSuffix(k, ".context_length") {
				mc.trained = intOf(x)
				break
			}
		}
	}
	mc.numCtx = parameterInt(v.Parameters, "num_ctx")
	return mc, nil
}

// ps returns the context length of each loaded model (GET /api/ps, whose context_length is the
// num_ctx the model was loaded with), under the names Ollama gives them.
func (a ollamaAPI) ps(ctx context.Context) (map[string]int, error) {
	var v struct {
		Models []struct {
			Name          string `json:"name"`
			Model         string `json:"model"`
			ContextLength int    `json:"context_length"`
		} `json:"models"`
	}
	if err := a.call(ctx, http.MethodGet, "/api/ps", nil, &v); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, m := range v.Models {
		if m.ContextLength <= 0 {
			continue
		}
		for _, n := range []string{m.Name, m.Model} {
			if n != "" {
				out[n] = m.ContextLength
			}
		}
	}
	return out, nil
}

// intOf reads a JSON number.
func intOf(v any) int {
	if f, ok := v.(float64); ok && f > 0 {
		return int(f)
	}
	return 0
}

// parameterInt reads one parameter of /api/show's "parameters" text, whose lines are a name,
// spaces and a value ("num_ctx                        8192").
func parameterInt(params, name string) int {
	for line := range strings.Lines(params) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == name {
			if n, err := strconv.Atoi(f[1]); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// sameOllamaModel reports whether two names are the same Ollama model: Ollama reads "qwen3"
// as "qwen3:latest".
func sameOllamaModel(a, b string) bool {
	return a == b || strings.TrimSuffix(a, ":latest") == strings.TrimSuffix(b, ":latest")
}
