package features

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/tidwall/gjson"
)

// This file is the error dialect table: how each provider's error answers become the Anthropic
// error a client expects. Every error a client receives is Anthropic-shaped, with one of
// Anthropic's ten error types (AnthropicErrorTypes). NormalizeError applies the table to one
// upstream answer; the relay calls it on every non-2xx answer before it passes the answer on or
// fails over.
//
// Statuses follow Anthropic's errors page (https://platform.claude.com/docs/en/api/errors):
// billing_error is 402, so a balance or quota error is sent as 402 billing_error whatever status
// the vendor used (Z.AI documents 429 for "Account balance exhausted"; MiniMax's Anthropic
// endpoint has answered 500). Anthropic also answers 400 invalid_request_error when a spend limit
// the customer set is reached; that body passes unchanged.

// AnthropicErrorTypes are the error types a client may receive, as Anthropic's errors page lists
// them with their statuses.
var AnthropicErrorTypes = []string{
	apierr.InvalidRequest,  // 400
	apierr.Authentication,  // 401
	apierr.Billing,         // 402
	apierr.Permission,      // 403
	apierr.NotFound,        // 404
	apierr.RequestTooLarge, // 413
	apierr.RateLimit,       // 429
	apierr.API,             // 500
	apierr.Timeout,         // 504
	apierr.Overloaded,      // 529
}

// isAnthropicType reports whether t is one of AnthropicErrorTypes.
func isAnthropicType(t string) bool {
	for _, a := range AnthropicErrorTypes {
		if a == t {
			return true
		}
	}
	return false
}

// rejectsKey reports whether an error of type t refuses the key itself (billing and quota,
// authentication, permission): the relay takes the key out of rotation with the long re-probe it
// uses for 401 and 403, and fails over.
func rejectsKey(t string) bool {
	return t == apierr.Billing || t == apierr.Authentication || t == apierr.Permission
}

// DialectMatch selects upstream error answers. Empty fields match anything; a rule sets at least
// one of them.
type DialectMatch struct {
	// Status is the upstream HTTP status.
	Status int
	// Type is the vendor's own error type: error.type when it is not one of Anthropic's types
	// and not a number (MiniMax's "bad_request_error"), or Anthropic's own type for "*" rules.
	Type string
	// Code is the vendor's numeric code: a numeric error.type (Z.AI on its Anthropic endpoint),
	// error.code, base_resp.status_code, a top-level code, or the "(NNNN)" that ends MiniMax's
	// messages.
	Code string
}

// DialectRule is one normalization.
type DialectRule struct {
	// Provider is a provider type (config.TypeZAI, ...) or "*" for every provider.
	Provider string
	Match    DialectMatch
	// To is the Anthropic error type sent to the client.
	To string
	// Status is the status sent to the client; 0 keeps the upstream status.
	Status int
	// Rejects says the key itself is refused (billing, quota, authentication, permission): the
	// key is taken out of rotation with the long re-probe, and the request fails over.
	Rejects bool
	// Evidence is the URL of the page that documents the code or shows the answer.
	Evidence string
	Note     string
	// Hint is added to the message sent ("…; not an Anthropic Messages endpoint: …").
	Hint string
}

// ID names the rule in logs and in x-ccrelay-degraded: "zai/code=1113", "minimax/type=...".
func (r DialectRule) ID() string {
	var parts []string
	if r.Match.Status != 0 {
		parts = append(parts, "status="+strconv.Itoa(r.Match.Status))
	}
	if r.Match.Type != "" {
		parts = append(parts, "type="+r.Match.Type)
	}
	if r.Match.Code != "" {
		parts = append(parts, "code="+r.Match.Code)
	}
	return r.Provider + "/" + strings.Join(parts, ",")
}

// Rule names of the answers no table row decides.
const (
	// RuleAnthropic: an Anthropic error with a known type, passed unchanged.
	RuleAnthropic = "anthropic"
	// RuleAnthropicType: a JSON error that names one of Anthropic's types without being the
	// whole envelope ({"error":{"type":"invalid_request_error",…}}); the type is kept.
	RuleAnthropicType = "anthropic-type"
	// RuleStatus: a vendor JSON error without a known type or code, typed by its status.
	RuleStatus = "status"
	// RuleNotAnthropicBody: a body that is not a JSON error (empty, text, HTML), wrapped.
	RuleNotAnthropicBody = "non-anthropic-body"
)

// Evidence of the dialect rules.
const (
	evAnthropicErrors = "https://platform.claude.com/docs/en/api/errors"
	evZAICodes        = "https://docs.z.ai/api-reference/api-code"
	evMiniMaxCodes    = "https://platform.minimax.io/docs/api-reference/errorcode"
	// Public bug reports showing the shapes MiniMax's endpoints answer with.
	evMiniMaxBadRequest = "https://github.com/BigPizzaV3/CodexPlusPlus/issues/267"
	evMiniMaxAuthorized = "https://github.com/wavetermdev/waveterm/issues/3238"
	evMiniMaxBalance500 = "https://github.com/MiniMax-AI/MiniMax-M2/issues/62"
	evMiniMaxBalanceTyp = "https://github.com/modelscope/modelscope/issues/1691"
	// Z.AI's Anthropic endpoint putting its code in error.type, with a 429.
	evZAIType1113 = "https://github.com/anthropics/claude-code/issues/11345"
)

// notMessages is added to a 404 whose body is not an Anthropic error.
const notMessages = "not an Anthropic Messages endpoint: check base_url"

// Dialects is the table, in match order: the first row that matches decides. Provider rows
// come before "*" rows; within a provider, code rows before type rows, so that a body carrying
// both is decided by its code.
var Dialects = []DialectRule{
	// Z.AI business codes (docs.z.ai "Errors"). Its answers come as {"error":{"code":"1113",
	// "message":…}}, or on the Anthropic endpoint as {"type":"error","error":{"type":"1113",…}};
	// request ids have no req_ prefix and are kept as they are.
	byCode(config.TypeZAI, "500", apierr.API, 500, false, evZAICodes, "Internal Error"),
	byCode(config.TypeZAI, "1000", apierr.Authentication, 401, true, evZAICodes, "Authentication Failed"),
	byCode(config.TypeZAI, "1001", apierr.Authentication, 401, true, evZAICodes, "authentication parameter not received in Header"),
	byCode(config.TypeZAI, "1002", apierr.Authentication, 401, true, evZAICodes, "Invalid Authentication Token (the page's 401 example)"),
	byCode(config.TypeZAI, "1003", apierr.Authentication, 401, true, evZAICodes, "Authentication Token expired"),
	byCode(config.TypeZAI, "1004", apierr.Authentication, 401, true, evZAICodes, "authentication failed with the provided token"),
	byCode(config.TypeZAI, "1110", apierr.Permission, 403, true, evZAICodes, "account inactive"),
	byCode(config.TypeZAI, "1111", apierr.Authentication, 401, true, evZAICodes, "account does not exist"),
	byCode(config.TypeZAI, "1112", apierr.Permission, 403, true, evZAICodes, "account locked"),
	byCode(config.TypeZAI, "1113", apierr.Billing, 402, true, evZAICodes+"; "+evZAIType1113, "in arrears / insufficient balance; documented as 429 \"Account balance exhausted\""),
	byCode(config.TypeZAI, "1121", apierr.Permission, 403, true, evZAICodes, "account locked for irregular activities"),
	byCode(config.TypeZAI, "1210", apierr.InvalidRequest, 400, false, evZAICodes, "incorrect API call parameters"),
	byCode(config.TypeZAI, "1211", apierr.NotFound, 404, false, evZAICodes, "model does not exist"),
	byCode(config.TypeZAI, "1212", apierr.InvalidRequest, 400, false, evZAICodes, "model does not support the call method"),
	byCode(config.TypeZAI, "1213", apierr.InvalidRequest, 400, false, evZAICodes, "parameter not received"),
	byCode(config.TypeZAI, "1214", apierr.InvalidRequest, 400, false, evZAICodes, "invalid parameter (the page's error-shape example)"),
	byCode(config.TypeZAI, "1215", apierr.InvalidRequest, 400, false, evZAICodes, "parameters cannot be set together"),
	byCode(config.TypeZAI, "1220", apierr.Permission, 403, true, evZAICodes, "no permission to access the API"),
	byCode(config.TypeZAI, "1221", apierr.NotFound, 404, false, evZAICodes, "API taken offline"),
	byCode(config.TypeZAI, "1222", apierr.NotFound, 404, false, evZAICodes, "API does not exist"),
	byCode(config.TypeZAI, "1230", apierr.API, 500, false, evZAICodes, "API call process error"),
	byCode(config.TypeZAI, "1234", apierr.API, 500, false, evZAICodes, "network error"),
	byCode(config.TypeZAI, "1261", apierr.InvalidRequest, 400, false, evZAICodes, "prompt exceeds max length (Anthropic: 400 \"prompt is too long\")"),
	byCode(config.TypeZAI, "1300", apierr.InvalidRequest, 400, false, evZAICodes, "blocked by policy"),
	byCode(config.TypeZAI, "1301", apierr.InvalidRequest, 400, false, evZAICodes, "unsafe or sensitive content"),
	byCode(config.TypeZAI, "1302", apierr.RateLimit, 429, false, evZAICodes, "concurrency limit"),
	byCode(config.TypeZAI, "1303", apierr.RateLimit, 429, false, evZAICodes, "frequency limit"),
	byCode(config.TypeZAI, "1304", apierr.Billing, 402, true, evZAICodes, "daily call limit reached (quota: \"contact customer service to purchase\")"),
	byCode(config.TypeZAI, "1305", apierr.RateLimit, 429, false, evZAICodes, "rate limit"),
	byCode(config.TypeZAI, "1308", apierr.Billing, 402, true, evZAICodes, "plan usage limit reached until next_flush_time (quota)"),
	byCode(config.TypeZAI, "1309", apierr.Billing, 402, true, evZAICodes, "GLM Coding Plan expired"),
	byCode(config.TypeZAI, "1310", apierr.Billing, 402, true, evZAICodes, "weekly/monthly limit exhausted (quota)"),
	byCode(config.TypeZAI, "1311", apierr.NotFound, 404, false, evZAICodes, "the plan does not include the model: the model is unavailable on this key, the key still serves others"),
	byCode(config.TypeZAI, "1312", apierr.Overloaded, 529, false, evZAICodes, "model experiencing high traffic"),
	byCode(config.TypeZAI, "1313", apierr.Permission, 403, true, evZAICodes, "Fair Use Policy restriction until lifted by the user"),

	// MiniMax error codes (errorcode page: no HTTP statuses given). They reach the Anthropic
	// endpoint's clients at the end of the message ("insufficient balance (1008)"), in
	// base_resp.status_code on native endpoints, or in error.code.
	byCode(config.TypeMiniMax, "1000", apierr.API, 500, false, evMiniMaxCodes, "unknown error"),
	byCode(config.TypeMiniMax, "1001", apierr.Timeout, 504, false, evMiniMaxCodes, "request timeout"),
	byCode(config.TypeMiniMax, "1002", apierr.RateLimit, 429, false, evMiniMaxCodes, "rate limit"),
	byCode(config.TypeMiniMax, "1004", apierr.Authentication, 401, true, evMiniMaxCodes+"; "+evMiniMaxAuthorized, "not authorized / token not match group"),
	byCode(config.TypeMiniMax, "1008", apierr.Billing, 402, true, evMiniMaxCodes+"; "+evMiniMaxBalance500, "insufficient balance; the Anthropic endpoint has sent it as 500 api_error \"insufficient balance (1008)\""),
	byCode(config.TypeMiniMax, "1024", apierr.API, 500, false, evMiniMaxCodes, "internal error"),
	byCode(config.TypeMiniMax, "1026", apierr.InvalidRequest, 400, false, evMiniMaxCodes, "input sensitive"),
	byCode(config.TypeMiniMax, "1027", apierr.InvalidRequest, 400, false, evMiniMaxCodes, "output sensitive"),
	byCode(config.TypeMiniMax, "1033", apierr.API, 500, false, evMiniMaxCodes, "system error"),
	byCode(config.TypeMiniMax, "1039", apierr.RateLimit, 429, false, evMiniMaxCodes, "token limit"),
	byCode(config.TypeMiniMax, "1041", apierr.RateLimit, 429, false, evMiniMaxCodes, "connection limit"),
	byCode(config.TypeMiniMax, "1042", apierr.InvalidRequest, 400, false, evMiniMaxCodes, "invisible character ratio limit"),
	byCode(config.TypeMiniMax, "2013", apierr.InvalidRequest, 400, false, evMiniMaxCodes+"; "+evMiniMaxBadRequest, "invalid params"),
	byCode(config.TypeMiniMax, "2045", apierr.RateLimit, 429, false, evMiniMaxCodes, "rate growth limit"),
	byCode(config.TypeMiniMax, "2049", apierr.Authentication, 401, true, evMiniMaxCodes, "invalid api key"),
	byCode(config.TypeMiniMax, "2056", apierr.Billing, 402, true, evMiniMaxCodes, "usage limit exceeded until the next 5-hour window (quota)"),
	// MiniMax's own error types (not documented; seen in public bug reports).
	byType(config.TypeMiniMax, "bad_request_error", apierr.InvalidRequest, 400, false, evMiniMaxBadRequest, "with an http_code string and the code at the end of the message"),
	byType(config.TypeMiniMax, "authorized_error", apierr.Authentication, 401, true, evMiniMaxAuthorized, "401 \"login fail: … (1004)\""),
	byType(config.TypeMiniMax, "insufficient_balance_error", apierr.Billing, 402, true, evMiniMaxBalanceTyp, "429 \"insufficient balance (1008)\" (seen through ModelScope)"),

	// Ollama.
	{Provider: config.TypeOllama, Match: DialectMatch{Status: 404}, To: apierr.NotFound,
		Evidence: "wire.md B.7 (count_tokens → 404 text/plain); ollama/ollama anthropic/anthropic.go",
		Note:     "Go's \"404 page not found\": no /v1/messages route (Ollama before 0.14) or a wrong base_url",
		Hint:     notMessages + "; Ollama needs 0.14 or newer"},

	// Every provider.
	byType("*", apierr.Billing, apierr.Billing, 0, true, evAnthropicErrors, "402: \"an issue with your billing or payment information\"; passed unchanged, the key is refused"),
	{Provider: "*", Match: DialectMatch{Status: 404}, To: apierr.NotFound,
		Evidence: "wire.md B.7", Note: "a 404 that is not an Anthropic error: the base URL is not a Messages API",
		Hint: notMessages},
}

// byCode is a row that matches a vendor code.
func byCode(provider, code, to string, status int, rejects bool, evidence, note string) DialectRule {
	return DialectRule{Provider: provider, Match: DialectMatch{Code: code}, To: to, Status: status,
		Rejects: rejects, Evidence: evidence, Note: note}
}

// byType is a row that matches a vendor error type.
func byType(provider, typ, to string, status int, rejects bool, evidence, note string) DialectRule {
	return DialectRule{Provider: provider, Match: DialectMatch{Type: typ}, To: to, Status: status,
		Rejects: rejects, Evidence: evidence, Note: note}
}

// Normalized is an upstream error answer in the form the client receives.
type Normalized struct {
	// Status is the status to send (400-599).
	Status int
	// Type is one of AnthropicErrorTypes.
	Type string
	// Message is the error message sent.
	Message string
	// Body is the Anthropic envelope to send.
	Body []byte
	// Rejects says the key itself is refused (billing, quota, authentication, permission).
	Rejects bool
	// Changed is false when the upstream answer was already an Anthropic error with a known
	// type and is passed as it is (Body is the upstream body).
	Changed bool
	// Rule names the row or case that decided (DialectRule.ID or one of the Rule constants),
	// for logs and x-ccrelay-degraded.
	Rule string
}

// excerptLen is how much of a body that is not a JSON error is quoted.
const excerptLen = 200

// NormalizeError turns one non-2xx upstream answer into the Anthropic error the client receives.
// providerType is the provider's type (config.Type*), providerName its configured name, url the
// upstream URL (named in the messages of bodies that are not Anthropic errors; may be empty).
//
//   - An Anthropic error {"type":"error","error":{"type":T,"message":M}} with T one of
//     AnthropicErrorTypes passes unchanged (a billing_error refuses the key), unless a row of
//     the provider matches its code: MiniMax's "insufficient balance (1008)" comes as api_error.
//   - Another JSON error is decided by the first matching row of Dialects, else typed by its
//     status (apierr.TypeForStatus). The vendor's message is kept, followed by its own type and
//     code ("(zai code 1113)") where the message does not already show them; its request_id is
//     kept.
//   - An empty, text or HTML body is wrapped, naming the provider and quoting the body (tags
//     stripped, whitespace collapsed, 200 characters).
//   - A 404 that is not an Anthropic error says that the base URL is not a Messages endpoint.
func NormalizeError(providerType, providerName, url string, status int, contentType string, body []byte) Normalized {
	st := clientStatus(status, body)
	v, isJSON := readVendorError(body)
	if isJSON && v.anthropic {
		r, ok := matchRule(providerType, st, v, true)
		if ok && (r.To != v.typ || (r.Status != 0 && r.Status != st)) {
			return v.apply(providerType, url, r, st)
		}
		rule := RuleAnthropic
		if ok {
			rule = r.ID()
		}
		// The body goes as it is: Message is its message exactly (v.message is trimmed).
		return Normalized{Status: st, Type: v.typ, Message: gjson.GetBytes(body, "error.message").Str, Body: body,
			Rejects: r.Rejects || rejectsKey(v.typ), Changed: st != status, Rule: rule}
	}
	if isJSON && (v.message != "" || v.typ != "" || v.code != "") {
		if r, ok := matchRule(providerType, st, v, false); ok {
			return v.apply(providerType, url, r, st)
		}
		msg := v.message
		if msg == "" {
			msg = http.StatusText(st)
		}
		if isAnthropicType(v.typ) {
			return finish(st, v.typ, msg+v.tag(providerType, v.typ), v.requestID, false, RuleAnthropicType)
		}
		return finish(st, apierr.TypeForStatus(st), msg+v.tag(providerType, ""), v.requestID, false, RuleStatus)
	}
	// Not a JSON error: wrap it, naming the provider.
	msg := fmt.Sprintf("provider %q (%s) answered %d", providerName, providerType, status)
	if url != "" {
		msg += " from " + url
	}
	if ex := excerpt(body, contentType); ex != "" {
		msg += " with a non-Anthropic body: " + ex
	} else {
		msg += " with an empty body"
	}
	if r, ok := matchRule(providerType, st, vendorError{}, false); ok {
		if r.Hint != "" {
			msg += "; " + r.Hint
		}
		return finish(st, r.To, msg, v.requestID, r.Rejects, r.ID())
	}
	return finish(st, apierr.TypeForStatus(st), msg, v.requestID, false, RuleNotAnthropicBody)
}

// clientStatus is the status the client receives: the upstream status when it is an error
// status, else the http_code the body names (MiniMax), else 502.
func clientStatus(status int, body []byte) int {
	if status >= 400 && status <= 599 {
		return status
	}
	if c := gjson.GetBytes(body, "error.http_code").Int(); c >= 400 && c <= 599 && gjson.ValidBytes(body) {
		return int(c)
	}
	return http.StatusBadGateway
}

// vendorError is what an upstream JSON error body says.
type vendorError struct {
	anthropic bool   // {"type":"error","error":{"type":T,"message":M}} with T a known type
	typ       string // error.type when it is not a number
	code      string // see DialectMatch.Code
	message   string
	requestID string
}

// trailingCode is the "(NNNN)" that ends MiniMax's messages.
var trailingCode = regexp.MustCompile(`\((\d{3,6})\)\s*$`)

// readVendorError reads a JSON object body. ok is false when the body is not a JSON object.
func readVendorError(body []byte) (v vendorError, ok bool) {
	if !gjson.ValidBytes(body) {
		return v, false
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return v, false
	}
	errv := root.Get("error")
	if rid := root.Get("request_id"); rid.Type == gjson.String {
		v.requestID = clean(rid.String())
	}
	// Message: error.message, base_resp.status_msg, message, error (a string), detail.
	for _, m := range []gjson.Result{errv.Get("message"), root.Get("base_resp.status_msg"), root.Get("message"), errv, root.Get("detail")} {
		if m.Type == gjson.String && strings.TrimSpace(m.String()) != "" {
			v.message = clean(m.String())
			break
		}
	}
	if t := errv.Get("type"); t.Type == gjson.String {
		if isCode(t.String()) {
			v.code = t.String()
		} else {
			v.typ = clean(t.String())
		}
	}
	v.anthropic = root.Get("type").String() == "error" && isAnthropicType(v.typ) && errv.Get("message").Type == gjson.String
	if v.code == "" {
		for _, c := range []gjson.Result{errv.Get("code"), root.Get("base_resp.status_code"), root.Get("code")} {
			if s := codeOf(c); s != "" {
				v.code = s
				break
			}
		}
	}
	if v.code == "" {
		if m := trailingCode.FindStringSubmatch(v.message); m != nil {
			v.code = m[1]
		}
	}
	return v, true
}

// codeOf is a JSON value as a vendor code: a number or a string of digits. 0 is no code
// (MiniMax's base_resp.status_code is 0 on success).
func codeOf(r gjson.Result) string {
	switch r.Type {
	case gjson.Number:
		if n := r.Int(); n > 0 && float64(n) == r.Num {
			return strconv.FormatInt(n, 10)
		}
	case gjson.String:
		if isCode(r.String()) && strings.TrimLeft(r.String(), "0") != "" {
			return r.String()
		}
	}
	return ""
}

// isCode reports whether s is a short string of digits.
func isCode(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// matchRule finds the first row of Dialects for the provider that matches. With anthropic set
// (the body is an Anthropic error with a known type), only rows that match a code or a type can
// apply: a status alone says nothing new about a body that names its type.
func matchRule(providerType string, status int, v vendorError, anthropic bool) (DialectRule, bool) {
	for _, r := range Dialects {
		if r.Provider != providerType && r.Provider != "*" {
			continue
		}
		m := r.Match
		if anthropic && m.Code == "" && m.Type == "" {
			continue
		}
		if (m.Status != 0 && m.Status != status) || (m.Type != "" && m.Type != v.typ) || (m.Code != "" && m.Code != v.code) {
			continue
		}
		return r, true
	}
	return DialectRule{}, false
}

// apply builds the answer a row decides.
func (v vendorError) apply(providerType, url string, r DialectRule, status int) Normalized {
	st := status
	if r.Status != 0 {
		st = r.Status
	}
	msg := v.message
	if msg == "" {
		msg = http.StatusText(st)
	}
	msg += v.tag(providerType, r.To)
	if r.Hint != "" {
		msg += "; " + r.Hint
		if url != "" {
			msg += " (" + url + ")"
		}
	}
	return finish(st, r.To, msg, v.requestID, r.Rejects, r.ID())
}

// tag names the provider type and the vendor's own type and code, as " (zai code 1113)",
// leaving out what the message already shows and a type equal to the one sent.
func (v vendorError) tag(providerType, sent string) string {
	var parts []string
	if v.typ != "" && v.typ != sent && !strings.Contains(v.message, v.typ) {
		parts = append(parts, "type "+v.typ)
	}
	if v.code != "" && !strings.Contains(v.message, "("+v.code+")") {
		parts = append(parts, "code "+v.code)
	}
	if len(parts) == 0 {
		return " (" + providerType + ")"
	}
	return " (" + providerType + " " + strings.Join(parts, ", ") + ")"
}

// finish encodes the envelope.
func finish(status int, typ, msg, requestID string, rejects bool, rule string) Normalized {
	return Normalized{
		Status: status, Type: typ, Message: msg,
		Body:    apierr.Body(typ, msg, requestID),
		Rejects: rejects || rejectsKey(typ), Changed: true, Rule: rule,
	}
}

var (
	htmlTag   = regexp.MustCompile(`(?s)<[^>]*>`)
	htmlDrop  = regexp.MustCompile(`(?is)<script\b.*?</script\s*>|<style\b.*?</style\s*>`)
	htmlLike  = regexp.MustCompile(`(?i)^\s*<(!doctype|html|head|body|\?xml|[a-z][a-z0-9]*[\s>/])`)
	htmlChars = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&nbsp;", " ")
)

// excerpt quotes a body that is not a JSON error: HTML tags (and script and style elements)
// removed when the body is HTML, whitespace collapsed, at most excerptLen characters.
func excerpt(body []byte, contentType string) string {
	s := string(body)
	if strings.Contains(strings.ToLower(contentType), "html") || htmlLike.MatchString(s) {
		s = htmlDrop.ReplaceAllString(s, " ")
		s = htmlTag.ReplaceAllString(s, " ")
		s = htmlChars.Replace(s)
	}
	s = strings.Join(strings.Fields(clean(s)), " ")
	if utf8.RuneCountInString(s) > excerptLen {
		r := []rune(s)
		s = string(r[:excerptLen]) + "…"
	}
	return s
}

// clean makes s valid UTF-8.
func clean(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}
