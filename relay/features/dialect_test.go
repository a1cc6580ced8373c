package features

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/tidwall/gjson"
)

// vendorDocs holds the error bodies copied from the vendors' documentation (read only).
const vendorDocs = "../../fixtures/vendor-docs"

// dialectCase is one upstream error answer. Its body comes from fixtures/vendor-docs (a
// documented example) or is quoted from a public bug report or recording (source says which);
// "constructed" bodies are built from a documented code and message where no example exists.
type dialectCase struct {
	name        string // golden file testdata/dialect/<name>.json
	provider    string
	status      int
	contentType string
	doc         string // fixtures/vendor-docs/<doc>, or
	body        string // the body itself
	source      string
	// Expected outcome; the golden file pins the bytes.
	wantType    string
	wantStatus  int
	wantRejects bool
	wantChanged bool
	wantRule    string
}

var dialectCases = []dialectCase{
	// Documented examples.
	{name: "zai-error-shape-1214", provider: "zai", status: 400, doc: "zai/error-shape-1214.json",
		source:   "https://docs.z.ai/api-reference/api-code (Error Shapes)",
		wantType: apierr.InvalidRequest, wantStatus: 400, wantChanged: true, wantRule: "zai/code=1214"},
	{name: "zai-error-example-401-1002", provider: "zai", status: 401, doc: "zai/error-example-401-1002.json",
		source:   "https://docs.z.ai/api-reference/api-code (Error Example)",
		wantType: apierr.Authentication, wantStatus: 401, wantRejects: true, wantChanged: true, wantRule: "zai/code=1002"},
	{name: "anthropic-error-shape-not-found", provider: "anthropic", status: 404, doc: "anthropic/error-shape-not-found.json",
		source:   "https://platform.claude.com/docs/en/api/errors (Error shapes)",
		wantType: apierr.NotFound, wantStatus: 404, wantRule: RuleAnthropic},
	{name: "azure-error-prefill-400", provider: "azure", status: 400, doc: "anthropic/error-prefill-400.json",
		source:   "https://platform.claude.com/docs/en/api/errors (Prefill not supported); Foundry answers in Anthropic's format",
		wantType: apierr.InvalidRequest, wantStatus: 400, wantRule: RuleAnthropic},

	// Z.AI, as public reports show it.
	{name: "zai-anthropic-endpoint-1113", provider: "zai", status: 429,
		body:     `{"type":"error","error":{"type":"1113","message":"Insufficient balance or no resource package. Please recharge."},"request_id":"2025111018552386057cb666f04003"}`,
		source:   "https://github.com/anthropics/claude-code/issues/11345",
		wantType: apierr.Billing, wantStatus: 402, wantRejects: true, wantChanged: true, wantRule: "zai/code=1113"},
	{name: "zai-bare-1113", provider: "zai", status: 429,
		body:     `{"error":{"code":"1113","message":"Insufficient balance or no resource package. Please recharge."}}`,
		source:   "https://github.com/zai-org/GLM-5/issues/49 (api.z.ai/api/paas/v4)",
		wantType: apierr.Billing, wantStatus: 402, wantRejects: true, wantChanged: true, wantRule: "zai/code=1113"},
	{name: "zai-bare-1302", provider: "zai", status: 429,
		body:     `{"error":{"code":"1302","message":"High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits"}}`,
		source:   "https://github.com/kaitranntt/ccs/issues/402",
		wantType: apierr.RateLimit, wantStatus: 429, wantChanged: true, wantRule: "zai/code=1302"},
	{name: "zai-1308-constructed", provider: "zai", status: 429,
		body:     `{"type":"error","error":{"type":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at 2026-12-05 18:00:00"},"request_id":"20261205150000abc"}`,
		source:   "constructed from the 1308 message of https://docs.z.ai/api-reference/api-code in the shape of claude-code#11345",
		wantType: apierr.Billing, wantStatus: 402, wantRejects: true, wantChanged: true, wantRule: "zai/code=1308"},

	// MiniMax, as public reports show it.
	{name: "minimax-bad-request-2013", provider: "minimax", status: 400,
		body:     `{"type":"error","error":{"type":"bad_request_error","message":"invalid params, chat content has invalid message role: system (2013)","http_code":"400"},"request_id":"0660b098aa1e9dd5a6773a48c479fc89"}`,
		source:   "https://github.com/BigPizzaV3/CodexPlusPlus/issues/267",
		wantType: apierr.InvalidRequest, wantStatus: 400, wantChanged: true, wantRule: "minimax/code=2013"},
	{name: "minimax-openai-shape-2013", provider: "minimax", status: 400,
		body:     `{"error":{"message":"invalid params, chat content has invalid message role: system (2013)","type":"bad_request_error","param":"","code":null}}`,
		source:   "https://github.com/BigPizzaV3/CodexPlusPlus/issues/267 (a comment)",
		wantType: apierr.InvalidRequest, wantStatus: 400, wantChanged: true, wantRule: "minimax/code=2013"},
	{name: "minimax-authorized-1004", provider: "minimax", status: 401,
		body:     `{"type":"error","error":{"type":"authorized_error","message":"login fail: Please carry the API secret key in the 'Authorization' field of the request header (1004)","http_code":"401"},"request_id":"063432299e74d9b466b94f06aa8d7835"}`,
		source:   "https://github.com/wavetermdev/waveterm/issues/3238",
		wantType: apierr.Authentication, wantStatus: 401, wantRejects: true, wantChanged: true, wantRule: "minimax/code=1004"},
	{name: "minimax-authentication-error-unchanged", provider: "minimax", status: 401,
		body:     `{"type":"error","error":{"type":"authentication_error","message":"login fail: Please carry the API secret key in the 'Authorization' field of the request header"},"request_id":"05574eb613ba50ca5acb7fa9ee2566d3"}`,
		source:   "https://github.com/djyde/ccmate-release/issues/12",
		wantType: apierr.Authentication, wantStatus: 401, wantRejects: true, wantRule: RuleAnthropic},
	{name: "minimax-balance-as-api-error", provider: "minimax", status: 500,
		body:     `{"type":"error","error":{"type":"api_error","message":"insufficient balance (1008)"},"request_id":"05997465cd2ee4bd50b24b216c911b75"}`,
		source:   "https://github.com/MiniMax-AI/MiniMax-M2/issues/62 (Claude Code on MiniMax's Anthropic endpoint)",
		wantType: apierr.Billing, wantStatus: 402, wantRejects: true, wantChanged: true, wantRule: "minimax/code=1008"},
	{name: "minimax-insufficient-balance-error", provider: "minimax", status: 429,
		body:     `{"error":{"http_code":"429","message":"insufficient balance (1008)","type":"insufficient_balance_error"},"request_id":"xxxx"}`,
		source:   "https://github.com/modelscope/modelscope/issues/1691 (through ModelScope)",
		wantType: apierr.Billing, wantStatus: 402, wantRejects: true, wantChanged: true, wantRule: "minimax/code=1008"},
	{name: "minimax-base-resp-2056-constructed", provider: "minimax", status: 429,
		body:     `{"base_resp":{"status_code":2056,"status_msg":"usage limit exceeded"}}`,
		source:   "constructed from the 2056 row of https://platform.minimax.io/docs/api-reference/errorcode in the base_resp shape",
		wantType: apierr.Billing, wantStatus: 402, wantRejects: true, wantChanged: true, wantRule: "minimax/code=2056"},

	// Ollama and bodies that are not Anthropic errors.
	{name: "ollama-404-page-not-found", provider: "ollama", status: 404, contentType: "text/plain",
		body:     "404 page not found",
		source:   "wire.md B.7 (count_tokens → 404 text/plain)",
		wantType: apierr.NotFound, wantStatus: 404, wantChanged: true, wantRule: "ollama/status=404"},
	{name: "ollama-unknown-model-unchanged", provider: "ollama", status: 404, contentType: "application/json",
		body:     `{"type":"error","error":{"type":"not_found_error","message":"model 'no-such-model' not found"},"request_id":"req_0178638ae342d4a6f6912875"}` + "\n",
		source:   "fixtures/real-traffic/ollama/18-error-unknown-model.json",
		wantType: apierr.NotFound, wantStatus: 404, wantRule: RuleAnthropic},
	{name: "zai-404-json-constructed", provider: "zai", status: 404, contentType: "application/json",
		body:     `{"error":{"message":"Not Found"}}`,
		source:   "constructed: a JSON 404 without a code",
		wantType: apierr.NotFound, wantStatus: 404, wantChanged: true, wantRule: "*/status=404"},
	{name: "html-502-constructed", provider: "anthropic", status: 502, contentType: "text/html",
		body:     "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
		source:   "constructed: a proxy's HTML error page",
		wantType: apierr.API, wantStatus: 502, wantChanged: true, wantRule: RuleNotAnthropicBody},
	{name: "empty-503-constructed", provider: "azure", status: 503,
		source:   "constructed: an empty body",
		wantType: apierr.Overloaded, wantStatus: 503, wantChanged: true, wantRule: RuleNotAnthropicBody},
	{name: "anthropic-billing-constructed", provider: "anthropic", status: 402,
		body:     `{"type":"error","error":{"type":"billing_error","message":"There's an issue with your billing or payment information."},"request_id":"req_011CAbc"}`,
		source:   "constructed from the 402 row of https://platform.claude.com/docs/en/api/errors",
		wantType: apierr.Billing, wantStatus: 402, wantRejects: true, wantRule: "*/type=billing_error"},
	{name: "known-type-without-envelope-constructed", provider: "bedrock", status: 400,
		body:     `{"error":{"type":"invalid_request_error","message":"messages: at least one message is required"}}`,
		source:   "constructed: Anthropic's type without the envelope's top-level type",
		wantType: apierr.InvalidRequest, wantStatus: 400, wantChanged: true, wantRule: RuleAnthropicType},
	{name: "openai-shape-status-constructed", provider: "vertex", status: 429,
		body:     `{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model","status":"RESOURCE_EXHAUSTED"}}`,
		source:   "constructed: a Google-style error with a numeric code and no table row",
		wantType: apierr.RateLimit, wantStatus: 429, wantChanged: true, wantRule: RuleStatus},
}

func (tc dialectCase) input(t testing.TB) []byte {
	if tc.doc == "" {
		return []byte(tc.body)
	}
	b, err := os.ReadFile(filepath.Join(vendorDocs, tc.doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(vendorDocs, strings.TrimSuffix(tc.doc, ".json")+".md")); err != nil {
		t.Fatalf("%s has no provenance file: %v", tc.doc, err)
	}
	return bytes.TrimRight(b, "\n")
}

// dialectGolden is the golden file of a case: what goes in and what the client receives.
type dialectGolden struct {
	Source   string          `json:"source"`
	Provider string          `json:"provider"`
	StatusIn int             `json:"status_in"`
	BodyIn   string          `json:"body_in"`
	Rule     string          `json:"rule"`
	Status   int             `json:"status"`
	Type     string          `json:"type"`
	Rejects  bool            `json:"rejects"`
	Changed  bool            `json:"changed"`
	Message  string          `json:"message"`
	Body     json.RawMessage `json:"body"`
}

func TestNormalizeError(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range dialectCases {
		t.Run(tc.name, func(t *testing.T) {
			if seen[tc.name] {
				t.Fatal("duplicate case name")
			}
			seen[tc.name] = true
			in := tc.input(t)
			keep := append([]byte(nil), in...)
			n := NormalizeError(tc.provider, "main", "https://upstream.example/v1/messages", tc.status, tc.contentType, in)
			if !bytes.Equal(in, keep) {
				t.Fatal("NormalizeError modified its input")
			}
			checkEnvelope(t, n)
			if n.Type != tc.wantType || n.Status != tc.wantStatus || n.Rejects != tc.wantRejects || n.Changed != tc.wantChanged || n.Rule != tc.wantRule {
				t.Errorf("got type %s status %d rejects %v changed %v rule %s; want %s %d %v %v %s",
					n.Type, n.Status, n.Rejects, n.Changed, n.Rule, tc.wantType, tc.wantStatus, tc.wantRejects, tc.wantChanged, tc.wantRule)
			}
			if !n.Changed && !bytes.Equal(n.Body, in) {
				t.Errorf("unchanged but the body differs:\n%s", n.Body)
			}
			if rid := gjson.GetBytes(in, "request_id").String(); rid != "" && gjson.GetBytes(n.Body, "request_id").String() != rid {
				t.Errorf("request_id %q lost: %s", rid, n.Body)
			}
			if m := gjson.GetBytes(in, "error.message").String(); m != "" && !strings.Contains(n.Message, m) {
				t.Errorf("vendor message %q lost: %q", m, n.Message)
			}
			g := dialectGolden{Source: tc.source, Provider: tc.provider, StatusIn: tc.status, BodyIn: string(in),
				Rule: n.Rule, Status: n.Status, Type: n.Type, Rejects: n.Rejects, Changed: n.Changed, Message: n.Message, Body: n.Body}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(g); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("dialect", tc.name+".json"), b.Bytes())
		})
	}
}

// checkEnvelope asserts what every client receives: a 4xx/5xx status and an Anthropic error
// envelope with one of the ten types, equal to Type and Message.
func checkEnvelope(t testing.TB, n Normalized) {
	t.Helper()
	if n.Status < 400 || n.Status > 599 {
		t.Fatalf("status %d", n.Status)
	}
	if !json.Valid(n.Body) {
		t.Fatalf("body is not JSON: %q", n.Body)
	}
	r := gjson.ParseBytes(n.Body)
	if r.Get("type").String() != "error" || !isAnthropicType(r.Get("error.type").String()) || r.Get("error.message").Type != gjson.String {
		t.Fatalf("not an Anthropic error envelope: %s", n.Body)
	}
	if r.Get("error.type").String() != n.Type {
		t.Fatalf("Type %q, body says %q", n.Type, r.Get("error.type").String())
	}
	if n.Changed && r.Get("error.message").String() != n.Message {
		t.Fatalf("Message %q, body says %q", n.Message, r.Get("error.message").String())
	}
	if rejectsKey(n.Type) && !n.Rejects {
		t.Fatalf("%s does not refuse the key", n.Type)
	}
}

// TestNormalizeErrorMessages pins the message forms: the vendor's tag, the wrapper naming the
// provider, the 404 hint, the excerpt.
func TestNormalizeErrorMessages(t *testing.T) {
	tests := []struct {
		provider, ctype string
		status          int
		body, want      string
	}{
		{"zai", "", 429, `{"error":{"code":"1113","message":"Insufficient balance"}}`,
			"Insufficient balance (zai code 1113)"},
		{"minimax", "", 400, `{"type":"error","error":{"type":"bad_request_error","message":"invalid params (2013)"}}`,
			"invalid params (2013) (minimax type bad_request_error)"},
		{"minimax", "", 500, `{"type":"error","error":{"type":"api_error","message":"insufficient balance (1008)"}}`,
			"insufficient balance (1008) (minimax type api_error)"},
		{"ollama", "text/plain", 404, "404 page not found",
			`provider "main" (ollama) answered 404 from http://u/v1/messages with a non-Anthropic body: 404 page not found; not an Anthropic Messages endpoint: check base_url; Ollama needs 0.14 or newer`},
		{"anthropic", "", 404, `{"error":{"message":"Not Found"}}`,
			"Not Found (anthropic); not an Anthropic Messages endpoint: check base_url (http://u/v1/messages)"},
		{"azure", "", 500, "", `provider "main" (azure) answered 500 from http://u/v1/messages with an empty body`},
		{"azure", "text/html", 503, "<html><head><style>p{}</style><title>x</title></head><body><p>Service\n\n  Unavailable &amp; more</p><script>var a=1</script></body></html>",
			`provider "main" (azure) answered 503 from http://u/v1/messages with a non-Anthropic body: x Service Unavailable & more`},
		{"zai", "", 200, `{"error":{"message":"odd","http_code":"418"}}`, "odd (zai)"},
	}
	for _, tt := range tests {
		n := NormalizeError(tt.provider, "main", "http://u/v1/messages", tt.status, tt.ctype, []byte(tt.body))
		checkEnvelope(t, n)
		if n.Message != tt.want {
			t.Errorf("%s %d %q:\n got %q\nwant %q", tt.provider, tt.status, tt.body, n.Message, tt.want)
		}
	}
	long := strings.Repeat("é ", 300)
	n := NormalizeError("zai", "main", "", 500, "text/plain", []byte(long))
	if ex := strings.TrimPrefix(n.Message, `provider "main" (zai) answered 500 with a non-Anthropic body: `); len([]rune(ex)) != excerptLen+1 {
		t.Errorf("excerpt of %d characters: %q", len([]rune(ex)), ex)
	}
	if n := NormalizeError("zai", "main", "", 200, "", nil); n.Status != http.StatusBadGateway || n.Type != apierr.API {
		t.Errorf("a 200 without an error status: %d %s", n.Status, n.Type)
	}
}

// TestDialectTable checks the table itself, and that every code and type row decides the
// answers it matches as it says, in the shapes the vendors answer with.
func TestDialectTable(t *testing.T) {
	ids := map[string]bool{}
	lastStar := -1
	for i, r := range Dialects {
		id := r.ID()
		if ids[id] {
			t.Errorf("duplicate row %s", id)
		}
		ids[id] = true
		if r.Provider != "*" && !knownProvider(r.Provider) {
			t.Errorf("%s: unknown provider", id)
		}
		if r.Provider == "*" {
			lastStar = i
		} else if lastStar >= 0 {
			t.Errorf("%s: provider rows must come before the \"*\" rows", id)
		}
		if r.Match == (DialectMatch{}) {
			t.Errorf("%s: matches everything", id)
		}
		if !isAnthropicType(r.To) {
			t.Errorf("%s: To %q is not an Anthropic error type", id, r.To)
		}
		if r.Status != 0 && (r.Status < 400 || r.Status > 599) {
			t.Errorf("%s: status %d", id, r.Status)
		}
		if r.Status != 0 && apierr.TypeForStatus(r.Status) != r.To {
			t.Errorf("%s: sends %s with status %d (Anthropic's status for it is another)", id, r.To, r.Status)
		}
		if r.Rejects != rejectsKey(r.To) {
			t.Errorf("%s: Rejects %v for %s", id, r.Rejects, r.To)
		}
		if r.Evidence == "" || r.Note == "" {
			t.Errorf("%s: no evidence or note", id)
		}
		if r.Match.Code != "" && r.Status == 0 {
			t.Errorf("%s: a code row must say the status (vendors send codes with any status)", id)
		}
		for _, ev := range strings.Split(r.Evidence, "; ") {
			if !strings.HasPrefix(ev, "https://") && !strings.HasPrefix(ev, "wire.md") && !strings.HasPrefix(ev, "ollama/") {
				t.Errorf("%s: evidence %q is not a URL", id, ev)
			}
		}
	}
	// Within a provider, code rows come before type rows.
	for _, p := range Providers {
		seenType := false
		for _, r := range Dialects {
			if r.Provider != p {
				continue
			}
			if r.Match.Type != "" {
				seenType = true
			} else if r.Match.Code != "" && seenType {
				t.Errorf("%s: code row after a type row", r.ID())
			}
		}
	}
	for _, r := range Dialects {
		if r.Match.Code == "" {
			continue
		}
		msg := "documented message"
		bodies := []string{
			`{"error":{"code":"` + r.Match.Code + `","message":"` + msg + `"}}`,
			`{"type":"error","error":{"type":"` + r.Match.Code + `","message":"` + msg + `"},"request_id":"r1"}`,
			`{"type":"error","error":{"type":"api_error","message":"` + msg + ` (` + r.Match.Code + `)"}}`,
			`{"type":"error","error":{"type":"bad_request_error","message":"` + msg + ` (` + r.Match.Code + `)","http_code":"400"}}`,
			`{"base_resp":{"status_code":` + r.Match.Code + `,"status_msg":"` + msg + `"}}`,
		}
		for _, status := range []int{400, 429, 500} {
			for _, b := range bodies {
				n := NormalizeError(r.Provider, "p", "", status, "application/json", []byte(b))
				checkEnvelope(t, n)
				if n.Type != r.To || n.Status != r.Status || n.Rule != r.ID() || n.Rejects != r.Rejects {
					t.Errorf("%s on %d %s: got %s %d %s rejects=%v", r.ID(), status, b, n.Type, n.Status, n.Rule, n.Rejects)
				}
				if !strings.Contains(n.Message, msg) {
					t.Errorf("%s: message %q lost the vendor's", r.ID(), n.Message)
				}
			}
		}
		// Other providers do not read this vendor's codes.
		if n := NormalizeError("bedrock", "p", "", 400, "", []byte(bodies[0])); n.Rule != RuleStatus || n.Type != apierr.InvalidRequest {
			t.Errorf("%s applies to bedrock: %s %s", r.ID(), n.Rule, n.Type)
		}
	}
	for _, r := range Dialects {
		if r.Match.Type == "" || r.Provider == "*" {
			continue
		}
		b := `{"type":"error","error":{"type":"` + r.Match.Type + `","message":"m"}}`
		n := NormalizeError(r.Provider, "p", "", 418, "", []byte(b))
		want := r.Status
		if want == 0 {
			want = 418
		}
		if n.Type != r.To || n.Status != want || n.Rule != r.ID() {
			t.Errorf("%s: got %s %d %s", r.ID(), n.Type, n.Status, n.Rule)
		}
	}
}

// FuzzNormalizeError: whatever an upstream answers, the client receives a 4xx/5xx status and a
// valid Anthropic error envelope with one of the ten types; an unchanged body is the input.
func FuzzNormalizeError(f *testing.F) {
	for _, tc := range dialectCases {
		f.Add(uint8(0), tc.status, tc.contentType, tc.input(f))
	}
	f.Add(uint8(1), 200, "text/html", []byte("<b>x"))
	f.Add(uint8(2), 999, "", []byte(`{"error":{"code":1008}}`))
	f.Add(uint8(3), -1, "", []byte(`{"type":"error","error":{"type":"api_error","message":"\ud800 (1008)"}}`))
	f.Add(uint8(4), 418, "", []byte(`{"error":"\u0000"}`))
	f.Add(uint8(5), 503, "", []byte("\xff\xfe<html"))
	f.Fuzz(func(t *testing.T, p uint8, status int, contentType string, body []byte) {
		provider := append(append([]string(nil), Providers...), "other")[int(p)%(len(Providers)+1)]
		keep := append([]byte(nil), body...)
		n := NormalizeError(provider, "fuzz", "https://h/"+strconv.Itoa(status), status, contentType, body)
		if !bytes.Equal(body, keep) {
			t.Fatal("input modified")
		}
		checkEnvelope(t, n)
		if !n.Changed && !bytes.Equal(n.Body, body) {
			t.Fatalf("unchanged but the body differs")
		}
	})
}
