package dataplane

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// destOpts is a Destination Options header (RFC 8200 4.6) of 8 octets
// with one PadN option; a receiver skips it.
var destOpts = []byte{0, 0, 1, 4, 0, 0, 0, 0}

// routing is a Routing header (RFC 8200 4.4) of type 4 (segment routing)
// with no segments left and one address.
func routing() []byte {
	h := make([]byte, 24)
	h[1], h[2] = 2, 4
	return h
}

// installTransport6 installs a host-to-host transport pair between two
// data planes on ::1 (so the address checks hold on loopback).
func installTransport6(t *testing.T, a, b *peer) {
	t.Helper()
	ca := transportSA(t, 0xa6, 0xb6, 0x80, 0x10, a.nattAddr(), b.nattAddr(), "", "")
	cb := transportSA(t, 0xb6, 0xa6, 0x10, 0x80, b.nattAddr(), a.nattAddr(), "", "")
	if err := a.dp.InstallChild(ca); err != nil {
		t.Fatal(err)
	}
	if err := b.dp.InstallChild(cb); err != nil {
		t.Fatal(err)
	}
}

// icmp6Echo is an ICMPv6 echo request (RFC 4443 4.1) from src to dst with
// its checksum over the pseudo-header (RFC 4443 2.3).
func icmp6Echo(src, dst string, id uint16, data []byte) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	m := make([]byte, 8+len(data))
	m[0] = 128
	binary.BigEndian.PutUint16(m[4:], id)
	copy(m[8:], data)
	binary.BigEndian.PutUint16(m[2:], packet.Checksum(m, packet.PseudoHeaderSum(packet.ProtoICMPv6, s, d, uint32(len(m)))))
	b := make([]byte, 40+len(m))
	packet.EncodeIPv6(b, packet.IPv6Fields{PayloadLen: uint16(len(m)), NextHeader: packet.ProtoICMPv6, HopLimit: 64, Src: s, Dst: d})
	copy(b[40:], m)
	return b
}

// TestTransportIPv6BothDirections: transport mode over IPv6 (RFC 4303
// 3.1.1): UDP, ICMPv6 and UDP behind a Destination Options header for the
// final destination cross both ways between two data planes and arrive
// as sent (the sender's hop limit was 64, the one a decapsulated packet
// gets); the SA counts whole packets, the fixed header included.
func TestTransportIPv6BothDirections(t *testing.T) {
	a, b := newPeer6(t, 16), newPeer6(t, 16)
	installTransport6(t, a, b)
	pkts := [][]byte{
		ipv6UDP("::1", "::1", 1000, 53, []byte("transport over IPv6"), nil),
		ipv6UDP("::1", "::1", 1001, 53, bytes.Repeat([]byte{7}, DefaultMTU-ipv6OuterExtra-48-100), nil),
		ipv6UDP("::1", "::1", 1002, 53, []byte("with destination options"), []uint8{packet.ProtoDestOpts}, destOpts),
		icmp6Echo("::1", "::1", 9, []byte("ping6")),
	}
	for _, p := range pkts {
		for _, dir := range []struct {
			from, to *peer
			name     string
		}{{a, b, "A->B"}, {b, a, "B->A"}} {
			if err := dir.from.tun.Inject(p); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, dir.to.fromTUN, dir.name); !bytes.Equal(got, p) {
				t.Fatalf("%s: got\n% x\nwant\n% x", dir.name, got, p)
			}
		}
	}
	for _, p := range []*peer{a, b} {
		if c := p.dp.Counters(); c != (Counters{}) {
			t.Errorf("unexpected drops: %v", c.Map())
		}
	}
}

// TestTransportIPv6WireFormat: on the wire the ESP payload is what
// follows the fixed IPv6 header, a final-destination Destination Options
// header included and encrypted, with its type (60) as the ESP next
// header (RFC 4303 3.1.1, 2.6).
func TestTransportIPv6WireFormat(t *testing.T) {
	a := newPeer6(t, 16)
	sink, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	to := netip.MustParseAddrPort(sink.LocalAddr().String())
	ca := transportSA(t, 0xa6, 0xb6, 0x80, 0x10, a.nattAddr(), to, "", "")
	if err := a.dp.InstallChild(ca); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{
		ipv6UDP("::1", "::1", 4000, 53, []byte("plain"), nil),
		ipv6UDP("::1", "::1", 4000, 53, []byte("options"), []uint8{packet.ProtoDestOpts}, destOpts),
	} {
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
		dgram, _ := readUDP(t, sink)
		in := esp.NewInbound(0xb6, newAEAD(t, 0x10), 128)
		payload, nh, err := in.Open(dgram)
		if err != nil {
			t.Fatal(err)
		}
		if nh != p[6] || !bytes.Equal(payload, p[40:]) {
			t.Fatalf("ESP payload next header %d\n% x\nwant %d\n% x", nh, payload, p[6], p[40:])
		}
	}
}

// TestTransportIPv6OutboundRefused: the extension headers that go before
// ESP (Hop-by-Hop, Destination Options before a Routing header, Routing,
// Fragment; RFC 4303 3.1.1) would belong in the outer header the kernel
// writes for the UDP socket; such packets are counted unsupported, not
// sent with the headers moved behind ESP.
func TestTransportIPv6OutboundRefused(t *testing.T) {
	a, b := newPeer6(t, 16), newPeer6(t, 16)
	installTransport6(t, a, b)
	refused := [][]byte{
		ipv6UDP("::1", "::1", 1, 2, []byte("hbh"), []uint8{packet.ProtoHopByHop}, hopByHop),
		ipv6UDP("::1", "::1", 1, 2, []byte("rh"), []uint8{packet.ProtoRouting}, routing()),
		ipv6UDP("::1", "::1", 1, 2, []byte("do+rh"), []uint8{packet.ProtoDestOpts, packet.ProtoRouting}, destOpts, routing()),
		ipv6UDP("::1", "::1", 1, 2, []byte("frag"), []uint8{packet.ProtoFragment}, fragment(0, true)),
	}
	for _, p := range refused {
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	waitCounter(t, "unsupported", uint64(len(refused)), func() uint64 { return a.dp.Counters().Unsupported })
	expectNone(t, b.fromTUN, "refused packet")
}

// TestTransportIPv6InboundHeaders: in a decrypted transport payload only
// Destination Options may come before the upper-layer header (RFC 4303
// 3.1.1); ESP that authenticates but carries a Routing, Hop-by-Hop or
// Fragment header there is dropped as malformed, never written to the
// TUN, and a selector on the upper-layer protocol sees past the
// Destination Options.
func TestTransportIPv6InboundHeaders(t *testing.T) {
	b := newPeer6(t, 16)
	sender, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	from := netip.MustParseAddrPort(sender.LocalAddr().String())
	cb := transportSA(t, 0xb6, 0xa6, 0x10, 0x80, b.nattAddr(), from, "::1/128[udp]", "::1/128[udp]")
	if err := b.dp.InstallChild(cb); err != nil {
		t.Fatal(err)
	}
	out := esp.NewOutbound(0xb6, newAEAD(t, 0x10))
	send := func(nh uint8, payload []byte) {
		t.Helper()
		buf := make([]byte, 2048)
		off := out.PayloadOffset()
		copy(buf[off:], payload)
		pkt, err := out.Seal(buf, len(payload), nh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sender.WriteToUDPAddrPort(pkt, b.nattAddr()); err != nil {
			t.Fatal(err)
		}
	}
	udp := ipv6UDP("::1", "::1", 5, 6, []byte("x"), nil)[40:]
	withHeader := func(h []byte) []byte {
		h = append([]byte(nil), h...)
		h[0] = packet.ProtoUDP
		return append(h, udp...)
	}
	send(packet.ProtoRouting, withHeader(routing()))
	send(packet.ProtoHopByHop, withHeader(hopByHop))
	send(packet.ProtoFragment, withHeader(fragment(0, false)))
	send(packet.ProtoDestOpts, []byte{packet.ProtoUDP, 9}) // runs past the payload
	waitCounter(t, "malformed", 4, func() uint64 { return b.dp.Counters().Malformed })
	expectNone(t, b.fromTUN, "dropped packet")

	// TCP behind Destination Options: the selectors allow UDP only.
	tcp := withHeader(destOpts)
	tcp[0] = packet.ProtoTCP
	send(packet.ProtoDestOpts, append(tcp, make([]byte, 12)...))
	waitCounter(t, "policy", 1, func() uint64 { return b.dp.Counters().Policy })

	send(packet.ProtoDestOpts, withHeader(destOpts))
	got := recv(t, b.fromTUN, "good packet")
	want := ipv6UDP("::1", "::1", 5, 6, []byte("x"), []uint8{packet.ProtoDestOpts}, destOpts)
	if !bytes.Equal(got, want) {
		t.Fatalf("delivered\n% x\nwant\n% x", got, want)
	}
}

// TestFixTransportChecksumIPv6: RFC 3948 3.1.2 step 3 over IPv6, where
// TCP, UDP and ICMPv6 all have the pseudo-header (RFC 8200 8.1, RFC 4443
// 2.3); ICMP over IPv4 has none and stays.
func TestFixTransportChecksumIPv6(t *testing.T) {
	origSrc, origDst := netip.MustParseAddr("fd00::5"), netip.MustParseAddr("2001:db8::9")
	src, dst := netip.MustParseAddr("2001:db8:1::7"), netip.MustParseAddr("2001:db8::9")
	for _, c := range []struct {
		proto uint8
		off   int
	}{{packet.ProtoUDP, 6}, {packet.ProtoTCP, 16}, {packet.ProtoICMPv6, 2}} {
		seg := make([]byte, 60)
		for i := range seg {
			seg[i] = byte(i*13 + 1)
		}
		binary.BigEndian.PutUint16(seg[c.off:], 0)
		binary.BigEndian.PutUint16(seg[c.off:], packet.Checksum(seg, packet.PseudoHeaderSum(c.proto, origSrc, origDst, uint32(len(seg)))))
		fixTransportChecksum(seg, c.proto, origSrc, origDst, src, dst)
		if packet.Checksum(seg, packet.PseudoHeaderSum(c.proto, src, dst, uint32(len(seg)))) != 0 {
			t.Errorf("proto %d: checksum not valid for the delivered addresses", c.proto)
		}
	}
	icmp := []byte{8, 0, 0x12, 0x34, 0, 0, 0, 0}
	fixTransportChecksum(icmp, packet.ProtoICMP, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("10.0.0.2"))
	if icmp[2] != 0x12 || icmp[3] != 0x34 {
		t.Error("an ICMP checksum was changed")
	}
}

// TestTransportNATChecksum: a transport SA whose peer is behind a NAT
// (NATOrigRemote, the peer's own address from its selectors) delivers
// TCP and UDP with checksums valid for the addresses written to the TUN,
// although the sender computed them over its private address (RFC 3948
// 3.1.2). Here A's packets carry checksums over 10.0.0.5, as a host at
// 10.0.0.5 behind a NAT that rewrote the source to 127.0.0.1 would send.
func TestTransportNATChecksum(t *testing.T) {
	a, b := newHost(t, hostA), newHost(t, hostB)
	ca := transportSA(t, 0xa1, 0xb1, 0x80, 0x10, a.natt(hostA), b.natt(hostB), "", "")
	cb := transportSA(t, 0xb1, 0xa1, 0x10, 0x80, b.natt(hostB), a.natt(hostA), "", "")
	private := netip.MustParseAddr("10.0.0.5")
	cb.NATOrigRemote = private
	if err := a.dp.InstallChild(ca); err != nil {
		t.Fatal(err)
	}
	if err := b.dp.InstallChild(cb); err != nil {
		t.Fatal(err)
	}
	for _, proto := range []uint8{packet.ProtoUDP, packet.ProtoTCP} {
		p := ipv4UDP("127.0.0.1", "127.0.0.2", 1, 2, make([]byte, 40))
		p[9] = proto
		binary.BigEndian.PutUint16(p[10:], 0)
		binary.BigEndian.PutUint16(p[10:], ipChecksum(p[:20]))
		off := 20 + 6
		if proto == packet.ProtoTCP {
			off = 20 + 16
		}
		l4 := p[20:]
		binary.BigEndian.PutUint16(p[off:], 0)
		binary.BigEndian.PutUint16(p[off:], packet.Checksum(l4, packet.PseudoHeaderSum(proto, private, hostB, uint32(len(l4)))))
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
		got := recv(t, b.fromTUN, "A->B")
		ip, err := packet.ParseIPv4(got)
		if err != nil {
			t.Fatal(err)
		}
		if packet.Checksum(ip.Payload(), packet.PseudoHeaderSum(proto, ip.Src(), ip.Dst(), uint32(len(ip.Payload())))) != 0 {
			t.Errorf("proto %d: delivered checksum is not valid for %s -> %s", proto, ip.Src(), ip.Dst())
		}
	}
}

// TestTransportNATChecksumIPv6: TestTransportNATChecksum over IPv6 (a
// NAT66 in the path), for UDP, TCP and ICMPv6, whose checksum also
// covers the addresses (RFC 4443 2.3). The sender's checksums are over
// fd00::5, the private address NATOrigRemote names, and arrive valid for
// ::1 -> ::1.
func TestTransportNATChecksumIPv6(t *testing.T) {
	a, b := newPeer6(t, 16), newPeer6(t, 16)
	ca := transportSA(t, 0xa6, 0xb6, 0x80, 0x10, a.nattAddr(), b.nattAddr(), "", "")
	cb := transportSA(t, 0xb6, 0xa6, 0x10, 0x80, b.nattAddr(), a.nattAddr(), "", "")
	private := netip.MustParseAddr("fd00::5")
	cb.NATOrigRemote = private
	if err := a.dp.InstallChild(ca); err != nil {
		t.Fatal(err)
	}
	if err := b.dp.InstallChild(cb); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		proto uint8
		off   int
	}{{packet.ProtoUDP, 6}, {packet.ProtoTCP, 16}, {packet.ProtoICMPv6, 2}} {
		p := ipv6UDP("::1", "::1", 1, 2, make([]byte, 40), nil)
		p[6] = c.proto
		l4 := p[40:]
		binary.BigEndian.PutUint16(l4[c.off:], 0)
		binary.BigEndian.PutUint16(l4[c.off:], packet.Checksum(l4, packet.PseudoHeaderSum(c.proto, private, loopback6, uint32(len(l4)))))
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
		got := recv(t, b.fromTUN, "A->B")
		if packet.Checksum(got[40:], packet.PseudoHeaderSum(c.proto, loopback6, loopback6, uint32(len(got)-40))) != 0 {
			t.Errorf("proto %d: delivered checksum is not valid for ::1 -> ::1", c.proto)
		}
	}
}
