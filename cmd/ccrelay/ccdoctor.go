package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// The model names a current Claude Code sends when nothing overrides them
// (shared/spec/claude-code.md): opus for the main loop, haiku for background requests.
const (
	ccDefaultOpus   = "claude-opus-5-5"
	ccDefaultSonnet = "claude-sonnet-5-5"
	ccDefaultHaiku  = "claude-haiku-5-5"
)

func ccDoctorCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check that Claude Code, as its settings are, works through the relay; print a fix for each failure",
		Description: "Reads Claude Code's settings (env.ANTHROPIC_BASE_URL, the token, the ANTHROPIC_*MODEL overrides; the\n" +
			"environment where the settings say nothing) and checks, one line each: the relay answers at that URL; it\n" +
			"accepts the token; every model Claude Code will ask for (its defaults claude-opus-5-5, claude-sonnet-5-5\n" +
			"and claude-haiku-5-5, or what the settings choose) is served by some provider; every provider is\n" +
			"reachable. Exit status 1 when a check fails.",
		Flags: []cli.Flag{
			settingsFlag,
			&cli.StringFlag{Name: "url", Usage: "check the relay at `URL` instead of the settings' ANTHROPIC_BASE_URL"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "bound on each request to the relay"},
		},
		Action: func(c *cli.Context) error {
			path, err := settingsPath(c.String("settings"))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			d := &doctor{out: stdout, client: &http.Client{Timeout: c.Duration("timeout")}, getenv: os.Getenv}
			d.run(c.Context, path, c.String("url"))
			if d.failed == 0 {
				fmt.Fprintf(stdout, "all %d checks passed: Claude Code will work through the relay at %s\n", d.checks, d.base)
				return nil
			}
			fmt.Fprintf(stdout, "%d of %d checks failed\n", d.failed, d.checks)
			return &exitError{code: 1, err: errors.New("")} // said above
		},
	}
}

// doctor runs the checks of `ccrelay cc doctor` and prints one line per check.
type doctor struct {
	out    io.Writer
	client *http.Client
	getenv func(string) string

	checks, failed int
	// base is the relay's URL; cred the header Claude Code authenticates with.
	base       string
	credHeader string
	credValue  string
}

// ok, fail and skip print a check's line; fail adds the fix on the next line.
func (d *doctor) ok(name, format string, a ...any) {
	d.checks++
	fmt.Fprintf(d.out, "✓ %s: %s\n", name, fmt.Sprintf(format, a...))
}

func (d *doctor) fail(name, fix, format string, a ...any) {
	d.checks++
	d.failed++
	fmt.Fprintf(d.out, "✗ %s: %s\n    fix: %s\n", name, fmt.Sprintf(format, a...), fix)
}

func (d *doctor) skip(name, format string, a ...any) {
	fmt.Fprintf(d.out, "- %s: %s\n", name, fmt.Sprintf(format, a...))
}

// ccEnv is Claude Code's view of one variable: the settings' env first, then the process
// environment.
type ccEnv struct {
	s      *settingsFile
	getenv func(string) string
}

func (e ccEnv) get(key string) (value, from string) {
	if e.s != nil {
		if v, ok := e.s.envValue(key); ok && v != "" {
			return v, "settings"
		}
	}
	if v := e.getenv(key); v != "" {
		return v, "environment"
	}
	return "", ""
}

// run runs every check and reports whether all passed.
func (d *doctor) run(ctx context.Context, path, urlFlag string) bool {
	s, err := readSettings(path)
	switch {
	case err != nil:
		d.fail("settings", "fix the file by hand (a backup may be beside it), then run ccrelay cc init", "%v", err)
		s = nil
	case !s.exists:
		d.fail("settings", "ccrelay cc init"+settingsArg(path), "%s does not exist: Claude Code does not know the relay", path)
	}
	env := ccEnv{s: s, getenv: d.getenv}
	base, from := env.get(envBaseURL)
	if urlFlag != "" {
		base, from = urlFlag, "--url"
	}
	base = strings.TrimRight(base, "/")
	switch {
	case base == "" && s != nil && s.exists:
		d.fail("settings", "ccrelay cc init"+settingsArg(path),
			"%s does not set env.%s (nor does the environment): Claude Code talks to Anthropic directly", path, envBaseURL)
	case base != "" && s != nil:
		d.ok("settings", "%s: %s=%s (from the %s)", path, envBaseURL, base, from)
	}
	if sh := d.getenv(envBaseURL); s != nil && from == "settings" && sh != "" && strings.TrimRight(sh, "/") != base {
		d.skip("environment", "note: your shell also sets %s=%s; make it agree with the settings or unset it", envBaseURL, sh)
	}
	if base == "" {
		d.skip("relay", "not checked: no relay URL")
		return d.failed == 0
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.fail("relay", "ccrelay cc init --url http://HOST:PORT"+settingsArg(path), "%s=%q is not an http:// or https:// URL", envBaseURL, base)
		return false
	}
	d.base = base
	if v, _ := env.get(envAuthToken); v != "" {
		d.credHeader, d.credValue = "Authorization", "Bearer "+v
	} else if v, _ := env.get("ANTHROPIC_API_KEY"); v != "" {
		d.credHeader, d.credValue = "X-Api-Key", v
	}

	health, ok := d.checkRelay(ctx)
	if !ok {
		d.skip("token", "not checked: the relay does not answer")
		d.skip("models", "not checked: the relay does not answer")
		return false
	}
	providers, authed := d.checkToken(ctx, path)
	d.checkModels(ctx, env, s, authed)
	if providers == nil {
		providers = health
	}
	d.checkProviders(providers)
	return d.failed == 0
}

// get sends a request to the relay (with Claude Code's credential when auth) and returns the
// status and body.
func (d *doctor) do(ctx context.Context, method, path, body string, auth bool) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("User-Agent", "ccrelay-cc-doctor")
	if auth && d.credHeader != "" {
		req.Header.Set(d.credHeader, d.credValue)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, resp.Header, b, err
}

// providerInfo is what /v1/providers (or, without the key, /health) says of a provider.
type providerInfo struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Address       string `json:"address"`
	State         string `json:"state"`
	Reachability  string `json:"reachability"`
	LastError     string `json:"last_error"`
	LastFailure   string `json:"last_failure"`
	RetryAt       string `json:"retry_at"`
	KeysAvailable int    `json:"keys_available"`
	KeysCooling   int    `json:"keys_cooling"`
	KeysDisabled  int    `json:"keys_disabled"`
	Keys          []any  `json:"keys"`
}

// errorMessage is the message of an Anthropic error body, or the body itself, shortened.
func errorMessage(b []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// checkRelay checks that ccrelay answers at the base URL, and returns the providers its
// health lists.
func (d *doctor) checkRelay(ctx context.Context) ([]providerInfo, bool) {
	fix := "start the relay (ccrelay serve), or point Claude Code at where it runs: ccrelay cc init --url URL"
	status, _, body, err := d.do(ctx, http.MethodGet, "/v1/health", "", false)
	if err != nil {
		d.fail("relay", fix, "nothing answers at %s (%s)", d.base, shortError(err))
		return nil, false
	}
	var h struct {
		Status    string         `json:"status"`
		Providers []providerInfo `json:"providers"`
	}
	if json.Unmarshal(body, &h) != nil || h.Status == "" {
		d.fail("relay", fix, "%s answers, but not as ccrelay (GET /health: HTTP %d %s)", d.base, status, errorMessage(body))
		return nil, false
	}
	n := 0
	for _, p := range h.Providers {
		if p.Reachability != "unreachable" && p.State != "open" {
			n++
		}
	}
	d.ok("relay", "ccrelay answers at %s (health: %s, %d of %d providers can serve)", d.base, h.Status, n, len(h.Providers))
	return h.Providers, true
}

// checkToken checks that the relay accepts Claude Code's credential (GET /v1/providers needs
// it when the relay has a key) and returns the providers it lists.
func (d *doctor) checkToken(ctx context.Context, path string) ([]providerInfo, bool) {
	status, _, body, err := d.do(ctx, http.MethodGet, "/v1/providers", "", true)
	if err != nil {
		d.fail("token", "see the relay's log", "GET /v1/providers: %s", shortError(err))
		return nil, false
	}
	var ps struct {
		Data []providerInfo `json:"data"`
	}
	switch {
	case status == http.StatusOK && json.Unmarshal(body, &ps) == nil:
	case status == http.StatusUnauthorized && d.credHeader == "":
		d.fail("token", "ccrelay cc init"+settingsArg(path)+" (it writes server.auth.api_key as ANTHROPIC_AUTH_TOKEN)",
			"the relay requires a key (server.auth.api_key), and Claude Code's settings give none")
		return nil, false
	case status == http.StatusUnauthorized:
		d.fail("token", "set env."+envAuthToken+" to the relay's server.auth.api_key: ccrelay cc init"+settingsArg(path),
			"the relay rejects Claude Code's %s: %s", credName(d.credHeader), errorMessage(body))
		return nil, false
	default:
		d.fail("token", "see the relay's log", "GET /v1/providers: HTTP %d %s", status, errorMessage(body))
		return nil, false
	}
	// Does the relay check tokens at all? Ask again without one.
	if d.credHeader == "" {
		d.ok("token", "the relay checks no token (no server.auth.api_key), and the settings give none: Claude Code may ask you to log in; ccrelay cc init sets a placeholder")
	} else if st, _, _, err := d.do(ctx, http.MethodGet, "/v1/providers", "", false); err == nil && st == http.StatusOK {
		d.ok("token", "the relay checks no token (no server.auth.api_key); Claude Code's %s is never sent to a provider", credName(d.credHeader))
	} else {
		d.ok("token", "the relay accepts Claude Code's %s", credName(d.credHeader))
	}
	return ps.Data, true
}

func credName(h string) string {
	if h == "X-Api-Key" {
		return "ANTHROPIC_API_KEY (x-api-key)"
	}
	return "ANTHROPIC_AUTH_TOKEN (Authorization: Bearer)"
}

// ccModel is a model name Claude Code will send, and what for.
type ccModel struct {
	id    string
	roles []string
}

// claudeCodeModels lists the model names Claude Code sends with these settings: its main
// model (--model aside: ANTHROPIC_MODEL, else the settings' "model", else opus), the opus,
// sonnet and haiku aliases (ANTHROPIC_DEFAULT_*_MODEL), the background model
// (ANTHROPIC_SMALL_FAST_MODEL, else haiku) and CLAUDE_CODE_SUBAGENT_MODEL when set.
func claudeCodeModels(env ccEnv, s *settingsFile) []ccModel {
	alias := map[string]string{"opus": ccDefaultOpus, "sonnet": ccDefaultSonnet, "haiku": ccDefaultHaiku}
	for a, key := range map[string]string{"opus": "ANTHROPIC_DEFAULT_OPUS_MODEL", "sonnet": "ANTHROPIC_DEFAULT_SONNET_MODEL", "haiku": "ANTHROPIC_DEFAULT_HAIKU_MODEL"} {
		if v, _ := env.get(key); v != "" {
			alias[a] = v
		}
	}
	resolve := func(m string) string {
		if r, ok := alias[strings.ToLower(m)]; ok {
			return r
		}
		return m
	}
	main := ""
	if v, _ := env.get("ANTHROPIC_MODEL"); v != "" {
		main = v
	} else if s != nil {
		main, _ = stringValue(s.top.get("model"))
	}
	if main == "" || strings.EqualFold(main, "default") {
		main = "opus"
	}
	var out []ccModel
	add := func(id, role string) {
		if i := slices.IndexFunc(out, func(m ccModel) bool { return m.id == id }); i >= 0 {
			out[i].roles = append(out[i].roles, role)
			return
		}
		out = append(out, ccModel{id: id, roles: []string{role}})
	}
	add(resolve(main), "main")
	add(alias["opus"], "opus")
	add(alias["sonnet"], "sonnet")
	add(alias["haiku"], "haiku")
	if v, _ := env.get("ANTHROPIC_SMALL_FAST_MODEL"); v != "" {
		add(resolve(v), "background")
	} else {
		add(alias["haiku"], "background")
	}
	if v, _ := env.get("CLAUDE_CODE_SUBAGENT_MODEL"); v != "" {
		add(resolve(v), "subagents")
	}
	return out
}

// checkModels checks that some provider serves each model Claude Code will ask for: listed
// by GET /v1/models/{id}, else routed by a count_tokens request (which says which provider
// took it, or that none serves the name).
func (d *doctor) checkModels(ctx context.Context, env ccEnv, s *settingsFile, authed bool) {
	if !authed {
		d.skip("models", "not checked: the relay does not accept the token")
		return
	}
	for _, m := range claudeCodeModels(env, s) {
		name := "model " + m.id + " (" + strings.Join(m.roles, ", ") + ")"
		status, _, body, err := d.do(ctx, http.MethodGet, "/v1/models/"+url.PathEscape(m.id), "", true)
		if err == nil && status == http.StatusOK {
			var info struct {
				Description string `json:"description"`
			}
			json.Unmarshal(body, &info)
			d.ok(name, "%s", cmp.Or(info.Description, "listed by the relay"))
			continue
		}
		req := fmt.Sprintf(`{"model":%s,"messages":[{"role":"user","content":"ccrelay cc doctor"}]}`, jsonString(m.id))
		status, h, body, err := d.do(ctx, http.MethodPost, "/v1/messages/count_tokens", req, true)
		fix := "map it in a provider (model_mapping, e.g. \"claude-*\": MODEL) or list it (models:), or choose a model the relay serves" +
			" with env." + modelVar(m.roles) + "; ccrelay config validate lists what each provider serves"
		switch {
		case err != nil:
			d.fail(name, "see the relay's log", "POST /v1/messages/count_tokens: %s", shortError(err))
		case status == http.StatusOK:
			d.ok(name, "served by %s (it took a count_tokens request for it)", cmp.Or(h.Get("X-Ccrelay-Provider"), "a provider"))
		case status == http.StatusNotFound:
			d.fail(name, fix, "no provider serves it: %s", errorMessage(body))
		default:
			d.fail(name, "see the relay's log (GET /v1/providers shows each provider's last failure)",
				"a count_tokens request for it failed: HTTP %d %s", status, errorMessage(body))
		}
	}
}

// modelVar names the variable that chooses the model of a role.
func modelVar(roles []string) string {
	switch roles[0] {
	case "main":
		return "ANTHROPIC_MODEL"
	case "background":
		return "ANTHROPIC_SMALL_FAST_MODEL"
	case "subagents":
		return "CLAUDE_CODE_SUBAGENT_MODEL"
	}
	return "ANTHROPIC_DEFAULT_" + strings.ToUpper(roles[0]) + "_MODEL"
}

// checkProviders checks each provider's reachability, circuit and keys.
func (d *doctor) checkProviders(ps []providerInfo) {
	if len(ps) == 0 {
		d.fail("providers", "add a provider to the relay's configuration (ccrelay config validate)", "the relay has no provider enabled")
		return
	}
	for _, p := range ps {
		name := "provider " + p.Name + " (" + p.Type + ")"
		where := ""
		if p.Address != "" {
			where = " at " + p.Address
		}
		switch {
		case p.Reachability == "unreachable":
			why := cmp.Or(p.LastError, "the last health probe failed")
			d.fail(name, "check providers["+p.Name+"].base_url and that the service runs and is reachable from the relay's machine",
				"unreachable%s (%s)", where, why)
		case p.State == "open":
			d.fail(name, "see the relay's log; the circuit lets a probe through at "+cmp.Or(p.RetryAt, "the end of its cooldown"),
				"its circuit is open after repeated failures (%s)", cmp.Or(p.LastFailure, "see the log"))
		case len(p.Keys) > 0 && p.KeysAvailable == 0 && p.KeysDisabled > 0:
			d.fail(name, "check the provider's keys: a disabled key was rejected by the provider (401, 403 or no balance)",
				"no key available (%d disabled, %d cooling down)", p.KeysDisabled, p.KeysCooling)
		case p.Reachability == "unknown" || p.Reachability == "":
			d.skip(name, "reachability not checked (before the first health probe, or routing.health_interval: 0s)")
		default:
			d.ok(name, "reachable%s", where)
		}
	}
}

// shortError is an error without the method and URL net/http puts in front.
func shortError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}
