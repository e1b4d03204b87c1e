package dataplane

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"syscall"
	"testing"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
)

// TestTunnelBothDirections: packets read from TUN A come out of TUN B
// decrypted and byte-identical, and the other way round.
func TestTunnelBothDirections(t *testing.T) {
	a, b := newPeer(t, 16), newPeer(t, 16)
	ca, cb := defaultPair.install(t, a, b)

	sizes := []int{0, 1, 13, 100, 512, 1000, DefaultMTU - 28}
	var sentAB, sentBA int
	for i, n := range sizes {
		payload := bytes.Repeat([]byte{byte(i)}, n)
		p := ipv4UDP("10.1.0.5", "10.2.0.7", 1000+uint16(i), 53, payload)
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
		sentAB += len(p)
		if got := recv(t, b.fromTUN, "A->B packet"); !bytes.Equal(got, p) {
			t.Fatalf("A->B size %d: got\n% x\nwant\n% x", n, got, p)
		}
		q := ipv4UDP("10.2.0.7", "10.1.0.5", 53, 1000+uint16(i), payload)
		if err := b.tun.Inject(q); err != nil {
			t.Fatal(err)
		}
		sentBA += len(q)
		if got := recv(t, a.fromTUN, "B->A packet"); !bytes.Equal(got, q) {
			t.Fatalf("B->A size %d: got\n% x\nwant\n% x", n, got, q)
		}
	}

	// A burst, so batches hold several packets.
	const burst = 200
	for i := range burst {
		p := ipv4UDP("10.1.0.9", "10.2.0.1", 7, uint16(i), []byte(fmt.Sprint("burst ", i)))
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(map[uint16]bool)
	for range burst {
		got := recv(t, b.fromTUN, "burst packet")
		port := uint16(got[22])<<8 | uint16(got[23])
		if want := fmt.Sprint("burst ", port); string(got[28:]) != want || seen[port] {
			t.Fatalf("burst: got payload %q for port %d (dup %v)", got[28:], port, seen[port])
		}
		seen[port] = true
	}

	n := uint64(len(sizes))
	if got := ca.Stats.PacketsOut.Load(); got != n+burst {
		t.Errorf("A PacketsOut = %d, want %d", got, n+burst)
	}
	if got := cb.Stats.PacketsIn.Load(); got != n+burst {
		t.Errorf("B PacketsIn = %d, want %d", got, n+burst)
	}
	if got := cb.Stats.PacketsOut.Load(); got != n {
		t.Errorf("B PacketsOut = %d, want %d", got, n)
	}
	if got := ca.Stats.BytesIn.Load(); got != uint64(sentBA) {
		t.Errorf("A BytesIn = %d, want %d", got, sentBA)
	}
	if ca.Stats.LastOut.Load() == 0 || cb.Stats.LastIn.Load() == 0 {
		t.Error("LastOut/LastIn not set")
	}
	for _, p := range []*peer{a, b} {
		if c := p.dp.Counters(); c != (Counters{}) {
			t.Errorf("unexpected drops: %v", c.Map())
		}
	}
}

// TestOutboundNoPolicy: a packet no SA's selectors match is dropped and
// counted, never sent (RFC 4301 5.1).
func TestOutboundNoPolicy(t *testing.T) {
	a, b := newPeer(t, 4), newPeer(t, 4)
	defaultPair.install(t, a, b)

	for _, p := range [][]byte{
		ipv4UDP("10.1.0.5", "10.9.0.1", 1, 2, nil), // dst outside RemoteTS
		ipv4UDP("10.7.0.5", "10.2.0.1", 1, 2, nil), // src outside LocalTS
	} {
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	waitCounter(t, "no_policy", 2, func() uint64 { return a.dp.Counters().NoPolicy })
	expectNone(t, b.fromTUN, "no-policy packet")
	if c := b.dp.Counters(); c != (Counters{}) {
		t.Errorf("B saw something: %v", c.Map())
	}
}

// TestOutboundUnsupportedAndMalformed: garbage from the TUN (a truncated
// IPv6 header chain among it) is counted, not sent.
func TestOutboundUnsupportedAndMalformed(t *testing.T) {
	a, b := newPeer(t, 4), newPeer(t, 4)
	defaultPair.install(t, a, b)
	v6 := make([]byte, 40)
	v6[0] = 0x60
	bad := ipv4UDP("10.1.0.5", "10.2.0.1", 1, 2, nil)
	bad[0] = 0x46 // IHL 6 but the checksum/len no longer agree
	bad[3] = 10   // total length shorter than the header
	for _, p := range [][]byte{v6, {0x45}, {0x00, 0x01}, bad} {
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	waitCounter(t, "malformed", 4, func() uint64 { return a.dp.Counters().Malformed })
	expectNone(t, b.fromTUN, "unsupported packet")
}

// TestInboundPolicy: a correctly encrypted packet whose inner addresses are
// outside the receiving SA's selectors is dropped and counted (RFC 4301 5.2).
func TestInboundPolicy(t *testing.T) {
	a, b := newPeer(t, 4), newPeer(t, 4)
	pair := defaultPair
	// A (misconfigured or malicious) sends for more than B agreed to.
	pair.aLocal = []string{"10.1.0.0/16"}
	pair.aRemote = []string{"10.2.0.0/16"}
	_, cb := pair.install(t, a, b)

	if err := a.tun.Inject(ipv4UDP("10.1.5.5", "10.2.0.7", 1, 2, []byte("outside"))); err != nil {
		t.Fatal(err)
	}
	if err := a.tun.Inject(ipv4UDP("10.1.0.5", "10.2.9.7", 1, 2, []byte("outside"))); err != nil {
		t.Fatal(err)
	}
	ok := ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, []byte("inside"))
	if err := a.tun.Inject(ok); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, b.fromTUN, "inside packet"); !bytes.Equal(got, ok) {
		t.Fatalf("got % x, want % x", got, ok)
	}
	waitCounter(t, "policy", 2, func() uint64 { return b.dp.Counters().Policy })
	if got := cb.Stats.DropsPolicy.Load(); got != 2 {
		t.Errorf("SA DropsPolicy = %d, want 2", got)
	}
	expectNone(t, b.fromTUN, "policy-violating packet")
}

// TestInboundGarbage: junk datagrams on 4500 are counted and traffic keeps
// flowing.
func TestInboundGarbage(t *testing.T) {
	a, b := newPeer(t, 4), newPeer(t, 4)
	defaultPair.install(t, a, b)
	c := udpClient(t)
	dst := net.UDPAddrFromAddrPort(b.nattAddr())

	send := func(p []byte) {
		if _, err := c.WriteToUDP(p, dst); err != nil {
			t.Fatal(err)
		}
	}
	send([]byte{0xff})                // NAT-keepalive (RFC 3948 2.3)
	send([]byte{1, 2, 3})             // too short for ESP
	send([]byte{1, 2, 3, 4, 5, 6, 7}) // still too short
	send([]byte{})                    // empty datagram
	unknown := make([]byte, 100)
	unknown[0] = 0xde // SPI 0xde000000: no such SA
	send(unknown)
	forged := make([]byte, 100) // our SPI, garbage ciphertext
	copy(forged, []byte{0xb0, 0, 0, 1, 0, 0, 0, 1})
	send(forged)
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		p := make([]byte, r.IntN(300))
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		if len(p) >= 4 && bytes.Equal(p[:4], []byte{0, 0, 0, 0}) {
			p[0] = 1
		}
		send(p)
	}

	waitCounter(t, "keepalive", 1, func() uint64 { return b.dp.Counters().Keepalive })
	waitCounter(t, "auth", 1, func() uint64 { return b.dp.Counters().Auth })
	cnt := b.dp.Counters()
	if cnt.Malformed < 3 {
		t.Errorf("malformed = %d, want >= 3", cnt.Malformed)
	}
	if cnt.NoSA < 1 {
		t.Errorf("no_sa = %d, want >= 1", cnt.NoSA)
	}

	p := ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, []byte("still works"))
	if err := a.tun.Inject(p); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, b.fromTUN, "packet after garbage"); !bytes.Equal(got, p) {
		t.Fatalf("got % x, want % x", got, p)
	}
	select {
	case m := <-b.ike:
		t.Fatalf("garbage reached HandleIKE: %+v", m)
	default:
	}
}

// TestReplayAndTamper: an ESP packet captured on the wire is delivered once;
// its replay and a tampered copy are dropped and counted (RFC 4303 3.4.3,
// 3.4.4).
func TestReplayAndTamper(t *testing.T) {
	a, b := newPeer(t, 4), newPeer(t, 4)
	wire := udpClient(t)
	wireAddr := netip.AddrPortFrom(loopback, uint16(wire.LocalAddr().(*net.UDPAddr).Port))
	pair := defaultPair
	pair.bRemoteOverride = &wireAddr // A sends to the capture socket
	_, cb := pair.install(t, a, b)

	p := ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, []byte("once"))
	if err := a.tun.Inject(p); err != nil {
		t.Fatal(err)
	}
	espPkt, from := readUDP(t, wire)
	if from != a.nattAddr() {
		t.Errorf("ESP sent from %s, want %s", from, a.nattAddr())
	}
	if len(espPkt) < esp.HeaderLen || espPkt[0] != 0xb0 {
		t.Fatalf("captured % x: not ESP for SPI b0000001", espPkt)
	}
	dst := net.UDPAddrFromAddrPort(b.nattAddr())
	tampered := bytes.Clone(espPkt)
	tampered[len(tampered)-1] ^= 1
	for _, q := range [][]byte{tampered, espPkt, espPkt} {
		if _, err := wire.WriteToUDP(q, dst); err != nil {
			t.Fatal(err)
		}
	}
	if got := recv(t, b.fromTUN, "captured packet"); !bytes.Equal(got, p) {
		t.Fatalf("got % x, want % x", got, p)
	}
	waitCounter(t, "replay", 1, func() uint64 { return b.dp.Counters().Replay })
	waitCounter(t, "auth", 1, func() uint64 { return b.dp.Counters().Auth })
	if cb.Stats.DropsReplay.Load() != 1 || cb.Stats.DropsAuth.Load() != 1 {
		t.Errorf("SA stats: replay %d auth %d, want 1 1", cb.Stats.DropsReplay.Load(), cb.Stats.DropsAuth.Load())
	}
	expectNone(t, b.fromTUN, "replayed packet")
}

// TestRemoveChild: after RemoveChild the SA is gone from both directions.
func TestRemoveChild(t *testing.T) {
	a, b := newPeer(t, 4), newPeer(t, 4)
	defaultPair.install(t, a, b)
	b.dp.RemoveChild(defaultPair.spiB)
	b.dp.RemoveChild(defaultPair.spiB) // idempotent
	if err := a.tun.Inject(ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, nil)); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, "no_sa", 1, func() uint64 { return b.dp.Counters().NoSA })
	if err := b.tun.Inject(ipv4UDP("10.2.0.7", "10.1.0.5", 1, 2, nil)); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, "no_policy", 1, func() uint64 { return b.dp.Counters().NoPolicy })
}

// TestIKEReceive: IKE on port 500 arrives as is; on 4500 the non-ESP marker
// is stripped (RFC 3948 2.2); local and remote addresses are reported.
func TestIKEReceive(t *testing.T) {
	p := newPeer(t, 4)
	c := udpClient(t)
	from := netip.AddrPortFrom(loopback, uint16(c.LocalAddr().(*net.UDPAddr).Port))
	msg := []byte("IKE_SA_INIT request, pretend it is 28+ bytes long")

	if _, err := c.WriteToUDPAddrPort(msg, p.ikeAddr()); err != nil {
		t.Fatal(err)
	}
	got := <-p.ike
	if !bytes.Equal(got.pkt, msg) || got.remote != from || got.local != p.ikeAddr() {
		t.Fatalf("port 500: got %+v, want pkt %q from %s to %s", got, msg, from, p.ikeAddr())
	}

	if _, err := c.WriteToUDPAddrPort(append([]byte{0, 0, 0, 0}, msg...), p.nattAddr()); err != nil {
		t.Fatal(err)
	}
	got = <-p.ike
	if !bytes.Equal(got.pkt, msg) || got.remote != from || got.local != p.nattAddr() {
		t.Fatalf("port 4500: got %+v, want pkt %q from %s to %s", got, msg, from, p.nattAddr())
	}
}

// TestIKEReceiveLocalAddrFromPktinfo: with a wildcard listener the local
// address comes from IP_PKTINFO.
func TestIKEReceiveLocalAddrFromPktinfo(t *testing.T) {
	got := make(chan ikeMsg, 1)
	dp, err := New(Config{
		ListenAddr: netip.IPv4Unspecified(),
		DB:         new(sadb.DB),
		NoTUN:      true,
		HandleIKE:  func(l, r netip.AddrPort, pkt []byte) { got <- ikeMsg{l, r, pkt} },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	dp.Start()
	ikePort, _ := dp.LocalPorts()
	c := udpClient(t)
	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), ikePort)
	if _, err := c.WriteToUDPAddrPort([]byte("hello"), dst); err != nil {
		t.Fatal(err)
	}
	m := <-got
	if m.local != dst {
		t.Fatalf("local = %s, want %s", m.local, dst)
	}
	// The answer goes out from that address.
	if err := dp.SendIKE(m.local, m.remote, []byte("answer")); err != nil {
		t.Fatal(err)
	}
	b, from := readUDP(t, c)
	if string(b) != "answer" || from != dst {
		t.Fatalf("got %q from %s, want %q from %s", b, from, "answer", dst)
	}
}

// TestSendIKE: from the NAT-T port the non-ESP marker is prepended; from the
// IKE port the message goes as is; other ports are an error.
func TestSendIKE(t *testing.T) {
	p := newPeer(t, 4)
	c := udpClient(t)
	to := netip.AddrPortFrom(loopback, uint16(c.LocalAddr().(*net.UDPAddr).Port))
	msg := []byte("IKE_AUTH response")

	if err := p.dp.SendIKE(p.ikeAddr(), to, msg); err != nil {
		t.Fatal(err)
	}
	got, from := readUDP(t, c)
	if !bytes.Equal(got, msg) || from != p.ikeAddr() {
		t.Fatalf("IKE port: got % x from %s", got, from)
	}
	if err := p.dp.SendIKE(p.nattAddr(), to, msg); err != nil {
		t.Fatal(err)
	}
	got, from = readUDP(t, c)
	if want := append([]byte{0, 0, 0, 0}, msg...); !bytes.Equal(got, want) || from != p.nattAddr() {
		t.Fatalf("NAT-T port: got % x from %s, want % x", got, from, want)
	}
	bogus := netip.AddrPortFrom(loopback, 1)
	if err := p.dp.SendIKE(bogus, to, msg); err == nil {
		t.Fatal("SendIKE from a port we do not listen on succeeded")
	}
	if err := p.dp.SendIKE(p.ikeAddr(), netip.MustParseAddrPort("[2001:db8::1]:500"), msg); err == nil {
		t.Fatal("SendIKE to IPv6 succeeded")
	}
}

func TestListenErrors(t *testing.T) {
	c := udpClient(t)
	port := c.LocalAddr().(*net.UDPAddr).Port
	_, err := New(Config{ListenAddr: loopback, IKEPort: port, DB: new(sadb.DB), NoTUN: true})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("err = %v, want EADDRINUSE", err)
	}
	want := fmt.Sprintf("listen udp 127.0.0.1:%d: address already in use (is another IKE daemon running?)", port)
	if err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
	if _, err := New(Config{NoTUN: true}); err == nil {
		t.Fatal("New without DB succeeded")
	}
}

func TestCloseIdempotentWithoutStart(t *testing.T) {
	dp, err := New(Config{ListenAddr: loopback, DB: new(sadb.DB), NoTUN: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	dp.Start() // after Close: nothing happens
	if err := dp.InstallChild(nil); err == nil {
		t.Fatal("InstallChild(nil) succeeded")
	}
}

// TestInstallChildRejectsUnsupported: SAs this slice cannot carry fail at
// install time instead of silently dropping their traffic.
func TestInstallChildRejectsUnsupported(t *testing.T) {
	p := newPeer(t, 4)
	mk := func() *sadb.ChildSA {
		return &sadb.ChildSA{
			Name: "x", In: esp.NewInbound(1, newAEAD(t, 1), 0), Out: esp.NewOutbound(2, newAEAD(t, 2)),
			Remote: netip.MustParseAddrPort("192.0.2.2:4500"), Encap: true,
			LocalTS: mustTS(t, "10.1.0.0/24"), RemoteTS: mustTS(t, "10.2.0.0/24"),
		}
	}
	noPort := mk() // ESP in UDP needs the peer's port (raw ESP does not)
	noPort.Remote = netip.MustParseAddrPort("192.0.2.2:0")
	v6 := mk()
	v6.Remote = netip.MustParseAddrPort("[2001:db8::2]:4500")
	for _, c := range []*sadb.ChildSA{noPort, v6} {
		if err := p.dp.InstallChild(c); err == nil {
			t.Errorf("InstallChild(%+v) succeeded", c.Remote)
		}
	}
	if p.db.Len() != 0 {
		t.Fatal("rejected SA in the DB")
	}
	if err := p.dp.InstallChild(mk()); err != nil {
		t.Fatal(err)
	}
}

// TestCountersMapComplete: every counter has a status name.
func TestCountersMapComplete(t *testing.T) {
	var c Counters
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		v.Field(i).SetUint(uint64(i + 1))
	}
	m := c.Map()
	if len(m) != v.NumField() {
		t.Fatalf("Map has %d entries, Counters has %d fields", len(m), v.NumField())
	}
	seen := make(map[uint64]bool)
	for _, x := range m {
		seen[x] = true
	}
	if len(seen) != v.NumField() {
		t.Fatalf("Map does not map each field once: %v", m)
	}
	if snap := c.snapshot(); snap != c {
		t.Fatalf("snapshot = %+v, want %+v", snap, c)
	}
}

// TestHardVolumeLimit: an SA past its hard packet lifetime (RFC 4301
// 4.4.2.1) protects and accepts nothing more, whether or not the engine
// has deleted it yet; the drops are counted as expired.
func TestHardVolumeLimit(t *testing.T) {
	a, b := newPeer(t, 4), newPeer(t, 4)
	sp := defaultPair
	sp.aLimits = sadb.Limits{HardPackets: 5} // A sends 5 packets
	sp.bLimits = sadb.Limits{HardPackets: 3} // B accepts 3 of them
	ca, cb := sp.install(t, a, b)
	for i := range 8 {
		if err := a.tun.Inject(ipv4UDP("10.1.0.5", "10.2.0.7", 1000, uint16(i), []byte("x"))); err != nil {
			t.Fatal(err)
		}
		switch {
		case i < 3:
			recv(t, b.fromTUN, fmt.Sprint("packet ", i))
		case i < 5:
			waitCounter(t, "B expired", uint64(i-2), func() uint64 { return b.dp.Counters().Expired })
		default:
			waitCounter(t, "A expired", uint64(i-4), func() uint64 { return a.dp.Counters().Expired })
		}
	}
	expectNone(t, b.fromTUN, "packet past the hard limit")
	if !ca.Expired() || !cb.Expired() || ca.Stats.PacketsOut.Load() != 5 || cb.Stats.PacketsIn.Load() != 3 {
		t.Errorf("A out %d expired %v, B in %d expired %v", ca.Stats.PacketsOut.Load(), ca.Expired(), cb.Stats.PacketsIn.Load(), cb.Expired())
	}
}
