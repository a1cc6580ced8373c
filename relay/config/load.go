package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
)

// Load reads, expands and validates the configuration file at path, taking ${VAR} values from
// the process environment. It is LoadWith(path, os.LookupEnv).
func Load(path string) (*Config, error) { return LoadWith(path, os.LookupEnv) }

// LoadWith reads, expands and validates the configuration file at path, taking ${VAR} values
// from lookup.
func LoadWith(path string, lookup func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path, lookup)
}

// Parse decodes a configuration from data, choosing the format by the extension of filename
// (.yaml or .yml for YAML, .toml for TOML), then expands ${VAR} from lookup (nil means that no
// variable is set), applies defaults and validates. Every problem found is returned at once, as
// an *Error. Non-fatal findings are in the result's Warnings.
func Parse(data []byte, filename string, lookup func(string) (string, bool)) (*Config, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	var (
		root     *node
		problems []Problem
		isTOML   bool
	)
	switch ext := strings.ToLower(filepath.Ext(filename)); ext {
	case ".yaml", ".yml":
		root, problems = parseYAML(data, filename)
	case ".toml":
		isTOML = true
		root, problems = parseTOML(data, filename)
	default:
		return nil, fmt.Errorf("config: %s: unsupported file extension %q: want .yaml, .yml or .toml", filename, ext)
	}
	if root == nil {
		return nil, &Error{Problems: problems}
	}

	d := &decoder{file: filename, toml: isTOML, lookup: lookup, problems: problems, lines: map[string]int{}}
	cfg := &Config{Source: filename}
	if isTOML {
		d.fixTOMLModels(root)
	}
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	for _, p := range d.unset {
		if i, ok := providerIndex(p.Path); ok && i < len(cfg.Providers) && !cfg.Providers[i].IsEnabled() {
			continue
		}
		d.problems = append(d.problems, p)
		d.failed = append(d.failed, p.Path)
	}
	cfg.ApplyDefaults()

	verrs, vwarns := cfg.check()
	for _, p := range verrs {
		if d.hasFailed(p.Path) {
			continue
		}
		p.File, p.Line = filename, d.lineOf(p.Path)
		d.problems = append(d.problems, p)
	}
	for _, p := range vwarns {
		p.File, p.Line = filename, d.lineOf(p.Path)
		d.warnings = append(d.warnings, p)
	}
	if len(d.problems) > 0 {
		sortProblems(d.problems)
		return nil, &Error{Problems: d.problems}
	}
	cfg.Lines = Lines{m: d.lines}
	sortProblems(d.warnings)
	for _, w := range d.warnings {
		cfg.Warnings = append(cfg.Warnings, w.String())
	}
	return cfg, nil
}

// hasFailed reports whether path, or a key above or below it, already had a decoding problem.
func (d *decoder) hasFailed(path string) bool {
	for _, f := range d.failed {
		if f == "" || f == path || isUnder(path, f) || isUnder(f, path) {
			return true
		}
	}
	return false
}

// isUnder reports whether path is a key below parent.
func isUnder(path, parent string) bool {
	return strings.HasPrefix(path, parent) && len(path) > len(parent) &&
		(path[len(parent)] == '.' || path[len(parent)] == '[')
}

// providerIndex returns N of a path that starts with providers[N].
func providerIndex(path string) (int, bool) {
	rest, ok := strings.CutPrefix(path, "providers[")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "]")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(num)
	return i, err == nil
}

// ApplyDefaults fills the keys whose zero value means a default: server.listen,
// server.max_body_bytes and routing.strategy. Load and FromEnv call it; a Config built by hand
// should call it before Validate.
func (c *Config) ApplyDefaults() {
	if c.Server.Listen == "" {
		c.Server.Listen = DefaultListen
	}
	if c.Server.MaxBodyBytes == 0 {
		c.Server.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Routing.Strategy == "" {
		c.Routing.Strategy = StrategyFailover
	}
}
