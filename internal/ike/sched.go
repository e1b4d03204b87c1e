package ike

import (
	"sync/atomic"
	"time"
)

// Each IKE SA goroutine counts the events (packets, commands, timer ticks)
// handed to it and the ones it has taken, and says when it is about to
// block. That costs two atomic operations per event and lets the
// simulator decide, without sleeping, that every engine is idle and the
// virtual clock may move on (see Engine.quiescent).
type schedState struct {
	delivered atomic.Uint64 // events queued for the SA (by any goroutine)
	consumed  uint64        // events taken (SA goroutine only)
	// word is consumed<<1 | parked, published atomically so that a reader
	// sees the count and the parked bit of the same moment.
	word atomic.Uint64
}

// park says the SA goroutine is about to block waiting for an event.
func (s *schedState) park() { s.word.Store(s.consumed<<1 | 1) }

// wake counts one event taken; the goroutine is running again.
func (s *schedState) wake() {
	s.consumed++
	s.word.Store(s.consumed << 1)
}

// idle reports whether the goroutine is blocked with nothing queued. The
// word is read before delivered: an event taken in between makes
// delivered exceed the count read, so idle errs towards "busy".
func (s *schedState) idle() bool {
	w := s.word.Load()
	return w&1 == 1 && w>>1 == s.delivered.Load()
}

// newTimer returns a timer of the engine's clock whose ticks count as
// events of this SA.
func (sa *ikeSA) newTimer(d time.Duration) Timer {
	t := sa.e.clock.NewTimer(d)
	if vt, ok := t.(*virtualTimer); ok {
		vt.setHooks(func() { sa.sched.delivered.Add(1) }, func() { sa.sched.consumed++ })
	}
	return t
}

// quiescent reports whether every IKE SA goroutine of the engine is
// blocked with no event queued (for the simulator).
func (e *Engine) quiescent() bool {
	e.liveMu.Lock()
	defer e.liveMu.Unlock()
	for sa := range e.live {
		if !sa.sched.idle() {
			return false
		}
	}
	return true
}
