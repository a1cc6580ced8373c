// Command gensession writes the request bodies of a long Claude Code session, for ccrelay's
// benchmarks (see package scripts/bench/session for what a body holds and how it is made).
//
//	go run ./scripts/bench/gensession -out /tmp/ls                 # 49k, 250k and 1m
//	go run ./scripts/bench/gensession -out /tmp/ls -sizes 500k,2m -seed 7
//	go run ./scripts/bench/gensession -out /tmp/ls -format body    # the bare bodies
//
// Each size gives DIR/long-session-SIZE.json: by default a request record in the real-traffic
// format (method, path, query, the recorded headers without credentials, body_len, body, and a
// description of where the body comes from), which scripts/bench/load takes as -fixture. With
// -format body, the body alone. It prints each file's size, SHA-256 and contents; the same
// fixture, size and seed always give the same bytes.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ccrelay/ccrelay/scripts/bench/session"
)

func main() {
	fixture := flag.String("fixture", session.DefaultFixture, "recorded Claude Code first-turn request")
	sizes := flag.String("sizes", strings.Join(session.DefaultSizes, ","), "body sizes: 49k (the first turn as is) or bytes with k/m suffixes (decimal)")
	seed := flag.Uint64("seed", session.DefaultSeed, "seed of the generated turns")
	out := flag.String("out", "", "directory to write long-session-SIZE.json into (required)")
	format := flag.String("format", "record", "record (a request record for scripts/bench/load -fixture) or body")
	flag.Parse()
	if *out == "" || (*format != "record" && *format != "body") {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*fixture, *sizes, *seed, *out, *format); err != nil {
		fmt.Fprintln(os.Stderr, "gensession:", err)
		os.Exit(1)
	}
}

func run(fixture, sizes string, seed uint64, out, format string) error {
	rec, err := session.LoadRecord(fixture)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, s := range strings.Split(sizes, ",") {
		label := strings.ToLower(strings.TrimSpace(s))
		target, err := session.ParseSize(label)
		if err != nil {
			return err
		}
		body, st, err := session.Generate(rec.Body, target, seed)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		data := body
		if format == "record" {
			if data, err = rec.Fixture(body, session.Describe(fixture, target, seed, st)); err != nil {
				return err
			}
		}
		path := filepath.Join(out, "long-session-"+label+".json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: body %s, sha256 %x\n", path, st, sha256.Sum256(body))
	}
	return nil
}
