package sadb

import (
	"sync"
	"testing"
	"time"
)

func TestAcquiresBoundsAndOrder(t *testing.T) {
	var released [][]byte
	a := NewAcquires(HoldLimits{Packets: 3, Bytes: 250, Expiry: time.Second, Retry: 10 * time.Second, Traps: 2}, func(b []byte) { released = append(released, b) })
	t0 := time.Unix(1000, 0)
	pkt := func(n int, tag byte) []byte {
		b := make([]byte, n)
		b[0] = tag
		return b
	}

	held, acq := a.Hold(7, pkt(100, 1), t0)
	if !held || !acq {
		t.Fatalf("first packet: held %v acquire %v, want both", held, acq)
	}
	held, acq = a.Hold(7, pkt(100, 2), t0.Add(time.Millisecond))
	if !held || acq {
		t.Fatalf("second packet: held %v acquire %v, want held without a new acquire", held, acq)
	}
	// 100+100+100 > 250 bytes: refused, caller keeps it.
	if held, _ = a.Hold(7, pkt(100, 3), t0.Add(2*time.Millisecond)); held {
		t.Fatal("byte limit not enforced")
	}
	if held, _ = a.Hold(7, pkt(10, 4), t0.Add(3*time.Millisecond)); !held {
		t.Fatal("small packet within limits refused")
	}
	// Three packets: the packet limit.
	if held, _ = a.Hold(7, pkt(10, 5), t0.Add(4*time.Millisecond)); held {
		t.Fatal("packet limit not enforced")
	}
	if got := a.Stats.Full.Load(); got != 2 {
		t.Fatalf("Full = %d, want 2", got)
	}
	// The trap limit: a second trap fits, a third does not.
	if held, acq = a.Hold(8, pkt(10, 6), t0); !held || !acq {
		t.Fatal("second trap refused")
	}
	if held, acq = a.Hold(9, pkt(10, 7), t0); held || acq || a.Stats.NoRoom.Load() != 1 {
		t.Fatal("trap limit not enforced")
	}

	// Drain hands back the packets in arrival order.
	var sent []byte
	if n := a.Drain(7, t0.Add(10*time.Millisecond), func(b []byte) { sent = append(sent, b[0]) }); n != 3 || string(sent) != "\x01\x02\x04" {
		t.Fatalf("Drain sent %d packets %v, want 1 2 4", n, sent)
	}
	if a.Pending(7) != 0 || a.Drain(7, t0, func([]byte) { t.Fatal("drained twice") }) != 0 {
		t.Fatal("trap still holds packets after Drain")
	}
	// After Drain, the next packet is a new trap event with a new acquire.
	if _, acq = a.Hold(7, pkt(10, 8), t0.Add(20*time.Millisecond)); !acq {
		t.Fatal("no acquire after the trap was drained")
	}
	if len(released) != 0 {
		t.Fatalf("released %d packets early", len(released))
	}
	if n := a.Flush(7); n != 1 || len(released) != 1 || released[0][0] != 8 {
		t.Fatalf("Flush dropped %d, released %d", n, len(released))
	}
}

func TestAcquiresExpiryAndRetry(t *testing.T) {
	released := 0
	a := NewAcquires(HoldLimits{Packets: 4, Expiry: time.Second, Retry: 3 * time.Second}, func([]byte) { released++ })
	t0 := time.Unix(1000, 0)
	a.Hold(1, []byte{1}, t0)
	a.Hold(1, []byte{2}, t0.Add(500*time.Millisecond))
	// At t0+1.2 s the first packet expired when the next arrives.
	if _, acq := a.Hold(1, []byte{3}, t0.Add(1200*time.Millisecond)); acq {
		t.Fatal("acquire repeated before Retry")
	}
	if released != 1 || a.Stats.Expired.Load() != 1 || a.Pending(1) != 2 {
		t.Fatalf("released %d, expired %d, pending %d", released, a.Stats.Expired.Load(), a.Pending(1))
	}
	// Packets still arriving after Retry: a new acquire.
	if _, acq := a.Hold(1, []byte{4}, t0.Add(3*time.Second)); !acq {
		t.Fatal("no acquire after Retry")
	}
	// The timer releases everything that expired and forgets idle traps.
	a.Expire(t0.Add(10 * time.Second))
	if released != 4 || a.Pending(1) != 0 {
		t.Fatalf("after Expire: released %d, pending %d", released, a.Pending(1))
	}
	a.mu.Lock()
	n := len(a.traps)
	a.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d traps remembered after Expire", n)
	}
	// Drain of expired packets releases rather than sends them.
	a.Hold(2, []byte{5}, t0)
	if n := a.Drain(2, t0.Add(2*time.Second), func([]byte) { t.Fatal("sent an expired packet") }); n != 0 || released != 5 {
		t.Fatalf("Drain sent %d, released %d", n, released)
	}
}

func TestAcquiresHoldDoesNotAllocate(t *testing.T) {
	a := NewAcquires(HoldLimits{Packets: 4}, nil)
	pkt := make([]byte, 100)
	now := time.Unix(1, 0)
	a.Hold(1, pkt, now)
	if n := testing.AllocsPerRun(100, func() { a.Hold(1, pkt, now) }); n != 0 {
		t.Fatalf("Hold allocates %v times", n)
	}
}

func TestAcquiresConcurrent(t *testing.T) {
	a := NewAcquires(HoldLimits{Packets: 16, Traps: 8}, nil)
	var wg sync.WaitGroup
	var acquires [8]int
	var mu sync.Mutex
	now := time.Unix(1, 0)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				id := uint32((i + w) % 8)
				if _, acq := a.Hold(id, []byte{1}, now); acq {
					mu.Lock()
					acquires[id]++
					mu.Unlock()
				}
				if i%100 == 0 {
					a.Expire(now)
				}
			}
		}()
	}
	wg.Wait()
	for id, n := range acquires {
		if n != 1 {
			t.Errorf("trap %d: %d acquires, want exactly 1 within Retry", id, n)
		}
	}
}
