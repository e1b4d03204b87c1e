package dataplane

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPipeline measures the outbound and inbound pipelines together:
// packets injected into A's in-memory TUN, sealed, sent over loopback UDP,
// opened by B and written to B's in-memory TUN. One op is one packet;
// allocs/op counts every goroutine's allocations. pkts/s is wall-clock
// throughput; pkts/cpu-s divides by the CPU time the whole process used
// (both data planes, the kernel's loopback work and the injecting test
// included), the packets per second one core manages. The variants turn
// the levers off one at a time: serial runs the crypto on the readers
// (Workers < 0), nooffload sends and receives without UDP GSO/GRO.
func BenchmarkPipeline(b *testing.B) {
	variants := []struct {
		name   string
		change func(*Config)
	}{
		{"parallel+offload", nil},
		{"serial+offload", func(c *Config) { c.Workers = -1 }},
		{"parallel+nooffload", func(c *Config) { c.NoOffload = true }},
		{"serial+nooffload", func(c *Config) { c.Workers, c.NoOffload = -1, true }},
	}
	for _, v := range variants {
		for _, size := range []int{64, 1400} {
			b.Run(fmt.Sprintf("%s/%dB", v.name, size), func(b *testing.B) {
				benchPipeline(b, size, v.change)
			})
		}
	}
}

// BenchmarkPipelineFamilies is BenchmarkPipeline (parallel+offload,
// 1400-byte packets) for each combination of inner and outer family.
func BenchmarkPipelineFamilies(b *testing.B) {
	v4 := ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, make([]byte, 1400-28))
	v6 := ipv6UDP("fd01::5", "fd02::7", 1, 2, make([]byte, 1400-48), nil)
	outer6 := func(c *Config) { c.ListenAddr = netip.IPv6Loopback() }
	for _, f := range []struct {
		name   string
		pkt    []byte
		change func(*Config)
	}{
		{"4-in-4", v4, nil},
		{"6-in-4", v6, nil},
		{"4-in-6", v4, outer6},
		{"6-in-6", v6, outer6},
	} {
		b.Run(f.name, func(b *testing.B) { benchPipelineFor(b, mixedPair, f.pkt, f.change) })
	}
}

func benchPipeline(b *testing.B, size int, change func(*Config)) {
	benchPipelineFor(b, defaultPair, ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, make([]byte, size-28)), change)
}

// benchPipelineFor measures pkt from A to Z over pair.
func benchPipelineFor(b *testing.B, pair saPair, pkt []byte, change func(*Config)) {
	a, z := newPeerWith(b, 128, change), newPeerWith(b, 128, change)
	pair.install(b, a, z)
	var got atomic.Int64
	z.tun.SetWriteHandler(func(pkt []byte) { got.Add(1) })
	size := len(pkt)

	// Warm up: the goroutines touch their batches and the receive address
	// slots on first use.
	const warm = 4 * udpBatchSize
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
	start, cpu0 := time.Now(), cpuTime()
	for range b.N {
		if err := a.tun.Inject(pkt); err != nil {
			b.Fatal(err)
		}
	}
	// Wait for the tail; loopback UDP may drop under overload, so stop
	// when nothing moves any more.
	last, idle := int64(-1), time.Now()
	for got.Load() < int64(b.N) && time.Since(idle) < 500*time.Millisecond {
		if n := got.Load(); n != last {
			last, idle = n, time.Now()
		}
		time.Sleep(100 * time.Microsecond)
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	delivered := got.Load()
	b.ReportMetric(float64(delivered)/elapsed.Seconds(), "pkts/s")
	if cpu > 0 {
		b.ReportMetric(float64(delivered)/cpu.Seconds(), "pkts/cpu-s")
	}
	b.ReportMetric(float64(int64(b.N)-delivered)/float64(b.N), "lost/op")
}

// BenchmarkLatency sends one packet at a time from A's TUN to B's TUN and
// waits for it: one op is one one-way trip through both data planes (seal,
// loopback UDP, open), the part a ping pays twice. Light traffic takes the
// readers' fast path (pipeline.go).
func BenchmarkLatency(b *testing.B) {
	a, z := newPeer(b, 128), newPeer(b, 128)
	defaultPair.install(b, a, z)
	arrived := make(chan struct{}, 1)
	z.tun.SetWriteHandler(func(pkt []byte) { arrived <- struct{}{} })
	pkt := ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, make([]byte, 64-28))
	timeout := time.NewTimer(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := a.tun.Inject(pkt); err != nil {
			b.Fatal(err)
		}
		timeout.Reset(5 * time.Second)
		select {
		case <-arrived:
		case <-timeout.C:
			b.Fatal("packet lost")
		}
	}
}
