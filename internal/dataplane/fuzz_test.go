package dataplane

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/net/ipv4"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
)

// fuzzDataplane is a Dataplane without goroutines or sockets, with one SA
// (inbound SPI 0xb0000001, 10.2.0.0/24 and fd02::/64 local, 10.1.0.0/24
// and fd01::/64 remote), for
// driving the pipeline stages (prepareIn, decryptIn; prepareOut, process) directly. peerOut is the peer's sending half.
func fuzzDataplane(t testing.TB) (d *Dataplane, peerOut *esp.Outbound) {
	d = &Dataplane{
		log:       slog.New(slog.DiscardHandler),
		db:        new(sadb.DB),
		natt:      &udpSocket{addr: netip.IPv4Unspecified(), port: 4500},
		handleIKE: func(local, remote netip.AddrPort, pkt []byte) {},
		acq:       sadb.NewAcquires(sadb.HoldLimits{}, nil),
	}
	c := &sadb.ChildSA{
		Name:     "fuzz",
		In:       esp.NewInbound(0xb0000001, newAEAD(t, 0x10), 128),
		Out:      esp.NewOutbound(0xa0000001, newAEAD(t, 0x80)),
		Local:    netip.MustParseAddrPort("192.0.2.2:4500"),
		Remote:   netip.MustParseAddrPort("192.0.2.1:4500"),
		Encap:    true,
		LocalTS:  mustTS(t, "10.2.0.0/24", "fd02::/64"),
		RemoteTS: mustTS(t, "10.1.0.0/24", "fd01::/64"),
	}
	if err := d.db.Add(c); err != nil {
		t.Fatal(err)
	}
	if err := d.pol.addSA(c); err != nil {
		t.Fatal(err)
	}
	return d, esp.NewOutbound(0xb0000001, newAEAD(t, 0x10))
}

func seal(t testing.TB, o *esp.Outbound, payload []byte, nextHeader uint8) []byte {
	buf := make([]byte, o.PayloadOffset()+len(payload)+o.Overhead(len(payload)))
	copy(buf[o.PayloadOffset():], payload)
	p, err := o.Seal(buf, len(payload), nextHeader)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzInbound feeds arbitrary UDP payloads to the port 4500 classification,
// ESP open and inner checks: no input may panic, and whatever reaches the
// TUN is a whole IPv4 or IPv6 packet.
func FuzzInbound(f *testing.F) {
	d, peerOut := fuzzDataplane(f)
	good := ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, []byte("hello"))
	f.Add(seal(f, peerOut, good, esp.NextHeaderIPv4))
	f.Add(seal(f, peerOut, ipv4UDP("10.9.0.5", "10.2.0.7", 1, 2, nil), esp.NextHeaderIPv4))
	f.Add(seal(f, peerOut, append(good, make([]byte, 30)...), esp.NextHeaderIPv4)) // TFC padding
	f.Add(seal(f, peerOut, []byte{1, 2, 3}, esp.NextHeaderIPv4))
	f.Add(seal(f, peerOut, nil, esp.NextHeaderDummy))
	f.Add(seal(f, peerOut, make([]byte, 40), esp.NextHeaderIPv6))
	good6 := ipv6UDP("fd01::5", "fd02::7", 1, 2, []byte("hello"), nil)
	f.Add(seal(f, peerOut, good6, esp.NextHeaderIPv6))
	f.Add(seal(f, peerOut, good6, esp.NextHeaderIPv4))
	f.Add(seal(f, peerOut, ipv6UDP("fd01::5", "fd02::7", 1, 2, nil, []uint8{0, 44}, hopByHop, fragment(3, false)), esp.NextHeaderIPv6))
	f.Add(seal(f, peerOut, good, 17))
	f.Add([]byte{0xff})
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xb0, 0, 0, 1, 0, 0, 0, 1})
	f.Add([]byte{})
	addr := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4500}
	buf := make([]byte, maxPacket)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxPacket {
			return
		}
		n := copy(buf, data)
		m := ipv4.Message{N: n, Addr: addr}
		var s inSegment
		if !d.prepareIn(d.natt, &m, buf[:n], &s) {
			return
		}
		inner := d.decryptIn(&s)
		if inner == nil || len(inner) == 0 {
			return
		}
		if err := s.sa.OpenAccept(s.seq); err != nil {
			return
		}
		var ip innerPacket
		if !parseInner(inner, &ip) || len(ip.pkt) != len(inner) {
			t.Fatalf("bad packet for the TUN: % x", inner)
		}
	})
}

// FuzzOutbound feeds arbitrary packets "read from the TUN" to the outbound
// parse, policy lookup and seal: no input may panic; a packet is only sent
// if it is IPv4 or IPv6 inside the selectors, with its family as the
// next header.
func FuzzOutbound(f *testing.F) {
	d, _ := fuzzDataplane(f)
	f.Add(ipv4UDP("10.2.0.7", "10.1.0.5", 1, 2, []byte("hello")))
	f.Add(ipv4UDP("10.2.0.7", "10.9.0.5", 1, 2, nil))
	frag := ipv4UDP("10.2.0.7", "10.1.0.5", 1, 2, []byte("frag"))
	frag[6] = 0x20 // MF
	f.Add(frag)
	f.Add(make([]byte, 40))
	f.Add([]byte{0x60})
	f.Add(ipv6UDP("fd02::7", "fd01::5", 1, 2, []byte("hello"), nil))
	f.Add(ipv6UDP("fd02::7", "fd01::5", 1, 2, []byte("ext"), []uint8{0, 60}, hopByHop, hopByHop))
	f.Add(ipv6UDP("fd02::7", "fd09::5", 1, 2, nil, nil))
	f.Add([]byte{0x45, 0, 0, 20})
	b := newOutBatch(1, maxPacket)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) > maxPacket {
			return
		}
		b.sizes[0] = copy(b.bufs[0][outHeadroom:], pkt)
		d.prepareOut(b, 0)
		b.process(d, 0, 1)
		if b.pkts[0].esp == nil {
			return
		}
		var ip innerPacket
		if !parseInner(pkt, &ip) || ip.nextHeader != b.pkts[0].nh { // tunnel mode: nh is the family
			t.Fatalf("sent a non-IP packet % x", pkt)
		}
		if !d.db.Inbound(0xb0000001).MatchOutbound(ip.src, ip.dst, ip.proto, ip.sport, ip.dport) {
			t.Fatalf("sent a packet outside the selectors: % x", pkt)
		}
		if got := b.pkts[0].esp; len(got) < esp.HeaderLen || got[0] != 0xa0 {
			t.Fatalf("sent % x, want ESP for SPI a0000001", got)
		}
	})
}
