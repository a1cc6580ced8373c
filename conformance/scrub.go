package conformance

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ccrelay/ccrelay/relay/config"
	"gopkg.in/dnaeon/go-vcr.v2/cassette"
)

// redacted replaces credential values in cassettes (scripts/check-scrub.sh accepts it).
const redacted = "REDACTED"

// Headers whose value is a credential: kept with the value REDACTED, so that replays can still
// check which kind of credential was sent.
var credentialHeaders = []string{"Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key", "Proxy-Authorization"}

// Headers removed from recordings: signature and session material, and cookies.
var droppedHeaders = []string{
	"X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256", "Cookie", "Set-Cookie",
	"Anthropic-Organization-Id", "X-Goog-User-Project",
}

// accountInARN matches the account id of a Bedrock ARN, plain or path-escaped.
var accountInARN = regexp.MustCompile(`(arn(?::|%3A|%3a)aws[a-z-]*(?::|%3A|%3a)bedrock(?::|%3A|%3a)[a-z0-9-]*(?::|%3A|%3a))[0-9]{12}`)

// scrubber is the save filter of a recording: it removes credentials and replaces account,
// project and resource names with the placeholders replays configure (example-project,
// example-resource, account 000000000000).
type scrubber struct {
	// secrets are values removed wherever they appear (keys, tokens, secret keys).
	secrets []string
	// names maps account-specific names to their placeholders.
	names map[string]string
}

// newScrubber collects what must not be written from a provider configuration.
func newScrubber(p config.Provider) *scrubber {
	s := &scrubber{names: map[string]string{}}
	add := func(v string) {
		if len(v) >= 4 && !slices.Contains(s.secrets, v) {
			s.secrets = append(s.secrets, v)
		}
	}
	for _, k := range p.Keys {
		add(k.Key)
	}
	add(p.AWSSecretAccessKey)
	add(p.AWSSessionToken)
	add(p.AWSBearerToken)
	add(p.AWSAccessKeyID)
	if p.GCPProjectID != "" && p.GCPProjectID != placeholderProject {
		s.names[p.GCPProjectID] = placeholderProject
	}
	if p.AzureResourceName != "" && p.AzureResourceName != placeholderResource {
		s.names[p.AzureResourceName] = placeholderResource
	}
	return s
}

// addSecret adds a value to remove (a bearer token seen on the wire, for example).
func (s *scrubber) addSecret(v string) {
	if len(v) >= 8 && !slices.Contains(s.secrets, v) {
		s.secrets = append(s.secrets, v)
	}
}

// filter implements cassette.Filter.
func (s *scrubber) filter(i *cassette.Interaction) error {
	for _, h := range []http.Header{i.Request.Headers, i.Response.Headers} {
		for _, k := range credentialHeaders {
			if len(h.Values(k)) > 0 {
				h.Set(k, redacted)
			}
		}
		for _, k := range droppedHeaders {
			h.Del(k)
		}
		for k, vs := range h {
			for j, v := range vs {
				vs[j] = s.text(v)
			}
			h[k] = vs
		}
	}
	i.Request.Form = nil
	i.Request.URL = s.text(i.Request.URL)
	var err error
	if i.Request.Body, err = s.body(i.Request.Body, "request"); err != nil {
		return err
	}
	if i.Response.Body, err = s.body(i.Response.Body, "response"); err != nil {
		return err
	}
	return nil
}

// body scrubs a text body. A binary body (an AWS event stream) cannot be edited without
// breaking its frames: one that contains a secret is an error.
func (s *scrubber) body(b, what string) (string, error) {
	if utf8.ValidString(b) {
		return s.text(b), nil
	}
	for _, v := range s.secrets {
		if strings.Contains(b, v) {
			return "", fmt.Errorf("conformance: scrub: the binary %s body contains a credential; nothing was written", what)
		}
	}
	return b, nil
}

// text replaces secrets, names and ARN account ids in s.
func (s *scrubber) text(v string) string {
	for _, sec := range s.secrets {
		v = strings.ReplaceAll(v, sec, redacted)
	}
	for name, ph := range s.names {
		v = strings.ReplaceAll(v, name, ph)
	}
	return accountInARN.ReplaceAllString(v, "${1}"+placeholderAccount)
}
