package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ccrelay/ccrelay/conformance"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/urfave/cli/v2"
)

// conformCommand is `ccrelay conform`: replay the conformance cases against the cassettes (no
// keys, no network), or record them live with --record.
func conformCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "conform",
		Usage: "check the relay against each provider's recorded behaviour (replay), or record it live (--record)",
		UsageText: "ccrelay conform --provider TYPE|--all [--case NAME] [--cassettes DIR] [--format text|markdown|json|junit] [--out FILE]\n" +
			"ccrelay conform --record --provider TYPE [--config FILE] [--base-url URL] [--case NAME] [--model M] [--thinking-model M] [--note TEXT] [--force]",
		Description: "Replay (the default) sends each case's request through the real relay, with the provider's network\n" +
			"replaced by its cassette (cassettes/<provider>/<case>.yaml), and checks the upstream request, the\n" +
			"SSE grammar, the assembled message, errors and the feature matrix. It needs no keys and no network.\n" +
			"Cassettes come from ./cassettes when run from a clone, else from the copy built into the binary.\n" +
			"The report ends with one line per provider saying what its cases rest on, of this form:\n" +
			"  zai: 21 passed — 0 recorded, 6 documented, 12 derived, 3 relay-only\n" +
			"recorded: recorded live (--record) or public real traffic; documented: an example printed in the\n" +
			"vendor's documentation; derived: written by ccrelay from the documentation; relay-only: the relay\n" +
			"answers the case itself. JUnit carries the counts as testsuite properties (cassettes.recorded, ...).\n\n" +
			"--record runs the cases live with the provider's credentials (--config, or ANTHROPIC_API_KEY,\n" +
			"ZAI_API_KEY, MINIMAX_API_KEY and the AWS and Google settings), writes scrubbed recorded-live\n" +
			"cassettes, replays them, and reports where the provider contradicts the matrix (drift), e.g.\n" +
			"  ZAI_API_KEY=... ccrelay conform --provider zai --record --model glm-4.6\n" +
			"A failed recording never replaces a cassette unless --force.\n\n" +
			"Exit status: 0 when every case passes, 1 when one fails, 2 on a usage or setup error.\n" +
			"Provider types: " + strings.Join(config.Types, ", ") + ".",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "provider", Aliases: []string{"p"}, Usage: "provider `TYPE` to check (repeat or comma-separate for several)"},
			&cli.BoolFlag{Name: "all", Usage: "check every provider type"},
			&cli.StringFlag{Name: "case", Usage: "run only the case `NAME`"},
			&cli.StringFlag{Name: "cassettes", Usage: "cassettes `DIR` (default ./cassettes when present, else the cassettes built into the binary)"},
			&cli.StringFlag{Name: "format", Value: conformance.FormatText, Usage: "report `FORMAT`: " + strings.Join(conformance.Formats, ", ")},
			&cli.StringFlag{Name: "out", Usage: "write the report to `FILE` instead of standard output"},
			&cli.BoolFlag{Name: "record", Usage: "run the cases live and write cassettes (needs the provider's credentials)"},
			&cli.BoolFlag{Name: "force", Usage: "with --record, write a recording even when it failed"},
			configFlag,
			&cli.StringFlag{Name: "base-url", Usage: "with --record, call the provider at `URL` instead of its configured or default base URL"},
			&cli.StringFlag{Name: "model", Usage: "with --record, the upstream `MODEL` the cases' client model is mapped to"},
			&cli.StringFlag{Name: "thinking-model", Usage: "with --record, the upstream `MODEL` for the cases that need thinking"},
			&cli.StringFlag{Name: "note", Usage: "with --record, a `NOTE` for the cassettes' provenance (the provider's version or deployment)"},
			&cli.BoolFlag{Name: "list", Usage: "list the cases and exit"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("list") {
				for _, k := range conformance.Cases() {
					fmt.Fprintf(stdout, "%-22s %s\n", k.Name, k.Title)
				}
				return nil
			}
			opts, err := conformOptions(c, stderr)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			rep, err := conformance.Run(c.Context, opts)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			out := stdout
			if path := c.String("out"); path != "" {
				f, err := os.Create(path)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("conform: %w", err)}
				}
				defer f.Close()
				out = f
			}
			if err := rep.Write(out, c.String("format")); err != nil {
				return &exitError{code: 2, err: err}
			}
			if path := c.String("out"); path != "" {
				for i := range rep.Providers {
					fmt.Fprintln(stdout, rep.Providers[i].Line())
				}
				n := rep.Counts()
				fmt.Fprintf(stdout, "conform: %d passed, %d failed; report written to %s\n", n[conformance.Pass], n[conformance.Fail], path)
			}
			if !rep.OK() {
				return &exitError{code: 1, err: errors.New("")}
			}
			return nil
		},
	}
}

// conformOptions turns the flags into conformance.Options.
func conformOptions(c *cli.Context, stderr io.Writer) (conformance.Options, error) {
	var opts conformance.Options
	format := c.String("format")
	if !slices.Contains(conformance.Formats, format) {
		return opts, fmt.Errorf("conform: --format %q: want one of %s", format, strings.Join(conformance.Formats, ", "))
	}
	for _, v := range c.StringSlice("provider") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				opts.Providers = append(opts.Providers, p)
			}
		}
	}
	switch {
	case c.Bool("all") && len(opts.Providers) > 0:
		return opts, errors.New("conform: use --provider or --all, not both")
	case !c.Bool("all") && len(opts.Providers) == 0:
		return opts, fmt.Errorf("conform: name the provider to check with --provider TYPE (one of %s), or use --all", strings.Join(config.Types, ", "))
	}
	opts.Case = c.String("case")
	opts.Record, opts.Force = c.Bool("record"), c.Bool("force")
	opts.Model, opts.ThinkingModel, opts.Note = c.String("model"), c.String("thinking-model"), c.String("note")
	opts.BaseURL = strings.TrimRight(c.String("base-url"), "/")
	if !opts.Record && (opts.Force || opts.Model != "" || opts.ThinkingModel != "" || opts.Note != "" || opts.BaseURL != "") {
		return opts, errors.New("conform: --force, --base-url, --model, --thinking-model and --note go with --record")
	}
	if opts.BaseURL != "" {
		if u, err := url.Parse(opts.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return opts, fmt.Errorf("conform: --base-url %q: want an absolute http(s) URL", opts.BaseURL)
		}
	}

	dir := c.String("cassettes")
	switch {
	case dir != "":
		if fi, err := os.Stat(dir); (err != nil || !fi.IsDir()) && !opts.Record {
			return opts, fmt.Errorf("conform: --cassettes %s is not a directory", dir)
		}
	case dirExists("cassettes"):
		dir = "cassettes"
	case opts.Record:
		dir = "cassettes"
	}
	if dir != "" {
		opts.Cassettes, opts.Dir = os.DirFS(dir), dir
		if req := filepath.Join(filepath.Dir(filepath.Clean(dir)), "fixtures", "requests"); dirExists(req) {
			opts.Requests = os.DirFS(req)
		}
		fmt.Fprintf(stderr, "conform: cassettes from %s\n", dir)
	} else {
		fmt.Fprintln(stderr, "conform: cassettes built into the binary (no ./cassettes here; --cassettes DIR to use others)")
	}

	if path := c.String("config"); path != "" {
		cfg, err := loadFile(path)
		if err != nil {
			return opts, err
		}
		opts.Config = cfg
	} else if opts.Record {
		path, err := config.Find("", os.LookupEnv)
		if err != nil {
			return opts, err
		}
		if path != "" {
			if opts.Config, err = loadFile(path); err != nil {
				return opts, err
			}
			fmt.Fprintln(stderr, "conform: configuration", path)
		}
	}
	if opts.Record {
		opts.Progress = stderr
	}
	return opts, nil
}

// dirExists reports whether p is a directory.
func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
