package dataplane

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
)

// aHalf builds a's half of sp again (same SPIs and keys as install), not
// installed: a fresh SA for a that b's installed half still opens.
func aHalf(t testing.TB, a, b *peer, sp saPair, spiIn uint32) *sadb.ChildSA {
	t.Helper()
	return &sadb.ChildSA{
		Name:     "test/a",
		In:       esp.NewInbound(spiIn, newAEAD(t, 0x80), 128),
		Out:      esp.NewOutbound(sp.spiB, newAEAD(t, 0x10)),
		Local:    a.nattAddr(),
		Remote:   b.nattAddr(),
		Encap:    true,
		LocalTS:  mustTS(t, sp.aLocal...),
		RemoteTS: mustTS(t, sp.aRemote...),
	}
}

// trapPeer is a data plane whose acquires are recorded.
type trapPeer struct {
	*peer
	mu       sync.Mutex
	acquires []Acquire
}

func newTrapPeer(t testing.TB, lim sadb.HoldLimits) *trapPeer {
	tp := &trapPeer{}
	tp.peer = newPeerWith(t, 8, func(c *Config) {
		c.Hold = lim
		c.Acquire = func(a Acquire) {
			tp.mu.Lock()
			tp.acquires = append(tp.acquires, a)
			tp.mu.Unlock()
		}
	})
	return tp
}

func (tp *trapPeer) acquireCount() uint64 {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return uint64(len(tp.acquires))
}

func installTrap(t testing.TB, p *peer, sp saPair) {
	t.Helper()
	if err := p.dp.InstallTrap(Trap{Name: "test/a", LocalTS: mustTS(t, sp.aLocal...), RemoteTS: mustTS(t, sp.aRemote...)}); err != nil {
		t.Fatal(err)
	}
}

// injectN injects n packets 10.1.0.5 -> 10.2.0.7 with ports base..base+n-1.
func injectN(t testing.TB, p *peer, base, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		pkt := ipv4UDP("10.1.0.5", "10.2.0.7", uint16(base+i), 53, []byte(fmt.Sprint("pkt ", base+i)))
		if err := p.tun.Inject(pkt); err != nil {
			t.Fatal(err)
		}
		out = append(out, pkt)
	}
	return out
}

func expectPackets(t testing.TB, p *peer, want [][]byte) {
	t.Helper()
	for i, w := range want {
		if got := recv(t, p.fromTUN, fmt.Sprint("packet ", i)); !bytes.Equal(got, w) {
			t.Fatalf("packet %d: got % x, want % x", i, got, w)
		}
	}
}

// TestRekeyMovesPolicy: a second SA with the same selectors (a rekey)
// carries nothing until the first is retired, then everything, with no
// packet lost or dropped at any step (RFC 7296 2.8 make-before-break).
func TestRekeyMovesPolicy(t *testing.T) {
	a, b := newPeer(t, 8), newPeer(t, 8)
	ca, _ := defaultPair.install(t, a, b)
	expectPackets(t, b, injectN(t, a, 0, 3))
	// The new SA shares the old one's outbound SPI and keys here, so b
	// opens what either sends; the counters tell which one sealed.
	c2 := aHalf(t, a, b, defaultPair, 0xa0000002)
	if err := a.dp.InstallChild(c2); err != nil {
		t.Fatal(err)
	}
	expectPackets(t, b, injectN(t, a, 5, 2))
	if got := ca.Stats.PacketsOut.Load(); got != 5 {
		t.Fatalf("old SA sent %d, want 5: the older SA carries traffic until retired", got)
	}
	a.dp.RetireOutbound(ca.InSPI())
	// Sequence numbers: c2 starts at 1 again, which b's window has seen:
	// skip past them (a real new SA has its own SPI and window).
	for range 5 {
		if _, err := c2.Out.NextSeq(); err != nil {
			t.Fatal(err)
		}
	}
	expectPackets(t, b, injectN(t, a, 10, 4))
	if got := ca.Stats.PacketsOut.Load(); got != 5 {
		t.Errorf("retired SA sent %d after retirement", got-5)
	}
	if got := c2.Stats.PacketsOut.Load(); got != 4 {
		t.Errorf("new SA sent %d, want 4", got)
	}
	a.dp.RemoveChild(ca.InSPI())
	expectPackets(t, b, injectN(t, a, 20, 2))
	if c := a.dp.Counters(); c != (Counters{}) {
		t.Errorf("drops at a: %v", c.Map())
	}
	if c := b.dp.Counters(); c != (Counters{}) {
		t.Errorf("drops at b: %v", c.Map())
	}
}

// installB installs b's half of sp only.
func installB(t testing.TB, a, b *peer, sp saPair) *sadb.ChildSA {
	t.Helper()
	cb := &sadb.ChildSA{
		Name:     "test/b",
		In:       esp.NewInbound(sp.spiB, newAEAD(t, 0x10), 128),
		Out:      esp.NewOutbound(sp.spiA, newAEAD(t, 0x80)),
		Local:    b.nattAddr(),
		Remote:   a.nattAddr(),
		Encap:    true,
		LocalTS:  mustTS(t, sp.bLocal...),
		RemoteTS: mustTS(t, sp.bRemote...),
	}
	if err := b.dp.InstallChild(cb); err != nil {
		t.Fatal(err)
	}
	return cb
}

// TestTrapHoldsAndReleases: packets hitting a trap are held, one acquire is
// raised for all of them, and once the Child SA is installed they are sent
// in order; later packets go straight through the SA (the SA's policy wins
// over the trap with the same selectors), and the trap stays when the SA
// goes, so the next packet acquires again.
func TestTrapHoldsAndReleases(t *testing.T) {
	a := newTrapPeer(t, sadb.HoldLimits{})
	b := newPeer(t, 8)
	installB(t, a.peer, b, defaultPair)
	installTrap(t, a.peer, defaultPair)

	held := injectN(t, a.peer, 0, 5)
	waitCounter(t, "held", 5, func() uint64 { return uint64(a.dp.Pending("test/a")) })
	expectNone(t, b.fromTUN, "held packet")
	if n := a.acquireCount(); n != 1 {
		t.Fatalf("%d acquires for 5 packets, want 1", n)
	}
	// The acquire describes the first packet (10.1.0.5:0 -> 10.2.0.7:53
	// UDP), for the initiator's first traffic selectors (RFC 7296 2.9).
	a.mu.Lock()
	acq := a.acquires[0]
	a.mu.Unlock()
	if acq.Name != "test/a" || acq.Local.String() != "10.1.0.5/32[udp/0]" || acq.Remote.String() != "10.2.0.7/32[udp/53]" {
		t.Errorf("acquire = %s %v %v, want test/a 10.1.0.5/32[udp/0] 10.2.0.7/32[udp/53]", acq.Name, acq.Local, acq.Remote)
	}
	ca := aHalf(t, a.peer, b, defaultPair, defaultPair.spiA)
	if err := a.dp.InstallChild(ca); err != nil {
		t.Fatal(err)
	}
	expectPackets(t, b, held)
	if n := a.dp.Pending("test/a"); n != 0 {
		t.Errorf("%d packets still held", n)
	}
	expectPackets(t, b, injectN(t, a.peer, 10, 3))
	if got := ca.Stats.PacketsOut.Load(); got != 8 {
		t.Errorf("SA PacketsOut = %d, want 8", got)
	}
	if n := a.acquireCount(); n != 1 {
		t.Errorf("%d acquires, want 1", n)
	}
	if st := a.dp.TrapStats(); st != (TrapStats{Held: 5, Released: 5, Acquires: 1}) {
		t.Errorf("TrapStats = %+v", st)
	}

	// The SA goes (DPD, delete): the trap is still there.
	a.dp.RemoveChild(ca.InSPI())
	injectN(t, a.peer, 20, 1)
	waitCounter(t, "acquires", 2, a.acquireCount)
	if c := a.dp.Counters(); c != (Counters{}) {
		t.Errorf("drops at a: %v", c.Map())
	}
}

// TestTrapQueueBound: past HoldLimits.Packets the trap drops and counts
// (trap_queue_full); what it held is sent once the SA is installed.
func TestTrapQueueBound(t *testing.T) {
	a := newTrapPeer(t, sadb.HoldLimits{Packets: 3})
	b := newPeer(t, 8)
	installB(t, a.peer, b, defaultPair)
	installTrap(t, a.peer, defaultPair)
	sent := injectN(t, a.peer, 0, 5)
	waitCounter(t, "trap_queue_full", 2, func() uint64 { return a.dp.Counters().TrapQueueFull })
	if n := a.dp.Pending("test/a"); n != 3 {
		t.Fatalf("%d held, want 3", n)
	}
	if err := a.dp.InstallChild(aHalf(t, a.peer, b, defaultPair, defaultPair.spiA)); err != nil {
		t.Fatal(err)
	}
	expectPackets(t, b, sent[:3])
	expectNone(t, b.fromTUN, "packet over the bound")
	if got := a.dp.Counters().Map()["trap_queue_full"]; got != 2 {
		t.Errorf("trap_queue_full = %d, want 2", got)
	}
}

// TestTrapFailed: a failed negotiation drops what the trap held (counted
// trap_failed) and the next packet raises a new acquire; while one is
// outstanding, more packets raise none (no initiation storm).
func TestTrapFailed(t *testing.T) {
	a := newTrapPeer(t, sadb.HoldLimits{Packets: 64})
	installTrap(t, a.peer, defaultPair)
	injectN(t, a.peer, 0, 20)
	waitCounter(t, "held", 20, func() uint64 { return uint64(a.dp.Pending("test/a")) })
	if n := a.acquireCount(); n != 1 {
		t.Fatalf("%d acquires for 20 packets, want 1", n)
	}
	a.dp.TrapFailed("test/a")
	if got := a.dp.Counters().TrapFailed; got != 20 {
		t.Errorf("trap_failed = %d, want 20", got)
	}
	injectN(t, a.peer, 30, 1)
	waitCounter(t, "acquires", 2, a.acquireCount)
	// Removing the trap drops what it holds and forgets it.
	if !a.dp.RemoveTrap("test/a") || a.dp.RemoveTrap("test/a") {
		t.Error("RemoveTrap")
	}
	injectN(t, a.peer, 40, 1)
	waitCounter(t, "no_policy", 1, func() uint64 { return a.dp.Counters().NoPolicy })
	if n := a.acquireCount(); n != 2 {
		t.Errorf("%d acquires after the trap was removed", n)
	}
}

// TestTrapExpiry: held packets older than HoldLimits.Expiry are dropped
// (trap_expired) even when no more packets arrive.
func TestTrapExpiry(t *testing.T) {
	a := newTrapPeer(t, sadb.HoldLimits{Expiry: 50 * time.Millisecond})
	installTrap(t, a.peer, defaultPair)
	injectN(t, a.peer, 0, 2)
	deadline := time.Now().Add(5 * time.Second)
	for a.dp.Counters().TrapExpired < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := a.dp.Counters().TrapExpired; got != 2 {
		t.Fatalf("trap_expired = %d, want 2", got)
	}
}

// TestShunts: a drop shunt inside a tunnel's range drops its traffic
// (counted shunt_drop) and a pass shunt's traffic never enters the tunnel
// (counted bypass_in_tun when it reaches the TUN anyway), both ahead of
// the PROTECT policy; removing the drop shunt lets its traffic through.
func TestShunts(t *testing.T) {
	a, b := newPeer(t, 8), newPeer(t, 8)
	ca, _ := defaultPair.install(t, a, b)
	if err := a.dp.InstallShunt(Shunt{Name: "test/drop", Action: sadb.Discard,
		LocalTS: mustTS(t, "10.1.0.0/24"), RemoteTS: mustTS(t, "10.2.0.9/32")}); err != nil {
		t.Fatal(err)
	}
	if err := a.dp.InstallShunt(Shunt{Name: "test/pass", Action: sadb.Bypass,
		LocalTS: mustTS(t, "10.1.0.0/24"), RemoteTS: mustTS(t, "10.2.0.8/32")}); err != nil {
		t.Fatal(err)
	}
	send := func(dst string) []byte {
		p := ipv4UDP("10.1.0.5", dst, 1, 2, []byte(dst))
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	send("10.2.0.9")
	send("10.2.0.8")
	send("10.2.0.9")
	want := send("10.2.0.7")
	expectPackets(t, b, [][]byte{want})
	waitCounter(t, "shunt_drop", 2, func() uint64 { return a.dp.Counters().ShuntDrop })
	waitCounter(t, "bypass_in_tun", 1, func() uint64 { return a.dp.Counters().BypassInTUN })
	if got := ca.Stats.PacketsOut.Load(); got != 1 {
		t.Errorf("SA sent %d packets, want 1", got)
	}
	// Inbound too: what the tunnel brings from 10.2.0.9 is dropped.
	if err := b.tun.Inject(ipv4UDP("10.2.0.9", "10.1.0.5", 2, 1, nil)); err != nil {
		t.Fatal(err)
	}
	in := ipv4UDP("10.2.0.7", "10.1.0.5", 2, 1, nil)
	if err := b.tun.Inject(in); err != nil {
		t.Fatal(err)
	}
	expectPackets(t, a, [][]byte{in})
	waitCounter(t, "shunt_drop", 3, func() uint64 { return a.dp.Counters().ShuntDrop })
	if !a.dp.RemoveShunt("test/drop") {
		t.Fatal("RemoveShunt")
	}
	expectPackets(t, b, [][]byte{send("10.2.0.9")})
	// Shunts come before PROTECT policies even when less specific
	// (strongSwan's priority classes): 10.1.0.5/32 === 10.0.0.0/8 (40
	// prefix bits) beats the tunnel's 10.1.0.0/24 === 10.2.0.0/24 (48).
	if err := a.dp.InstallShunt(Shunt{Name: "test/wide", Action: sadb.Discard,
		LocalTS: mustTS(t, "10.1.0.5/32"), RemoteTS: mustTS(t, "10.0.0.0/8")}); err != nil {
		t.Fatal(err)
	}
	send("10.2.0.7")
	waitCounter(t, "shunt_drop", 4, func() uint64 { return a.dp.Counters().ShuntDrop })
	if err := a.dp.InstallShunt(Shunt{Name: "x", Action: sadb.Protect, LocalTS: mustTS(t, "10.1.0.0/24"), RemoteTS: mustTS(t, "10.2.0.8/32")}); err == nil {
		t.Error("InstallShunt took a PROTECT shunt")
	}
}
