package packet

import (
	"net/netip"
	"testing"
)

func FuzzParseIPv4(f *testing.F) {
	f.Add(udpInIPv4([]byte("seed")))
	f.Add(udpInIPv4(nil)[:20])
	f.Add([]byte{0x4f, 0, 0, 60})
	f.Add(make([]byte, 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseIPv4(b)
		if err != nil {
			return
		}
		if p.HeaderLen() < 20 || p.HeaderLen() > p.TotalLen() || p.TotalLen() != len(p) || len(p) > len(b) {
			t.Fatalf("inconsistent view: hl %d tl %d len %d", p.HeaderLen(), p.TotalLen(), len(p))
		}
		_, _, _, _, _ = p.Protocol(), p.TTL(), p.TOS(), p.ID(), p.IsFragment()
		if !p.Src().Is4() || !p.Dst().Is4() {
			t.Fatal("non-IPv4 address")
		}
		_ = p.ChecksumValid()
		pl := p.Payload()
		if len(pl) != p.TotalLen()-p.HeaderLen() {
			t.Fatalf("payload %d bytes", len(pl))
		}
		Ports(p.Protocol(), pl)
		if u, err := ParseUDP(pl); err == nil {
			_ = u.Payload()
		}
	})
}

func FuzzParseIPv6(f *testing.F) {
	b := make([]byte, 48)
	EncodeIPv6(b, IPv6Fields{PayloadLen: 8, NextHeader: ProtoUDP, HopLimit: 1,
		Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("fe80::1")})
	EncodeUDP(b[40:], 1, 2, 8)
	f.Add(b)
	f.Add(b[:40])
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseIPv6(b)
		if err != nil {
			return
		}
		if len(p) != 40+p.PayloadLen() || len(p.Payload()) != p.PayloadLen() {
			t.Fatalf("inconsistent view: len %d payload len %d", len(p), p.PayloadLen())
		}
		_, _, _, _ = p.NextHeader(), p.HopLimit(), p.TrafficClass(), p.FlowLabel()
		if !p.Src().Is6() || !p.Dst().Is6() {
			t.Fatal("non-IPv6 address")
		}
		Ports(p.NextHeader(), p.Payload())
	})
}

func FuzzParseUDP(f *testing.F) {
	b := make([]byte, 12)
	EncodeUDP(b, 4500, 4500, 12)
	f.Add(b)
	f.Add(b[:8])
	f.Add([]byte{0, 0, 0, 0, 0, 7, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUDP(b)
		if err != nil {
			return
		}
		if u.Length() < 8 || u.Length() != len(u) || len(u.Payload()) != u.Length()-8 {
			t.Fatalf("inconsistent view: length %d len %d", u.Length(), len(u))
		}
		_, _, _ = u.SrcPort(), u.DstPort(), u.Checksum()
		if e, err := ParseESP(u.Payload()); err == nil {
			_, _, _ = e.SPI(), e.Seq(), e.Payload()
		}
	})
}
