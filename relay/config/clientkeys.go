package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// ClientKey is one named client key of server.auth.keys: a person's or a team's credential for
// the relay, with the models it may use, its limits and its budget. Limits left at 0 are off.
type ClientKey struct {
	// Name identifies the key in the access log, the usage log and the metrics (client=NAME).
	Name string `yaml:"name" toml:"name"`
	// KeySHA256 is the hex SHA-256 digest of the secret the client sends; the relay never
	// needs the secret itself.
	KeySHA256 string `yaml:"key_sha256" toml:"key_sha256"`
	// Key is the secret in plain text: accepted, with a warning (use key_sha256).
	Key string `yaml:"key" toml:"key"`
	// Models are the client-side model names the key may use: exact names, prefixes ending in
	// "*" or "*" alone, as model_mapping keys; empty means every model.
	Models []string `yaml:"models" toml:"models"`
	// RPMLimit bounds the key's requests per minute.
	RPMLimit int `yaml:"rpm_limit" toml:"rpm_limit"`
	// TPMLimit bounds the key's tokens per minute (input, cache included, and output).
	TPMLimit int `yaml:"tpm_limit" toml:"tpm_limit"`
	// MaxConcurrent bounds the key's requests in flight.
	MaxConcurrent int `yaml:"max_concurrent" toml:"max_concurrent"`
	// BudgetUSD bounds the key's spend per UTC day and per calendar month (UTC).
	BudgetUSD Budget `yaml:"budget_usd" toml:"budget_usd"`
	// Expires is when the key stops being accepted; zero never.
	Expires Expiry `yaml:"expires" toml:"expires"`
}

// Budget is a client key's spending limits in USD; 0 is no limit.
type Budget struct {
	Daily   float64 `yaml:"daily" toml:"daily"`
	Monthly float64 `yaml:"monthly" toml:"monthly"`
}

// Expiry is a client key's expiry, written as an RFC 3339 date ("2026-12-31": the key is
// accepted through that day, UTC) or date and time with an offset ("2026-12-31T18:00:00Z",
// "2026-12-31T18:00:00+02:00": accepted until that instant).
type Expiry struct {
	// At is the first instant the key is refused; zero never.
	At time.Time
	// Text is the value as written.
	Text string
}

// IsZero reports whether there is no expiry.
func (e Expiry) IsZero() bool { return e.At.IsZero() }

// ParseExpiry parses an expires value (see Expiry).
func ParseExpiry(s string) (Expiry, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return Expiry{At: d.AddDate(0, 0, 1), Text: s}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return Expiry{At: t, Text: s}, nil
	}
	if _, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return Expiry{}, fmt.Errorf("want an offset after the time, such as %q or %q, got %q", s+"Z", s+"+02:00", s)
	}
	return Expiry{}, fmt.Errorf("want an RFC 3339 date such as \"2026-12-31\" (valid through that day, UTC) or a date and time such as \"2026-12-31T18:00:00Z\", got %q", s)
}

// Digest returns the key's SHA-256 digest: key_sha256 decoded, or the digest of key. ok is
// false when neither holds a valid one.
func (k *ClientKey) Digest() (d [32]byte, ok bool) {
	if k.KeySHA256 != "" {
		b, err := hex.DecodeString(k.KeySHA256)
		if err != nil || len(b) != len(d) {
			return d, false
		}
		copy(d[:], b)
		return d, true
	}
	if k.Key != "" {
		return sha256.Sum256([]byte(k.Key)), true
	}
	return d, false
}

// SecretDigest returns the hex SHA-256 digest of a client key's secret, as key_sha256 holds it.
func SecretDigest(secret string) string {
	d := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(d[:])
}

// validClientName reports whether a client key's name is fit for log lines and metric labels:
// 1 to 64 letters, digits and . _ - @ +.
func validClientName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == '-', c == '@', c == '+':
		default:
			return false
		}
	}
	return true
}

// checkClientKeys checks server.auth.keys: names and digests unique (and apart from
// server.auth.api_key), one valid secret form per key, model patterns, limits. A plaintext key
// is a warning.
func (c *Config) checkClientKeys(k *checker) {
	a := &c.Server.Auth
	names := map[string]int{}
	digests := map[[32]byte]string{}
	if a.APIKey != "" {
		digests[[32]byte(sumOf(a.APIKey))] = "server.auth.api_key"
	}
	for i := range a.Keys {
		ck := &a.Keys[i]
		path := joinIndex("server.auth.keys", i)
		switch {
		case ck.Name == "":
			k.bad(path+".name", "name is required (it names the key in logs and metrics)")
		case !validClientName(ck.Name):
			k.bad(path+".name", "want 1 to 64 letters, digits and . _ - @ +, got %q", ck.Name)
		default:
			if first, dup := names[ck.Name]; dup {
				k.bad(path+".name", "duplicate client key name %q (also server.auth.keys[%d])", ck.Name, first)
			} else {
				names[ck.Name] = i
			}
		}
		switch {
		case ck.KeySHA256 != "" && ck.Key != "":
			k.bad(path, "set key_sha256 or key, not both")
		case ck.KeySHA256 == "" && ck.Key == "":
			k.bad(path+".key_sha256", "key_sha256 is required: the hex SHA-256 of the key's secret (ccrelay keys new prints it)")
		case ck.KeySHA256 != "":
			if _, ok := ck.Digest(); !ok {
				k.bad(path+".key_sha256", "want 64 hexadecimal digits (a SHA-256 digest), got %d characters%s", len(ck.KeySHA256), hexHint(ck.KeySHA256))
			}
		default:
			k.warn(path+".key", "client key %q is in plain text in the configuration; replace key with key_sha256: %q", ck.Name, SecretDigest(ck.Key))
		}
		if d, ok := ck.Digest(); ok {
			if other, dup := digests[d]; dup {
				k.bad(path, "client key %q has the same secret as %s; give each key its own", ck.Name, other)
			} else {
				digests[d] = fmt.Sprintf("server.auth.keys[%d] (%s)", i, ck.Name)
			}
		}
		for j, m := range ck.Models {
			if m == "" || strings.Contains(strings.TrimSuffix(m, "*"), "*") {
				k.bad(joinIndex(path+".models", j), "want a model name, a prefix ending in \"*\" or \"*\", got %q", m)
			}
		}
		for _, n := range []struct {
			name string
			v    int
		}{{"rpm_limit", ck.RPMLimit}, {"tpm_limit", ck.TPMLimit}, {"max_concurrent", ck.MaxConcurrent}} {
			if n.v < 0 {
				k.bad(path+"."+n.name, "want 0 (no limit) or more, got %d", n.v)
			}
		}
	}
}

// sumOf is the SHA-256 of s.
func sumOf(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// hexHint says why a key_sha256 is not a digest, when it is not only its length.
func hexHint(s string) string {
	if strings.HasPrefix(s, "ccr_") {
		return "; this looks like the secret itself: put its digest here (ccrelay keys new prints it)"
	}
	if _, err := hex.DecodeString(s); err != nil && len(s)%2 == 0 {
		return " with a character that is not hexadecimal"
	}
	return ""
}
