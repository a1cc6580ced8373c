// Package apierr is the one place that writes the Anthropic error envelope:
//
//	{"type":"error","error":{"type":T,"message":M},"request_id":"req_…"}
//
// It also maps between HTTP statuses and Anthropic error types, and recognises bodies that are
// already Anthropic-shaped so that they pass through unchanged.
package apierr

import "github.com/tidwall/gjson"

// Anthropic error types.
const (
	InvalidRequest  = "invalid_request_error"
	Authentication  = "authentication_error"
	Billing         = "billing_error"
	Permission      = "permission_error"
	NotFound        = "not_found_error"
	RequestTooLarge = "request_too_large"
	RateLimit       = "rate_limit_error"
	API             = "api_error"
	Timeout         = "timeout_error"
	Overloaded      = "overloaded_error"
)

// Error is an Anthropic-shaped error with its HTTP status.
type Error struct {
	Status  int
	Type    string
	Message string
	// RetryAfter, when positive, is sent as the retry-after header (seconds).
	RetryAfter int
}

// Error returns the message with its type, for logs.
func (e *Error) Error() string { return e.Type + ": " + e.Message }

// New returns an error of the given status, with the type the status implies.
func New(status int, message string) *Error {
	return &Error{Status: status, Type: TypeForStatus(status), Message: message}
}

// Body encodes the Anthropic error envelope. requestID may be empty.
func Body(typ, message, requestID string) []byte {
	b := make([]byte, 0, 64+len(message))
	b = append(b, `{"type":"error","error":{"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, message)
	b = append(b, '}')
	if requestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendJSONString(b, requestID)
	}
	return append(b, '}')
}

// Event encodes an SSE error event carrying the envelope (without request_id, as Anthropic does).
func Event(typ, message string) []byte {
	b := append([]byte("event: error\ndata: "), Body(typ, message, "")...)
	return append(b, "\n\n"...)
}

// TypeForStatus is the Anthropic error type of an HTTP status.
func TypeForStatus(status int) string {
	switch status {
	case 400, 422:
		return InvalidRequest
	case 401:
		return Authentication
	case 402:
		return Billing
	case 403:
		return Permission
	case 404:
		return NotFound
	case 413:
		return RequestTooLarge
	case 429:
		return RateLimit
	case 504, 408:
		return Timeout
	case 529, 503:
		return Overloaded
	}
	if status >= 500 {
		return API
	}
	return InvalidRequest
}

// IsType reports whether typ is one of Anthropic's error types.
func IsType(typ string) bool {
	switch typ {
	case InvalidRequest, Authentication, Billing, Permission, NotFound, RequestTooLarge,
		RateLimit, API, Timeout, Overloaded:
		return true
	}
	return false
}

// IsAnthropicShaped reports whether body is already an Anthropic error envelope.
func IsAnthropicShaped(body []byte) bool {
	if !gjson.ValidBytes(body) {
		return false
	}
	r := gjson.GetManyBytes(body, "type", "error.type", "error.message")
	return r[0].String() == "error" && r[1].Type == gjson.String && r[2].Exists()
}

// appendJSONString appends s as a JSON string. strconv.Quote is not JSON (it emits \x escapes),
// so this escapes by hand.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
