package relay

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestTheResponseEndsAtMessageStop: once message_stop is relayed, the client's response ends
// at once, even when the upstream is slow to end its body. The rest of the upstream body is
// read in the background, and the upstream connection is then reused.
func TestTheResponseEndsAtMessageStop(t *testing.T) {
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, evStart+evStop)
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond) // then a ping the client must not see, and the end
		io.WriteString(w, "event: ping\ndata: {\"type\":\"ping\"}\n\n")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	front := startInternal(t, up.URL)
	body := `{"model":"claude-test","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	for i := range 2 {
		start := time.Now()
		resp, err := http.Post(front+"/v1/messages", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("request %d: the response ended %s after it started; the upstream sent message_stop at once", i, d)
		}
		if string(got) != evStart+evStop {
			t.Errorf("request %d: client got %q, want the events up to message_stop", i, got)
		}
		time.Sleep(500 * time.Millisecond) // the upstream ends its body; the drain finishes
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the relay opened %d connections to the upstream, want 1 (reused after the drain)", n)
	}
}

// TestADrainGivesUp: an upstream that never ends its body after message_stop loses its
// connection after drainTimeout.
func TestADrainGivesUp(t *testing.T) {
	old := drainTimeout
	drainTimeout = 100 * time.Millisecond
	defer func() { drainTimeout = old }()
	cancelled := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, evStart+evStop)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(cancelled)
	}))
	defer up.Close()
	front := startInternal(t, up.URL)
	resp, err := http.Post(front+"/v1/messages", "application/json",
		strings.NewReader(`{"model":"claude-test","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not closed after drainTimeout")
	}
}
