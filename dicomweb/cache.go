package dicomweb

import (
	"container/list"
	"sync"
)

// DecodedCacheBytes bounds the decoded (uncompressed) frames a Handler
// keeps, so that a viewer scrolling back and forth through a series is
// not served by decoding the same HTJ2K frames again.
var DecodedCacheBytes int64 = 128 << 20

// byteLRU is an LRU of immutable byte slices bounded by their total size.
type byteLRU struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order list.List // of *lruEntry, most recent first
	m     map[string]*list.Element
}

type lruEntry struct {
	key string
	b   []byte
}

func newByteLRU(max int64) *byteLRU { return &byteLRU{max: max, m: map[string]*list.Element{}} }

func (c *byteLRU) get(key string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.m[key]
	if el == nil {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry).b
}

func (c *byteLRU) put(key string, b []byte) {
	if int64(len(b)) > c.max/8 {
		return // one frame may not take a large share
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; ok {
		return
	}
	c.m[key] = c.order.PushFront(&lruEntry{key, b})
	c.size += int64(len(b))
	for c.size > c.max {
		last := c.order.Back()
		e := last.Value.(*lruEntry)
		c.order.Remove(last)
		delete(c.m, e.key)
		c.size -= int64(len(e.b))
	}
}
