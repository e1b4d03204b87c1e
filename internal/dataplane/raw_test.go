package dataplane

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/net/ipv4"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
)

// ipv4Raw is what an IPv4 raw socket delivers (raw(7)): an IPv4 header
// (RFC 791 3.1) of protocol proto in front of payload.
func ipv4Raw(src, dst string, proto uint8, payload []byte) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := make([]byte, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8] = 64
	b[9] = proto
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[10:], ipChecksum(b[:20]))
	copy(b[20:], payload)
	return b
}

// TestRawPayload: an IPv4 raw socket's datagram starts with the IP header,
// which is stripped after checking it carries ESP and is whole; an IPv6
// raw socket's datagram is the ESP packet itself (RFC 3542 3).
func TestRawPayload(t *testing.T) {
	espPkt := []byte{0xb0, 0, 0, 1, 0, 0, 0, 1, 0xaa, 0xbb}
	good := ipv4Raw("192.0.2.1", "192.0.2.2", protoESP, espPkt)
	opts := ipv4Raw("192.0.2.1", "192.0.2.2", protoESP, append([]byte{1, 1, 1, 0}, espPkt...)) // 4 octets of options
	opts[0] = 0x46
	padded := append(append([]byte(nil), good...), 0, 0, 0, 0) // link-layer padding after the packet
	for _, tc := range []struct {
		name string
		v6   bool
		in   []byte
		want []byte // nil: malformed
	}{
		{"ipv4", false, good, espPkt},
		{"ipv4 options", false, opts, espPkt},
		{"ipv4 padding", false, padded, espPkt},
		{"ipv4 other protocol", false, ipv4Raw("192.0.2.1", "192.0.2.2", 51, espPkt), nil},
		{"ipv4 fragment", false, func() []byte { b := bytes.Clone(good); b[6] = 0x20; return b }(), nil},
		{"ipv4 later fragment", false, func() []byte { b := bytes.Clone(good); b[7] = 1; return b }(), nil},
		{"ipv4 truncated", false, good[:19], nil},
		{"ipv4 total length beyond", false, good[:len(good)-1], nil},
		{"ipv4 bad IHL", false, func() []byte { b := bytes.Clone(good); b[0] = 0x44; return b }(), nil},
		{"ipv4 version 6", false, func() []byte { b := bytes.Clone(good); b[0] = 0x65; return b }(), nil},
		{"ipv4 empty", false, nil, nil},
		{"ipv6", true, espPkt, espPkt},
		{"ipv6 empty", true, []byte{}, nil},
	} {
		got, ok := rawPayload(tc.v6, protoESP, tc.in)
		if ok != (tc.want != nil) || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got % x, %v; want % x", tc.name, got, ok, tc.want)
		}
	}
}

// rawFuzzDataplane is fuzzDataplane with a second SA negotiated without
// UDP encapsulation (inbound SPI 0xb0000002), and the peer's sending
// halves of both.
func rawFuzzDataplane(t testing.TB) (d *Dataplane, encapOut, rawOut *esp.Outbound) {
	d, encapOut = fuzzDataplane(t)
	c := &sadb.ChildSA{
		Name:     "fuzz-raw",
		In:       esp.NewInbound(0xb0000002, newAEAD(t, 0x20), 128),
		Out:      esp.NewOutbound(0xa0000002, newAEAD(t, 0x90)),
		Local:    netip.MustParseAddrPort("192.0.2.2:500"),
		Remote:   netip.MustParseAddrPort("192.0.2.1:500"),
		LocalTS:  mustTS(t, "10.4.0.0/24"),
		RemoteTS: mustTS(t, "10.3.0.0/24"),
	}
	if err := d.db.Add(c); err != nil {
		t.Fatal(err)
	}
	return d, encapOut, esp.NewOutbound(0xb0000002, newAEAD(t, 0x20))
}

// TestRawClassify: raw ESP is classified by SPI like ESP in UDP after its
// UDP header, with the same replay check, and only for an SA negotiated
// without encapsulation: either framing for the other kind of SA is
// dropped and counted encap_mismatch before any replay state changes, as
// Linux's xfrm_input does (XfrmInStateMismatch).
func TestRawClassify(t *testing.T) {
	d, encapOut, rawOut := rawFuzzDataplane(t)
	inner := ipv4UDP("10.3.0.5", "10.4.0.7", 1, 2, []byte("raw"))
	rawESP := seal(t, rawOut, inner, esp.NextHeaderIPv4)
	rawESP2 := seal(t, rawOut, inner, esp.NextHeaderIPv4) // sequence number 2
	udpESP := seal(t, encapOut, ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, nil), esp.NextHeaderIPv4)
	from := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1)}
	v4 := &rawSocket{proto: protoESP, addr: netip.IPv4Unspecified()}
	v6 := &rawSocket{proto: protoESP, addr: netip.IPv6Unspecified(), v6: true}
	run := func(s *rawSocket, dgram []byte) *inBatch {
		b := newInBatch(1)
		m := ipv4.Message{N: copy(b.bufs[0], dgram), Addr: from}
		d.prepareRaw(s, b, &m, b.bufs[0])
		return b
	}
	for _, tc := range []struct {
		name     string
		s        *rawSocket
		dgram    []byte
		espBytes []byte
	}{
		{"IPv4 header present", v4, ipv4Raw("192.0.2.1", "192.0.2.2", protoESP, rawESP), rawESP},
		{"IPv6 without header", v6, rawESP2, rawESP2},
	} {
		b := run(tc.s, tc.dgram)
		if b.nsegs != 1 || b.segs[0].sa == nil || b.segs[0].sa.Name != "fuzz-raw" || !bytes.Equal(b.segs[0].data, tc.espBytes) {
			t.Fatalf("%s: %d segments %+v, want the raw SA's ESP packet", tc.name, b.nsegs, b.segs[0])
		}
		got := d.decryptIn(&b.segs[0])
		if !bytes.Equal(got, inner) {
			t.Fatalf("%s: decrypted % x, want % x", tc.name, got, inner)
		}
		if err := b.segs[0].sa.OpenAccept(b.segs[0].seq); err != nil {
			t.Fatal(err)
		}
	}
	// The window moved: the first packet again, in either framing, is a
	// replay (RFC 4303 3.4.3).
	if b := run(v6, rawESP); b.nsegs != 0 || d.counters.Replay != 1 {
		t.Errorf("replayed raw ESP: %d segments, replay %d", b.nsegs, d.counters.Replay)
	}
	// ESP in UDP for the raw SA, raw ESP for the encapsulated one.
	var s inSegment
	if d.prepareIn(d.natt, &ipv4.Message{Addr: from}, seal(t, rawOut, inner, esp.NextHeaderIPv4), &s) {
		t.Error("ESP in UDP accepted for a raw ESP SA")
	}
	if b := run(v4, ipv4Raw("192.0.2.1", "192.0.2.2", protoESP, udpESP)); b.nsegs != 0 {
		t.Error("raw ESP accepted for an ESP-in-UDP SA")
	}
	if d.counters.EncapMismatch != 2 {
		t.Errorf("encap_mismatch %d, want 2", d.counters.EncapMismatch)
	}
	// The mismatched packet left the encapsulated SA's window alone.
	if !d.prepareIn(d.natt, &ipv4.Message{Addr: from}, udpESP, &s) {
		t.Errorf("ESP in UDP refused after a raw copy: %v", d.Counters().Map())
	}
	// Malformed raw datagrams are dropped and counted.
	before := d.counters.Malformed
	for _, dgram := range [][]byte{nil, {0x45}, ipv4Raw("192.0.2.1", "192.0.2.2", 51, rawESP), ipv4Raw("192.0.2.1", "192.0.2.2", protoESP, []byte{1, 2})} {
		if b := run(v4, dgram); b.nsegs != 0 {
			t.Errorf("% x accepted", dgram)
		}
	}
	if b := run(v6, []byte{1, 2, 3}); b.nsegs != 0 {
		t.Error("a 3-octet IPv6 datagram accepted")
	}
	if got := d.counters.Malformed - before; got != 5 {
		t.Errorf("malformed %d, want 5", got)
	}
}

// FuzzRawInbound feeds arbitrary datagrams, as an IPv4 raw socket (with
// the IP header) or an IPv6 one (without) delivers them, to the raw
// classification, ESP open and inner checks: no input may panic, and
// whatever reaches the TUN is a whole IP packet of the raw SA.
func FuzzRawInbound(f *testing.F) {
	d, encapOut, rawOut := rawFuzzDataplane(f)
	good := ipv4UDP("10.3.0.5", "10.4.0.7", 1, 2, []byte("hello"))
	sealed := seal(f, rawOut, good, esp.NextHeaderIPv4)
	f.Add(false, ipv4Raw("192.0.2.1", "192.0.2.2", protoESP, sealed))
	f.Add(true, sealed)
	f.Add(false, ipv4Raw("192.0.2.1", "192.0.2.2", protoESP, seal(f, rawOut, ipv4UDP("10.9.0.5", "10.4.0.7", 1, 2, nil), esp.NextHeaderIPv4)))
	f.Add(true, seal(f, rawOut, nil, esp.NextHeaderDummy))
	f.Add(false, ipv4Raw("192.0.2.1", "192.0.2.2", protoESP, seal(f, encapOut, ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, nil), esp.NextHeaderIPv4)))
	f.Add(false, ipv4Raw("192.0.2.1", "192.0.2.2", 51, sealed))
	frag := ipv4Raw("192.0.2.1", "192.0.2.2", protoESP, sealed)
	frag[6] = 0x20
	f.Add(false, frag)
	f.Add(false, []byte{0x4f, 0, 0, 60})
	f.Add(true, []byte{0xb0, 0, 0, 2, 0, 0, 0, 1})
	f.Add(true, []byte{})
	v4 := &rawSocket{proto: protoESP, addr: netip.IPv4Unspecified()}
	v6 := &rawSocket{proto: protoESP, addr: netip.IPv6Unspecified(), v6: true}
	from := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1)}
	b := newInBatch(1)
	f.Fuzz(func(t *testing.T, isV6 bool, data []byte) {
		if len(data) > maxPacket {
			return
		}
		s := v4
		if isV6 {
			s = v6
		}
		b.nsegs = 0
		m := ipv4.Message{N: copy(b.bufs[0], data), Addr: from}
		d.prepareRaw(s, b, &m, b.bufs[0])
		if b.nsegs == 0 {
			return
		}
		seg := &b.segs[0]
		if seg.sa.Encap {
			t.Fatalf("raw ESP classified for an encapsulated SA")
		}
		inner := d.decryptIn(seg)
		if len(inner) == 0 || seg.sa.OpenAccept(seg.seq) != nil {
			return
		}
		var ip innerPacket
		if !parseInner(inner, &ip) || len(ip.pkt) != len(inner) {
			t.Fatalf("bad packet for the TUN: % x", inner)
		}
	})
}

// rawPeer is newPeer on loopback address addr (127.0.0.x): a raw socket
// bound there receives only the ESP sent to it, so two data planes on one
// host do not see each other's packets. It skips without CAP_NET_RAW.
func rawPeer(t *testing.T, addr string) *peer {
	t.Helper()
	a := netip.MustParseAddr(addr)
	if s, err := listenRaw(a, protoESP, 0); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skip("raw sockets need CAP_NET_RAW")
		}
		t.Fatalf("raw socket on %s: %v", a, err)
	} else {
		s.close()
	}
	p := newPeerWith(t, 16, func(c *Config) { c.ListenAddr = a })
	p.addr = a
	return p
}

// TestRawTunnel: two data planes exchange raw ESP over loopback (IPv4 raw
// sockets, opened by the first raw SA): packets arrive intact both ways
// and in bursts, nothing goes to the NAT-T sockets, and a raw SA's
// peer does not take ESP in UDP for it.
func TestRawTunnel(t *testing.T) {
	a, b := rawPeer(t, "127.0.0.1"), rawPeer(t, "127.0.0.2")
	if a.dp.rawFor(b.addr) != nil {
		t.Fatal("raw socket open before any raw SA")
	}
	pair := defaultPair
	pair.raw = true
	ca, cb := pair.install(t, a, b)
	if a.dp.rawFor(b.addr) == nil || b.dp.rawFor(a.addr) == nil {
		t.Fatal("no raw socket after installing a raw SA")
	}
	for i, n := range []int{0, 100, 1000, DefaultMTU - 28} {
		p := ipv4UDP("10.1.0.5", "10.2.0.7", 1000+uint16(i), 53, bytes.Repeat([]byte{byte(i)}, n))
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, b.fromTUN, "A->B"); !bytes.Equal(got, p) {
			t.Fatalf("A->B size %d: got % x", n, got)
		}
		q := ipv4UDP("10.2.0.7", "10.1.0.5", 53, 1000+uint16(i), bytes.Repeat([]byte{byte(i)}, n))
		if err := b.tun.Inject(q); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, a.fromTUN, "B->A"); !bytes.Equal(got, q) {
			t.Fatalf("B->A size %d: got % x", n, got)
		}
	}
	const burst = 300 // batches large enough for the crypto workers
	for i := range burst {
		if err := a.tun.Inject(ipv4UDP("10.1.0.9", "10.2.0.1", 7, uint16(i), []byte("burst"))); err != nil {
			t.Fatal(err)
		}
	}
	for range burst {
		recv(t, b.fromTUN, "burst packet")
	}
	if got := cb.Stats.PacketsIn.Load(); got != 4+burst {
		t.Errorf("B PacketsIn %d, want %d", got, 4+burst)
	}
	if got := ca.Stats.PacketsIn.Load(); got != 4 {
		t.Errorf("A PacketsIn %d, want 4", got)
	}
	for _, p := range []*peer{a, b} {
		if c := p.dp.Counters(); c != (Counters{}) {
			t.Errorf("unexpected drops: %v", c.Map())
		}
	}
	// ESP in UDP to B's port 4500 for the raw SA: refused.
	out := esp.NewOutbound(0xb0000001, newAEAD(t, 0x10))
	c := udpClientOn(t, a.addr)
	if _, err := c.WriteToUDPAddrPort(seal(t, out, ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, nil), esp.NextHeaderIPv4), b.nattAddr()); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, "encap_mismatch", 1, func() uint64 { return b.dp.Counters().EncapMismatch })
	expectNone(t, b.fromTUN, "ESP in UDP for a raw SA")
}
