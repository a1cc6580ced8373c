package config

import (
	"strings"
	"testing"
	"time"
)

func TestRoutingKeyRetryDecodes(t *testing.T) {
	tests := []struct {
		name string
		file string
		src  string
		want time.Duration
	}{
		{"a YAML flow mapping", "c.yaml", `
			providers: [{name: a, type: ollama}]
			routing: {key_retry: 2m}
			`, 2 * time.Minute},
		{"a YAML block", "c.yaml", `
			providers: [{name: a, type: ollama}]
			routing:
			  key_retry: 90s
			`, 90 * time.Second},
		{"a TOML table", "c.toml", `
			[routing]
			key_retry = "2m"

			[[providers]]
			name = "a"
			type = "ollama"
			`, 2 * time.Minute},
		{"absent means zero, which the key pool takes as one minute", "c.yaml", `
			providers: [{name: a, type: ollama}]
			`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(dedent(tc.src)), tc.file, nil)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := c.Routing.KeyRetry.D(); got != tc.want {
				t.Errorf("routing.key_retry = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRoutingKeyRetryRefusesWhatIsNoDuration(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"a bare number has no unit", "120", `c.yaml:3: routing.key_retry: want a duration such as "30s" or "2m", got integer 120`},
		{"a word is no duration", "soon", `c.yaml:3: routing.key_retry: want a duration such as "30s" or "2m", got "soon"`},
		{"a negative duration", "-1m", `c.yaml:3: routing.key_retry: want a positive duration, got "-1m"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "providers: [{name: a, type: ollama}]\nrouting:\n  key_retry: " + tc.value + "\n"
			_, err := Parse([]byte(src), "c.yaml", nil)
			lines := problemLines(t, err)
			if !strings.Contains(strings.Join(lines, "\n"), tc.want) {
				t.Errorf("problems %q, want one %q", lines, tc.want)
			}
		})
	}
}
