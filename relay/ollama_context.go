package relay

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ccrelay/ccrelay/relay/estimate"
)

// Ollama's context. Ollama gives a model a context of num_ctx tokens: the request's option,
// else the model's Modelfile PARAMETER, else the server's OLLAMA_CONTEXT_LENGTH, else a default
// chosen by VRAM (4096 below 23 GiB, 32768 below 47 GiB, 262144 above; Ollama 0.17), never more
// than the length the model was trained for. A longer prompt is cut to its last num_ctx tokens
// without an error. The Anthropic compatibility endpoint sets no num_ctx, and Claude Code's
// first request alone is about 10k tokens.
const (
	// ollamaDefaultContext is what the relay assumes when Ollama has not said: its default on
	// a machine without a large GPU.
	ollamaDefaultContext = 4096
	// claudeCodeContext is the context below which the relay warns at start: Claude Code's
	// system prompt and tools are about 10k tokens before the conversation starts.
	claudeCodeContext = 16384
	// maxShowLookups bounds the /api/show calls of one discovery.
	maxShowLookups = 32
	// lazyDiscoveryEvery is the least time between two discoveries started by requests.
	lazyDiscoveryEvery = 5 * time.Second
	// lazyDiscoveryBound bounds a discovery a request waits for.
	lazyDiscoveryBound = 2 * time.Second
)

// ollamaState is what the relay knows of an ollama provider's native API. It exists from
// Relay.Start on; before it (and in tests that replay recorded traffic) nothing is asked.
type ollamaState struct {
	api ollamaAPI
	// discover is true when the configuration leaves the provider open (discoverable).
	discover bool

	mu      sync.Mutex
	shown   map[string]modelContext // POST /api/show answers, by canonical model name
	loaded  map[string]int          // GET /api/ps context_length, by canonical model name
	warned  map[string]bool         // models whose context warning was logged
	running chan struct{}           // closed when the discovery in progress ends
	lastTry time.Time               // start of the last discovery
	version string                  // GET /api/version
}

func newOllamaState(api ollamaAPI, discover bool) *ollamaState {
	return &ollamaState{api: api, discover: discover, shown: map[string]modelContext{}, loaded: map[string]int{}, warned: map[string]bool{}}
}

// canonicalModel is the name Ollama resolves a model name to: "qwen3" is "qwen3:latest".
func canonicalModel(name string) string {
	if strings.Contains(name[strings.LastIndexByte(name, '/')+1:], ":") {
		return name
	}
	return name + ":latest"
}

// rediscover runs fn, the discovery, unless one is running (then it waits for that one, or for
// ctx) or, when not forced, one started less than lazyDiscoveryEvery ago.
func (o *ollamaState) rediscover(ctx context.Context, force bool, now func() time.Time, fn func(context.Context)) {
	o.mu.Lock()
	if ch := o.running; ch != nil {
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return
	}
	if !force && !o.lastTry.IsZero() && now().Sub(o.lastTry) < lazyDiscoveryEvery {
		o.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	o.running, o.lastTry = ch, now()
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.running = nil
		o.mu.Unlock()
		close(ch)
	}()
	if !force { // a request's discovery: bounded, and not cut short by that client leaving
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), lazyDiscoveryBound)
		defer cancel()
	}
	fn(ctx)
}

// learnContexts asks /api/show about the models not asked before (at most maxShowLookups) and
// /api/ps about the loaded ones. Failures leave what was known.
func (o *ollamaState) learnContexts(ctx context.Context, models []string) {
	o.mu.Lock()
	var ask []string
	for _, m := range models {
		if _, ok := o.shown[canonicalModel(m)]; !ok && len(ask) < maxShowLookups {
			ask = append(ask, m)
		}
	}
	o.mu.Unlock()
	for _, m := range ask {
		mc, err := o.api.show(ctx, m)
		if err != nil {
			continue
		}
		o.mu.Lock()
		o.shown[canonicalModel(m)] = mc
		o.mu.Unlock()
	}
	o.learnLoaded(ctx)
}

// learnLoaded asks /api/ps for the context of the loaded models.
func (o *ollamaState) learnLoaded(ctx context.Context) {
	ps, err := o.api.ps(ctx)
	if err != nil {
		return
	}
	loaded := make(map[string]int, len(ps))
	for m, n := range ps {
		loaded[canonicalModel(m)] = n
	}
	o.mu.Lock()
	o.loaded = loaded
	o.mu.Unlock()
}

// ctxLimit is the context Ollama gives a model, with where the relay learned it.
type ctxLimit struct {
	tokens  int
	trained int // the model's trained context; 0 when unknown
	// source is "loaded" (GET /api/ps of the loaded model: exact), "num_ctx" (the model's
	// Modelfile) or "default" (assumed: Ollama's default without a large GPU).
	source string
}

// describe says where the limit comes from.
func (l ctxLimit) describe() string {
	switch l.source {
	case "loaded":
		return "reported by Ollama for the loaded model"
	case "num_ctx":
		return "num_ctx in the model's Modelfile"
	}
	return "Ollama's default without a large GPU, unless its server sets OLLAMA_CONTEXT_LENGTH; `ollama ps` shows the real value once the model is loaded"
}

// short is describe in a few words.
func (l ctxLimit) short() string {
	switch l.source {
	case "loaded":
		return "as loaded"
	case "num_ctx":
		return "num_ctx in its Modelfile"
	}
	return "assumed: Ollama's default"
}

// limit returns the context Ollama gives model, when the relay knows the model.
func (o *ollamaState) limit(model string) (ctxLimit, bool) {
	key := canonicalModel(model)
	o.mu.Lock()
	defer o.mu.Unlock()
	mc, shown := o.shown[key]
	if n, ok := o.loaded[key]; ok {
		return ctxLimit{tokens: n, trained: mc.trained, source: "loaded"}, true
	}
	if !shown {
		return ctxLimit{}, false
	}
	l := ctxLimit{tokens: ollamaDefaultContext, trained: mc.trained, source: "default"}
	if mc.numCtx > 0 {
		l.tokens, l.source = mc.numCtx, "num_ctx"
	}
	if mc.trained > 0 && l.tokens > mc.trained {
		l.tokens = mc.trained
	}
	return l, true
}

// advice explains that a prompt of need tokens does not fit and what to change.
func (l ctxLimit) advice(model string, need int) string {
	s := fmt.Sprintf("Ollama gives %q a context of %d tokens (%s) and silently cuts a longer prompt to its last %d tokens, so the model loses the start of the conversation (Claude Code's system prompt and tools come first). ",
		model, l.tokens, l.describe(), l.tokens)
	if l.trained > 0 && need > l.trained {
		return s + fmt.Sprintf("The model was trained for only %d tokens: choose one with a longer context (%s).", l.trained, envOllamaModel)
	}
	want := suggestContext(need, l.trained)
	if l.source == "num_ctx" {
		return s + fmt.Sprintf("Its Modelfile sets num_ctx, which OLLAMA_CONTEXT_LENGTH does not override: create a variant with PARAMETER num_ctx %d.", want)
	}
	return s + fmt.Sprintf("Restart Ollama with a larger context: OLLAMA_CONTEXT_LENGTH=%d ollama serve.", want)
}

// suggestContext is a context for a prompt of need tokens: a power of two with room for the
// answer, at least 32768, and no more than the trained length when that is enough.
func suggestContext(need, trained int) int {
	want := 32768
	for want < need+need/4 {
		want *= 2
	}
	if trained >= need && want > trained {
		want = trained
	}
	return want
}

// contextWarning returns the warning for a request of about est input tokens to model on u,
// or "" when it fits or the relay does not know the model's context.
func (u *upstream) contextWarning(model string, est int) string {
	o := u.discovered.ollama.Load()
	if o == nil {
		return ""
	}
	l, ok := o.limit(model)
	if !ok || est <= l.tokens {
		return ""
	}
	return fmt.Sprintf("%s: a request for %q is about %d input tokens. %s", u.cfg.Name, model, est, l.advice(model, est))
}

// checkContext logs, once per model, that a request about to be sent to an ollama provider is
// larger than the context Ollama gives the model (Ollama would cut it silently). body is the
// request's body; model is the upstream model id. It costs nothing for other providers, before
// Relay.Start, and once the model's warning was logged.
func (r *Relay) checkContext(u *upstream, model string, body []byte) {
	o := u.discovered.ollama.Load()
	if o == nil {
		return
	}
	key := canonicalModel(model)
	o.mu.Lock()
	done := o.warned[key]
	o.mu.Unlock()
	if done {
		return
	}
	msg := u.contextWarning(model, estimate.Tokens(body))
	if msg == "" {
		return
	}
	o.mu.Lock()
	done, o.warned[key] = o.warned[key], true
	o.mu.Unlock()
	if !done {
		r.log.LogAttrs(context.Background(), slog.LevelWarn, msg, slog.String("provider", u.cfg.Name), slog.String("model", model))
	}
}
