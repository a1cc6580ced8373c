package usagelog

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// jsonLine is what encoding/json writes for l, with HTML escaping off.
func jsonLine(t testing.TB, l *Line) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FuzzAppendLineIsEncodingJSON keeps the hand-built encoder byte for byte equal to
// encoding/json's encoding of a Line.
func FuzzAppendLineIsEncodingJSON(f *testing.F) {
	f.Add("req_1", "sess\n\"x\"\\", "claude", "claude-sonnet-4-5", "glm-4.6 \u2028\u2029<&>", "cache_control=stripped", true, 200, 12, 0.014274, 456.789, int64(1764928800123456789))
	f.Add("", "\xff\xfe bad utf-8 \x01\x1f\x7f", "", "", "é日本", "", false, 0, 0, 1e-7, 0.0, int64(0))
	f.Add("r", "s", "p", "m", "u", "d", false, -1, math.MaxInt32, 1e21, 123456789.125, int64(-1))
	f.Fuzz(func(t *testing.T, id, session, provider, model, upstream, degraded string, unpriced bool, status, tokens int, cost, ms float64, nanos int64) {
		if math.IsNaN(cost) || math.IsInf(cost, 0) || math.IsNaN(ms) || math.IsInf(ms, 0) {
			t.Skip()
		}
		l := &Line{
			Time: time.Unix(0, nanos).UTC(), RequestID: id, UpstreamID: id, Session: session, Client: provider, Path: upstream, Provider: provider,
			Model: model, UpstreamModel: upstream, Stream: unpriced, Status: status, Input: tokens, Output: -tokens,
			CacheRead: status, CacheCreation: tokens / 3, CostUSD: cost, Unpriced: unpriced, Attempts: status % 7,
			TTFBMs: ms, DurationMs: -ms,
		}
		if degraded != "" {
			l.Degraded = []string{degraded, session}
		}
		want := jsonLine(t, l)
		if got := appendLine(nil, l); !bytes.Equal(got, want) {
			t.Errorf("appendLine:\n%s\nencoding/json:\n%s", got, want)
		}
	})
}
