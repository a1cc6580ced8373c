package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
)

// watchInterval is how often server.reload: watch looks at the configuration file, in
// nanoseconds (atomic: a test shortens it while other tests' serves may be starting).
var watchInterval atomic.Int64

func init() { watchInterval.Store(int64(time.Second)) }

// fileHash is the content hash of a configuration file, as /v1/providers shows it.
func fileHash(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// reloadConfig watches the configuration file at path and reloads rl on SIGHUP and, with
// server.reload watch (the default), when the file's content changes. An invalid file is
// reported problem by problem (file, line, key path) and the relay keeps serving the old
// configuration. The listen address and the log level are serve's own (a new listen address
// or log level needs a restart): first's are kept. It returns when ctx is done. onHUP runs on
// every SIGHUP too (the usage log reopens its file there). loaded is the file as first was
// read from it: the baseline of the watch, taken before serving starts, so that an edit made
// while the watch's goroutine is still starting is not taken for the baseline and missed.
func reloadConfig(ctx context.Context, rl *relay.Reloader, first *config.Config, loaded []byte, log *slog.Logger, onHUP func()) {
	path, mode := first.Source, first.Server.Reload
	if mode == "off" {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if mode != "signal" {
		t := time.NewTicker(time.Duration(watchInterval.Load()))
		defer t.Stop()
		tick = t.C
	}
	last := loaded
	for {
		var why string
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
			if onHUP != nil {
				onHUP()
			}
		case <-tick:
			b, err := os.ReadFile(path)
			if err != nil || bytes.Equal(b, last) {
				continue
			}
			why = "the file changed"
		}
		b, err := os.ReadFile(path)
		if err != nil {
			log.Error("configuration not reloaded; serving the previous one", "file", path, "why", why, "error", err)
			rl.Failed()
			continue
		}
		last = b
		cfg, err := loadFile(path) // ${VAR} values are read afresh
		if err != nil {
			for _, p := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
				log.Error("configuration not reloaded; serving the previous one", "why", why, "problem", strings.TrimSpace(p))
			}
			rl.Failed()
			continue
		}
		if cfg.Server.Listen != "" && cfg.Server.Listen != first.Server.Listen || cfg.Server.LogLevel != "" && cfg.Server.LogLevel != first.Server.LogLevel {
			log.Warn("server.listen and server.log_level take effect at the next start", "file", path)
		}
		cfg.Server.Listen, cfg.Server.LogLevel = first.Server.Listen, first.Server.LogLevel
		change, err := rl.Reload(ctx, cfg, fileHash(b))
		if err != nil {
			log.Error("configuration not reloaded; serving the previous one", "file", path, "why", why, "error", err)
			continue
		}
		for _, w := range cfg.Warnings {
			log.Warn("configuration warning", "warning", w)
		}
		log.Info("configuration reloaded", "file", path, "why", why, "hash", fileHash(b), "change", change)
	}
}
