package ike

import (
	"container/heap"
	"sync"
	"time"
)

// Clock is where the engine reads the time and gets its timers from:
// retransmissions (RFC 7296 2.4), SA lifetimes (2.8), liveness checks
// (2.4) and half-open expiry. The daemon uses the system clock; the
// simulator a VirtualClock, so that hours of SA lifetime run in
// milliseconds without sleeping.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the engine uses. Stop and Reset
// guarantee that no stale tick is received afterwards (the Go 1.23
// semantics of time.Timer).
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// SystemClock is the real time.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time        { return t.t.C }
func (t sysTimer) Stop() bool                 { return t.t.Stop() }
func (t sysTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

// VirtualClock is a clock that only moves when told to (Advance, or
// FireNext in the simulator). Timers fire in deadline order, ties in
// creation order. Safe for concurrent use.
type VirtualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers timerHeap
}

// NewVirtualClock starts a virtual clock at start.
func NewVirtualClock(start time.Time) *VirtualClock { return &VirtualClock{now: start} }

// Now returns the virtual time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer creates a timer that fires once the virtual time reaches now+d.
func (c *VirtualClock) NewTimer(d time.Duration) Timer {
	t := &virtualTimer{c: c, ch: make(chan time.Time, 1), index: -1}
	c.mu.Lock()
	c.schedule(t, d)
	c.mu.Unlock()
	return t
}

// schedule arms t; c.mu is held.
func (c *VirtualClock) schedule(t *virtualTimer, d time.Duration) {
	c.seq++
	t.when, t.seq = c.now.Add(d), c.seq
	heap.Push(&c.timers, t)
}

// Next returns the deadline of the earliest armed timer.
func (c *VirtualClock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	return c.timers[0].when, true
}

// Set moves the time forward to t without firing anything (the caller
// fires what is due with FireDue). Time never goes backwards.
func (c *VirtualClock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
}

// FireDue fires the earliest timer whose deadline has passed and reports
// whether there was one. Firing one at a time lets the simulator settle
// the engines between ticks.
func (c *VirtualClock) FireDue() bool {
	c.mu.Lock()
	if len(c.timers) == 0 || c.timers[0].when.After(c.now) {
		c.mu.Unlock()
		return false
	}
	t := heap.Pop(&c.timers).(*virtualTimer)
	now := c.now
	onFire := t.onFire
	c.mu.Unlock()
	if onFire != nil {
		onFire()
	}
	select {
	case t.ch <- now:
	default: // cannot happen: a timer is re-armed only after a drain
	}
	return true
}

// Advance moves the time forward by d, firing every timer due on the way.
func (c *VirtualClock) Advance(d time.Duration) {
	end := c.Now().Add(d)
	for {
		next, ok := c.Next()
		if !ok || next.After(end) {
			break
		}
		c.Set(next)
		c.FireDue()
	}
	c.Set(end)
}

type virtualTimer struct {
	c     *VirtualClock
	ch    chan time.Time
	when  time.Time
	seq   uint64
	index int // in the heap; -1 when not armed
	// onFire and onDrain let an IKE SA count its pending events for the
	// simulator's quiescence check (see ikeSA.park).
	onFire, onDrain func()
}

func (t *virtualTimer) C() <-chan time.Time { return t.ch }

func (t *virtualTimer) Stop() bool {
	t.c.mu.Lock()
	armed := t.index >= 0
	if armed {
		heap.Remove(&t.c.timers, t.index)
	}
	t.c.mu.Unlock()
	select {
	case <-t.ch:
		if t.onDrain != nil {
			t.onDrain()
		}
	default:
	}
	return armed
}

func (t *virtualTimer) Reset(d time.Duration) bool {
	armed := t.Stop()
	t.c.mu.Lock()
	t.c.schedule(t, d)
	t.c.mu.Unlock()
	return armed
}

func (t *virtualTimer) setHooks(onFire, onDrain func()) {
	t.c.mu.Lock()
	t.onFire, t.onDrain = onFire, onDrain
	t.c.mu.Unlock()
}

type timerHeap []*virtualTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*virtualTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
