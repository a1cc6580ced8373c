package usagelog

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendLine appends l as one line of JSON, newline included: the same line encoding/json
// writes for a Line with HTML escaping off (the fields in order, omitempty honoured), built by
// hand because encoding/json's reflection was most of the log's cost per request
// (BenchmarkUsageLogLine).
func appendLine(b []byte, l *Line) []byte {
	b = append(b, `{"time":"`...)
	b = l.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","request_id":`...)
	b = appendString(b, l.RequestID)
	b = appendOptString(b, `,"upstream_request_id":`, l.UpstreamID)
	b = appendOptString(b, `,"session":`, l.Session)
	b = appendOptString(b, `,"path":`, l.Path)
	b = appendOptString(b, `,"provider":`, l.Provider)
	b = appendOptString(b, `,"model":`, l.Model)
	b = appendOptString(b, `,"upstream_model":`, l.UpstreamModel)
	b = appendOptString(b, `,"scenario":`, l.Scenario)
	b = appendOptString(b, `,"client":`, l.Client)
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, l.Stream)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(l.Status), 10)
	b = append(b, `,"input_tokens":`...)
	b = strconv.AppendInt(b, int64(l.Input), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(l.Output), 10)
	b = append(b, `,"cache_read_tokens":`...)
	b = strconv.AppendInt(b, int64(l.CacheRead), 10)
	b = append(b, `,"cache_creation_tokens":`...)
	b = strconv.AppendInt(b, int64(l.CacheCreation), 10)
	b = append(b, `,"cost_usd":`...)
	b = appendFloat(b, l.CostUSD)
	if l.Unpriced {
		b = append(b, `,"unpriced":true`...)
	}
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(l.Attempts), 10)
	if len(l.Degraded) > 0 {
		b = append(b, `,"degraded":[`...)
		for i, d := range l.Degraded {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, d)
		}
		b = append(b, ']')
	}
	b = append(b, `,"ttfb_ms":`...)
	b = appendFloat(b, l.TTFBMs)
	b = append(b, `,"duration_ms":`...)
	b = appendFloat(b, l.DurationMs)
	return append(b, "}\n"...)
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

// appendFloat formats f as encoding/json does: the shortest decimal, in exponent form below
// 1e-6 and from 1e21.
func appendFloat(b []byte, f float64) []byte {
	abs := f
	if abs < 0 {
		abs = -abs
	}
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		n := len(b)
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		// clean up e-09 to e-9, as encoding/json does
		if m := len(b); m-n >= 4 && b[m-4] == 'e' && b[m-3] == '-' && b[m-2] == '0' {
			b[m-2] = b[m-1]
			b = b[:m-1]
		}
		return b
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json escapes it with HTML
// escaping off: quotes, backslashes and control characters, U+2028 and U+2029, and invalid
// UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
