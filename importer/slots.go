package importer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// slots bounds the frames being transcoded at once across the importer.
//
// Acquiring a slot either takes one or fails with nothing taken
// (golang.org/x/sync/semaphore), so a caller whose context ends while it
// waits cannot end up holding a slot it does not know about, and every
// slot taken comes with the function that gives it back. The channel this
// replaced leaked a slot whenever a select won a slot in the same instant
// the context ended and the caller then gave up; after a few such files no
// slot was left and every import waited forever.
type slots struct {
	sem  *semaphore.Weighted
	held atomic.Int64
	// lastRelease is when a slot was last given back (Unix nanoseconds):
	// waiting for a slot is progress as long as slots keep being released.
	lastRelease atomic.Int64
}

func newSlots(n int) *slots {
	s := &slots{sem: semaphore.NewWeighted(int64(n))}
	s.lastRelease.Store(time.Now().UnixNano())
	return s
}

// acquire takes a slot, waiting at most until ctx ends. On success it
// returns the function that gives the slot back, which may be called any
// number of times (only the first call counts); on failure it returns
// ctx's error and no slot is taken.
func (s *slots) acquire(ctx context.Context) (release func(), err error) {
	if err := s.sem.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	s.held.Add(1)
	return sync.OnceFunc(func() {
		s.held.Add(-1)
		s.lastRelease.Store(time.Now().UnixNano())
		s.sem.Release(1)
	}), nil
}

// inUse reports the slots taken.
func (s *slots) inUse() int { return int(s.held.Load()) }

// released returns when a slot was last given back.
func (s *slots) released() time.Time { return time.Unix(0, s.lastRelease.Load()) }
