package relay

import (
	"io"
	"sync/atomic"
	"time"
)

// idleTicks is how many checks an idle period is divided into: a stream is ended after between
// idle and idle*(1+1/idleTicks) without an event.
const idleTicks = 8

// idleWatch ends a stream whose upstream sends nothing for the idle timeout, by closing the
// upstream body (which unblocks the relay's read). Relaying an event only increments a counter:
// re-arming a timer per event costs a clock read and a timer-heap update, a fifth of the
// relay's work per event. Instead a timer ticks idleTicks times per idle period and ends the
// stream when the counter has not moved for idleTicks ticks in a row.
type idleWatch struct {
	events  atomic.Int64
	idled   atomic.Bool
	stopped atomic.Bool
	body    io.Closer
	tick    time.Duration
	t       *time.Timer

	// Only the timer's callback uses these; its runs never overlap.
	seen  int64
	quiet int
}

// watchIdle starts watching body; stop the watch when the stream ends.
func watchIdle(body io.Closer, idle time.Duration) *idleWatch {
	w := &idleWatch{body: body, tick: max(idle/idleTicks, time.Millisecond)}
	// Armed only once w.t is set: a tick that came first would find no timer to re-arm.
	w.t = time.AfterFunc(time.Duration(1<<62), w.check)
	w.t.Reset(w.tick)
	return w
}

// event records that an event arrived.
func (w *idleWatch) event() { w.events.Add(1) }

// timedOut reports whether the watch closed the body.
func (w *idleWatch) timedOut() bool { return w.idled.Load() }

func (w *idleWatch) stop() {
	w.stopped.Store(true)
	w.t.Stop()
}

func (w *idleWatch) check() {
	if w.stopped.Load() {
		return // a tick that raced with stop does not re-arm
	}
	if n := w.events.Load(); n != w.seen {
		w.seen, w.quiet = n, 0
	} else if w.quiet++; w.quiet >= idleTicks {
		w.idled.Store(true)
		w.body.Close()
		return
	}
	w.t.Reset(w.tick)
}
