package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"github.com/ccrelay/ccrelay/relay/apierr"
	"github.com/ccrelay/ccrelay/relay/config"
)

// writeError answers with an Anthropic error body. It is the relay's only writer of errors;
// the envelope itself comes from package apierr.
func writeError(w http.ResponseWriter, e *apierr.Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	reqID := h.Get("Request-Id")
	body := apierr.Body(e.Type, e.Message, reqID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}

// errorf builds a relay error of the given status.
func errorf(status int, format string, args ...any) *apierr.Error {
	return apierr.New(status, fmt.Sprintf(format, args...))
}

// transportError turns a failed round trip into the error the client sees: 504 for timeouts,
// 502 for everything else, naming the provider and its address.
func transportError(u *upstream, err error) *apierr.Error {
	if isTimeout(err) {
		return errorf(http.StatusGatewayTimeout, "provider %q (%s) at %s did not answer in time: %v",
			u.cfg.Name, u.cfg.Type, u.p.Address, cleanErr(err))
	}
	msg := fmt.Sprintf("provider %q (%s) is unreachable at %s: %v", u.cfg.Name, u.cfg.Type, u.p.Address, cleanErr(err))
	if u.cfg.Type == config.TypeOllama && errors.Is(err, syscall.ECONNREFUSED) {
		msg += `. Is Ollama running? Start it with "ollama serve" (check with "curl ` + u.p.Address + `/api/version"), or fix base_url`
	}
	return errorf(http.StatusBadGateway, "%s", msg)
}

// transportCause is a failed round trip in a few words, for logs, the circuit breaker and the
// combined error: "unreachable at http://127.0.0.1:11434 (connection refused). Is Ollama
// running? …".
func transportCause(u *upstream, err error) string {
	if isTimeout(err) {
		return "no answer in time from " + u.p.Address + " (" + shortNetErr(err) + ")"
	}
	s := "unreachable at " + u.p.Address + " (" + shortNetErr(err) + ")"
	if u.cfg.Type == config.TypeOllama && errors.Is(err, syscall.ECONNREFUSED) {
		s += `. Is Ollama running? Start it with "ollama serve", or fix base_url`
	}
	return s
}

// shortNetErr is the innermost part of a network error that says what went wrong:
// "connection refused", "lookup api.anthropic.com: no such host", "timed out".
func shortNetErr(err error) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dns):
		return "lookup " + dns.Name + ": " + dns.Err
	case isTimeout(err):
		return "timed out"
	}
	return cleanErr(err)
}

// isTimeout reports whether err is a deadline or a network timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// cleanErr strips the method and URL that net/http prefixes to transport errors; the message
// already names the provider and address.
func cleanErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "\": "); i >= 0 && strings.HasPrefix(s, "Post \"") {
		return s[i+3:]
	}
	return s
}
