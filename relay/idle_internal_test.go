package relay

import (
	"sync/atomic"
	"testing"
	"time"
)

type closeRecorder struct{ at atomic.Int64 }

func (c *closeRecorder) Close() error { c.at.CompareAndSwap(0, time.Now().UnixNano()); return nil }

// TestIdleWatch: a stream with an event every idle/2 is never cut; one that goes quiet is
// cut between idle and idle*(1+1/idleTicks) after its last event (plus scheduling slack).
func TestIdleWatch(t *testing.T) {
	const idle = 200 * time.Millisecond
	var busy closeRecorder
	w := watchIdle(&busy, idle)
	for range 8 { // 800 ms of events 100 ms apart: four idle periods
		time.Sleep(idle / 2)
		w.event()
	}
	last := time.Now()
	for busy.at.Load() == 0 && time.Since(last) < 5*idle {
		time.Sleep(time.Millisecond)
	}
	w.stop()
	if busy.at.Load() == 0 || !w.timedOut() {
		t.Fatalf("a stream quiet for %s was not ended", 5*idle)
	}
	quiet := time.Duration(busy.at.Load() - last.UnixNano())
	if quiet < idle-idle/idleTicks || quiet > idle+idle/idleTicks+100*time.Millisecond {
		t.Errorf("ended %s after the last event, want about %s", quiet, idle)
	}

	var stopped closeRecorder
	w = watchIdle(&stopped, idle)
	w.stop()
	time.Sleep(2 * idle)
	if stopped.at.Load() != 0 || w.timedOut() {
		t.Errorf("a stopped watch closed the body")
	}
}
