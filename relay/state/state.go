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
	// Put stores value under key for ttl (0: no expiry); an empty value deletes the key, and
	// a counter of the same name.
	Put(ctx context.Context, key, value string, ttl time.Duration) error
	// Get returns the value under key; ok is false when there is none or it expired.
	Get(ctx context.Context, key string) (value string, ok bool, err error)
	// Share is the fraction of each configured limit this instance may use now: 1 in process
	// or while the shared state is reachable, 1/expected_instances while it is not.
	Share() float64
	// Batch runs ops in order, in one round trip on a shared store (a pipeline), and leaves
	// each op's result in it. Each op behaves as its method alone would; the batch is not a
	// transaction (each Take is atomic on its own). The error is the first op's error.
	Batch(ctx context.Context, ops []Op) error
}

// OpKind is what an Op does.
type OpKind uint8

// The kinds of Op, one per Store method.
const (
	OpTake OpKind = iota + 1
	OpAdd
	OpPut
	OpGet
)

// Op is one operation of Store.Batch: its arguments, then its results.
type Op struct {
	Kind OpKind
	Key  string
	// Take's arguments. Force charges cost even when it does not fit (the rate goes into
	// debt, and later takes wait until it is paid back): for a correction of an earlier
	// charge by what was really used.
	Limit  int64
	Period time.Duration
	Cost   int64
	Force  bool
	// Add's delta.
	Delta float64
	// Put's value, and Get's result.
	Value string
	// TTL of Add and Put.
	TTL time.Duration

	// OK is Take's ok and Get's ok.
	OK bool
	// Wait is Take's wait.
	Wait time.Duration
	// Sum is Add's new value.
	Sum float64
	// Err is the op's error (Local never has one; the shared store falls back instead).
	Err error
}

// Take returns an OpTake (see Store.Take).
func Take(key string, limit int64, period time.Duration, cost int64) Op {
	return Op{Kind: OpTake, Key: key, Limit: limit, Period: period, Cost: cost}
}

// Add returns an OpAdd (see Store.Add).
func Add(key string, delta float64, ttl time.Duration) Op {
	return Op{Kind: OpAdd, Key: key, Delta: delta, TTL: ttl}
}

// Put returns an OpPut (see Store.Put).
func Put(key, value string, ttl time.Duration) Op {
	return Op{Kind: OpPut, Key: key, Value: value, TTL: ttl}
}

// Get returns an OpGet (see Store.Get).
func Get(key string) Op { return Op{Kind: OpGet, Key: key} }

// Scale returns limit scaled by share (Store.Share), at least 1 for a positive limit, so that
// a limit never disappears while the shared state is unreachable.
func Scale(limit int64, share float64) int64 {
	if limit <= 0 || share >= 1 {
		return limit
	}
	return max(1, int64(float64(limit)*share))
}
