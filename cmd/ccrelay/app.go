package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/urfave/cli/v2"
)

// exitError carries an exit status through urfave/cli.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// run is the whole command: a function of its context, arguments and output streams, so tests
// call it in process. It returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	// An unknown command reaches CommandNotFound, which cannot return an error: it leaves one
	// here, and run reports it like any other.
	var notFound error
	app.CommandNotFound = func(c *cli.Context, name string) { notFound = unknownCommand(c, name) }
	err := app.RunContext(ctx, args)
	if err == nil {
		err = notFound
	}
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil && ee.err.Error() != "" {
				fmt.Fprintln(stderr, "ccrelay:", ee.err)
			}
			return ee.code
		}
		fmt.Fprintln(stderr, "ccrelay:", err)
		return 1
	}
	return 0
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "ccrelay",
		Usage:     "serve the Anthropic Messages API in front of Anthropic, Z.AI, MiniMax, Ollama, Bedrock, Azure and Vertex",
		UsageText: "ccrelay serve [--config FILE] [--listen ADDR]\nccrelay config validate [FILE]\nccrelay matrix [--provider TYPE] [--format text|markdown|json]\nccrelay conform --provider TYPE|--all [--record]\nccrelay usage [--log PATH] [--since 24h] [--by provider|model|session|client|day]\nccrelay cc init|remove|doctor [--settings FILE]\nccrelay keys new --name NAME [--models PATTERNS] [--rpm N] [--daily-usd X] [--toml]\nccrelay version",
		Description: "Run the relay with ccrelay serve, then set Claude Code up once with ccrelay cc init, or run it with\n" +
			"  ANTHROPIC_BASE_URL=http://127.0.0.1:8787 ANTHROPIC_AUTH_TOKEN=ccrelay claude\n" +
			"(any token will do unless the relay has server.auth.api_key; without one Claude Code asks to log in).\n" +
			"Without a configuration file, serve uses ANTHROPIC_API_KEY, ZAI_API_KEY, MINIMAX_API_KEY and a local Ollama.",
		Writer:                 stdout,
		ErrWriter:              stderr,
		Version:                buildVersion(),
		UseShortOptionHandling: true,
		ExitErrHandler:         func(*cli.Context, error) {}, // run() reports errors itself
		Commands: []*cli.Command{
			serveCommand(stdout, stderr),
			configCommand(stdout, stderr),
			matrixCommand(stdout),
			conformCommand(stdout, stderr),
			usageCommand(stdout, stderr),
			ccCommand(stdout),
			keysCommand(stdout),
			versionCommand(stdout),
		},
	}
}

// unknownCommand is the error for a command name that c does not have: it names it and lists
// the commands there are. Its exit status is 2, a usage error.
func unknownCommand(c *cli.Context, name string) error {
	cmds, prefix := c.App.Commands, c.App.Name
	if c.Command != nil && len(c.Command.Subcommands) > 0 && c.Command.Name != c.App.Name {
		cmds, prefix = c.Command.Subcommands, c.App.Name+" "+c.Command.Name
	}
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q; the commands of %s are:\n%sRun %q for more.",
		name, prefix, commandList(cmds), prefix+" --help")}
}

var configFlag = &cli.StringFlag{
	Name:    "config",
	Aliases: []string{"c"},
	Usage: "configuration `FILE` (.yaml, .yml or .toml). Without it: $CCRELAY_CONFIG, ./ccrelay.{yaml,yml,toml}, " +
		"$XDG_CONFIG_HOME/ccrelay/config.{yaml,toml}, else a default built from the environment",
}

func serveCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve the Anthropic Messages API and relay requests to the configured providers",
		Description: "Serves POST /v1/messages (streaming or not), POST /v1/messages/count_tokens, GET /v1/models,\n" +
			"GET /v1/providers and GET /health. Then run Claude Code with\n" +
			"  ANTHROPIC_BASE_URL=http://127.0.0.1:8787 ANTHROPIC_AUTH_TOKEN=ccrelay claude\n" +
			"Listening on an address other machines can reach (--listen 0.0.0.0:8787) without server.auth.api_key\n" +
			"opens the providers' keys to them; serve warns about it.",
		Flags: []cli.Flag{
			configFlag,
			&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Usage: "listen on `ADDR` (host:port), overriding server.listen (default " + config.DefaultListen + ")"},
			&cli.StringFlag{Name: "log-level", Usage: "log `LEVEL`: debug, info, warn or error (default info)"},
			// For performance work (scripts/bench/README.md): a CPU profile of the whole run,
			// written when serve shuts down.
			&cli.StringFlag{Name: "cpuprofile", Hidden: true, Usage: "write a CPU profile to `FILE` on shutdown"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c.String("config"), stdout)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if l := c.String("listen"); l != "" {
				cfg.Server.Listen = l
			}
			if l := c.String("log-level"); l != "" {
				cfg.Server.LogLevel = l
			}
			if p := c.String("cpuprofile"); p != "" {
				f, err := os.Create(p)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return &exitError{code: 2, err: err}
				}
				defer f.Close()
				defer pprof.StopCPUProfile()
			}
			return serve(c.Context, cfg, stdout, stderr)
		},
	}
}

// loadConfig finds and loads the configuration, or builds the default from the environment,
// and prints what it will serve.
func loadConfig(flag string, stdout io.Writer) (*config.Config, error) {
	path, err := config.Find(flag, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	var cfg *config.Config
	if path == "" {
		cfg = config.FromEnv(os.LookupEnv)
		fmt.Fprintln(stdout, "ccrelay: no configuration file found; using providers from the environment")
	} else {
		if cfg, err = loadFile(path); err != nil {
			return nil, err
		}
		fmt.Fprintln(stdout, "ccrelay: configuration", path)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stdout, "ccrelay: warning:", w)
	}
	for _, line := range cfg.Summary() {
		fmt.Fprintln(stdout, "  ", line)
	}
	return cfg, nil
}

func serve(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	level := slog.LevelInfo
	if cfg.Server.LogLevel != "" {
		if err := level.UnmarshalText([]byte(cfg.Server.LogLevel)); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("log level %q: want debug, info, warn or error", cfg.Server.LogLevel)}
		}
	}
	logs := newLogBuffer(stderr, 100*time.Millisecond)
	defer logs.Close()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	// The access lines go to the same buffer, formatted by the relay (the same text format).
	opts := relay.Options{Config: cfg, Logger: logger, AccessLog: logs}
	var loaded []byte // the file as serve starts with it: the watch's first baseline
	if cfg.Source != "" {
		if b, err := os.ReadFile(cfg.Source); err == nil {
			opts.ConfigHash, loaded = fileHash(b), b
		}
	}
	usage, err := openUsageLog(cfg, logger) // server.usage_log; nil when unset
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if usage != nil {
		defer usage.Close() // after the server's shutdown: the last requests are written
		opts.Observers = append(opts.Observers, usage)
	}
	h, err := relay.NewReloader(ctx, opts)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer h.Close() // after the server's shutdown: the shared state's connections
	if usage != nil {
		usage.follow(ctx, h) // reopened on SIGHUP, priced with the reloaded configuration
		fmt.Fprintln(stdout, "ccrelay: usage log", cfg.Server.UsageLog)
	}
	if cfg.Source != "" {
		go reloadConfig(ctx, h, cfg, loaded, logger, nil)
	}
	addr := cfg.Server.Listen
	if addr == "" {
		addr = config.DefaultListen
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("listen: %w", err)}
	}
	srv := &http.Server{
		Handler:           h,
		MaxHeaderBytes:    h.ServerMaxHeaderBytes(),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		// No WriteTimeout: it would cut long streams. Idle streams are ended by the relay.
	}
	for _, line := range describeListen(ln.Addr().String(), cfg.Server.Auth).Lines {
		fmt.Fprintln(stdout, "ccrelay:", line)
	}
	if a := cfg.Server.MetricsListen; a != "" {
		stop, err := serveMetrics(a, h.MetricsHandler(), stdout)
		if err != nil {
			ln.Close()
			return &exitError{code: 1, err: err}
		}
		defer stop()
	}
	// The first health probes and the discovery of a local Ollama's models (at most ~2 s); the
	// probes then go on in the background until ctx is done.
	for _, line := range h.Start(ctx) {
		fmt.Fprintln(stdout, "ccrelay:", line)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return &exitError{code: 1, err: err}
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "ccrelay: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// serveMetrics serves GET /metrics on addr (server.metrics_listen), without client
// authentication, until stop is called.
func serveMetrics(addr string, h http.Handler, stdout io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics (server.metrics_listen): %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintln(stdout, "ccrelay: metrics on http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }, nil
}

func configCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "work with configuration files",
		Subcommands: []*cli.Command{{
			Name:      "validate",
			Usage:     "load a configuration file and report every problem with its line and key path",
			ArgsUsage: "[FILE]",
			Description: "Without FILE, validates the file serve would use ($CCRELAY_CONFIG, ./ccrelay.{yaml,yml,toml},\n" +
				"$XDG_CONFIG_HOME/ccrelay/config.{yaml,toml}). Prints each problem and warning with its line and key\n" +
				"path, then which client model names each provider serves. Exit status 0 when valid, 1 when not.",
			Action: func(c *cli.Context) error {
				path, err := config.Find(c.Args().First(), os.LookupEnv)
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				if path == "" {
					return &exitError{code: 1, err: errors.New("no configuration file found (looked at $CCRELAY_CONFIG, ./ccrelay.{yaml,yml,toml}, $XDG_CONFIG_HOME/ccrelay/config.{yaml,toml})")}
				}
				cfg, err := loadFile(path)
				if err != nil {
					fmt.Fprintln(stdout, strings.TrimRight(err.Error(), "\n"))
					return &exitError{code: 1, err: fmt.Errorf("%s is not valid", path)}
				}
				for _, w := range cfg.Warnings {
					fmt.Fprintln(stdout, "warning:", w)
				}
				n := fmt.Sprintf("%d providers", len(cfg.Providers))
				if len(cfg.Providers) == 1 {
					n = "1 provider"
				}
				fmt.Fprintf(stdout, "%s: valid (%s)\n", path, n)
				for _, line := range servedNames(cfg) {
					fmt.Fprintln(stdout, line)
				}
				return nil
			},
		}},
	}
}

// loadFile loads the configuration file at path (config.Load) and checks every provider's
// feature overrides against the matrix (features.ValidateConfig), which config cannot know.
func loadFile(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := features.ValidateConfig(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}
