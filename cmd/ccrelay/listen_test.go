package main

import (
	"fmt"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/google/go-cmp/cmp"
)

func TestDescribeListenGivesAWorkingURLAndWarnsWhenKeysAreOpen(t *testing.T) {
	const (
		open = "warning: %s can be reached from other machines and server.auth.api_key is not set: " +
			"the providers' keys are now open to the network, and anyone who can reach this port spends them. " +
			"Set server.auth.api_key in a configuration file (clients send it as ANTHROPIC_AUTH_TOKEN), " +
			"or listen on 127.0.0.1 (--listen 127.0.0.1:8787)"
		runLocal = "run Claude Code with: ANTHROPIC_BASE_URL=http://127.0.0.1:8787 ANTHROPIC_AUTH_TOKEN=ccrelay claude"
	)
	every := func(addr string) string {
		return "listening on " + addr + ", every interface: this machine uses http://127.0.0.1:8787; other machines use this host's address, http://HOST:8787"
	}
	warn := func(addr string) string { return fmt.Sprintf(open, addr) }
	tests := []struct {
		name string
		addr string
		auth config.Auth
		want listenInfo
	}{
		{
			name: "loopback needs no warning",
			addr: "127.0.0.1:8787",
			want: listenInfo{"http://127.0.0.1:8787", []string{"listening on http://127.0.0.1:8787", runLocal}},
		},
		{
			name: "IPv6 loopback is bracketed",
			addr: "[::1]:8787",
			want: listenInfo{"http://[::1]:8787", []string{"listening on http://[::1]:8787",
				"run Claude Code with: ANTHROPIC_BASE_URL=http://[::1]:8787 ANTHROPIC_AUTH_TOKEN=ccrelay claude"}},
		},
		{
			name: "every IPv4 interface without a key: 127.0.0.1 and a warning",
			addr: "0.0.0.0:8787",
			want: listenInfo{"http://127.0.0.1:8787", []string{every("0.0.0.0:8787"), warn("0.0.0.0:8787"), runLocal}},
		},
		{
			name: "every IPv6 interface (what :8787 becomes) is never printed as a URL",
			addr: "[::]:8787",
			want: listenInfo{"http://127.0.0.1:8787", []string{every("[::]:8787"), warn("[::]:8787"), runLocal}},
		},
		{
			name: "no host at all",
			addr: ":8787",
			want: listenInfo{"http://127.0.0.1:8787", []string{every(":8787"), warn(":8787"), runLocal}},
		},
		{
			name: "every interface with a relay key: no warning, the client sends the key",
			addr: "0.0.0.0:8787",
			auth: config.Auth{APIKey: "secret"},
			want: listenInfo{"http://127.0.0.1:8787", []string{every("0.0.0.0:8787"),
				"run Claude Code with: ANTHROPIC_BASE_URL=http://127.0.0.1:8787 ANTHROPIC_AUTH_TOKEN='<server.auth.api_key>' claude"}},
		},
		{
			name: "every interface with client keys: no warning, each client sends its own",
			addr: "0.0.0.0:8787",
			auth: config.Auth{Keys: []config.ClientKey{{Name: "alice", KeySHA256: config.SecretDigest("ccr_a")}}},
			want: listenInfo{"http://127.0.0.1:8787", []string{every("0.0.0.0:8787"),
				"run Claude Code with: ANTHROPIC_BASE_URL=http://127.0.0.1:8787 ANTHROPIC_AUTH_TOKEN='<your client key>' claude"}},
		},
		{
			name: "one LAN address without a key",
			addr: "192.168.1.20:8787",
			want: listenInfo{"http://192.168.1.20:8787", []string{"listening on http://192.168.1.20:8787", warn("192.168.1.20:8787"),
				"run Claude Code with: ANTHROPIC_BASE_URL=http://192.168.1.20:8787 ANTHROPIC_AUTH_TOKEN=ccrelay claude"}},
		},
		{
			name: "subscription pass-through on loopback: Claude Code's own login is forwarded",
			addr: "127.0.0.1:8787",
			auth: config.Auth{AllowSubscription: true},
			want: listenInfo{"http://127.0.0.1:8787", []string{"listening on http://127.0.0.1:8787",
				"run Claude Code with: ANTHROPIC_BASE_URL=http://127.0.0.1:8787 claude"}},
		},
		{
			name: "subscription pass-through does not protect the providers' keys",
			addr: "[::]:8787",
			auth: config.Auth{AllowSubscription: true},
			want: listenInfo{"http://127.0.0.1:8787", []string{every("[::]:8787"), warn("[::]:8787"),
				"run Claude Code with: ANTHROPIC_BASE_URL=http://127.0.0.1:8787 claude"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describeListen(tt.addr, tt.auth)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("describeListen(%q) (-want +got):\n%s", tt.addr, diff)
			}
		})
	}
}
