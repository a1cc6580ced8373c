package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/urfave/cli/v2"
)

// Claude Code's settings keys that `ccrelay cc init` sets.
const (
	envBaseURL   = "ANTHROPIC_BASE_URL"
	envAuthToken = "ANTHROPIC_AUTH_TOKEN"
	// placeholderToken is the token init writes when the relay checks none: Claude Code asks
	// to log in unless it has a credential, and the relay never forwards it.
	placeholderToken = "ccrelay"
)

// ccRecord is what `ccrelay cc init` set in a settings file, kept beside it
// (<settings>.ccrelay, mode 0600: previous values may be credentials) so that `ccrelay cc
// remove` undoes exactly that. The values init set are kept as digests, not copies.
type ccRecord struct {
	Note        string     `json:"note"`
	Settings    string     `json:"settings"`
	Time        string     `json:"time"`
	CreatedFile bool       `json:"created_file,omitempty"`
	CreatedEnv  bool       `json:"created_env,omitempty"`
	Set         []ccRecSet `json:"set"`
}

// ccRecSet is one env key init set: a digest of the value it wrote and the value it replaced.
type ccRecSet struct {
	Key         string  `json:"key"`
	SHA256      string  `json:"sha256"`
	Previous    *string `json:"previous,omitempty"` // nil: the key was not set before
	PreviousSet bool    `json:"previous_set"`
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func recordPath(settings string) string { return settings + ".ccrelay" }

// readRecord reads the record beside a settings file; nil when there is none.
func readRecord(settings string) (*ccRecord, error) {
	data, err := os.ReadFile(recordPath(settings))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r ccRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to start again; it only records what ccrelay cc init set)", recordPath(settings), err)
	}
	return &r, nil
}

func (r *ccRecord) find(key string) *ccRecSet {
	for i := range r.Set {
		if r.Set[i].Key == key {
			return &r.Set[i]
		}
	}
	return nil
}

var settingsFlag = &cli.StringFlag{
	Name: "settings",
	Usage: "Claude Code's settings `FILE` (default $CLAUDE_CONFIG_DIR/settings.json when CLAUDE_CONFIG_DIR is set, " +
		"else ~/.claude/settings.json)",
}

func ccCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "cc",
		Usage: "set up Claude Code to use the relay, check the setup, undo it",
		Subcommands: []*cli.Command{
			ccInitCommand(stdout),
			ccRemoveCommand(stdout),
			ccDoctorCommand(stdout),
		},
	}
}

func ccInitCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "point Claude Code at the relay: set env.ANTHROPIC_BASE_URL and env.ANTHROPIC_AUTH_TOKEN in its settings",
		Description: "Merges into Claude Code's settings.json, keeping every other key in its order: env.ANTHROPIC_BASE_URL\n" +
			"(--url, else the relay configuration's server.listen) and env.ANTHROPIC_AUTH_TOKEN (--token, else the\n" +
			"relay's server.auth.api_key, else the placeholder \"ccrelay\": Claude Code needs a credential to start, and\n" +
			"a relay without a key checks none; with server.auth.allow_subscription and no key it is left alone, so\n" +
			"Claude Code's own login is what the relay forwards). --env KEY=VALUE sets more keys. The file is backed up\n" +
			"first (settings.json.bak-TIME), created with its directory when missing, and left untouched when it is\n" +
			"not valid JSON. What was set is recorded in settings.json.ccrelay for ccrelay cc remove.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "url", Usage: "the relay's `URL` as Claude Code reaches it (default: from server.listen, e.g. http://127.0.0.1:8787)"},
			&cli.StringFlag{Name: "token", Usage: "the `TOKEN` Claude Code sends (default: server.auth.api_key, or a placeholder when the relay has none)"},
			&cli.StringSliceFlag{Name: "env", Usage: "also set env `KEY=VALUE` (repeatable), for example ANTHROPIC_MODEL=claude-sonnet-5-5"},
			settingsFlag,
			configFlag,
		},
		Action: func(c *cli.Context) error {
			path, err := settingsPath(c.String("settings"))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			want, notes, err := initValues(c)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return ccInit(stdout, path, want, notes, time.Now())
		},
	}
}

// settingsPath is --settings, else Claude Code's default settings file.
func settingsPath(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	return defaultSettingsPath(os.Getenv)
}

// kv is one env key and the value to set.
type kv struct{ key, value string }

// initValues works out what init sets: the base URL and token from the flags or the relay
// configuration, and the --env pairs.
func initValues(c *cli.Context) ([]kv, []string, error) {
	var notes []string
	url, token := strings.TrimRight(c.String("url"), "/"), c.String("token")
	setToken := true
	if url == "" || token == "" {
		cfg, src, err := relayConfig(c.String("config"))
		if err != nil {
			return nil, nil, err
		}
		if url == "" {
			listen := cfg.Server.Listen
			if listen == "" {
				listen = config.DefaultListen
			}
			url = describeListen(listen, cfg.Server.Auth).ClientURL
			notes = append(notes, "the URL comes from server.listen of "+src)
		}
		switch {
		case token != "":
		case len(cfg.Server.Auth.Keys) > 0:
			return nil, nil, fmt.Errorf("the relay has client keys (server.auth.keys): pass yours with --token (ccrelay keys new makes one)")
		case cfg.Server.Auth.APIKey != "":
			token = cfg.Server.Auth.APIKey
			notes = append(notes, "the token is server.auth.api_key of "+src)
		case cfg.Server.Auth.AllowSubscription:
			setToken = false
			notes = append(notes, "ANTHROPIC_AUTH_TOKEN is left alone: the relay has server.auth.allow_subscription and no api_key, so log in to Claude Code as usual and the relay passes your subscription to anthropic providers")
		default:
			token = placeholderToken
			notes = append(notes, "the relay has no server.auth.api_key, so it checks no token: ANTHROPIC_AUTH_TOKEN is the placeholder \""+placeholderToken+"\" (Claude Code needs one to start) and is never sent to a provider")
		}
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, nil, fmt.Errorf("--url %q: want an http:// or https:// URL", url)
	}
	want := []kv{{envBaseURL, url}}
	if setToken {
		want = append(want, kv{envAuthToken, token})
	}
	for _, e := range c.StringSlice("env") {
		k, v, ok := strings.Cut(e, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, nil, fmt.Errorf("--env %q: want KEY=VALUE", e)
		}
		if i := slices.IndexFunc(want, func(x kv) bool { return x.key == k }); i >= 0 {
			want[i].value = v
			continue
		}
		want = append(want, kv{k, v})
	}
	return want, notes, nil
}

// relayConfig loads the configuration serve would use (without printing it) and says where
// it came from.
func relayConfig(flag string) (*config.Config, string, error) {
	path, err := config.Find(flag, os.LookupEnv)
	if err != nil {
		return nil, "", err
	}
	if path == "" {
		return config.FromEnv(os.LookupEnv), "the default configuration (no configuration file found)", nil
	}
	cfg, err := loadFile(path)
	if err != nil {
		return nil, "", err
	}
	return cfg, path, nil
}

// ccInit merges want into the env of the settings file at path.
func ccInit(stdout io.Writer, path string, want []kv, notes []string, now time.Time) error {
	s, err := readSettings(path)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	rec, err := readRecord(path)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	next := &ccRecord{
		Note:     "what `ccrelay cc init` set in this settings file; `ccrelay cc remove` undoes it and deletes this file",
		Settings: path, Time: now.UTC().Format(time.RFC3339),
		CreatedFile: !s.exists, CreatedEnv: s.env == nil,
	}
	if rec != nil {
		// A second init keeps what the first one found, so that remove restores the user's values.
		next.CreatedFile, next.CreatedEnv = rec.CreatedFile, rec.CreatedEnv
		for _, r := range rec.Set {
			if slices.IndexFunc(want, func(x kv) bool { return x.key == r.Key }) < 0 {
				next.Set = append(next.Set, r)
			}
		}
	}
	var lines []string
	changed := false
	for _, w := range want {
		cur, had := s.envValue(w.key)
		entry := ccRecSet{Key: w.key, SHA256: digest(w.value)}
		if old := rec.findOrNil(w.key); old != nil && had && digest(cur) == old.SHA256 {
			entry.Previous, entry.PreviousSet = old.Previous, old.PreviousSet // still init's value
		} else if had {
			entry.Previous, entry.PreviousSet = &cur, true
		}
		next.Set = append(next.Set, entry)
		switch {
		case had && cur == w.value:
			lines = append(lines, fmt.Sprintf("env.%s is already %s", w.key, shownValue(w.key, w.value)))
		case had:
			lines = append(lines, fmt.Sprintf("env.%s = %s (was %s)", w.key, shownValue(w.key, w.value), shownValue(w.key, cur)))
			changed = true
		default:
			lines = append(lines, fmt.Sprintf("env.%s = %s", w.key, shownValue(w.key, w.value)))
			changed = true
		}
		s.setEnv(w.key, w.value)
	}
	if !changed && rec != nil {
		fmt.Fprintf(stdout, "%s already points Claude Code at the relay; nothing changed\n", path)
		for _, l := range lines {
			fmt.Fprintln(stdout, "  "+l)
		}
		return nil
	}
	bak, err := s.backup(now.UTC().Format("20060102T150405Z"))
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if err := writeFileAtomic(path, s.bytes(false), s.mode); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("write %s: %w", path, err)}
	}
	data, _ := json.MarshalIndent(next, "", "  ")
	if err := writeFileAtomic(recordPath(path), append(data, '\n'), 0o600); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("write %s: %w", recordPath(path), err)}
	}
	if bak != "" {
		fmt.Fprintf(stdout, "backed up %s to %s\n", path, bak)
		fmt.Fprintf(stdout, "updated %s (every other key kept):\n", path)
	} else {
		fmt.Fprintf(stdout, "created %s:\n", path)
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, "  "+l)
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, "note: "+n)
	}
	if v, ok := s.envValue("ANTHROPIC_API_KEY"); ok && v != "" {
		fmt.Fprintln(stdout, "note: env.ANTHROPIC_API_KEY is set too: Claude Code then sends it as x-api-key as well; remove it unless the relay should get that key")
	}
	fmt.Fprintf(stdout, "recorded in %s; undo with: ccrelay cc remove%s\n", recordPath(path), settingsArg(path))
	fmt.Fprintf(stdout, "check with: ccrelay cc doctor%s\n", settingsArg(path))
	return nil
}

// findOrNil is find on a record that may be nil.
func (r *ccRecord) findOrNil(key string) *ccRecSet {
	if r == nil {
		return nil
	}
	return r.find(key)
}

// settingsArg is the --settings flag to repeat in a suggested command, "" for the default file.
func settingsArg(path string) string {
	if def, err := defaultSettingsPath(os.Getenv); err == nil && def == path {
		return ""
	}
	return " --settings " + path
}

// shownValue is a value as init and remove print it: the placeholder as is, credentials masked.
func shownValue(key, value string) string {
	if value == placeholderToken {
		return value
	}
	return shown(key, value)
}

func ccRemoveCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "remove",
		Usage: "undo ccrelay cc init: restore the env values it replaced, remove the ones it added",
		Description: "Reads settings.json.ccrelay, which ccrelay cc init wrote, and undoes exactly that: a key init set\n" +
			"and nobody changed since gets back the value it had before (or is removed when it had none); a key\n" +
			"changed since is left as it is, and said so. The file is backed up first.",
		Flags: []cli.Flag{settingsFlag},
		Action: func(c *cli.Context) error {
			path, err := settingsPath(c.String("settings"))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return ccRemove(stdout, path, time.Now())
		},
	}
}

// ccRemove undoes what init recorded for the settings file at path.
func ccRemove(stdout io.Writer, path string, now time.Time) error {
	rec, err := readRecord(path)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if rec == nil {
		fmt.Fprintf(stdout, "nothing to undo: %s was not set up by ccrelay cc init (no %s)\n", path, recordPath(path))
		return nil
	}
	s, err := readSettings(path)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	var lines []string
	for _, r := range rec.Set {
		cur, had := s.envValue(r.Key)
		switch {
		case !had:
			lines = append(lines, fmt.Sprintf("env.%s is already gone", r.Key))
		case digest(cur) != r.SHA256:
			lines = append(lines, fmt.Sprintf("env.%s was changed since ccrelay cc init; left as it is (%s)", r.Key, shownValue(r.Key, cur)))
		case r.PreviousSet && r.Previous != nil:
			s.setEnv(r.Key, *r.Previous)
			lines = append(lines, fmt.Sprintf("env.%s restored to %s", r.Key, shownValue(r.Key, *r.Previous)))
		default:
			s.delEnv(r.Key)
			lines = append(lines, fmt.Sprintf("env.%s removed", r.Key))
		}
	}
	dropEnv := rec.CreatedEnv && len(s.env) == 0 && s.top.get("env") != nil
	if s.exists {
		bak, err := s.backup(now.UTC().Format("20060102T150405Z"))
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		out := s.bytes(dropEnv)
		top := s.top
		if dropEnv {
			top = append(object(nil), s.top...).del("env")
		}
		if rec.CreatedFile && len(top) == 0 {
			if err := os.Remove(path); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(stdout, "backed up %s to %s\nremoved %s (ccrelay cc init created it and nothing else is in it)\n", path, bak, path)
		} else {
			if err := writeFileAtomic(path, out, s.mode); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("write %s: %w", path, err)}
			}
			fmt.Fprintf(stdout, "backed up %s to %s\nupdated %s:\n", path, bak, path)
		}
	} else {
		fmt.Fprintf(stdout, "%s does not exist any more:\n", path)
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, "  "+l)
	}
	if err := os.Remove(recordPath(path)); err != nil {
		return &exitError{code: 1, err: err}
	}
	fmt.Fprintf(stdout, "removed %s\n", recordPath(path))
	return nil
}
