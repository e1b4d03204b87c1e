package dataplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// ipv6UDP builds an IPv6/UDP packet (RFC 8200, RFC 768) independent of
// package packet, with the extension headers ext (each a whole header whose
// first octet is overwritten with the next header) before UDP; extTypes
// names them.
func ipv6UDP(src, dst string, sport, dport uint16, payload []byte, extTypes []uint8, ext ...[]byte) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	var chain []byte
	for i, h := range ext {
		h = append([]byte(nil), h...)
		h[0] = 17
		if i+1 < len(ext) {
			h[0] = extTypes[i+1]
		}
		chain = append(chain, h...)
	}
	plen := len(chain) + 8 + len(payload)
	b := make([]byte, 40+plen)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(plen))
	b[6] = 17
	if len(ext) > 0 {
		b[6] = extTypes[0]
	}
	b[7] = 64
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[40:], chain)
	u := b[40+len(chain):]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	// The UDP checksum is mandatory over IPv6 (RFC 8200 8.1).
	binary.BigEndian.PutUint16(u[6:], packet.Checksum(u[:8+len(payload)],
		packet.PseudoHeaderSum(17, netip.AddrFrom16(s), netip.AddrFrom16(d), uint32(8+len(payload)))))
	return b
}

// hopByHop is an empty Hop-by-Hop Options header (8 octets: PadN).
var hopByHop = []byte{0, 0, 1, 4, 0, 0, 0, 0}

// fragment returns a Fragment header (RFC 8200 4.5) with offset off (in
// 8-octet units) and the M flag.
func fragment(off uint16, more bool) []byte {
	h := make([]byte, 8)
	v := off << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(h[2:], v)
	return h
}

// mixedPair is one Child SA carrying both families: site A 10.1.0.0/24
// and fd01::/64 <-> site B 10.2.0.0/24 and fd02::/64.
var mixedPair = saPair{
	spiA: 0xa0000006, spiB: 0xb0000006,
	aLocal: []string{"10.1.0.0/24", "fd01::/64"}, aRemote: []string{"10.2.0.0/24", "fd02::/64"},
	bLocal: []string{"10.2.0.0/24", "fd02::/64"}, bRemote: []string{"10.1.0.0/24", "fd01::/64"},
}

// TestTunnelIPv6Inner: IPv6 packets read from TUN A come out of TUN B
// byte-identical and the other way round (6-in-4), IPv4 packets share the
// same SA, and the ESP trailer announces each packet's family.
func TestTunnelIPv6Inner(t *testing.T) {
	a, b := newPeer(t, 16), newPeer(t, 16)
	ca, cb := mixedPair.install(t, a, b)

	sizes := []int{0, 1, 100, 1000, DefaultMTU - 48}
	for i, n := range sizes {
		payload := bytes.Repeat([]byte{byte(i)}, n)
		p := ipv6UDP("fd01::5", "fd02::7", 1000+uint16(i), 53, payload, nil)
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, b.fromTUN, "A->B IPv6"); !bytes.Equal(got, p) {
			t.Fatalf("A->B size %d: got\n% x\nwant\n% x", n, got, p)
		}
		q := ipv6UDP("fd02::7", "fd01::5", 53, 1000+uint16(i), payload, []uint8{packet.ProtoHopByHop}, hopByHop)
		if err := b.tun.Inject(q); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, a.fromTUN, "B->A IPv6"); !bytes.Equal(got, q) {
			t.Fatalf("B->A size %d: got\n% x\nwant\n% x", n, got, q)
		}
	}
	p4 := ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, []byte("v4 too"))
	if err := a.tun.Inject(p4); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, b.fromTUN, "A->B IPv4"); !bytes.Equal(got, p4) {
		t.Fatalf("IPv4 over the mixed SA: got % x", got)
	}
	// A burst of IPv6, so batches hold several packets.
	const burst = 100
	for i := range burst {
		p := ipv6UDP("fd01::9", "fd02::1", 7, uint16(i), []byte(fmt.Sprint("burst ", i)), nil)
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	for range burst {
		got := recv(t, b.fromTUN, "burst packet")
		if len(got) < 48 || got[0]>>4 != 6 {
			t.Fatalf("burst: got % x", got)
		}
	}
	want := uint64(len(sizes) + 1 + burst)
	if got := ca.Stats.PacketsOut.Load(); got != want {
		t.Errorf("A PacketsOut = %d, want %d", got, want)
	}
	if got := cb.Stats.PacketsIn.Load(); got != want {
		t.Errorf("B PacketsIn = %d, want %d", got, want)
	}
	for _, p := range []*peer{a, b} {
		if c := p.dp.Counters(); c != (Counters{}) {
			t.Errorf("unexpected drops: %v", c.Map())
		}
	}
}

// TestOutboundIPv6Selectors: the outbound lookup matches IPv6 packets by
// address, by the next layer protocol found after the extension headers,
// and by port; non-initial fragments have OPAQUE ports (RFC 4301 4.4.1.1).
func TestOutboundIPv6Selectors(t *testing.T) {
	a, b := newPeer(t, 4), newPeer(t, 4)
	pair := mixedPair
	pair.aRemote = []string{"fd02::/64[udp/53]"}
	pair.bLocal = []string{"fd02::/64[udp/53]"}
	pair.install(t, a, b)

	ext := []uint8{packet.ProtoHopByHop, packet.ProtoDestOpts}
	good := []([]byte){
		ipv6UDP("fd01::5", "fd02::7", 999, 53, []byte("plain"), nil),
		ipv6UDP("fd01::5", "fd02::7", 999, 53, []byte("ext"), ext, hopByHop, hopByHop),
		ipv6UDP("fd01::5", "fd02::7", 999, 53, []byte("first fragment"), []uint8{packet.ProtoFragment}, fragment(0, true)),
	}
	for _, p := range good {
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, b.fromTUN, "matching IPv6 packet"); !bytes.Equal(got, p) {
			t.Fatalf("got % x, want % x", got, p)
		}
	}
	for _, p := range [][]byte{
		ipv6UDP("fd01::5", "fd02::7", 999, 54, nil, nil),                                               // wrong port
		ipv6UDP("fd01::5", "fd02::7", 999, 54, nil, ext, hopByHop, hopByHop),                           // wrong port behind ext headers
		ipv6UDP("fd01::5", "fd03::7", 999, 53, nil, nil),                                               // dst outside
		ipv6UDP("fd01::5", "fd02::7", 999, 53, nil, []uint8{packet.ProtoFragment}, fragment(8, false)), // OPAQUE ports
	} {
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	waitCounter(t, "no_policy", 4, func() uint64 { return a.dp.Counters().NoPolicy })

	// A broken extension header chain is malformed, not looked up.
	broken := ipv6UDP("fd01::5", "fd02::7", 999, 53, nil, []uint8{packet.ProtoHopByHop}, hopByHop)
	broken[41] = 200 // Hdr Ext Len beyond the packet
	if err := a.tun.Inject(broken); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, "malformed", 1, func() uint64 { return a.dp.Counters().Malformed })
	expectNone(t, b.fromTUN, "non-matching packet")
}

// TestInboundIPv6Policy: an authentic IPv6 packet outside the receiving
// SA's selectors is dropped and counted (RFC 4301 5.2).
func TestInboundIPv6Policy(t *testing.T) {
	a, b := newPeer(t, 4), newPeer(t, 4)
	pair := mixedPair
	pair.aLocal = []string{"fd01::/48"}
	pair.aRemote = []string{"fd02::/48"}
	_, cb := pair.install(t, a, b)
	for _, p := range [][]byte{
		ipv6UDP("fd01:0:0:9::5", "fd02::7", 1, 2, nil, nil),
		ipv6UDP("fd01::5", "fd02:0:0:9::7", 1, 2, nil, nil),
	} {
		if err := a.tun.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	ok := ipv6UDP("fd01::5", "fd02::7", 1, 2, []byte("inside"), nil)
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
}

// TestInboundNextHeaderMustMatchVersion: next header 41 must carry IPv6
// and 4 IPv4 (RFC 4303 2.6); TFC padding after an IPv6 packet is cut off.
func TestInboundNextHeaderMustMatchVersion(t *testing.T) {
	d, peerOut := fuzzDataplane(t)
	v6 := ipv6UDP("fd01::5", "fd02::7", 1, 2, []byte("six"), nil)
	v4 := ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, []byte("four"))
	for _, tc := range []struct {
		name string
		pkt  []byte
		nh   uint8
		want []byte
	}{
		{"IPv6 as 41", v6, esp.NextHeaderIPv6, v6},
		{"IPv6 with TFC padding", append(append([]byte(nil), v6...), make([]byte, 30)...), esp.NextHeaderIPv6, v6},
		{"IPv4 as 41", v4, esp.NextHeaderIPv6, nil},
		{"IPv6 as 4", v6, esp.NextHeaderIPv4, nil},
		{"truncated IPv6", v6[:45], esp.NextHeaderIPv6, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := d.Counters().Malformed
			s := inSegment{sa: d.db.Inbound(0xb0000001), data: seal(t, peerOut, tc.pkt, tc.nh)}
			seq, err := s.sa.OpenPrepare(s.data)
			if err != nil {
				t.Fatal(err)
			}
			s.seq = seq
			got := d.decryptIn(&s)
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("inner = % x, want % x", got, tc.want)
			}
			if tc.want == nil && d.Counters().Malformed != before+1 {
				t.Fatal("drop not counted as malformed")
			}
			if got != nil {
				if err := s.sa.OpenAccept(seq); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestRoutesIPv6AndMixed(t *testing.T) {
	dp, fake := newRoutedDataplane(t)
	fake.addrs = append(fake.addrs, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fd01::1"))
	if err := dp.InstallChild(child(t, 100, []string{"10.1.0.0/24", "fd01::/64"}, "10.2.0.0/24", "fd02::/64")); err != nil {
		t.Fatal(err)
	}
	if got := fake.routes[netip.MustParsePrefix("10.2.0.0/24")]; got != netip.MustParseAddr("10.1.0.1") {
		t.Errorf("IPv4 route src = %v, want 10.1.0.1", got)
	}
	if got, ok := fake.routes[netip.MustParsePrefix("fd02::/64")]; !ok || got != netip.MustParseAddr("fd01::1") {
		t.Errorf("IPv6 route src = %v (installed %v), want fd01::1", got, ok)
	}
	dp.RemoveChild(100)
	if len(fake.routes) != 0 {
		t.Fatalf("routes left: %v", fake.routes)
	}
}

// TestOutboundICMPv6Type: an ICMPv6 selector matches on the message type
// (as the ports, RFC 7296 3.13.1), found behind the extension headers.
func TestOutboundICMPv6Type(t *testing.T) {
	a, b := newPeer(t, 4), newPeer(t, 4)
	pair := mixedPair
	pair.aRemote = []string{"fd02::/64[ipv6-icmp/128]"} // Echo Request (RFC 4443 4.1)
	pair.bLocal = []string{"fd02::/64[ipv6-icmp/128]"}
	pair.install(t, a, b)
	icmp := func(typ byte, ext ...[]byte) []byte {
		p := ipv6UDP("fd01::5", "fd02::7", 0, 0, []byte{1, 2, 3, 4}, []uint8{packet.ProtoHopByHop}, ext...)
		if len(ext) == 0 {
			p[6] = protoICMPv6
		} else {
			p[40] = protoICMPv6
		}
		l4 := p[40+8*len(ext):]
		l4[0], l4[1] = typ, 0
		return p
	}
	echo := icmp(128, hopByHop)
	if err := a.tun.Inject(echo); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, b.fromTUN, "echo request"); !bytes.Equal(got, echo) {
		t.Fatalf("got % x", got)
	}
	if err := a.tun.Inject(icmp(129)); err != nil { // Echo Reply: not in the selector
		t.Fatal(err)
	}
	waitCounter(t, "no_policy", 1, func() uint64 { return a.dp.Counters().NoPolicy })
	expectNone(t, b.fromTUN, "echo reply")
}
