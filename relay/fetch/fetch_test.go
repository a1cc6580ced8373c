package fetch

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
)

func tinyPNG(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 2, 3))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fileServer serves a PNG at /a.png, a PDF at /a.pdf, HTML at /page, a PNG labelled
// octet-stream at /raw, a slow answer at /slow and redirects at /redirect*.
func fileServer(t *testing.T) *httptest.Server {
	t.Helper()
	pngData := tinyPNG(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/a.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(pngData)
	})
	mux.HandleFunc("/raw", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(pngData)
	})
	mux.HandleFunc("/a.pdf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		w.Write([]byte("%PDF-1.4 test"))
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html></html>"))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/redirect-out", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://evil.example/a.png", http.StatusFound)
	})
	mux.HandleFunc("/redirect-loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/redirect-loop", http.StatusFound)
	})
	mux.HandleFunc("/missing", http.NotFound)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func imageBody(url string) string {
	return `{"model":"m", "messages":[{"role":"user","content":[{"type":"text","text":"what?"},{"type":"image", "source": {"type":"url","url":"` + url + `"}, "cache_control":{"type":"ephemeral"}}]}]}`
}

func TestInlineFetchesAndReplaces(t *testing.T) {
	srv := fileServer(t)
	in := Inliner{allowLoopbackForTests: true}
	body := `{"model":"m", "messages":[{"role":"user","content":[{"type":"image", "source": {"type":"url","url":"` + srv.URL + `/a.png"}},` +
		`{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"url":"` + srv.URL + `/raw","type":"url"}}]},` +
		`{"type":"document","source":{"type":"url","url":"` + srv.URL + `/a.pdf"},"title":"t"}]}]}`
	out, err := in.Inline(context.Background(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(tinyPNG(t))
	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 test"))
	want := `{"model":"m", "messages":[{"role":"user","content":[{"type":"image", "source": {"type":"base64","media_type":"image/png","data":"` + b64 + `"}},` +
		`{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + b64 + `"}}]},` +
		`{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"` + pdf + `"},"title":"t"}]}]}`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}

}

func TestInlineNothingToDo(t *testing.T) {
	body := []byte(`{"messages":[{"role":"user","content":"hi"}]}`)
	out, err := (&Inliner{}).Inline(context.Background(), body)
	if err != nil || &out[0] != &body[0] {
		t.Errorf("want the same slice: %v", err)
	}
}

func TestInlineRefusals(t *testing.T) {
	srv := fileServer(t)
	tests := []struct {
		name string
		in   Inliner
		url  string
		want string
	}{
		{"loopback without the test hook", Inliner{}, srv.URL + "/a.png", "refusing to connect to non-public address 127.0.0.1"},
		{"hostname resolving to loopback is checked at dial time", Inliner{}, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/a.png", "non-public address"},
		{"host not allowed", Inliner{allowLoopbackForTests: true, AllowHosts: []string{"images.example.com"}}, srv.URL + "/a.png", `host "127.0.0.1" is not in the inline allow list`},
		{"wildcard does not match the bare domain", Inliner{AllowHosts: []string{"*.example.com"}}, "https://example.com/a.png", `host "example.com" is not in the inline allow list`},
		{"scheme", Inliner{}, "file:///etc/passwd", `scheme "file" is not allowed`},
		{"size cap", Inliner{allowLoopbackForTests: true, MaxBytes: 10}, srv.URL + "/a.png", "more than the 10 allowed"},
		{"timeout", Inliner{allowLoopbackForTests: true, Timeout: 50 * time.Millisecond}, srv.URL + "/slow", "deadline exceeded"},
		{"not an image", Inliner{allowLoopbackForTests: true}, srv.URL + "/page", `content is "text/html", not an image`},
		{"status", Inliner{allowLoopbackForTests: true}, srv.URL + "/missing", "GET answered 404"},
		{"redirect to a host outside the allow list", Inliner{allowLoopbackForTests: true, AllowHosts: []string{"127.0.0.1"}}, srv.URL + "/redirect-out", `host "evil.example" is not in the inline allow list`},
		{"redirect loop", Inliner{allowLoopbackForTests: true}, srv.URL + "/redirect-loop", "more than 3 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			_, err := in.Inline(context.Background(), []byte(imageBody(tt.url)))
			var r *SourceError
			if !errors.As(err, &r) {
				t.Fatalf("want a *SourceError, got %v", err)
			}
			if r.PDF || r.Path != "messages[0].content[1]" {
				t.Errorf("error %+v", r)
			}
			if msg := r.Error(); !strings.HasPrefix(msg, "could not fetch the image at messages[0].content[1] to send it inline: ") ||
				!strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
		})
	}
}

func TestInlineTooManyURLs(t *testing.T) {
	var blocks []string
	for i := 0; i < maxInlineFetches+1; i++ {
		blocks = append(blocks, `{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}`)
	}
	body := `{"messages":[{"role":"user","content":[` + strings.Join(blocks, ",") + `]}]}`
	_, err := (&Inliner{}).Inline(context.Background(), []byte(body))
	if err == nil || !strings.Contains(err.Error(), "more than 20 URL sources") {
		t.Errorf("got %v", err)
	}
}

func TestPublicAddr(t *testing.T) {
	tests := map[string]bool{
		"8.8.8.8": true, "93.184.216.34": true, "2606:4700::1111": true,
		"10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false, "127.0.0.1": false, "::1": false,
		"169.254.169.254": false, "fe80::1": false, "fe80::1%eth0": false, "0.0.0.0": false, "::": false,
		"224.0.0.1": false, "ff02::1": false, "255.255.255.255": false, "100.64.0.1": false,
		"198.18.0.1": false, "192.0.2.1": false, "fc00::1": false, "fd12::1": false,
		"::ffff:10.0.0.1": false, "::ffff:8.8.8.8": true, "64:ff9b::a00:1": false, "64:ff9b::808:808": true,
		"2002:a00:1::": false, "2002:808:808::": true, "2001:db8::1": false,
	}
	for s, want := range tests {
		if got := PublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestDialControl(t *testing.T) {
	strict, loose := dialControl(false), dialControl(true)
	for _, tt := range []struct {
		control func(string, string, any) error
		addr    string
		ok      bool
	}{
		{func(n, a string, _ any) error { return strict(n, a, nil) }, "93.184.216.34:443", true},
		{func(n, a string, _ any) error { return strict(n, a, nil) }, "10.0.0.1:80", false},
		{func(n, a string, _ any) error { return strict(n, a, nil) }, "127.0.0.1:80", false},
		{func(n, a string, _ any) error { return strict(n, a, nil) }, "[::1]:80", false},
		{func(n, a string, _ any) error { return loose(n, a, nil) }, "127.0.0.1:80", true},
		{func(n, a string, _ any) error { return loose(n, a, nil) }, "10.0.0.1:80", false},
		{func(n, a string, _ any) error { return loose(n, a, nil) }, "169.254.169.254:80", false},
	} {
		if err := tt.control("tcp", tt.addr, nil); (err == nil) != tt.ok {
			t.Errorf("control(%s) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
	if SafeTransport().Proxy != nil {
		t.Error("SafeTransport uses a proxy")
	}
}

func TestInlineKeepsOtherBytes(t *testing.T) {
	srv := fileServer(t)
	in := Inliner{allowLoopbackForTests: true}
	body := imageBody(srv.URL + "/a.png")
	out, err := in.Inline(context.Background(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"model", "messages.0.content.0", "messages.0.content.1.cache_control"} {
		if gjson.Get(body, p).Raw != gjson.GetBytes(out, p).Raw {
			t.Errorf("%s changed", p)
		}
	}
	if !strings.HasPrefix(string(out), `{"model":"m", "messages":[{"role":"user","content":[{"type":"text","text":"what?"},{"type":"image", "source": {"type":"base64"`) {
		t.Errorf("prefix changed: %.120s", out)
	}
}
