package estimate

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/relaytest/claudecode"

	"github.com/tidwall/gjson"
)

// tokenPair is a request body and the input token count a real provider gave for it.
type tokenPair struct {
	name string
	body []byte
	real int64
}

func readTraffic(t *testing.T, pattern string) map[string]gjson.Result {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(trafficDir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]gjson.Result{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(trafficDir, f)
		out[rel] = gjson.ParseBytes(raw)
	}
	return out
}

// countTokensPairs are the recorded count_tokens calls answered 200 by Anthropic and Bedrock.
func countTokensPairs(t *testing.T) []tokenPair {
	var pairs []tokenPair
	for name, rec := range readTraffic(t, "anthropic/*/*.json") {
		if !strings.Contains(rec.Get("request.path").Str, "count_tokens") || rec.Get("response.status").Int() != 200 {
			continue
		}
		pairs = append(pairs, tokenPair{name, []byte(rec.Get("request.body").Str),
			gjson.Get(rec.Get("response.body").Str, "input_tokens").Int()})
	}
	for name, rec := range readTraffic(t, "bedrock/*/*count_tokens*.json") {
		if rec.Get("response.status").Int() != 200 {
			continue
		}
		in := gjson.Get(rec.Get("request.body").Str, "input")
		var body []byte
		if b := in.Get("invokeModel.body"); b.Exists() {
			var err error
			if body, err = base64.StdEncoding.DecodeString(b.Str); err != nil {
				t.Fatal(err)
			}
		} else {
			body = converseToMessages(t, in.Get("converse"))
			name += " (Converse input, converted)"
		}
		pairs = append(pairs, tokenPair{name, body, gjson.Get(rec.Get("response.body").Str, "inputTokens").Int()})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].name < pairs[j].name })
	return pairs
}

// converseToMessages turns a Bedrock Converse count-tokens input into the Messages API body it
// stands for.
func converseToMessages(t *testing.T, c gjson.Result) []byte {
	type block struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	body := map[string]any{}
	var msgs []map[string]any
	c.Get("messages").ForEach(func(_, m gjson.Result) bool {
		var blocks []block
		m.Get("content").ForEach(func(_, b gjson.Result) bool {
			blocks = append(blocks, block{"text", b.Get("text").Str})
			return true
		})
		msgs = append(msgs, map[string]any{"role": m.Get("role").Str, "content": blocks})
		return true
	})
	body["messages"] = msgs
	var tools []map[string]any
	c.Get("toolConfig.tools").ForEach(func(_, tl gjson.Result) bool {
		s := tl.Get("toolSpec")
		tools = append(tools, map[string]any{"name": s.Get("name").Str, "description": s.Get("description").Str,
			"input_schema": json.RawMessage(s.Get("inputSchema.json").Raw)})
		return true
	})
	if tools != nil {
		body["tools"] = tools
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// messagesPairs are recorded Messages API calls whose response reports the input tokens
// (non-streaming usage, or the message_start event of a stream).
func messagesPairs(t *testing.T) []tokenPair {
	var pairs []tokenPair
	for _, dir := range []string{"anthropic/*/*.json", "vertex/*/*.json", "bedrock/*/*.json"} {
		for name, rec := range readTraffic(t, dir) {
			path := rec.Get("request.path").Str
			if rec.Get("response.status").Int() != 200 || strings.Contains(path, "count") {
				continue
			}
			body := rec.Get("request.body").Str
			if !gjson.Get(body, "messages").IsArray() {
				continue
			}
			resp := rec.Get("response.body").Str
			if d := rec.Get("response.body_decoded"); d.Exists() {
				resp = d.Str
			}
			usage := gjson.Get(resp, "usage")
			if !usage.Exists() {
				for _, line := range strings.Split(resp, "\n") {
					if strings.HasPrefix(line, "data:") && strings.Contains(line, `"message_start"`) {
						usage = gjson.Get(strings.TrimPrefix(line, "data:"), "message.usage")
						break
					}
				}
			}
			if !usage.Get("input_tokens").Exists() {
				continue
			}
			real := usage.Get("input_tokens").Int() + usage.Get("cache_creation_input_tokens").Int() +
				usage.Get("cache_read_input_tokens").Int()
			pairs = append(pairs, tokenPair{name, []byte(body), real})
		}
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].name < pairs[j].name })
	return pairs
}

// TestEstimateAccuracy reports, per recorded file, how far Estimate is from the real count,
// and asserts ±40% on the count_tokens answers. The Messages responses and the claude-code
// captures are logged only (the latter were answered by the capturing server, body length / 4).
func TestAccuracy(t *testing.T) {
	const bound = 0.40
	pairs := countTokensPairs(t)
	if len(pairs) < 6 {
		t.Fatalf("found %d count_tokens pairs, want at least 6", len(pairs))
	}
	for _, p := range pairs {
		est := Tokens(p.body)
		ratio := float64(est) / float64(p.real)
		t.Logf("count_tokens %-100s real %5d estimate %5d ratio %.2f", p.name, p.real, est, ratio)
		if math.Abs(ratio-1) > bound {
			t.Errorf("%s: estimate %d is %.0f%% off the real %d (bound ±%.0f%%)", p.name, est, (ratio-1)*100, p.real, bound*100)
		}
	}

	var ratios []float64
	for _, p := range messagesPairs(t) {
		est := Tokens(p.body)
		ratio := float64(est) / float64(p.real)
		ratios = append(ratios, ratio)
		t.Logf("messages     %-100s real %5d estimate %5d ratio %.2f", p.name, p.real, est, ratio)
	}
	if len(ratios) > 0 {
		sort.Float64s(ratios)
		within := 0
		for _, r := range ratios {
			if math.Abs(r-1) <= bound {
				within++
			}
		}
		t.Logf("messages responses: %d, median ratio %.2f, p10 %.2f, p90 %.2f, within ±40%%: %d",
			len(ratios), ratios[len(ratios)/2], ratios[len(ratios)/10], ratios[len(ratios)*9/10], within)
	}

	for _, r := range claudecode.Requests(t) {
		if !r.CountTokens {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(r.Reply, "count_tokens "))
		est := Tokens(r.Compact)
		t.Logf("claude-code  %-100s synthetic %5d estimate %5d ratio %.2f (reference is body_len/4, not a real count)",
			r.Name, n, est, float64(est)/float64(n))
	}
}

func TestShapes(t *testing.T) {
	tests := []struct {
		body string
		want int
	}{
		{`not json`, 1},
		{`{}`, 5},
		{`{"messages":[{"role":"user","content":"abcd"}]}`, 5 + 3 + 1},
		{`{"system":"abcdefgh","messages":[{"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image","source":{"type":"base64","data":"AA=="}}]}]}`,
			5 + 3 + 3 + 1 + 1600 + 3},
		{`{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}}]}]}`,
			5 + 3 + 3000},
		{`{"tools":[{"type":"bash_20250124","name":"bash"}],"messages":[]}`, 5 + 400 + 10 + 245},
		{`{"tools":[{"name":"ab","description":"cd","input_schema":{ "type" : "object" }}],"messages":[]}`,
			5 + 400 + 10 + (2+2+len(`{"type":"object"}`)+3)/4},
	}
	for _, tt := range tests {
		if got := Tokens([]byte(tt.body)); got != tt.want {
			t.Errorf("Tokens(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
}

func TestImageTokens(t *testing.T) {
	pngHeader := func(w, h uint32) string {
		b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x00\x00\x00\x00\x00\x08\x06\x00\x00\x00")
		binary.BigEndian.PutUint32(b[16:], w)
		binary.BigEndian.PutUint32(b[20:], h)
		return base64.StdEncoding.EncodeToString(b)
	}
	gif := base64.StdEncoding.EncodeToString([]byte("GIF89a\x20\x03\x58\x02\x00\x00\x00"))                                        // 800×600
	jpeg := base64.StdEncoding.EncodeToString([]byte("\xff\xd8\xff\xe0\x00\x04\x00\x00\xff\xc0\x00\x11\x08\x01\xe0\x02\x80\x03")) // 640×480
	tests := []struct {
		name, src string
		want      int
	}{
		{"1x1 png", `{"type":"base64","data":"` + pngHeader(1, 1) + `"}`, 1},
		{"1000x1000 png", `{"type":"base64","data":"` + pngHeader(1000, 1000) + `"}`, 1333},
		{"4000x2000 png is scaled down", `{"type":"base64","data":"` + pngHeader(4000, 2000) + `"}`, 1533},
		{"gif", `{"type":"base64","data":"` + gif + `"}`, 640},
		{"jpeg", `{"type":"base64","data":"` + jpeg + `"}`, 410},
		{"unknown format", `{"type":"base64","data":"AAAA"}`, estImage},
		{"url", `{"type":"url","url":"https://x"}`, estImage},
	}
	for _, tt := range tests {
		if got := imageTokens(gjson.Parse(tt.src)); got != tt.want {
			t.Errorf("%s: %d tokens, want %d", tt.name, got, tt.want)
		}
	}
}

// trafficDir holds the recorded real traffic (read only).
const trafficDir = "../../fixtures/real-traffic"

// FuzzTokens feeds arbitrary bodies to Tokens: nothing may panic, and the estimate is at least 1.
func FuzzTokens(f *testing.F) {
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"AA=="}}]}]}`))
	f.Add([]byte(`{"a":"\"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := Tokens(b); n < 1 {
			t.Fatalf("Tokens = %d on %q", n, b)
		}
	})
}

// BenchmarkTokens estimates the ~49 KB Claude Code request of a tool round trip.
func BenchmarkTokens(b *testing.B) {
	var req []byte
	for _, r := range claudecode.Requests(b) {
		if r.Name == "claude-code-2.1.332__02-tool-roundtrip-req1.messages" {
			req = r.Compact
		}
	}
	if req == nil {
		b.Fatal("fixture claude-code-2.1.332__02-tool-roundtrip-req1.messages.json not found")
	}
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Tokens(req)
	}
}
