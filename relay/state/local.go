package state

import (
	"context"
	"sync"
	"time"
)

// Local is a Store in process memory: the state of one relay, as it was before Redis.
type Local struct {
	now func() time.Time

	mu       sync.Mutex
	tats     map[string]time.Time // GCRA theoretical arrival times
	counters map[string]entry[float64]
	values   map[string]entry[string]
	ops      int // operations since the last sweep of expired entries
}

type entry[T any] struct {
	v       T
	expires time.Time // zero: never
}

func (e entry[T]) live(now time.Time) bool { return e.expires.IsZero() || now.Before(e.expires) }

// NewLocal returns an empty in-process store; now is its clock (nil: time.Now).
func NewLocal(now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{now: now, tats: map[string]time.Time{}, counters: map[string]entry[float64]{}, values: map[string]entry[string]{}}
}

// Take implements Store with GCRA: each unit moves the key's theoretical arrival time by
// period/limit, and a request fits while that time stays within one period of now.
func (l *Local) Take(_ context.Context, key string, limit int64, period time.Duration, cost int64) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, wait := l.takeLocked(l.now(), key, limit, period, cost, false)
	return ok, wait, nil
}

func (l *Local) takeLocked(now time.Time, key string, limit int64, period time.Duration, cost int64, force bool) (bool, time.Duration) {
	if limit <= 0 || period <= 0 {
		return true, 0
	}
	l.sweepLocked(now)
	ok, wait, tat := gcra(now, l.tats[key], limit, period, cost)
	if force && !ok {
		ok, wait, tat = true, 0, charge(now, l.tats[key], limit, period, cost)
	}
	if ok {
		l.tats[key] = tat
	}
	return ok, wait
}

// charge is the arrival time after cost is charged whether or not it fits (Op.Force).
func charge(now, tat time.Time, limit int64, period time.Duration, cost int64) time.Time {
	if tat.Before(now) {
		tat = now
	}
	return tat.Add(time.Duration(min(cost, limit)) * (period / time.Duration(limit)))
}

// gcra is the one rate algorithm, shared with the Redis script's reference tests: it returns
// whether cost fits at now given the stored theoretical arrival time, how long until it would,
// and the new arrival time to store when it fits.
func gcra(now, tat time.Time, limit int64, period time.Duration, cost int64) (ok bool, wait time.Duration, newTat time.Time) {
	interval := period / time.Duration(limit)
	if cost > limit {
		cost = limit
	}
	if tat.Before(now) {
		tat = now
	}
	newTat = tat.Add(time.Duration(cost) * interval)
	if newTat.Before(now) {
		newTat = now
	}
	if over := newTat.Sub(now) - period; over > 0 {
		return false, over, tat
	}
	return true, 0, newTat
}

// Add implements Store.
func (l *Local) Add(_ context.Context, key string, delta float64, ttl time.Duration) (float64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addLocked(l.now(), key, delta, ttl), nil
}

func (l *Local) addLocked(now time.Time, key string, delta float64, ttl time.Duration) float64 {
	l.sweepLocked(now)
	e, ok := l.counters[key]
	if !ok || !e.live(now) {
		e = entry[float64]{}
		if ttl > 0 {
			e.expires = now.Add(ttl)
		}
	}
	e.v += delta
	l.counters[key] = e
	return e.v
}

// Put implements Store.
func (l *Local) Put(_ context.Context, key, value string, ttl time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.putLocked(l.now(), key, value, ttl)
	return nil
}

func (l *Local) putLocked(now time.Time, key, value string, ttl time.Duration) {
	l.sweepLocked(now)
	if value == "" {
		delete(l.values, key)
		delete(l.counters, key)
		return
	}
	e := entry[string]{v: value}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	l.values[key] = e
}

// Get implements Store.
func (l *Local) Get(_ context.Context, key string) (string, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.getLocked(l.now(), key)
	return v, ok, nil
}

func (l *Local) getLocked(now time.Time, key string) (string, bool) {
	e, ok := l.values[key]
	if !ok || !e.live(now) {
		return "", false
	}
	return e.v, true
}

// Batch implements Store: the ops in order, under one lock.
func (l *Local) Batch(_ context.Context, ops []Op) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for i := range ops {
		op := &ops[i]
		switch op.Kind {
		case OpTake:
			op.OK, op.Wait = l.takeLocked(now, op.Key, op.Limit, op.Period, op.Cost, op.Force)
		case OpAdd:
			op.Sum = l.addLocked(now, op.Key, op.Delta, op.TTL)
		case OpPut:
			l.putLocked(now, op.Key, op.Value, op.TTL)
		case OpGet:
			op.Value, op.OK = l.getLocked(now, op.Key)
		}
	}
	return nil
}

// Share implements Store: a local store owns its whole limit.
func (l *Local) Share() float64 { return 1 }

// sweepLocked drops expired entries now and then, so that keys seen once do not stay forever.
func (l *Local) sweepLocked(now time.Time) {
	if l.ops++; l.ops < 4096 {
		return
	}
	l.ops = 0
	for k, tat := range l.tats {
		if !tat.After(now) {
			delete(l.tats, k)
		}
	}
	for k, e := range l.counters {
		if !e.live(now) {
			delete(l.counters, k)
		}
	}
	for k, e := range l.values {
		if !e.live(now) {
			delete(l.values, k)
		}
	}
}
