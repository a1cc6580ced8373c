package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file is a SigV4 verifier written from the AWS specification ("Create a signed AWS API
// request", docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html),
// independent of the SDK signer, for the fake Bedrock upstream: it recomputes the signature of
// a received request from a known secret.

// sigv4Key is a test credential the fake upstream knows.
type sigv4Key struct {
	secret string
	token  string // session token the request must carry ("" for none)
}

// verifySigV4 checks r's Authorization header against keys, for service and region, with body
// as the payload. It returns the access key id that signed the request.
func verifySigV4(r *http.Request, body []byte, keys map[string]sigv4Key, service, region string, now time.Time) (string, error) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", fmt.Errorf("authorization %q is not AWS4-HMAC-SHA256", auth)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 {
		return "", fmt.Errorf("credential %q: want AKID/date/region/service/aws4_request", fields["Credential"])
	}
	akid, date := scope[0], scope[1]
	key, ok := keys[akid]
	if !ok {
		return "", fmt.Errorf("unknown access key %q", akid)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return "", fmt.Errorf("x-amz-date %q: %v", amzDate, err)
	}
	if d := now.Sub(signedAt); d > 5*time.Minute || d < -5*time.Minute {
		return "", fmt.Errorf("signature expired: signed at %s", amzDate)
	}
	if date != amzDate[:8] || scope[2] != region || scope[3] != service || scope[4] != "aws4_request" {
		return "", fmt.Errorf("credential scope %q, want %s/%s/%s/aws4_request", fields["Credential"], amzDate[:8], region, service)
	}
	if got := r.Header.Get("X-Amz-Security-Token"); got != key.token {
		return "", fmt.Errorf("security token %q, want %q", got, key.token)
	}

	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, must := range []string{"host", "x-amz-date"} {
		if !contains(signed, must) {
			return "", fmt.Errorf("signed headers %q lack %s", fields["SignedHeaders"], must)
		}
	}
	if key.token != "" && !contains(signed, "x-amz-security-token") {
		return "", fmt.Errorf("signed headers %q lack x-amz-security-token", fields["SignedHeaders"])
	}
	var canonHeaders strings.Builder
	for _, h := range signed {
		var vals []string
		switch h {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		default:
			vals = r.Header.Values(h)
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		canonHeaders.WriteString(h + ":" + strings.Join(vals, ",") + "\n")
	}

	rawPath, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	payload := sha256.Sum256(body)
	canonical := strings.Join([]string{
		r.Method,
		uriEncode(rawPath, false), // every service but S3 encodes the already-encoded path again
		canonicalQuery(rawQuery),
		canonHeaders.String(),
		fields["SignedHeaders"],
		hex.EncodeToString(payload[:]),
	}, "\n")
	creq := sha256.Sum256([]byte(canonical))
	credScope := strings.Join(scope[1:], "/")
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + credScope + "\n" + hex.EncodeToString(creq[:])
	k := hmacSHA256([]byte("AWS4"+key.secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(k, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return "", fmt.Errorf("signature mismatch; canonical request:\n%s", canonical)
	}
	return akid, nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// uriEncode percent-encodes every byte but the unreserved characters (and '/' unless
// encodeSlash), upper-case hex, as SigV4 specifies.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// canonicalQuery sorts and encodes a raw query string.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	v, _ := url.ParseQuery(raw)
	var parts []string
	for k, vs := range v {
		for _, x := range vs {
			parts = append(parts, uriEncode(k, true)+"="+uriEncode(x, true))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
