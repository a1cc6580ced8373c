package relay

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAccessLineIsSlogText: the hand-formatted access line is byte for byte what slog's
// TextHandler writes for the same record, quoting included.
func TestAccessLineIsSlogText(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 36, 45, 313_000_000, time.UTC)
	values := []string{"", "anthropic", "1", "2; 429; transport_error", "a=b", `say "hi"`, "tab\there", "new\nline",
		"del\x7f", "back\\slash", "é", "nbsp\u00a0", "zero\u200bwidth", "bad\xffutf8", "emoji😀", "req_0123456789abcdefABCDEF01"}
	for _, v := range values {
		for _, warn := range []bool{false, true} {
			l := accessLine{at: at, warn: warn, id: v, method: "POST", path: "/v1/messages", status: 529,
				model: v, upstreamModel: v, provider: v, attempts: v, failed: v, degraded: v, bytes: 12345, duration: 4649430 * time.Nanosecond}
			var got, want bytes.Buffer
			writeAccessLine(&got, &l)
			level := slog.LevelInfo
			if warn {
				level = slog.LevelWarn
			}
			rec := slog.NewRecord(at, level, "request", 0)
			rec.AddAttrs(slog.String("id", l.id), slog.String("method", l.method), slog.String("path", l.path),
				slog.Int("status", l.status), slog.String("model", l.model), slog.String("upstream_model", l.upstreamModel),
				slog.String("provider", l.provider), slog.String("attempts", l.attempts), slog.String("failed", l.failed),
				slog.String("degraded", l.degraded), slog.Int64("bytes", l.bytes), slog.Duration("duration", l.duration))
			if err := slog.NewTextHandler(&want, nil).Handle(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.String(), got.String()); diff != "" {
				t.Errorf("value %q: access line differs from slog's (-slog +relay):\n%s", v, diff)
			}
		}
	}
}

// TestAccessLineNamesTheClientKeyAsSlogDoes: with a client key, the hand-formatted line has
// client=NAME after the status, as the relay's slog line has it.
func TestAccessLineNamesTheClientKeyAsSlogDoes(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 36, 45, 313_000_000, time.UTC)
	l := accessLine{at: at, id: "req_1", method: "POST", path: "/v1/messages", status: 402, client: "alice@example.com",
		model: "claude-sonnet-4-5", bytes: 200, duration: time.Millisecond}
	var got, want bytes.Buffer
	writeAccessLine(&got, &l)
	rec := slog.NewRecord(at, slog.LevelInfo, "request", 0)
	rec.AddAttrs(slog.String("id", l.id), slog.String("method", l.method), slog.String("path", l.path),
		slog.Int("status", l.status), slog.String("client", l.client), slog.String("model", l.model), slog.String("upstream_model", ""),
		slog.String("provider", ""), slog.String("attempts", ""), slog.String("failed", ""),
		slog.String("degraded", ""), slog.Int64("bytes", l.bytes), slog.Duration("duration", l.duration))
	if err := slog.NewTextHandler(&want, nil).Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.String(), got.String()); diff != "" {
		t.Errorf("access line differs from slog's (-slog +relay):\n%s", diff)
	}
}
