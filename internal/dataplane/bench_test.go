package dataplane

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPipeline measures the outbound and inbound pipelines together:
// packets injected into A's in-memory TUN, sealed, sent over loopback UDP,
// opened by B and written to B's in-memory TUN. One op is one packet;
// allocs/op counts every goroutine's allocations (see the package comment
// for the one known per-packet allocation).
func BenchmarkPipeline(b *testing.B) {
	for _, size := range []int{64, 1400} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			a, z := newPeer(b, 128), newPeer(b, 128)
			defaultPair.install(b, a, z)
			var got atomic.Int64
			z.tun.SetWriteHandler(func(pkt []byte) { got.Add(1) })
			pkt := ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, make([]byte, size-28))

			// Warm up: the goroutines allocate their batches and the
			// receive address slots on first use.
			const warm = 2 * udpBatchSize
			for range warm {
				if err := a.tun.Inject(pkt); err != nil {
					b.Fatal(err)
				}
			}
			for got.Load() < warm {
				time.Sleep(time.Millisecond)
			}
			got.Store(0)

			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if err := a.tun.Inject(pkt); err != nil {
					b.Fatal(err)
				}
			}
			// Wait for the tail; loopback UDP may drop under overload, so
			// stop when nothing moves any more.
			last, idle := int64(-1), time.Now()
			for got.Load() < int64(b.N) && time.Since(idle) < 500*time.Millisecond {
				if n := got.Load(); n != last {
					last, idle = n, time.Now()
				}
				time.Sleep(100 * time.Microsecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			delivered := got.Load()
			b.ReportMetric(float64(delivered)/elapsed.Seconds(), "pkts/s")
			b.ReportMetric(float64(int64(b.N)-delivered)/float64(b.N), "lost/op")
		})
	}
}
