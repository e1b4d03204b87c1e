package ike

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// FuzzHandlePacket feeds arbitrary datagrams to a responder engine, first
// alone and then after a real IKE_SA_INIT from the seed created its SA:
// nothing may panic, and the engine must still shut down cleanly.
func FuzzHandlePacket(f *testing.F) {
	// Seeds: the messages of a real exchange between two test engines.
	var (
		mu    sync.Mutex // both engines send (a retransmission can overlap the reply)
		seeds [][]byte
	)
	n, l, _ := newPairForFuzz(f)
	n.drop = func(_ netip.AddrPort, pkt []byte) bool {
		mu.Lock()
		seeds = append(seeds, append([]byte(nil), pkt...))
		mu.Unlock()
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.e.Initiate(ctx, "site", "net"); err != nil {
		f.Fatal(err)
	}
	mu.Lock()
	for _, s := range seeds {
		f.Add(s)
	}
	mu.Unlock()
	f.Add([]byte{})
	f.Add(make([]byte, wire.HeaderLen))

	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, r := newPairForFuzz(t)
		from := netip.AddrPortFrom(leftAddr, 500)
		to := netip.AddrPortFrom(rightAddr, 500)
		r.e.HandlePacket(to, from, data)
		if len(seeds) > 0 {
			r.e.HandlePacket(to, from, seeds[0])
			r.e.HandlePacket(to, from, data)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r.e.Close(ctx)
	})
}

// newPairForFuzz is newPair without retransmissions worth waiting for.
func newPairForFuzz(tb testing.TB) (*testNet, *testPeer, *testPeer) {
	return newPairTB(tb, pairOpts{retransmitTimeout: 10 * time.Millisecond, retransmitTries: 1})
}
