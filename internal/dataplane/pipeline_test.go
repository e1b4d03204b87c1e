package dataplane

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// flowCounter checks, on the receiving TUN, that the packets of every flow
// (by UDP source port) arrive in the order they were sent: each payload
// starts with the flow's packet counter.
type flowCounter struct {
	mu         sync.Mutex
	last       map[uint16]int64
	got        int64
	outOfOrder int64
	bad        int64
}

func (f *flowCounter) handle(pkt []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(pkt) < 28+8 || pkt[0]>>4 != 4 || pkt[9] != 17 {
		f.bad++
		return
	}
	flow := binary.BigEndian.Uint16(pkt[20:])
	n := int64(binary.BigEndian.Uint64(pkt[28:]))
	if last, ok := f.last[flow]; ok && n <= last {
		f.outOfOrder++
	}
	f.last[flow] = n
	f.got++
}

func (f *flowCounter) snapshot() (got, outOfOrder, bad int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got, f.outOfOrder, f.bad
}

// TestParallelCryptoKeepsOrder pushes interleaved flows through the whole
// pipeline (in-memory TUN -> parallel seal -> UDP GSO over loopback -> GRO
// receive -> parallel open -> in-memory TUN) with more workers than cores,
// and counts out-of-order arrivals per flow: there must be none, since
// loopback does not reorder. It also checks the batches really went to the
// workers and, where the kernel has them, through GSO and GRO; pauses in
// the stream mix the readers' fast path in.
func TestParallelCryptoKeepsOrder(t *testing.T) {
	for _, workers := range []int{2, 2 * runtime.GOMAXPROCS(0)} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			conf := func(c *Config) { c.Workers = workers }
			a, z := newPeerWith(t, 128, conf), newPeerWith(t, 128, conf)
			defaultPair.install(t, a, z)
			fc := &flowCounter{last: make(map[uint16]int64)}
			z.tun.SetWriteHandler(fc.handle)

			const flows, perFlow, size = 4, 5000, 1200
			pkts := make([][]byte, flows)
			for f := range pkts {
				pkts[f] = ipv4UDP("10.1.0.5", "10.2.0.7", uint16(1000+f), 9, make([]byte, size-28))
			}
			for i := range perFlow {
				if i%50 == 0 && (i/50)%3 == 0 {
					// Let the pipeline drain now and then, so small
					// batches take the readers' fast path between
					// queued ones.
					time.Sleep(200 * time.Microsecond)
				}
				for f := range flows {
					binary.BigEndian.PutUint64(pkts[f][28:], uint64(i))
					if err := a.tun.Inject(pkts[f]); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Loopback may drop under overload (a full socket buffer):
			// wait until nothing moves any more.
			last, idle := int64(-1), time.Now()
			for time.Since(idle) < 500*time.Millisecond {
				if got, _, _ := fc.snapshot(); got != last {
					last, idle = got, time.Now()
				}
				if last == flows*perFlow {
					break
				}
				time.Sleep(time.Millisecond)
			}
			got, ooo, bad := fc.snapshot()
			t.Logf("delivered %d of %d; parallel batches %d, GSO %d messages / %d segments, GRO %d datagrams / %d segments",
				got, flows*perFlow, a.dp.stats.parallelBatches.Load(),
				a.dp.stats.gsoMessages.Load(), a.dp.stats.gsoSegments.Load(),
				z.dp.stats.groDatagrams.Load(), z.dp.stats.groSegments.Load())
			if ooo != 0 || bad != 0 {
				t.Fatalf("%d packets out of order, %d malformed", ooo, bad)
			}
			if got < flows*perFlow/2 {
				t.Fatalf("only %d of %d packets delivered", got, flows*perFlow)
			}
			if a.dp.stats.parallelBatches.Load() == 0 || z.dp.stats.parallelBatches.Load() == 0 {
				t.Errorf("no batch went to the workers (sender %d, receiver %d)",
					a.dp.stats.parallelBatches.Load(), z.dp.stats.parallelBatches.Load())
			}
			if a.dp.natt.gso.Load() && a.dp.stats.gsoMessages.Load() == 0 {
				t.Error("GSO is on but no message used it")
			}
			if c := z.dp.Counters(); c.Replay != 0 || c.Auth != 0 || c.Malformed != 0 {
				t.Errorf("receiver drops: %+v", c)
			}
		})
	}
}

func TestApplyTuning(t *testing.T) {
	for _, tc := range []struct {
		in        string
		workers   int
		noOffload bool
		err       bool
	}{
		{"", 0, false, false},
		{"serial", -1, false, false},
		{"nooffload, workers=3", 3, true, false},
		{"serial,nooffload", -1, true, false},
		{"workers=0", 0, false, true},
		{"workers=x", 0, false, true},
		{"fast", 0, false, true},
	} {
		var c Config
		err := applyTuning(&c, tc.in)
		if (err != nil) != tc.err || (err == nil && (c.Workers != tc.workers || c.NoOffload != tc.noOffload)) {
			t.Errorf("applyTuning(%q) = %+v, %v", tc.in, c, err)
		}
	}
}
