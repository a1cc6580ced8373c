package relay

import (
	"bufio"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/body"
)

// TestMain poisons every released body buffer for the whole test binary (the relay_test
// package included): a buffer reused while anything still reads it shows up as a body of
// 'X' bytes at the fake upstreams, in cassettes and in the SDK tests.
// Benchmarks run without it: overwriting every released buffer is a test's cost, not the
// relay's.
func TestMain(m *testing.M) {
	flag.Parse()
	body.PoisonReleased(flag.Lookup("test.bench").Value.String() == "")
	os.Exit(m.Run())
}

// TestBodyReleasedWhenStreamCommits holds a stream open after its first event and checks that
// its body buffer has already gone back to the pool: the relay holds no request body for the
// rest of a long stream. The upstream must still have received the whole body intact.
func TestBodyReleasedWhenStreamCommits(t *testing.T) {
	sent := `{"model":"claude-test","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("x", 60_000) + `"}]}`
	release := make(chan struct{})
	var got []byte
	var mu sync.Mutex
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = b
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, evStart)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, evStop)
	}))
	defer up.Close()
	defer close(release)
	front := startInternal(t, up.URL)

	live := body.Live()
	resp, err := http.Post(front+"/v1/messages", "application/json", strings.NewReader(sent))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "event: message_start\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	// The transport closes the request body in its own goroutine once it has written it.
	deadline := time.Now().Add(5 * time.Second)
	for body.Live() > live && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := body.Live() - live; n != 0 {
		t.Errorf("%d body buffers still held while the stream is open, want 0", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if string(got) != sent {
		t.Errorf("the upstream received %d bytes that differ from the %d sent", len(got), len(sent))
	}
}
