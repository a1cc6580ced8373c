// Command floor is the performance floor for a Go relay: a bare httputil.ReverseProxy.
//
// It does only what any Go relay must do, done well:
//   - a tuned http.Transport (keep-alive pool sized for the load, no proxy lookup, no
//     compression, no HTTP/2);
//   - FlushInterval -1, so every write of the upstream is flushed to the client at once (SSE);
//   - a pooled copy buffer;
//   - the Content-Length fix: the request body is read into memory and handed to the transport
//     as a bytes.Reader with ContentLength set, so the body given to the transport ends at
//     Content-Length. Without it the transport may re-read the server's already-closed
//     request body and drop connections (golang/go#40747);
//   - optionally the credential swap a relay does (-key sets x-api-key).
//
// ccrelay's overhead is reported as a ratio to this program's.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

const maxBody = 32 << 20

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(x []byte) { b.p.Put(&x) }

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "listen address (loopback)")
	upstream := flag.String("upstream", "http://127.0.0.1:18080", "upstream base URL")
	key := flag.String("key", "", "if set, x-api-key sent upstream (the credential swap of a relay)")
	maxLife := flag.Duration("max-lifetime", 30*time.Minute, "exit by itself after this long (safety bound)")
	flag.Parse()

	target, err := url.Parse(*upstream)
	if err != nil || target.Scheme == "" || target.Host == "" {
		log.Fatalf("floor: bad -upstream %q", *upstream)
	}

	transport := &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          0, // no global limit
		MaxIdleConnsPerHost:   4096,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 120 * time.Second,
		ForceAttemptHTTP2:     false,
		DisableCompression:    true,
		// Read/write buffers stay at the 4 KB default, as ccrelay's do: past the first 4 KB the
		// transport copies a body through a 32 KB buffer (net.genericReadFrom), so a 49 KB body
		// takes three writes either way, and 64 KB buffers cost 128 KB per upstream connection.
	}

	bp := &bufferPool{}
	bp.p.New = func() any { b := make([]byte, 32<<10); return &b }

	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			if *key != "" {
				pr.Out.Header.Set("X-Api-Key", *key)
				pr.Out.Header.Del("Authorization")
			}
		},
		Transport:     transport,
		FlushInterval: -1,
		BufferPool:    bp,
		ErrorLog:      log.New(os.Stderr, "floor: ", log.LstdFlags),
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			var body []byte
			var err error
			if r.ContentLength > 0 {
				if r.ContentLength > maxBody {
					http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
					return
				}
				body = make([]byte, r.ContentLength)
				_, err = io.ReadFull(r.Body, body)
			} else {
				body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
				if err == nil && len(body) > maxBody {
					http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
					return
				}
			}
			if err != nil {
				http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			_ = r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			r.ContentLength = int64(len(body))
			r.TransferEncoding = nil
			if len(body) == 0 {
				r.Body = http.NoBody
			}
		}
		rp.ServeHTTP(w, r)
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("floor: %v", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(os.Stderr, "floor: ", log.LstdFlags),
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		select {
		case <-sig:
		case <-time.After(*maxLife):
			log.Printf("floor: max lifetime %v reached, exiting", *maxLife)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		os.Exit(0)
	}()
	log.Printf("floor: listening on %s -> %s", ln.Addr(), target)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("floor: %v", err)
	}
}
