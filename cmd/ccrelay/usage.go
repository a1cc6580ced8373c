package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/pricing"
	"github.com/ccrelay/ccrelay/relay/usagelog"
	"github.com/urfave/cli/v2"
)

// serveUsageLog is serve's usage log (server.usage_log): the log, and the price book that
// follows configuration reloads.
type serveUsageLog struct {
	*usagelog.Log
	path   string // server.usage_log
	source string // the configuration file, read again after a reload
	log    *slog.Logger
	// Read by the log's writer goroutine only (Options.Prices): the relay whose configuration
	// book was built from, and the book.
	rl   *relay.Reloader
	cur  *relay.Relay
	book *pricing.Book
}

// openUsageLog opens server.usage_log, or returns nil when it is not set.
func openUsageLog(cfg *config.Config, log *slog.Logger) (*serveUsageLog, error) {
	path := cfg.Server.UsageLog
	if path == "" {
		return nil, nil
	}
	book, err := pricing.NewBook(cfg.Providers, log)
	if err != nil {
		return nil, err
	}
	u := &serveUsageLog{path: path, source: cfg.Source, log: log, book: book}
	u.Log, err = usagelog.Open(path, usagelog.Options{Prices: u.prices, Logger: log})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// prices is the book of the configuration that serves now: when a reload has swapped the
// relay, the configuration file is read again for its providers' prices. Only the log's
// writer calls it.
func (u *serveUsageLog) prices() *pricing.Book {
	if u.rl == nil || u.source == "" {
		return u.book
	}
	r := u.rl.Current()
	if r == u.cur {
		return u.book
	}
	first := u.cur == nil
	u.cur = r
	if first {
		return u.book // the relay built from the configuration the book came from
	}
	cfg, err := loadFile(u.source)
	if err != nil {
		u.log.Warn("usage log: the reloaded configuration could not be read again for its prices; pricing with the previous ones", "error", err)
		return u.book
	}
	if b, err := pricing.NewBook(cfg.Providers, u.log); err == nil {
		u.book = b
	}
	return u.book
}

// follow reopens the log on SIGHUP (log rotation) until ctx is done, and makes its prices
// follow rl's reloads. It is called before the relay serves.
func (u *serveUsageLog) follow(ctx context.Context, rl *relay.Reloader) {
	u.rl = rl
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := u.Reopen(); err != nil {
					u.log.Error("usage log: not reopened", "error", err)
				} else {
					u.log.Info("usage log reopened", "path", u.path)
				}
			}
		}
	}()
}

// now is the clock of the usage command.
var now = time.Now

// usageGroups are the values of usage --by.
var usageGroups = []string{"provider", "model", "session", "client", "day"}

func usageCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "usage",
		Usage:     "print the tokens and the cost of the requests in the usage log (server.usage_log)",
		UsageText: "ccrelay usage [--log PATH] [--since 24h] [--by provider|model|session|client|day]",
		Description: "Reads the usage log serve writes when server.usage_log is set (one JSON line per request) and\n" +
			"prints, per provider, upstream model, Claude Code session, client key or day (UTC), the requests and their\n" +
			"input, output, cache read and cache creation tokens and their cost in USD, with a total.\n" +
			"Costs are the list prices of relay/pricing or the providers' pricing: at the time of the request;\n" +
			"a model without a price counts 0 and is marked with *. --log - reads standard input, so that\n" +
			"rotated files can be read too: cat usage.jsonl.1 usage.jsonl | ccrelay usage --log -",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log", Usage: "the usage log `PATH` (default: server.usage_log of the configuration serve would use); - reads standard input"},
			configFlag,
			&cli.StringFlag{Name: "since", Value: "24h", Usage: "count the requests of the last `DURATION` (30m, 24h, 7d; 0 counts all)"},
			&cli.StringFlag{Name: "by", Value: "provider", Usage: "one row per `GROUP`: provider, model, session, client (server.auth.keys) or day"},
		},
		Action: func(c *cli.Context) error {
			by := c.String("by")
			if !slices.Contains(usageGroups, by) {
				return &exitError{code: 2, err: fmt.Errorf("--by %q: want provider, model, session, client or day", by)}
			}
			since, err := parseSince(c.String("since"))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			path := c.String("log")
			if path == "" {
				if path, err = configuredUsageLog(c.String("config")); err != nil {
					return &exitError{code: 2, err: err}
				}
			}
			var in io.Reader = os.Stdin
			if path != "-" {
				f, err := os.Open(path)
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				defer f.Close()
				in = f
			}
			var from time.Time
			if since > 0 {
				from = now().Add(-since)
			}
			t, err := readUsage(in, by, from)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("%s: %w", path, err)}
			}
			if t.malformed > 0 {
				fmt.Fprintf(stderr, "ccrelay: %s: %d lines are not usage log lines and were skipped\n", path, t.malformed)
			}
			t.print(stdout, by)
			return nil
		},
	}
}

// configuredUsageLog is server.usage_log of the configuration serve would use.
func configuredUsageLog(flag string) (string, error) {
	const hint = "pass --log PATH, or set server.usage_log in the configuration"
	path, err := config.Find(flag, os.LookupEnv)
	if err != nil {
		return "", err
	}
	if path == "" {
		return "", errors.New("no configuration file, so no usage log: " + hint)
	}
	cfg, err := loadFile(path)
	if err != nil {
		return "", err
	}
	if cfg.Server.UsageLog == "" {
		return "", fmt.Errorf("%s has no server.usage_log: %s", path, hint)
	}
	return cfg.Server.UsageLog, nil
}

// parseSince reads --since: a Go duration, or a number of days ("7d"); 0 is no bound.
func parseSince(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--since %q: want a duration such as 30m, 24h or 7d, or 0 for all", s)
	}
	return d, nil
}

// usageRow is the sum of one group's lines.
type usageRow struct {
	key                                       string
	requests, input, output, cread, ccreation int64
	cost                                      float64
	unpriced                                  int64
}

func (r *usageRow) add(l *usagelog.Line) {
	r.requests++
	r.input += int64(l.Input)
	r.output += int64(l.Output)
	r.cread += int64(l.CacheRead)
	r.ccreation += int64(l.CacheCreation)
	r.cost += l.CostUSD
	if l.Unpriced {
		r.unpriced++
	}
}

// usageTable is the usage log read and grouped.
type usageTable struct {
	rows      map[string]*usageRow
	total     usageRow
	unpriced  map[string]bool // "model (provider)" of the unpriced lines
	malformed int
}

// readUsage reads the lines of a usage log from in, those at or after from, grouped by by.
func readUsage(in io.Reader, by string, from time.Time) (*usageTable, error) {
	t := &usageTable{rows: map[string]*usageRow{}, unpriced: map[string]bool{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var l usagelog.Line
		if err := json.Unmarshal(b, &l); err != nil || l.RequestID == "" {
			t.malformed++
			continue
		}
		if !from.IsZero() && l.Time.Before(from) {
			continue
		}
		key := groupKey(&l, by)
		r := t.rows[key]
		if r == nil {
			r = &usageRow{key: key}
			t.rows[key] = r
		}
		r.add(&l)
		t.total.add(&l)
		if l.Unpriced {
			t.unpriced[l.UpstreamModel+" ("+l.Provider+")"] = true
		}
	}
	return t, sc.Err()
}

// groupKey is the line's row under --by.
func groupKey(l *usagelog.Line, by string) string {
	var k string
	switch by {
	case "provider":
		k = l.Provider
	case "model":
		k = l.UpstreamModel
		if k == "" {
			k = l.Model
		}
	case "session":
		k = l.Session
	case "client":
		k = l.Client
	case "day":
		k = l.Time.UTC().Format(time.DateOnly)
	}
	if k == "" {
		return "(none)"
	}
	return k
}

// print writes the table: one row per group (by day in date order, else the most expensive
// first), then the total.
func (t *usageTable) print(w io.Writer, by string) {
	rows := make([]*usageRow, 0, len(t.rows))
	for _, r := range t.rows {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b *usageRow) int {
		if by != "day" {
			if c := cmp.Compare(b.cost, a.cost); c != 0 {
				return c
			}
			if c := cmp.Compare(b.requests, a.requests); c != 0 {
				return c
			}
		}
		return strings.Compare(a.key, b.key)
	})
	head := strings.ToUpper(by)
	if by == "day" {
		head = "DAY (UTC)"
	}
	total := t.total
	total.key = "TOTAL"
	// With unpriced rows, a cost is followed by * or a blank, so that the numbers align.
	mark := func(c string, unpriced bool) string {
		switch {
		case t.total.unpriced == 0:
			return c
		case unpriced:
			return c + "*"
		}
		return c + " "
	}
	cells := [][]string{{head, "REQUESTS", "INPUT", "OUTPUT", "CACHE_READ", "CACHE_CREATION", mark("COST_USD", false)}}
	for _, r := range append(rows, &total) {
		cost := mark(strconv.FormatFloat(r.cost, 'f', 6, 64), r.unpriced > 0)
		cells = append(cells, []string{r.key, itoa(r.requests), itoa(r.input), itoa(r.output), itoa(r.cread), itoa(r.ccreation), cost})
	}
	widths := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, row := range cells {
		var b strings.Builder
		b.WriteString(row[0] + strings.Repeat(" ", widths[0]-len(row[0])))
		for i, c := range row[1:] {
			b.WriteString("  " + strings.Repeat(" ", widths[i+1]-len(c)) + c)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	if len(t.unpriced) > 0 {
		models := make([]string, 0, len(t.unpriced))
		for m := range t.unpriced {
			models = append(models, m)
		}
		slices.Sort(models)
		fmt.Fprintf(w, "* requests of models without a price, counted at 0 (set the provider's pricing:): %d, of %s\n",
			t.total.unpriced, strings.Join(models, ", "))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
