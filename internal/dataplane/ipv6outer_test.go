package dataplane

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
)

var loopback6 = netip.IPv6Loopback()

// newPeer6 is a peer whose sockets listen on ::1 only.
func newPeer6(t *testing.T, batch int) *peer {
	t.Helper()
	return newPeerWith(t, batch, func(c *Config) { c.ListenAddr = loopback6 })
}

// TestTunnelIPv6Outer: ESP in UDP over IPv6 (4-in-6 and 6-in-6): packets
// of both families cross one SA between data planes listening on ::1.
func TestTunnelIPv6Outer(t *testing.T) {
	a, b := newPeer6(t, 16), newPeer6(t, 16)
	if !a.nattAddr().Addr().Is6() || !a.dp.natt.v6 {
		t.Fatalf("NAT-T socket at %s, want IPv6", a.nattAddr())
	}
	ca, cb := mixedPair.install(t, a, b)
	pkts := [][]byte{
		ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, []byte("4-in-6")),
		ipv6UDP("fd01::5", "fd02::7", 1, 2, []byte("6-in-6"), nil),
		ipv6UDP("fd01::5", "fd02::7", 1, 2, make([]byte, DefaultMTU-ipv6OuterExtra-48), nil),
	}
	for _, p := range pkts {
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, b.fromTUN, "A->B"); !bytes.Equal(got, p) {
			t.Fatalf("A->B: got % x, want % x", got, p)
		}
		q := append([]byte(nil), p...)
		swapAddrs(q)
		if err := b.tun.Inject(q); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, a.fromTUN, "B->A"); !bytes.Equal(got, q) {
			t.Fatalf("B->A: got % x, want % x", got, q)
		}
	}
	// A burst of equal-size packets: UDP GSO and GRO over IPv6 where the
	// kernel has them.
	const burst = 200
	for i := range burst {
		p := ipv6UDP("fd01::9", "fd02::1", 7, uint16(i), []byte(fmt.Sprintf("burst %04d", i)), nil)
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	for range burst {
		recv(t, b.fromTUN, "burst packet")
	}
	if a.dp.natt.gso.Load() {
		t.Logf("GSO messages %d (%d segments), GRO datagrams at B %d",
			a.dp.stats.gsoMessages.Load(), a.dp.stats.gsoSegments.Load(), b.dp.stats.groDatagrams.Load())
	}
	if got, want := ca.Stats.PacketsOut.Load(), uint64(len(pkts)+burst); got != want {
		t.Errorf("A PacketsOut = %d, want %d", got, want)
	}
	if got, want := cb.Stats.PacketsOut.Load(), uint64(len(pkts)); got != want {
		t.Errorf("B PacketsOut = %d, want %d", got, want)
	}
	for _, p := range []*peer{a, b} {
		if c := p.dp.Counters(); c != (Counters{}) {
			t.Errorf("unexpected drops: %v", c.Map())
		}
	}
}

// swapAddrs swaps the source and destination of an IPv4 or IPv6 packet
// (UDP ports and checksums stay: the receiver does not check them).
func swapAddrs(p []byte) {
	off, n := 12, 4
	if p[0]>>4 == 6 {
		off, n = 8, 16
	}
	for i := range n {
		p[off+i], p[off+n+i] = p[off+n+i], p[off+i]
	}
}

// TestDualStack: with ListenAddr unset the data plane listens on both
// families (the IPv6 sockets IPv6 only, on the same ports); one batch with
// SAs to an IPv4 and an IPv6 peer leaves on both sockets, each from the
// SA's local address (IP_PKTINFO, IPV6_PKTINFO), and IKE answers leave
// from the address the request came to.
func TestDualStack(t *testing.T) {
	both := func(c *Config) { c.ListenAddr = netip.Addr{} }
	a := newPeerWith(t, 16, both)
	b4 := newPeer(t, 16)
	b6 := newPeer6(t, 16)
	if a.dp.natt6 == nil || a.dp.ike6 == nil {
		t.Skip("no IPv6 on this host")
	}
	ike, natt := a.dp.LocalPorts()
	if a.dp.ike6.port != ike || a.dp.natt6.port != natt || !a.dp.natt6.v6 || a.dp.natt.v6 {
		t.Fatalf("ports: IPv4 %d/%d, IPv6 %d/%d", ike, natt, a.dp.ike6.port, a.dp.natt6.port)
	}
	mk := func(name string, in, out uint32, local, remote netip.AddrPort, lts, rts string) *sadb.ChildSA {
		return &sadb.ChildSA{
			Name: name, ReqID: 1,
			In:    esp.NewInbound(in, newAEAD(t, byte(in)), 128),
			Out:   esp.NewOutbound(out, newAEAD(t, byte(out))),
			Local: local, Remote: remote, Encap: true,
			LocalTS: mustTS(t, lts), RemoteTS: mustTS(t, rts),
		}
	}
	a4 := netip.AddrPortFrom(loopback, natt)
	a6 := netip.AddrPortFrom(loopback6, natt)
	for _, c := range []struct {
		p  *peer
		sa *sadb.ChildSA
	}{
		{a, mk("a-4", 0x11, 0x21, a4, b4.nattAddr(), "10.1.0.0/24", "10.2.0.0/24")},
		{b4, mk("b-4", 0x21, 0x11, b4.nattAddr(), a4, "10.2.0.0/24", "10.1.0.0/24")},
		{a, mk("a-6", 0x12, 0x22, a6, b6.nattAddr(), "fd01::/64", "fd02::/64")},
		{b6, mk("b-6", 0x22, 0x12, b6.nattAddr(), a6, "fd02::/64", "fd01::/64")},
	} {
		if err := c.p.dp.InstallChild(c.sa); err != nil {
			t.Fatal(err)
		}
	}
	// One burst mixing both peers, so batches hold runs of both families.
	var want4, want6 int
	for i := range 64 {
		var p []byte
		if i%3 == 0 {
			p = ipv4UDP("10.1.0.5", "10.2.0.7", 1, uint16(i), []byte("to b4"))
			want4++
		} else {
			p = ipv6UDP("fd01::5", "fd02::7", 1, uint16(i), []byte("to b6"), nil)
			want6++
		}
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	for range want4 {
		if got := recv(t, b4.fromTUN, "IPv4 peer"); got[0]>>4 != 4 {
			t.Fatalf("IPv4 peer got % x", got)
		}
	}
	for range want6 {
		if got := recv(t, b6.fromTUN, "IPv6 peer"); got[0]>>4 != 6 {
			t.Fatalf("IPv6 peer got % x", got)
		}
	}
	// And back, so both of a's NAT-T readers deliver to its TUN.
	if err := b6.tun.Inject(ipv6UDP("fd02::7", "fd01::5", 2, 1, []byte("from b6"), nil)); err != nil {
		t.Fatal(err)
	}
	if err := b4.tun.Inject(ipv4UDP("10.2.0.7", "10.1.0.5", 2, 1, []byte("from b4"))); err != nil {
		t.Fatal(err)
	}
	recv(t, a.fromTUN, "reply")
	recv(t, a.fromTUN, "reply")

	// IKE over IPv6: the local address comes from IPV6_PKTINFO and the
	// answer leaves from it, on the IKE and on the NAT-T port.
	c := udpClientOn(t, loopback6)
	for _, port := range []uint16{ike, natt} {
		dst := netip.AddrPortFrom(loopback6, port)
		msg := []byte("IKE over IPv6")
		if port == natt {
			msg = append([]byte{0, 0, 0, 0}, msg...)
		}
		if _, err := c.WriteToUDPAddrPort(msg, dst); err != nil {
			t.Fatal(err)
		}
		m := recvIKE(t, a)
		if m.local != dst || string(m.pkt) != "IKE over IPv6" || !m.remote.Addr().Is6() {
			t.Fatalf("port %d: got %+v, want local %s", port, m, dst)
		}
		if err := a.dp.SendIKE(m.local, m.remote, []byte("answer")); err != nil {
			t.Fatal(err)
		}
		got, from := readUDP(t, c)
		if !bytes.HasSuffix(got, []byte("answer")) || from != dst {
			t.Fatalf("answer %q from %s, want from %s", got, from, dst)
		}
	}
	// NAT-keepalives (RFC 3948 2.3) leave from the IPv6 NAT-T socket.
	if err := a.dp.SendKeepalive(a6, netip.AddrPortFrom(loopback6, uint16(c.LocalAddr().(*net.UDPAddr).Port))); err != nil {
		t.Fatal(err)
	}
	if got, from := readUDP(t, c); !bytes.Equal(got, []byte{0xff}) || from != a6 {
		t.Fatalf("keepalive % x from %s, want ff from %s", got, from, a6)
	}
	for _, p := range []*peer{a, b4, b6} {
		if c := p.dp.Counters(); c != (Counters{KeepaliveSent: map[bool]uint64{true: 1}[p == a]}) {
			t.Errorf("unexpected drops: %v", c.Map())
		}
	}
}

func recvIKE(t *testing.T, p *peer) ikeMsg {
	t.Helper()
	select {
	case m := <-p.ike:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no IKE message")
	}
	return ikeMsg{}
}

// TestInstallChildNeedsFamily: an SA to a peer of a family the data plane
// does not listen on is refused at install time.
func TestInstallChildNeedsFamily(t *testing.T) {
	p := newPeer6(t, 4)
	c := child(t, 1, []string{"10.1.0.0/24"}, "10.2.0.0/24") // remote 192.0.2.2
	if err := p.dp.InstallChild(c); err == nil {
		t.Fatal("IPv4 SA installed on an IPv6-only data plane")
	}
	if err := p.dp.SendIKE(p.ikeAddr(), netip.MustParseAddrPort("192.0.2.2:500"), []byte("x")); err == nil {
		t.Fatal("SendIKE to IPv4 from an IPv6-only data plane succeeded")
	}
}

// TestRoutesIPv6OuterMTU: routes for an SA whose peer is reached over
// IPv6 leave room for the 20 octets more of outer header.
func TestRoutesIPv6OuterMTU(t *testing.T) {
	dp, fake := newRoutedDataplaneOn(t, netip.Addr{})
	if dp.natt6 == nil {
		t.Skip("no IPv6 on this host")
	}
	c := child(t, 1, []string{"10.1.0.0/24"}, "10.2.0.0/24", "fd02::/64")
	c.Remote = netip.MustParseAddrPort("[2001:db8::2]:4500")
	if err := dp.InstallChild(c); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"10.2.0.0/24", "fd02::/64"} {
		if got := fake.mtus[netip.MustParsePrefix(p)]; got != DefaultMTU-20 {
			t.Errorf("route %s MTU %d, want %d", p, got, DefaultMTU-20)
		}
	}
	if err := dp.InstallChild(child(t, 3, []string{"10.1.0.0/24"}, "10.3.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if got := fake.mtus[netip.MustParsePrefix("10.3.0.0/24")]; got != 0 {
		t.Errorf("IPv4-outer route MTU %d, want 0 (the TUN's)", got)
	}
}
