package keys

import (
	"math"
	"time"
)

// epsilon absorbs float rounding when a bucket is compared with what a request needs, so that
// waiting exactly the computed time always makes the tokens available.
const epsilon = 1e-6

// bucket is a token bucket with continuous refill. It is not safe for concurrent use; the pool's
// mutex guards it.
//
// tokens may go below zero: a correction with real usage larger than the estimate that was
// charged puts the bucket in debt, and nothing is admitted until refill has paid it back.
type bucket struct {
	capacity float64
	perNano  float64 // refill rate in tokens per nanosecond
	tokens   float64
	last     time.Time
}

// newBucket returns a full bucket that holds limit tokens and refills limit tokens per minute.
func newBucket(limit int, now time.Time) *bucket {
	c := float64(limit)
	return &bucket{capacity: c, perNano: c / float64(time.Minute), tokens: c, last: now}
}

// refill adds the tokens earned since the last refill. A clock that goes backwards earns nothing.
func (b *bucket) refill(now time.Time) {
	if !now.After(b.last) {
		return
	}
	b.tokens = math.Min(b.capacity, b.tokens+float64(now.Sub(b.last))*b.perNano)
	b.last = now
}

// need clamps a request of n tokens to the capacity: a request larger than the bucket is
// admitted when the bucket is full, rather than never.
func (b *bucket) need(n float64) float64 {
	return math.Min(math.Max(n, 0), b.capacity)
}

// wait returns how long until n tokens are available; zero means now.
func (b *bucket) wait(now time.Time, n float64) time.Duration {
	b.refill(now)
	missing := b.need(n) - b.tokens
	if missing <= epsilon {
		return 0
	}
	if b.perNano <= 0 {
		return math.MaxInt64
	}
	return time.Duration(math.Ceil(missing / b.perNano))
}

// take charges n tokens (clamped to the capacity) and returns what was charged. The caller
// checks wait first.
func (b *bucket) take(now time.Time, n float64) float64 {
	b.refill(now)
	c := b.need(n)
	b.tokens -= c
	return c
}

// adjust corrects an earlier charge by delta tokens: positive charges more, negative refunds.
// A refund never lifts the bucket above its capacity.
func (b *bucket) adjust(now time.Time, delta float64) {
	b.refill(now)
	b.tokens = math.Min(b.capacity, b.tokens-delta)
}
