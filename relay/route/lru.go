package route

import (
	"container/list"
	"sync"
	"time"
)

// lru is a bounded map whose entries expire ttl after they were last set. When full, setting a
// new key evicts the least recently used entry. It is safe for concurrent use.
type lru[K comparable, V any] struct {
	size int
	ttl  time.Duration
	now  func() time.Time

	mu    sync.Mutex
	order *list.List // front: most recently used; values are *entry[K, V]
	items map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key     K
	value   V
	expires time.Time
}

func newLRU[K comparable, V any](size int, ttl time.Duration, now func() time.Time) *lru[K, V] {
	if now == nil {
		now = time.Now
	}
	return &lru[K, V]{size: max(size, 1), ttl: ttl, now: now, order: list.New(), items: make(map[K]*list.Element)}
}

// get returns the live value of k and marks it recently used.
func (c *lru[K, V]) get(k K) (V, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.items[k]
	if el == nil {
		var zero V
		return zero, false
	}
	e := el.Value.(*entry[K, V])
	if c.ttl > 0 && !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, k)
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

// set stores v under k for ttl, evicting the least recently used entry when full.
func (c *lru[K, V]) set(k K, v V) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.items[k]; el != nil {
		e := el.Value.(*entry[K, V])
		e.value, e.expires = v, now.Add(c.ttl)
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*entry[K, V]).key)
	}
	c.items[k] = c.order.PushFront(&entry[K, V]{key: k, value: v, expires: now.Add(c.ttl)})
}

// remove forgets k.
func (c *lru[K, V]) remove(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.items[k]; el != nil {
		c.order.Remove(el)
		delete(c.items, k)
	}
}

// len returns the number of entries, expired ones included until they are touched or evicted.
func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
