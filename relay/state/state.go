// Package state is where the relay keeps the state that must hold across instances when a
// team runs several behind a load balancer: rate buckets, cooldowns, rejected keys, circuit
// breakers, session affinity, client keys' concurrency and spend.
//
// A Store is in process by default (Local). With server.state.redis set it is shared on
// Redis; when Redis is unreachable the shared store serves from a local one and reports a
// Share below 1, so that every limit is divided by the number of instances expected and the
// total across them stays bounded.
//
// Every caller scales the limits it passes to Take, or compares against a counter from Add,
// by Share(). Keys are plain names ("key:anthropic:0:rpm"); a shared store adds its prefix
// and a hash tag.
package state

import (
	"context"
	"time"
)

// Store holds state shared by every request of one relay, or of every relay on one Redis.
// Implementations are safe for concurrent use. Errors mean the state could not be reached;
// the shared store never returns one (it falls back to local state), Local never does.
type Store interface {
	// Take charges cost against the rate named key: at most limit units per period, with a
	// burst of limit (GCRA). When cost does not fit, nothing is charged, ok is false and wait
	// says how long until it would fit. A cost above limit is clamped to limit. A negative
	// cost refunds (ok is true).
	Take(ctx context.Context, key string, limit int64, period time.Duration, cost int64) (ok bool, wait time.Duration, err error)
	// Add adds delta to the counter named key and returns the new value. A counter that did
	// not exist is created with ttl (0: no expiry); Add does not extend an existing expiry.
	Add(ctx context.Context, key string, delta float64, ttl time.Duration) (float64, error)
	// Put stores value under key for ttl (0: no expiry); an empty value deletes the key.
	Put(ctx context.Context, key, value string, ttl time.Duration) error
	// Get returns the value under key; ok is false when there is none or it expired.
	Get(ctx context.Context, key string) (value string, ok bool, err error)
	// Share is the fraction of each configured limit this instance may use now: 1 in process
	// or while the shared state is reachable, 1/expected_instances while it is not.
	Share() float64
}
