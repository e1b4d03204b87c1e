package ike

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// TestStaleInitAfterEstablished: a copy of the initiator's IKE_SA_INIT
// that arrives after the IKE SA is up (a delayed retransmission) is
// dropped and counted; before, it started a second, half-open SA that
// lingered for 30 s and showed in every SA listing.
func TestStaleInitAfterEstablished(t *testing.T) {
	n, l, r := newPair(t, pairOpts{})
	var mu sync.Mutex
	var first []byte
	var from netip.AddrPort
	n.drop = func(src netip.AddrPort, pkt []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		if m, err := wire.Parse(pkt); err == nil && first == nil && m.Header.Exchange == wire.IKESAInit && !m.Header.IsResponse() {
			first, from = slices.Clone(pkt), src
		}
		return false
	}
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "responder up", func() bool { return len(r.inst.all()) == 1 })
	mu.Lock()
	pkt, src := first, from
	mu.Unlock()
	if pkt == nil {
		t.Fatal("no IKE_SA_INIT captured")
	}
	r.e.HandlePacket(netip.AddrPortFrom(rightAddr, 500), src, pkt)
	time.Sleep(200 * time.Millisecond) // a ghost SA would have answered by now
	if sas := r.e.SAs(); len(sas) != 1 {
		t.Fatalf("responder has %d IKE SAs after a stale IKE_SA_INIT, want 1", len(sas))
	}
	if got := r.e.Stats.StaleInit.Load(); got != 1 {
		t.Errorf("stale_init = %d, want 1", got)
	}
}
