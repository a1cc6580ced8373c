// Package fetch fetches the images and PDFs a request references by URL and puts them in the
// body as base64 sources (the degrade action of image_url and pdf_url), guarded against
// server-side request forgery.
package fetch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ccrelay/ccrelay/relay/body"
)

// Inliner defaults.
const (
	DefaultInlineMaxBytes = 5 << 20
	DefaultInlineTimeout  = 10 * time.Second
	// maxInlineFetches bounds the URLs one request may make the relay fetch.
	maxInlineFetches = 20
	maxRedirects     = 3
)

// Inliner fetches the images and PDFs a request references by URL and puts them in the body as
// base64 sources, for providers that take base64 only (image_url or pdf_url set to degrade;
// see features.Decision.NeedsInline). The zero value is ready to use. An Inliner is safe for
// concurrent use.
//
// Fetching is guarded against server-side request forgery: only http and https URLs, only
// hosts in AllowHosts when it is set, at most 3 redirects (each checked again), a size cap and
// a timeout per file, and, at dial time, on the address actually connected to (so DNS cannot
// rebind it), no private, loopback, link-local, unspecified, multicast or otherwise reserved
// address. Proxies from the environment are not used.
type Inliner struct {
	// Client performs the fetches. Nil means a client over SafeTransport. A non-nil Client is
	// used as given, so it must refuse non-public addresses itself: build its transport with
	// SafeTransport. Redirects are always checked against AllowHosts.
	Client *http.Client
	// MaxBytes caps each fetched file; 0 means DefaultInlineMaxBytes.
	MaxBytes int64
	// Timeout bounds each fetch, headers and body; 0 means DefaultInlineTimeout.
	Timeout time.Duration
	// AllowHosts, when not empty, lists the hosts that may be fetched: exact names, or
	// "*.example.com" for any subdomain of example.com. Empty means any public host.
	AllowHosts []string

	// allowLoopbackForTests lets tests fetch from httptest servers on 127.0.0.1. Only test
	// files set it.
	allowLoopbackForTests bool
}

// imageTypes are the image media types the Messages API accepts.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

type urlSource struct {
	loc body.Loc
	url string
	pdf bool
}

// SourceError is Inline's error for a URL source that could not be fetched: the relay answers
// it as a refusal (400 invalid_request_error) naming the block.
type SourceError struct {
	// Path is the block, as "messages[0].content[1]".
	Path string
	// PDF reports a document; otherwise the source is an image's.
	PDF bool
	Err error
}

// Error says which block could not be fetched, and why.
func (e *SourceError) Error() string {
	what := "image"
	if e.PDF {
		what = "document"
	}
	return fmt.Sprintf("could not fetch the %s at %s to send it inline: %v", what, e.Path, e.Err)
}

func (e *SourceError) Unwrap() error { return e.Err }

// Inline returns body with every image and document URL source (in system, messages and
// tool_result content) replaced by a base64 source holding the fetched bytes. Everything else
// is left byte for byte. A body without URL sources is returned as is. A failed fetch returns
// a *SourceError that names the block and the reason.
func (in *Inliner) Inline(ctx context.Context, b []byte) ([]byte, error) {
	var srcs []urlSource
	body.Walk(b, func(e *body.Node) {
		if e.Kind == body.Block && e.SourceType == "url" && (e.Type == "image" || e.Type == "document") {
			srcs = append(srcs, urlSource{e.Loc, e.Value.Get("source.url").Str, e.Type == "document"})
		}
	})
	if len(srcs) == 0 {
		return b, nil
	}
	if len(srcs) > maxInlineFetches {
		return b, inlineRefusal(srcs[maxInlineFetches], fmt.Errorf("more than %d URL sources in one request", maxInlineFetches))
	}
	client := in.client()
	out := b
	for i := len(srcs) - 1; i >= 0; i-- {
		s := srcs[i]
		mt, data, err := in.fetch(ctx, client, s.url, s.pdf)
		if err != nil {
			return b, inlineRefusal(s, err)
		}
		raw := make([]byte, 0, len(mt)+base64.StdEncoding.EncodedLen(len(data))+64)
		raw = append(raw, `{"type":"base64","media_type":"`...)
		raw = append(raw, mt...)
		raw = append(raw, `","data":"`...)
		raw = base64.StdEncoding.AppendEncode(raw, data)
		raw = append(raw, `"}`...)
		if out, err = body.SetRaw(out, s.loc.Path("source"), raw); err != nil {
			return b, fmt.Errorf("inline %s: %w", s.loc.Human(""), err)
		}
	}
	return out, nil
}

func inlineRefusal(s urlSource, err error) *SourceError {
	return &SourceError{Path: s.loc.Human(""), PDF: s.pdf, Err: err}
}

func (in *Inliner) client() *http.Client {
	c := http.Client{Transport: safeTransport(in.allowLoopbackForTests)}
	if in.Client != nil {
		c = *in.Client
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		return in.checkURL(req.URL)
	}
	return &c
}

// checkURL allows http and https URLs of allowed hosts.
func (in *Inliner) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not allowed (http or https only)", u.Scheme)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return errors.New("url has no host")
	}
	if len(in.AllowHosts) == 0 {
		return nil
	}
	for _, h := range in.AllowHosts {
		h = strings.ToLower(h)
		if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return nil
		}
	}
	return fmt.Errorf("host %q is not in the inline allow list", host)
}

func (in *Inliner) fetch(ctx context.Context, client *http.Client, rawURL string, pdf bool) (string, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, fmt.Errorf("bad url: %w", err)
	}
	if err := in.checkURL(u); err != nil {
		return "", nil, err
	}
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = DefaultInlineTimeout
	}
	limit := in.MaxBytes
	if limit <= 0 {
		limit = DefaultInlineMaxBytes
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Accept", "image/*")
	if pdf {
		req.Header.Set("Accept", "application/pdf")
	}
	req.Header.Set("User-Agent", "ccrelay-inliner")
	resp, err := client.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("GET answered %d", resp.StatusCode)
	}
	if resp.ContentLength > limit {
		return "", nil, fmt.Errorf("file is %d bytes, more than the %d allowed", resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return "", nil, err
	}
	if int64(len(data)) > limit {
		return "", nil, fmt.Errorf("file is more than the %d bytes allowed", limit)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if !acceptable(mt, pdf) {
		mt, _, _ = mime.ParseMediaType(http.DetectContentType(data))
	}
	if !acceptable(mt, pdf) {
		want := "an image (jpeg, png, gif, webp)"
		if pdf {
			want = "a PDF"
		}
		return "", nil, fmt.Errorf("content is %s, not %s", strconv.Quote(mt), want)
	}
	return mt, data, nil
}

func acceptable(mt string, pdf bool) bool {
	if pdf {
		return mt == "application/pdf"
	}
	return imageTypes[mt]
}

// SafeTransport returns an HTTP transport that refuses, at dial time, to connect to any
// address that is not public (see PublicAddr), uses no proxy and keeps no idle connections.
func SafeTransport() *http.Transport { return safeTransport(false) }

func safeTransport(allowLoopback bool) *http.Transport {
	d := &net.Dialer{Timeout: DefaultInlineTimeout, Control: dialControl(allowLoopback)}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   DefaultInlineTimeout,
		ResponseHeaderTimeout: DefaultInlineTimeout,
		DisableKeepAlives:     true,
		ForceAttemptHTTP2:     true,
	}
}

// dialControl checks the resolved address of every connection before it is made.
func dialControl(allowLoopback bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("refusing to dial %q: not an IP address", host)
		}
		if allowLoopback && ip.Unmap().IsLoopback() {
			return nil
		}
		if !PublicAddr(ip) {
			return fmt.Errorf("refusing to connect to non-public address %s", ip)
		}
		return nil
	}
}

// reservedPrefixes are ranges that netip's predicates do not cover and that must not be
// fetched: this network, shared address space (CGNAT), IETF protocol assignments,
// documentation, benchmarking, reserved and broadcast, and their IPv6 counterparts
// (discard-only, Teredo, documentation, deprecated site-local).
var reservedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
		"100::/64", "2001::/32", "2001:db8::/32", "fec0::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// PublicAddr reports whether ip is a public unicast address: not private, loopback,
// link-local, unspecified, multicast or reserved. IPv4 addresses embedded in IPv4-mapped,
// NAT64 and 6to4 IPv6 addresses are checked as IPv4.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64Prefix.Contains(ip):
			return PublicAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(ip):
			return PublicAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() ||
		ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range reservedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
