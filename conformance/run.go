package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/ccrelay/ccrelay"
	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/ccrelay/ccrelay/relay/sse"
	"gopkg.in/dnaeon/go-vcr.v2/cassette"
)

// Options configures Run.
type Options struct {
	// Providers lists the provider types to run; empty means all seven.
	Providers []string
	// Case runs one case only ("" runs all).
	Case string
	// Cassettes is the cassettes directory (<provider>/<case>.yaml); nil means the cassettes
	// embedded in the binary.
	Cassettes fs.FS
	// Requests is the canonical requests directory (<case>.json); nil means the embedded
	// fixtures/requests.
	Requests fs.FS

	// Record runs the cases live and writes cassettes to Dir instead of replaying.
	Record bool
	// Force lets a recording replace a cassette that replays well with one that failed.
	Force bool
	// Dir is the directory Record writes to; "" means ./cassettes.
	Dir string
	// Config holds the providers to record with (their credentials, base URLs, regions). In
	// replay only its features overrides are used, per provider type.
	Config *config.Config
	// Model and ThinkingModel, when set, are the upstream models recorded cases are mapped to
	// (ThinkingModel for the cases that need thinking).
	Model, ThinkingModel string
	// BaseURL, when set, replaces the base URL of the provider a recording calls: a regional
	// endpoint, a gateway, or a local stand-in in tests. Replays ignore it (they call the URL
	// each cassette recorded).
	BaseURL string
	// Getenv reads the environment when recording; nil means os.Getenv. Replays never read it.
	Getenv func(string) string
	// Transport is the real transport of a recording; nil means relay.NewTransport.
	Transport http.RoundTripper
	// Note is added to the provenance of every recorded cassette (what the provider was: a
	// server version, a deployment).
	Note string
	// Progress receives one line per recorded case; nil discards.
	Progress io.Writer
	// Now is the clock of recordings; nil means time.Now.
	Now func() time.Time

	// lookup reads the matrix; nil means features.Lookup. Tests replace it to break cells.
	lookup func(providerType string, f features.Feature) features.Cell
	// wrap, when set, wraps the provider transport of every replay. Tests use it to simulate a
	// relay that sends something else upstream.
	wrap func(http.RoundTripper) http.RoundTripper
	// mutate, when set, edits the relay configuration of every replay. Tests use it to give
	// the relay a wrong model mapping.
	mutate func(*config.Config)
}

// Run runs the conformance cases for the selected providers: replays by default, live
// recordings with opts.Record. It returns an error only when the run could not start (unknown
// provider or case, unreadable fixtures); failed cases are in the report (see Report.OK).
func Run(ctx context.Context, opts Options) (*Report, error) {
	if claudeCodeErr != nil {
		return nil, fmt.Errorf("conformance: the Claude Code recordings: %w", claudeCodeErr)
	}
	providers, err := selectProviders(opts.Providers)
	if err != nil {
		return nil, err
	}
	sel, err := selectCases(opts.Case)
	if err != nil {
		return nil, err
	}
	if opts.Cassettes == nil {
		if opts.Cassettes, err = fs.Sub(ccrelay.Cassettes, "cassettes"); err != nil {
			return nil, fmt.Errorf("conformance: embedded cassettes: %w", err)
		}
	}
	if opts.Requests == nil {
		if opts.Requests, err = fs.Sub(ccrelay.Requests, "fixtures/requests"); err != nil {
			return nil, fmt.Errorf("conformance: embedded requests: %w", err)
		}
	}
	if opts.lookup == nil {
		opts.lookup = features.Lookup
	}
	if opts.Record {
		return record(ctx, opts, providers, sel)
	}
	rep := &Report{Mode: "replay"}
	for _, p := range providers {
		pr := ProviderReport{Provider: p}
		for _, c := range sel {
			pr.Results = append(pr.Results, replayCase(ctx, &opts, p, c))
		}
		pr.Matrix = matrixRows(&opts, p, pr.Results)
		rep.Providers = append(rep.Providers, pr)
	}
	rep.finish()
	return rep, nil
}

// selectProviders checks the requested provider types; none means all.
func selectProviders(in []string) ([]string, error) {
	if len(in) == 0 {
		return slices.Clone(config.Types), nil
	}
	var out []string
	for _, p := range in {
		if !slices.Contains(config.Types, p) {
			return nil, fmt.Errorf("conformance: unknown provider type %q; want one of %s", p, strings.Join(config.Types, ", "))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// selectCases returns the named case, or all of them.
func selectCases(name string) ([]*Case, error) {
	if name == "" {
		out := make([]*Case, len(cases))
		for i := range cases {
			out[i] = &cases[i]
		}
		return out, nil
	}
	c, ok := caseByName(name)
	if !ok {
		return nil, fmt.Errorf("conformance: unknown case %q; cases: %s", name, strings.Join(caseNames(), ", "))
	}
	return []*Case{c}, nil
}

// configOverrides returns the features overrides Options.Config sets for a provider type.
func (o *Options) configOverrides(providerType string) map[string]string {
	if o.Config == nil {
		return nil
	}
	for _, p := range o.Config.Providers {
		if p.Type == providerType && p.IsEnabled() && len(p.Features) > 0 {
			return p.Features
		}
	}
	return nil
}

// replayCase replays one case against one provider type's cassette.
func replayCase(ctx context.Context, opts *Options, providerType string, c *Case) (res Result) {
	start := time.Now()
	res = Result{Provider: providerType, Case: c.Name, Cassette: "cassettes/" + cassettePath(providerType, c.Name)}
	defer func() {
		res.Duration = time.Since(start)
		res.Status = res.status()
	}()
	if why, ok := c.NotApplicable[providerType]; ok {
		res.NotApplicable = why
		return res
	}
	cf, err := loadCassette(opts.Cassettes, providerType, c.Name)
	if err != nil {
		if errors.Is(err, errNoCassette) {
			res.fail("cassette", fmt.Sprintf("%s is missing; record it with `ccrelay conform --record --provider %s --case %s`"+
				" (derived cassettes are regenerated with `go test ./conformance -run TestCassettesUpToDate -update`)",
				res.Cassette, providerType, c.Name))
			return res
		}
		res.fail("cassette", err.Error())
		return res
	}
	res.Provenance = cf.prov
	req, err := clientRequestFor(opts, providerType, c)
	if err != nil {
		res.fail("client request", err.Error())
		return res
	}
	res.ClientRequest = req.file
	evaluate(ctx, opts, &res, providerType, c, cf, req)
	return res
}

// clientRequestFor returns the cassette's client request override, or the case's canonical
// request.
func clientRequestFor(opts *Options, providerType string, c *Case) (*ClientRequest, error) {
	req, err := loadOverride(opts.Cassettes, providerType, c.Name)
	if err != nil || req != nil {
		return req, err
	}
	return caseRequest(opts.Requests, c)
}

// firstInteraction returns a cassette's interaction, or nil.
func firstInteraction(cf *cassetteFile) *cassette.Interaction {
	if cf == nil || len(cf.c.Interactions) == 0 {
		return nil
	}
	return cf.c.Interactions[0]
}

// exchange is what happened when the client sent one request through the relay.
type exchange struct {
	status int
	header http.Header
	// trailer holds the trailers of a streamed answer, read once its body has ended
	// (X-Ccrelay-Degraded announces the stream repairs there).
	trailer http.Header
	// body is the response body of a response that is not a stream.
	body []byte
	// stream reports a text/event-stream response; events are its events in order.
	stream bool
	events []sse.Event
	// grammar is the sse.Checker verdict over the stream (nil when valid).
	grammar error
	// msg is the assembled message (from the stream, or from a JSON body); msgErr says why
	// there is none.
	msg    sse.Message
	msgErr error
	// sent are the requests the relay sent upstream; used reports whether the cassette's
	// interaction was served, and mismatch why a request did not match it.
	sent     []sentRequest
	used     bool
	mismatch string
	// stalls are the upstream chunks the relay asked for before the client had the events
	// before them (a sign of buffering).
	stalls []int
	// err is a client-side failure (the relay never answered).
	err error
}

// run sends req through a relay built from cfg whose provider transport is tr.
func run(ctx context.Context, cfg *config.Config, tr http.RoundTripper, g *gate, req *ClientRequest, getenv func(string) string) *exchange {
	ex := &exchange{}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	h, err := relay.New(ctx, relay.Options{
		Config:    cfg,
		Transport: tr,
		Getenv:    getenv,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		ex.err = fmt.Errorf("build relay: %w", err)
		return ex
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	hr, err := http.NewRequestWithContext(ctx, req.Method, srv.URL+req.Path, bytes.NewReader(req.Body))
	if err != nil {
		ex.err = err
		return ex
	}
	hr.Header = req.header()
	hr.Header.Set("X-Api-Key", clientKey)
	resp, err := srv.Client().Do(hr)
	if err != nil {
		ex.err = fmt.Errorf("send to relay: %w", err)
		return ex
	}
	defer resp.Body.Close()
	ex.status, ex.header = resp.StatusCode, resp.Header
	if mediaType(resp.Header.Get("Content-Type")) != "text/event-stream" {
		ex.body, err = io.ReadAll(resp.Body)
		if err != nil {
			ex.err = fmt.Errorf("read relay response: %w", err)
		}
		if ex.status == http.StatusOK && !req.isCount() {
			ex.msg, ex.msgErr = sse.FromJSON(ex.body)
		}
		return ex
	}
	ex.stream = true
	rd := sse.NewReader(resp.Body)
	var chk sse.Checker
	var acc sse.Accumulator
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if ev.Raw != nil {
			ex.events = append(ex.events, ev.Clone())
			if g != nil {
				g.inc()
			}
		}
		if err != nil {
			ex.grammar = fmt.Errorf("read stream: %w", err)
			break
		}
		if ferr := chk.Feed(ev); ferr != nil && ex.grammar == nil {
			ex.grammar = ferr
		}
		if ferr := acc.Feed(ev); ferr != nil && ex.msgErr == nil {
			ex.msgErr = ferr
		}
	}
	if ex.grammar == nil {
		ex.grammar = chk.End()
	}
	ex.msg = acc.Message()
	io.Copy(io.Discard, resp.Body) // the trailers arrive after the last byte of the body
	ex.trailer = resp.Trailer
	return ex
}
