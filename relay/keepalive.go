package relay

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// pingEvent is the keepalive event, byte for byte what Anthropic's API sends.
var pingEvent = []byte("event: ping\ndata: {\"type\": \"ping\"}\n\n")

// keepaliveTicks is how many checks a keepalive period is divided into: a ping goes out after
// between keepalive and keepalive*(1+1/keepaliveTicks) of silence.
const keepaliveTicks = 4

// keepalive sends a ping event to a stream's client when nothing was sent to it for the
// keepalive period (server.stream_keepalive), so that a proxy in front (nginx and AWS ALB cut
// idle connections after 60 s, Cloudflare after 100 s) does not end a stream whose model is
// silently thinking. It starts only after the first event is out: before that, a ping would
// commit a 200 and forbid failover. Pings are the relay's, not the upstream's: they do not
// count against server.timeouts.stream_idle, which measures the upstream.
//
// The relay's writes and the pings share mu; like the idle watch, relaying an event only
// increments a counter, and a timer checks it keepaliveTicks times per period.
type keepalive struct {
	mu      sync.Mutex // held for every write and flush to the client
	w       http.ResponseWriter
	rc      *http.ResponseController
	sent    atomic.Int64 // events written to the client
	stopped bool         // under mu: the handler is done with the client
	tick    time.Duration
	t       *time.Timer
	pings   int // under mu

	// Only the timer's callback uses these; its runs never overlap.
	seen  int64
	quiet int
}

// startKeepalive starts pinging w after period of silence; nil when period is not positive.
func startKeepalive(w http.ResponseWriter, rc *http.ResponseController, period time.Duration) *keepalive {
	if period <= 0 {
		return nil
	}
	k := &keepalive{w: w, rc: rc, tick: max(period/keepaliveTicks, time.Millisecond)}
	k.t = time.AfterFunc(time.Duration(1<<62), k.check)
	k.t.Reset(k.tick)
	return k
}

// lock and unlock bracket the relay's own writes; both accept a nil keepalive.
func (k *keepalive) lock() {
	if k != nil {
		k.mu.Lock()
	}
}

func (k *keepalive) unlock() {
	if k != nil {
		k.sent.Add(1)
		k.mu.Unlock()
	}
}

// stop ends the pings; no write to the client happens after it returns.
func (k *keepalive) stop() int {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	k.t.Stop()
	return k.pings
}

func (k *keepalive) check() {
	if n := k.sent.Load(); n != k.seen {
		k.seen, k.quiet = n, 0
	} else if k.quiet++; k.quiet >= keepaliveTicks {
		k.quiet = 0
		k.mu.Lock()
		if k.stopped {
			k.mu.Unlock()
			return
		}
		_, err := k.w.Write(pingEvent)
		if err == nil {
			err = k.rc.Flush()
		}
		k.pings++
		k.mu.Unlock()
		if err != nil {
			return // the client is gone; the relay's next write finds out too
		}
	}
	k.mu.Lock()
	stopped := k.stopped
	k.mu.Unlock()
	if !stopped {
		k.t.Reset(k.tick)
	}
}
