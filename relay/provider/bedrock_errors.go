package provider

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/tidwall/gjson"
)

// defaultRetryAfter is the retry-after (seconds) sent with a throttling error whose upstream
// gave none.
const defaultRetryAfter = "5"

// anthropicError is the status and Anthropic error type a provider error becomes.
type anthropicError struct {
	status int
	typ    string
}

// bedrockErrors maps a Bedrock error type, lower case (HTTP X-Amzn-ErrorType / __type, and the
// :exception-type of stream exception frames), to what the client sees (wire.md B.2).
var bedrockErrors = map[string]anthropicError{
	"validationexception":           {400, apierr.InvalidRequest},
	"conflictexception":             {400, apierr.InvalidRequest},
	"servicequotaexceededexception": {429, apierr.RateLimit},
	"accessdeniedexception":         {403, apierr.Permission},
	"resourcenotfoundexception":     {404, apierr.NotFound},
	"modeltimeoutexception":         {504, apierr.Timeout},
	"modelerrorexception":           {500, apierr.API},
	"modelstreamerrorexception":     {500, apierr.API},
	"throttlingexception":           {429, apierr.RateLimit},
	"modelnotreadyexception":        {529, apierr.Overloaded},
	"internalserverexception":       {500, apierr.API},
	"serviceunavailableexception":   {529, apierr.Overloaded},
	// AWS authentication failures: bad, expired or missing signature, key or token.
	"unrecognizedclientexception":         {401, apierr.Authentication},
	"invalidsignatureexception":           {401, apierr.Authentication},
	"incompletesignatureexception":        {401, apierr.Authentication},
	"missingauthenticationtokenexception": {401, apierr.Authentication},
	"expiredtokenexception":               {401, apierr.Authentication},
	"invalidclienttokenid":                {401, apierr.Authentication},
	"signaturedoesnotmatch":               {401, apierr.Authentication},
	"unauthorizedexception":               {401, apierr.Authentication},
}

// bedrockErrorType returns the Bedrock error type of an error response: the X-Amzn-ErrorType
// header cut at ':', else the body's __type (or code) cut after '#'.
func bedrockErrorType(h http.Header, body []byte) string {
	t := h.Get("X-Amzn-ErrorType")
	if t == "" {
		t = gjson.GetBytes(body, "__type").String()
	}
	if t == "" {
		t = gjson.GetBytes(body, "code").String()
	}
	if i := strings.IndexByte(t, ':'); i >= 0 {
		t = t[:i]
	}
	if i := strings.LastIndexByte(t, '#'); i >= 0 {
		t = t[i+1:]
	}
	return strings.TrimSpace(t)
}

// mapBedrockError returns the status, Anthropic type and message for a Bedrock error.
func mapBedrockError(status int, h http.Header, body []byte) (int, string, string) {
	msg := gjson.GetBytes(body, "message").String()
	if msg == "" {
		msg = gjson.GetBytes(body, "Message").String()
	}
	if msg == "" && !gjson.ValidBytes(body) {
		msg = strings.TrimSpace(string(body))
	}
	typ := bedrockErrorType(h, body)
	if msg == "" {
		msg = strings.TrimSpace(typ + " " + http.StatusText(status))
	}
	if m, ok := bedrockErrors[strings.ToLower(typ)]; ok {
		return m.status, m.typ, msg
	}
	switch {
	case status == http.StatusForbidden && looksLikeAuthFailure(msg):
		return 401, apierr.Authentication, msg
	case status == http.StatusRequestTimeout:
		return 504, apierr.Timeout, msg
	case status == http.StatusFailedDependency:
		return 500, apierr.API, msg
	case status == http.StatusServiceUnavailable:
		return 529, apierr.Overloaded, msg
	}
	return status, apierr.TypeForStatus(status), msg
}

// looksLikeAuthFailure recognises AWS authentication failures that come without an error type
// (API Gateway style {"Message":...} bodies).
func looksLikeAuthFailure(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"signature", "security token", "api key", "bearer", "credential", "authorization header"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// readSmallBody reads and closes a small body (an error, a count): at most maxErrorBody bytes,
// gunzipped when gzip-encoded (by header or by magic number, since a transport may drop the
// header).
func readSmallBody(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read upstream error body: %w", err)
	}
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") || bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("read upstream error body: gzip: %w", err)
		}
		plain, err := io.ReadAll(io.LimitReader(zr, maxErrorBody))
		if err != nil {
			return nil, fmt.Errorf("read upstream error body: gzip: %w", err)
		}
		body = plain
	}
	resp.Header.Del("Content-Encoding")
	return body, nil
}

// setBody installs body as resp's complete body.
func setBody(resp *http.Response, body []byte) {
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Del("Content-Encoding")
	resp.Uncompressed = false
}

// setError replaces resp with an Anthropic error: status, envelope body and, for 429, a
// retry-after header (the upstream's, else defaultRetryAfter).
func setError(resp *http.Response, status int, typ, msg, requestID string) {
	resp.StatusCode = status
	resp.Status = strings.TrimSpace(fmt.Sprintf("%d %s", status, http.StatusText(status)))
	resp.Header.Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		resp.Header.Set("Retry-After", defaultRetryAfter)
	}
	setBody(resp, apierr.Body(typ, msg, requestID))
}
