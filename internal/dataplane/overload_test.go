package dataplane

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestMemoryFlatUnderOverload floods a receiver that drains more slowly
// than the sender sends (its TUN stalls now and then): the excess must be
// dropped by the kernel in front of the bounded pools, and the heap must
// not grow with the amount of traffic (issue 6: memory flat under
// overload; no per-packet allocation, no unbounded queue).
func TestMemoryFlatUnderOverload(t *testing.T) {
	if testing.Short() {
		t.Skip("floods loopback for a few seconds")
	}
	a, z := newPeer(t, 128), newPeer(t, 128)
	defaultPair.install(t, a, z)
	var got atomic.Int64
	z.tun.SetWriteHandler(func(pkt []byte) {
		if got.Add(1)%64 == 0 {
			time.Sleep(time.Millisecond) // a slow TUN: ~64k packets/s at most
		}
	})
	pkt := ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, make([]byte, 1400-28))
	flood := func(n int) {
		for range n {
			if err := a.tun.Inject(pkt); err != nil {
				t.Fatal(err)
			}
		}
	}
	flood(50000) // every pool and buffer is in use by now
	before := heapInUse()
	const more = 300000
	flood(more)
	after := heapInUse()
	sent := int64(50000 + more)
	// Let the receiver drain what is queued, then compare.
	time.Sleep(200 * time.Millisecond)
	delivered := got.Load()
	t.Logf("heap in use %d KiB before, %d KiB after %d more packets; delivered %d of %d",
		before>>10, after>>10, more, delivered, sent)
	if delivered >= sent*9/10 {
		t.Skipf("the receiver kept up (%d of %d delivered): no overload to test", delivered, sent)
	}
	if after > before+4<<20 {
		t.Fatalf("heap grew from %d to %d KiB under overload", before>>10, after>>10)
	}
}
