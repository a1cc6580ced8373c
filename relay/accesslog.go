package relay

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// The access log is one line per request. With Options.AccessLog set, the relay formats it
// by hand, in the same logfmt as slog's TextHandler:
//
//	time=2026-11-26T09:36:45.313Z level=INFO msg=request id=req_… method=POST path=/v1/messages status=200 model=claude-opus-5-5 upstream_model=glm-4.6 provider=zai attempts=2 failed=anthropic=unreachable degraded="" bytes=2838 duration=4.649ms
//
// slog's generic record and handler machinery cost a few microseconds per request warm and
// tens when the caches are cold (measured with perf at one request at a time), and a stream's
// last byte reaches the client only when the handler returns, after the line is written.

// accessLine is what the access line says about one request.
type accessLine struct {
	at                           time.Time
	warn                         bool // level WARN (a 5xx answer) instead of INFO
	id, method, path             string
	status                       int
	model, upstreamModel         string
	scenario                     string // only written when set
	client                       string // the client key's name, only written when set
	provider, attempts, degraded string
	failed                       string
	bytes                        int64
	duration                     time.Duration
}

var accessBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeAccessLine formats l and writes it to w in one Write.
func writeAccessLine(w io.Writer, l *accessLine) {
	bp := accessBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, "time="...)
	b = l.at.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	if l.warn {
		b = append(b, " level=WARN"...)
	} else {
		b = append(b, " level=INFO"...)
	}
	b = append(b, " msg=request"...)
	b = appendField(b, "id", l.id)
	b = appendField(b, "method", l.method)
	b = appendField(b, "path", l.path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	if l.client != "" {
		b = appendField(b, "client", l.client)
	}
	b = appendField(b, "model", l.model)
	b = appendField(b, "upstream_model", l.upstreamModel)
	if l.scenario != "" {
		b = appendField(b, "scenario", l.scenario)
	}
	b = appendField(b, "provider", l.provider)
	b = appendField(b, "attempts", l.attempts)
	b = appendField(b, "failed", l.failed)
	b = appendField(b, "degraded", l.degraded)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, l.bytes, 10)
	b = append(b, " duration="...)
	b = append(b, l.duration.String()...)
	b = append(b, '\n')
	w.Write(b)
	*bp = b
	accessBufs.Put(bp)
}

// appendField appends " key=value", quoting the value when slog's TextHandler would: when it
// is empty, or holds a space, '=', '"', a control character, invalid UTF-8, or a non-ASCII
// space or unprintable rune.
func appendField(b []byte, key, val string) []byte {
	b = append(b, ' ')
	b = append(b, key...)
	b = append(b, '=')
	if needsQuoting(val) {
		return strconv.AppendQuote(b, val)
	}
	return append(b, val...)
}

func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
