package main

import (
	"net"
	"strings"

	"github.com/ccrelay/ccrelay/relay/config"
)

// listenInfo is what serve prints about the address it listens on.
type listenInfo struct {
	// ClientURL is a base URL that works for a client on this machine: the listening address,
	// or 127.0.0.1 when the relay listens on every interface (0.0.0.0, [::] or no host).
	ClientURL string
	// Lines are printed one by one after "ccrelay: ": where the relay listens, a warning when
	// the providers' keys are open to the network, and the command that runs Claude Code.
	Lines []string
}

// describeListen computes listenInfo for addr, the listener's address (host:port, as
// net.Listener.Addr().String() gives it) and the relay's client authentication. When
// no client key is configured (server.auth.api_key, server.auth.keys) and the address is reachable from other machines, a line warns
// that anyone who can reach the port spends the providers' keys, and says how to fix it.
func describeListen(addr string, auth config.Auth) listenInfo {
	hasKey := auth.APIKey != "" || len(auth.Keys) > 0
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, ""
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	everywhere := host == "" || ip != nil && ip.IsUnspecified()
	loopback := host == "localhost" || ip != nil && ip.IsLoopback()

	var info listenInfo
	if everywhere {
		info.ClientURL = "http://" + net.JoinHostPort("127.0.0.1", port)
		info.Lines = append(info.Lines, "listening on "+addr+", every interface: this machine uses "+info.ClientURL+
			"; other machines use this host's address, http://HOST:"+port)
	} else {
		info.ClientURL = "http://" + addr
		if ip != nil || port != "" {
			info.ClientURL = "http://" + net.JoinHostPort(host, port)
		}
		info.Lines = append(info.Lines, "listening on "+info.ClientURL)
	}
	if !loopback && !hasKey {
		info.Lines = append(info.Lines, "warning: "+addr+" can be reached from other machines and server.auth.api_key is not set: "+
			"the providers' keys are now open to the network, and anyone who can reach this port spends them. "+
			"Set server.auth.api_key in a configuration file (clients send it as ANTHROPIC_AUTH_TOKEN), "+
			"or listen on 127.0.0.1 (--listen 127.0.0.1:"+port+")")
	}
	// Claude Code asks to log in unless it has a credential; without a relay key any value does.
	// With subscription pass-through and no relay key, its own login is what the relay forwards.
	run := "run Claude Code with: ANTHROPIC_BASE_URL=" + info.ClientURL
	switch {
	case len(auth.Keys) > 0:
		run += " ANTHROPIC_AUTH_TOKEN='<your client key>'"
	case hasKey:
		run += " ANTHROPIC_AUTH_TOKEN='<server.auth.api_key>'"
	case !auth.AllowSubscription:
		run += " ANTHROPIC_AUTH_TOKEN=ccrelay"
	}
	info.Lines = append(info.Lines, run+" claude")
	return info
}
