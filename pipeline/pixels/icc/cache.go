package icc

import (
	"container/list"
	"crypto/sha256"
	"sync"
)

// Cache keeps the transforms of the profiles used most recently, so that
// images sharing a profile (every iPhone photo carries the same Display P3
// one) parse it and build its tables once. It is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	max   int
	byKey map[[sha256.Size]byte]*list.Element
	order *list.List // front: most recently used
}

type cacheEntry struct {
	key [sha256.Size]byte
	t   *Transform
}

// NewCache returns a cache that holds up to size transforms (at least one).
func NewCache(size int) *Cache {
	return &Cache{max: max(size, 1), byKey: make(map[[sha256.Size]byte]*list.Element), order: list.New()}
}

// Transform returns the transform of the profile in data, parsing it and
// building the transform only if the cache does not hold it. Errors are
// Parse's and NewTransform's; they are not cached.
func (c *Cache) Transform(data []byte) (*Transform, error) {
	if len(data) > MaxSize {
		return nil, invalidf("profile of %d bytes exceeds the %d-byte limit", len(data), MaxSize)
	}
	key := sha256.Sum256(data)
	c.mu.Lock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*cacheEntry).t, nil
	}
	c.mu.Unlock()

	p, err := Parse(data)
	if err != nil {
		return nil, err
	}
	t, err := NewTransform(p)
	if err != nil {
		return nil, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok { // another caller built it meanwhile
		c.order.MoveToFront(e)
		return e.Value.(*cacheEntry).t, nil
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key, t})
	for c.order.Len() > c.max {
		old := c.order.Remove(c.order.Back()).(*cacheEntry)
		delete(c.byKey, old.key)
	}
	return t, nil
}

// Len returns the number of transforms the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
