package sadb

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestLimits: OnLimit fires once when the soft limit is reached and once
// more at the hard limit, from whichever direction gets there; Expired
// turns on at the hard limit and stays on.
func TestLimits(t *testing.T) {
	var calls atomic.Int32
	c := &ChildSA{Limits: Limits{SoftBytes: 1000, HardBytes: 2000, SoftPackets: 50}, OnLimit: func() bool { calls.Add(1); return true }}
	c.CountOut(999)
	if calls.Load() != 0 || c.Expired() {
		t.Fatal("limit reported below the soft limit")
	}
	c.CountIn(1000) // inbound reaches the soft limit first
	if calls.Load() != 1 || c.Expired() {
		t.Fatalf("after soft: %d calls, expired %v", calls.Load(), c.Expired())
	}
	c.CountOut(500)
	if calls.Load() != 1 {
		t.Fatal("soft limit reported twice")
	}
	c.CountOut(501) // 2000 bytes out
	if calls.Load() != 2 || !c.Expired() {
		t.Fatalf("after hard: %d calls, expired %v", calls.Load(), c.Expired())
	}
	c.CountIn(1)
	if calls.Load() != 2 || !c.Expired() {
		t.Fatal("hard limit reported twice")
	}

	// Packets alone, and a limit crossed from many goroutines at once:
	// still exactly one report per limit.
	calls.Store(0)
	p := &ChildSA{Limits: Limits{SoftPackets: 100, HardPackets: 1000}, OnLimit: func() bool { calls.Add(1); return true }}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				p.CountOut(1)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 2 || !p.Expired() {
		t.Fatalf("1600 packets: %d calls, expired %v", calls.Load(), p.Expired())
	}

	// No limits: never expired, no callback needed.
	n := &ChildSA{}
	n.CountOut(1 << 40)
	if n.Expired() {
		t.Fatal("SA without limits expired")
	}
}

// TestLimitsRetold: a notice OnLimit could not take (the engine was
// busy) is given again with a later packet, once, and the hard limit
// still stops the SA meanwhile.
func TestLimitsRetold(t *testing.T) {
	var calls, taken atomic.Int32
	busy := true
	c := &ChildSA{Limits: Limits{SoftPackets: 2, HardPackets: 4}, OnLimit: func() bool {
		calls.Add(1)
		if busy {
			return false
		}
		taken.Add(1)
		return true
	}}
	c.CountOut(1)
	c.CountOut(1) // soft: refused
	if calls.Load() != 1 || taken.Load() != 0 {
		t.Fatalf("soft: %d calls, %d taken", calls.Load(), taken.Load())
	}
	busy = false
	c.CountOut(1) // told again, taken
	c.CountOut(1) // hard: taken
	c.CountOut(1) // nothing new
	if calls.Load() != 3 || taken.Load() != 2 || !c.Expired() {
		t.Fatalf("%d calls, %d taken, expired %v; want 3, 2, true", calls.Load(), taken.Load(), c.Expired())
	}
}
