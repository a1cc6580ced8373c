package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"gopkg.in/dnaeon/go-vcr.v2/cassette"
	"gopkg.in/dnaeon/go-vcr.v2/recorder"
)

// hygiene lists features whose strip or degrade keeps a request valid for the provider
// (unknown betas and keys are rejected with 400, max_tokens above the ceiling too): a
// recording keeps their matrix action instead of forcing them through.
var hygiene = []features.Feature{features.AnthropicBeta, features.UnknownFields, features.MaxTokens}

// record runs the selected cases live through the relay, with a go-vcr recorder as the
// provider transport, and writes scrubbed cassettes. Each written cassette is then replayed,
// and that replay is the case's result.
func record(ctx context.Context, opts Options, providers []string, sel []*Case) (*Report, error) {
	if opts.Dir == "" {
		opts.Dir = "cassettes"
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	rep := &Report{Mode: "record"}
	for _, p := range providers {
		pc, err := recordProvider(opts.Config, p, opts.Getenv)
		if err != nil {
			return nil, err
		}
		if opts.BaseURL != "" {
			pc.BaseURL = opts.BaseURL
		}
		pr := ProviderReport{Provider: p}
		for _, c := range sel {
			pr.Results = append(pr.Results, recordCase(ctx, &opts, p, pc, c))
		}
		pr.Matrix = matrixRows(&opts, p, pr.Results)
		rep.Providers = append(rep.Providers, pr)
	}
	rep.Drift = driftOf(rep)
	rep.finish()
	return rep, nil
}

// recordProvider returns the configured provider of a type: the first enabled one of the
// configuration, else one built from the environment (ANTHROPIC_API_KEY, ZAI_API_KEY,
// MINIMAX_API_KEY; the AWS and Google settings for bedrock and vertex), so that a key in the
// environment records even where a configuration file without that provider is found.
func recordProvider(cfg *config.Config, providerType string, getenv func(string) string) (config.Provider, error) {
	if cfg != nil {
		for _, p := range cfg.Providers {
			if p.Type == providerType && p.IsEnabled() {
				return p, nil
			}
		}
	}
	lookup := func(k string) (string, bool) { v := getenv(k); return v, v != "" }
	for _, p := range config.FromEnv(lookup).Providers {
		if p.Type == providerType {
			return p, nil
		}
	}
	switch providerType {
	case config.TypeBedrock, config.TypeVertex:
		// Region, project and credentials come from the environment (AWS_REGION and the AWS
		// credential chain; CLOUD_ML_REGION, ANTHROPIC_VERTEX_PROJECT_ID and ADC).
		return config.Provider{Name: providerType, Type: providerType}, nil
	}
	where := "no configuration"
	if cfg != nil {
		where = "the configuration " + cfg.Source + " has none enabled"
	}
	hint := "set its API key in the environment or pass --config with one"
	if v := envKeyOf(providerType); v != "" {
		hint = "set " + v + " or pass --config with one"
	} else if providerType == config.TypeAzure {
		hint = "pass --config with one (its key and azure_resource_name)"
	}
	return config.Provider{}, fmt.Errorf("conformance: record: no %s provider (%s): %s", providerType, where, hint)
}

// envKeyOf names the environment variable that holds a provider type's API key for
// config.FromEnv, or "" when it has none.
func envKeyOf(providerType string) string {
	switch providerType {
	case config.TypeAnthropic:
		return "ANTHROPIC_API_KEY"
	case config.TypeZAI:
		return "ZAI_API_KEY"
	case config.TypeMiniMax:
		return "MINIMAX_API_KEY"
	}
	return ""
}

// recordCase records one case and replays what it wrote.
func recordCase(ctx context.Context, opts *Options, providerType string, pc config.Provider, c *Case) (res Result) {
	start := time.Now()
	res = Result{Provider: providerType, Case: c.Name, Cassette: "cassettes/" + cassettePath(providerType, c.Name)}
	progress := func(format string, args ...any) {
		fmt.Fprintf(opts.Progress, "%s/%s: %s\n", providerType, c.Name, fmt.Sprintf(format, args...))
	}
	defer func() {
		res.Duration = time.Since(start)
		res.Status = res.status()
	}()
	switch why, na := c.NotApplicable[providerType]; {
	case na:
		res.NotApplicable = why
		progress("not applicable: %s", why)
		return res
	case !c.Provoked:
		res.Skipped = "cannot be provoked live on demand; " + res.Cassette + " stays as it is"
		progress("skipped: %s", res.Skipped)
		return res
	}
	req, err := caseRequest(opts.Requests, c)
	if err != nil {
		res.fail("client request", err.Error())
		return res
	}
	res.ClientRequest = req.file
	progress("recording")

	lr, err := recordLive(ctx, opts, providerType, pc, c, req)
	if err != nil {
		res.fail("live", err.Error())
		progress("FAILED: %v", err)
		return res
	}
	live := Result{Provider: providerType, Case: c.Name}
	evaluateLive(&live, providerType, c, req, lr)
	// A recording is good when the exchange worked; a contradiction of the matrix is drift to
	// report, not a reason to throw the provider's answer away.
	good := len(live.Checks) > 0
	for _, ch := range live.Checks {
		good = good && ch.OK
	}
	target := filepath.Join(opts.Dir, providerType, c.Name+".yaml")
	_, statErr := os.Stat(target)
	exists := statErr == nil
	switch {
	case lr.cassette == nil:
		live.fail("live", "the relay did not call the provider: nothing to write")
	case !good && !opts.Force:
		what := "nothing written"
		if exists {
			what = target + " kept"
		}
		live.fail("write", fmt.Sprintf("the recording failed; %s (use --force to write it anyway)", what))
	default:
		if err := writeRecording(opts.Dir, providerType, c.Name, opts.Note, lr); err != nil {
			live.fail("write", err.Error())
			break
		}
		live.check("write", true, "wrote "+target)
	}
	for i := range live.Checks {
		live.Checks[i].Name = "live: " + live.Checks[i].Name
	}
	res.Checks = append(res.Checks, live.Checks...)
	res.Matrix = live.Matrix
	if written := live.Checks[len(live.Checks)-1]; written.OK {
		rp := *opts
		rp.Cassettes = os.DirFS(opts.Dir)
		replayed := replayCase(ctx, &rp, providerType, c)
		res.Provenance = replayed.Provenance
		for _, ch := range replayed.Checks {
			ch.Name = "replay: " + ch.Name
			res.Checks = append(res.Checks, ch)
		}
		res.Matrix = replayed.Matrix
		for i, o := range live.Matrix {
			if i < len(res.Matrix) && res.Matrix[i].Feature == o.Feature && o.Observed != "" {
				res.Matrix[i].Observed, res.Matrix[i].Evidence = o.Observed, true
			}
		}
	}
	status := "ok"
	if res.status() == Fail {
		status = "FAILED: " + strings.Join(res.Failures(), " | ")
	}
	progress("%s (HTTP %d, %s)", status, lr.ex.status, time.Since(start).Round(time.Millisecond))
	return res
}

// liveRecording is what one live run produced.
type liveRecording struct {
	ex       *exchange
	pl       plan
	forced   []features.Feature
	model    string
	endpoint string
	// cassette is the scrubbed interaction recorded (nil when the provider was not called).
	cassette *cassette.Cassette
	command  string
	when     time.Time
}

// recordLive sends the case's canonical request through a relay whose provider transport is a
// go-vcr recorder in recording mode, and returns what was recorded (already scrubbed).
func recordLive(ctx context.Context, opts *Options, providerType string, pc config.Provider, c *Case, req *ClientRequest) (*liveRecording, error) {
	lr := &liveRecording{when: opts.Now().UTC(), model: req.Model()}
	pc = cloneProvider(pc)
	if !c.KeepModel {
		up := opts.Model
		if c.Thinking && opts.ThinkingModel != "" {
			up = opts.ThinkingModel
		}
		if up != "" {
			pc.ModelMapping[req.Model()] = up
		}
		if m, ok := pc.ModelMapping[req.Model()]; ok {
			lr.model = m
		}
	}
	// Force the probed features and the ones the matrix keeps from the provider to pass: the
	// cassette records the provider's own behaviour, the replay checks the relay's action.
	lr.pl = makePlan(opts.lookup, providerType, req, lr.model, pc.Features)
	for _, u := range lr.pl.uses {
		measured := slices.Contains(c.Probes, u.f) && slices.Contains(observable, u.f)
		forced := measured || slices.Contains(lr.pl.blocking(), u.f)
		if forced && u.cell.Action != features.Pass && !slices.Contains(hygiene, u.f) {
			pc.Features[u.f.String()] = string(features.Pass)
			lr.forced = append(lr.forced, u.f)
		}
	}
	cfg := &config.Config{Server: config.Server{Auth: config.Auth{APIKey: clientKey}}, Providers: []config.Provider{pc}}
	cfg.ApplyDefaults()

	tmp, err := os.MkdirTemp("", "ccrelay-record-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	real := opts.Transport
	if real == nil {
		real = relay.NewTransport(cfg.Server.Timeouts)
	}
	scrub := newScrubber(pc)
	rec, err := recorder.NewAsMode(filepath.Join(tmp, c.Name), recorder.ModeRecording, &tokenCatcher{next: real, s: scrub})
	if err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	rec.AddPassthrough(func(r *http.Request) bool { return !isAPIRequest(r) })
	rec.AddSaveFilter(scrub.filter)
	lr.ex = run(ctx, cfg, rec, nil, req, opts.Getenv)
	if err := rec.Stop(); err != nil {
		return nil, fmt.Errorf("save recording: %w", err)
	}
	lr.ex.sent = nil
	data, err := os.ReadFile(filepath.Join(tmp, c.Name+".yaml"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return lr, nil
	case err != nil:
		return nil, err
	}
	cf, err := parseCassette(append([]byte("# provenance: recorded-live\n"), data...), providerType+"/"+c.Name+".yaml")
	if err != nil {
		return nil, err
	}
	lr.cassette = cf.c
	ix := cf.c.Interactions[0]
	lr.ex.sent = []sentRequest{{Method: ix.Request.Method, URL: ix.Request.URL, Header: ix.Request.Headers, Body: []byte(ix.Request.Body)}}
	if u := ix.Request.URL; u != "" {
		lr.endpoint = u
	}
	lr.command = fmt.Sprintf("ccrelay conform --record --provider %s --case %s", providerType, c.Name)
	if opts.BaseURL != "" {
		lr.command += " --base-url " + opts.BaseURL
	}
	if opts.Model != "" {
		lr.command += " --model " + opts.Model
	}
	if c.Thinking && opts.ThinkingModel != "" {
		lr.command += " --thinking-model " + opts.ThinkingModel
	}
	return lr, nil
}

// cloneProvider copies the maps of a provider configuration so that a recording can edit them.
func cloneProvider(p config.Provider) config.Provider {
	p.ModelMapping = maps.Clone(p.ModelMapping)
	if p.ModelMapping == nil {
		p.ModelMapping = map[string]string{}
	}
	p.Features = maps.Clone(p.Features)
	if p.Features == nil {
		p.Features = map[string]string{}
	}
	p.Keys = slices.Clone(p.Keys)
	return p
}

// isAPIRequest reports whether a request goes to a provider's Messages API (recorded), as
// opposed to a credential endpoint (token, metadata, STS), which passes through unrecorded.
func isAPIRequest(r *http.Request) bool {
	p := r.URL.Path
	return strings.Contains(p, "/v1/messages") || strings.Contains(p, "/publishers/anthropic/models/") ||
		(strings.Contains(p, "/model/") && (strings.HasSuffix(p, "/invoke") || strings.HasSuffix(p, "/invoke-with-response-stream") || strings.HasSuffix(p, "/count-tokens")))
}

// tokenCatcher hands every bearer token the relay sends to the scrubber, so that a token that
// also appears elsewhere in a recording is removed there too.
type tokenCatcher struct {
	next http.RoundTripper
	s    *scrubber
}

// RoundTrip implements http.RoundTripper.
func (t *tokenCatcher) RoundTrip(r *http.Request) (*http.Response, error) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		t.s.addSecret(strings.TrimSpace(tok))
	}
	if k := r.Header.Get("X-Api-Key"); k != "" {
		t.s.addSecret(k)
	}
	return t.next.RoundTrip(r)
}

// evaluateLive checks a live run: the relay answered in the Anthropic form, the answer fits the
// case (unless features were forced through, when any Anthropic-shaped answer is the
// provider's own), and what the answer shows of the matrix.
func evaluateLive(res *Result, providerType string, c *Case, req *ClientRequest, lr *liveRecording) {
	ex := lr.ex
	if ex.err != nil {
		res.fail("relay", ex.err.Error())
		return
	}
	if lr.cassette == nil {
		res.fail("upstream", fmt.Sprintf("the relay answered %d without calling the provider: %s", ex.status, errorMessage(ex.body)))
		return
	}
	if len(lr.forced) > 0 {
		checkShape(res, ex, "")
	} else {
		checkAnswer(res, providerType, c, req, ex)
	}
	for _, u := range lr.pl.uses {
		if !slices.Contains(c.Probes, u.f) {
			continue
		}
		o := Observation{Feature: u.f.String(), Declared: u.cell.Support, Action: u.cell.Action, Evidence: true, OK: true}
		o.Observed, o.Detail = observe(u.f, req, ex)
		if ok, why := agree(u.f, u.cell.Support, o.Observed); !ok {
			o.OK, o.Detail = false, why+" ("+o.Detail+")"
		}
		res.Matrix = append(res.Matrix, o)
	}
}

// writeRecording writes a recorded cassette with its provenance header, and removes a client
// request override left from an earlier cassette (a recording uses the canonical request).
func writeRecording(dir, providerType, caseName, note string, lr *liveRecording) error {
	prov := Provenance{
		Kind: ProvenanceLive,
		Recorded: fmt.Sprintf("%s against %s (upstream model %s) with `%s`",
			lr.when.Format(time.RFC3339), lr.endpoint, lr.model, lr.command),
		ClientRequest: "fixtures/requests/" + caseName + ".json",
	}
	if note != "" {
		prov.Notes = append(prov.Notes, note)
	}
	if len(lr.forced) > 0 {
		prov.Notes = append(prov.Notes, fmt.Sprintf("recorded with %s forced to pass (features: {%s: pass}), so the cassette holds the provider's own answer; the default replay checks the matrix's action instead",
			joinFeatures(lr.forced), joinFeatures(lr.forced)))
	}
	data, err := encodeCassette(prov, providerType, caseName, lr.cassette.Interactions)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, providerType), 0o755); err != nil {
		return fmt.Errorf("conformance: write cassette: %w", err)
	}
	target := filepath.Join(dir, providerType, caseName+".yaml")
	tmp := target + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("conformance: write cassette: %w", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("conformance: write cassette: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, providerType, caseName+overrideSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("conformance: remove stale client request: %w", err)
	}
	return nil
}

// driftOf lists the matrix cells the recordings contradicted or settled.
func driftOf(rep *Report) []Drift {
	var out []Drift
	for _, p := range rep.Providers {
		for _, r := range p.Results {
			for _, o := range r.Matrix {
				if o.Observed == "" || (o.OK && o.Declared != features.Unknown) {
					continue
				}
				d := Drift{Provider: p.Provider, Feature: o.Feature, Declared: o.Declared, Observed: o.Observed, Case: r.Case}
				switch {
				case o.OK:
					d.Detail = fmt.Sprintf("the matrix says unknown; %s shows support %s: %s", p.Provider, o.Observed, o.Detail)
				case rank(o.Observed) > rank(o.Declared):
					d.Detail = fmt.Sprintf("%s now honours %s: %s", p.Provider, o.Feature, o.Detail)
				default:
					d.Detail = fmt.Sprintf("%s no longer supports %s as declared: %s", p.Provider, o.Feature, o.Detail)
				}
				out = append(out, d)
			}
		}
	}
	return out
}

// rank orders support levels.
func rank(s features.Support) int {
	switch s {
	case features.Full:
		return 2
	case features.Partial:
		return 1
	}
	return 0
}
