package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// Two data planes on different loopback addresses, so that transport
// mode's checks of the peers' addresses mean something.
var (
	hostA = netip.MustParseAddr("127.0.0.1")
	hostB = netip.MustParseAddr("127.0.0.2")
	hostC = netip.MustParseAddr("127.0.0.3")
)

func newHost(t *testing.T, addr netip.Addr) *peer {
	return newPeerWith(t, 16, func(c *Config) { c.ListenAddr = addr })
}

func (p *peer) natt(addr netip.Addr) netip.AddrPort {
	_, port := p.dp.LocalPorts()
	return netip.AddrPortFrom(addr, port)
}

// transportSA is one half of a host-to-host transport-mode SA pair from
// local to remote; localTS/remoteTS default to the two hosts.
func transportSA(t *testing.T, inSPI, outSPI uint32, inKey, outKey byte, local, remote netip.AddrPort, localTS, remoteTS string) *sadb.ChildSA {
	if localTS == "" {
		localTS = local.Addr().String() + "/32"
	}
	if remoteTS == "" {
		remoteTS = remote.Addr().String() + "/32"
	}
	return &sadb.ChildSA{
		Name:     "host/" + local.Addr().String(),
		ReqID:    1,
		In:       esp.NewInbound(inSPI, newAEAD(t, inKey), 128),
		Out:      esp.NewOutbound(outSPI, newAEAD(t, outKey)),
		Local:    local,
		Remote:   remote,
		Encap:    true,
		Mode:     sadb.ModeTransport,
		LocalTS:  mustTS(t, localTS),
		RemoteTS: mustTS(t, remoteTS),
	}
}

// installTransport installs a transport pair between a (hostA) and b
// (hostB), with b's selectors bLocal/bRemote if given.
func installTransport(t *testing.T, a, b *peer, bLocal, bRemote string) (*sadb.ChildSA, *sadb.ChildSA) {
	ca := transportSA(t, 0xa1, 0xb1, 0x80, 0x10, a.natt(hostA), b.natt(hostB), "", "")
	cb := transportSA(t, 0xb1, 0xa1, 0x10, 0x80, b.natt(hostB), a.natt(hostA), bLocal, bRemote)
	if err := a.dp.InstallChild(ca); err != nil {
		t.Fatal(err)
	}
	if err := b.dp.InstallChild(cb); err != nil {
		t.Fatal(err)
	}
	return ca, cb
}

// checkDelivered compares a decapsulated transport packet with the one
// sent: the same addresses, protocol and payload octets, a valid IPv4
// header of its own (the original's TTL, ID and TOS were the outer
// header's, RFC 4303 3.1.1).
func checkDelivered(t *testing.T, got, sent []byte) {
	t.Helper()
	ip, err := packet.ParseIPv4(got)
	if err != nil {
		t.Fatalf("delivered packet: %v\n% x", err, got)
	}
	in, _ := packet.ParseIPv4(sent)
	if !ip.ChecksumValid() || ip.Src() != in.Src() || ip.Dst() != in.Dst() || ip.Protocol() != in.Protocol() ||
		ip.TotalLen() != len(sent) || !bytes.Equal(ip.Payload(), in.Payload()) {
		t.Fatalf("delivered\n% x\nsent\n% x", got, sent)
	}
}

// TestTransportBothDirections: transport mode (RFC 4303 3.1.1) seals what
// follows the IPv4 header with its protocol as next header and restores the
// header at the other end, both ways; the ESP on the wire carries the
// payload, not the header (the kernel's UDP header is the outer one).
func TestTransportBothDirections(t *testing.T) {
	a, b := newHost(t, hostA), newHost(t, hostB)
	ca, cb := installTransport(t, a, b, "", "")
	var sent int
	for i, n := range []int{0, 1, 100, 1000, DefaultMTU - 28 - 100} {
		payload := bytes.Repeat([]byte{byte(i + 1)}, n)
		p := ipv4UDP("127.0.0.1", "127.0.0.2", 1000+uint16(i), 53, payload)
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
		sent += len(p)
		checkDelivered(t, recv(t, b.fromTUN, "A->B"), p)
		q := ipv4UDP("127.0.0.2", "127.0.0.1", 53, 1000+uint16(i), payload)
		q[9] = 1 // any protocol: ICMP here, as far as ESP cares
		q[10], q[11] = 0, 0
		binary.BigEndian.PutUint16(q[10:], ipChecksum(q[:20]))
		if err := b.tun.Inject(q); err != nil {
			t.Fatal(err)
		}
		checkDelivered(t, recv(t, a.fromTUN, "B->A"), q)
	}
	if got := cb.Stats.BytesIn.Load(); got != uint64(sent) {
		t.Errorf("B BytesIn = %d, want %d (whole packets)", got, sent)
	}
	if got := ca.Stats.BytesOut.Load(); got != uint64(sent) {
		t.Errorf("A BytesOut = %d, want %d", got, sent)
	}
	for _, p := range []*peer{a, b} {
		if c := p.dp.Counters(); c != (Counters{}) {
			t.Errorf("unexpected drops: %v", c.Map())
		}
	}
}

// TestTransportWireFormat: the datagram A sends is ESP whose payload
// decrypts to the UDP header and data alone, next header 17 (RFC 4303
// 2.6): no inner IPv4 header as in tunnel mode.
func TestTransportWireFormat(t *testing.T) {
	a := newHost(t, hostA)
	sink := udpClient(t)
	to := netip.MustParseAddrPort(sink.LocalAddr().String())
	ca := transportSA(t, 0xa1, 0xb1, 0x80, 0x10, a.natt(hostA), to, "", "")
	if err := a.dp.InstallChild(ca); err != nil {
		t.Fatal(err)
	}
	p := ipv4UDP("127.0.0.1", "127.0.0.1", 4000, 53, []byte("transport"))
	if err := a.tun.Inject(p); err != nil {
		t.Fatal(err)
	}
	dgram, _ := readUDP(t, sink)
	in := esp.NewInbound(0xb1, newAEAD(t, 0x10), 128)
	payload, nh, err := in.Open(dgram)
	if err != nil {
		t.Fatal(err)
	}
	if nh != packet.ProtoUDP || !bytes.Equal(payload, p[20:]) {
		t.Fatalf("ESP payload next header %d\n% x\nwant 17\n% x", nh, payload, p[20:])
	}
}

// TestTransportOutboundRefused: what the kernel's outer header cannot
// carry, IPv4 options and fragments, is counted and not sent.
func TestTransportOutboundRefused(t *testing.T) {
	a, b := newHost(t, hostA), newHost(t, hostB)
	installTransport(t, a, b, "", "")
	frag := ipv4UDP("127.0.0.1", "127.0.0.2", 1, 2, []byte("first fragment"))
	frag[6] = 0x20 // MF
	binary.BigEndian.PutUint16(frag[10:], 0)
	binary.BigEndian.PutUint16(frag[10:], ipChecksum(frag[:20]))
	base := ipv4UDP("127.0.0.1", "127.0.0.2", 1, 2, []byte("options"))
	opts := make([]byte, len(base)+4)
	copy(opts, base[:20])
	copy(opts[24:], base[20:])
	opts[0] = 0x46
	opts[20] = 1 // NOP options
	opts[21], opts[22], opts[23] = 1, 1, 0
	binary.BigEndian.PutUint16(opts[2:], uint16(len(opts)))
	binary.BigEndian.PutUint16(opts[10:], 0)
	binary.BigEndian.PutUint16(opts[10:], ipChecksum(opts[:24]))
	for _, p := range [][]byte{frag, opts} {
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	waitCounter(t, "unsupported", 2, func() uint64 { return a.dp.Counters().Unsupported })
	expectNone(t, b.fromTUN, "refused packet")
}

// TestTransportInboundChecks: RFC 4301 5.2 for transport mode. ESP that
// authenticates but comes from another address than the peer's, and a
// payload outside the SA's selectors, are dropped and counted as policy
// drops, never delivered.
func TestTransportInboundChecks(t *testing.T) {
	a, b := newHost(t, hostA), newHost(t, hostB)
	// B accepts UDP only from A.
	_, cb := installTransport(t, a, b, "127.0.0.2/32[udp]", "127.0.0.1/32[udp]")

	// A TCP segment: A's selectors allow it, B's do not.
	tcp := ipv4UDP("127.0.0.1", "127.0.0.2", 1, 2, make([]byte, 12))
	tcp[9] = packet.ProtoTCP
	binary.BigEndian.PutUint16(tcp[10:], 0)
	binary.BigEndian.PutUint16(tcp[10:], ipChecksum(tcp[:20]))
	if err := a.tun.Inject(tcp); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, "policy", 1, func() uint64 { return b.dp.Counters().Policy })

	// The same keys and SPI from another host (C) claiming to be A.
	c := newHost(t, hostC)
	forged := transportSA(t, 0xc1, 0xb1, 0x80, 0x10, netip.AddrPortFrom(hostA, 1), b.natt(hostB), "", "")
	if err := c.dp.InstallChild(forged); err != nil {
		t.Fatal(err)
	}
	if err := c.tun.Inject(ipv4UDP("127.0.0.1", "127.0.0.2", 1, 2, []byte("forged"))); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, "policy", 2, func() uint64 { return b.dp.Counters().Policy })
	expectNone(t, b.fromTUN, "dropped packet")
	if got := cb.Stats.DropsPolicy.Load(); got != 2 {
		t.Errorf("SA policy drops = %d, want 2", got)
	}

	// And a good one still goes through.
	p := ipv4UDP("127.0.0.1", "127.0.0.2", 7, 9, []byte("fine"))
	if err := a.tun.Inject(p); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, recv(t, b.fromTUN, "good packet"), p)
}

// TestFixTransportChecksum: RFC 3948 3.1.2 step 3, the incremental TCP/UDP
// checksum update from the sender's addresses to the delivered ones.
func TestFixTransportChecksum(t *testing.T) {
	origSrc, origDst := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("192.0.2.9")
	src, dst := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("192.0.2.1")
	for _, proto := range []uint8{packet.ProtoUDP, packet.ProtoTCP} {
		seg := make([]byte, 40)
		for i := range seg {
			seg[i] = byte(i * 7)
		}
		off := 6
		if proto == packet.ProtoTCP {
			off = 16
		}
		binary.BigEndian.PutUint16(seg[off:], 0)
		binary.BigEndian.PutUint16(seg[off:], packet.Checksum(seg, packet.PseudoHeaderSum(proto, origSrc, origDst, uint32(len(seg)))))
		fixTransportChecksum(seg, proto, origSrc, origDst, src, dst)
		if packet.Checksum(seg, packet.PseudoHeaderSum(proto, src, dst, uint32(len(seg)))) != 0 {
			t.Errorf("proto %d: checksum not valid for the delivered addresses", proto)
		}
	}
	udp := make([]byte, 8) // checksum 0: none (RFC 768)
	fixTransportChecksum(udp, packet.ProtoUDP, origSrc, origDst, src, dst)
	if udp[6] != 0 || udp[7] != 0 {
		t.Error("a zero UDP checksum was changed")
	}
}

// TestTransportTrapReleases: packets a trap held for a host-to-host child
// leave in transport mode once the SA it brought up is a transport SA
// (RFC 4303 3.1.1; the release seals them as the pipeline does) and
// arrive as sent.
func TestTransportTrapReleases(t *testing.T) {
	a := newPeerWith(t, 8, func(c *Config) { c.ListenAddr = hostA; c.Acquire = func(Acquire) {} })
	b := newHost(t, hostB)
	ca := transportSA(t, 0xa1, 0xb1, 0x80, 0x10, a.natt(hostA), b.natt(hostB), "", "")
	cb := transportSA(t, 0xb1, 0xa1, 0x10, 0x80, b.natt(hostB), a.natt(hostA), "", "")
	ca.Name = "test/a"
	if err := b.dp.InstallChild(cb); err != nil {
		t.Fatal(err)
	}
	if err := a.dp.InstallTrap(Trap{Name: "test/a", LocalTS: ca.LocalTS, RemoteTS: ca.RemoteTS, Peer: hostB}); err != nil {
		t.Fatal(err)
	}
	var held [][]byte
	for i := range 3 {
		p := ipv4UDP("127.0.0.1", "127.0.0.2", 1000+uint16(i), 53, []byte("held"))
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
	}
	waitCounter(t, "held", 3, func() uint64 { return uint64(a.dp.Pending("test/a")) })
	if err := a.dp.InstallChild(ca); err != nil {
		t.Fatal(err)
	}
	for _, p := range held {
		checkDelivered(t, recv(t, b.fromTUN, "released packet"), p)
	}
	if got, want := ca.Stats.BytesOut.Load(), uint64(3*len(held[0])); got != want {
		t.Errorf("BytesOut = %d, want %d (whole packets)", got, want)
	}
	if c := b.dp.Counters(); c != (Counters{}) {
		t.Errorf("drops at b: %v", c.Map())
	}
}
