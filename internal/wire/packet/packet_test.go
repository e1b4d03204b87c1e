package packet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

var (
	addrA = netip.MustParseAddr("10.1.0.5")
	addrB = netip.MustParseAddr("10.2.0.7")
	addr6 = netip.MustParseAddr("fec0::1")
	addr7 = netip.MustParseAddr("2001:db8::2")
)

// udpInIPv4 builds a well-formed IPv4/UDP packet with the given payload.
func udpInIPv4(payload []byte) []byte {
	b := make([]byte, 28+len(payload))
	EncodeIPv4(b, IPv4Fields{TotalLen: uint16(len(b)), ID: 0x1234, TTL: 64, Protocol: ProtoUDP, Src: addrA, Dst: addrB})
	EncodeUDP(b[20:], 4500, 4501, uint16(8+len(payload)))
	copy(b[28:], payload)
	return b
}

func TestIPv4RoundTrip(t *testing.T) {
	b := udpInIPv4([]byte("hello"))
	b = append(b, 0, 0, 0) // link-layer padding
	p, err := ParseIPv4(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 33 {
		t.Errorf("len(view) = %d, want 33 (trimmed to total length)", len(p))
	}
	if p.HeaderLen() != 20 || p.TotalLen() != 33 || p.Protocol() != ProtoUDP || p.TTL() != 64 ||
		p.ID() != 0x1234 || p.TOS() != 0 || p.Src() != addrA || p.Dst() != addrB || p.IsFragment() {
		t.Errorf("accessors: hl %d tl %d proto %d ttl %d id %#x src %v dst %v frag %v",
			p.HeaderLen(), p.TotalLen(), p.Protocol(), p.TTL(), p.ID(), p.Src(), p.Dst(), p.IsFragment())
	}
	if !p.ChecksumValid() {
		t.Error("EncodeIPv4 wrote a bad checksum")
	}
	u, err := ParseUDP(p.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if u.SrcPort() != 4500 || u.DstPort() != 4501 || u.Length() != 13 || u.Checksum() != 0 ||
		string(u.Payload()) != "hello" {
		t.Errorf("UDP: %d -> %d len %d sum %#x payload %q", u.SrcPort(), u.DstPort(), u.Length(), u.Checksum(), u.Payload())
	}
	if s, d := Ports(p.Protocol(), p.Payload()); s != 4500 || d != 4501 {
		t.Errorf("Ports = %d, %d", s, d)
	}
}

func TestIPv4Options(t *testing.T) {
	b := make([]byte, 24+3)
	EncodeIPv4(b, IPv4Fields{TotalLen: 27, TTL: 1, Protocol: ProtoTCP, Src: addrA, Dst: addrB})
	b[0] = 0x46 // IHL 6: one option word (NOPs below)
	copy(b[20:], []byte{1, 1, 1, 0, 'x', 'y', 'z'})
	p, err := ParseIPv4(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.HeaderLen() != 24 || string(p.Payload()) != "xyz" {
		t.Errorf("hl %d payload %q", p.HeaderLen(), p.Payload())
	}
}

func TestParseIPv4Rejects(t *testing.T) {
	good := udpInIPv4([]byte("payload"))
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	tests := map[string][]byte{
		"empty":              nil,
		"19 bytes":           good[:19],
		"version 6":          mod(func(b []byte) { b[0] = 0x65 }),
		"version 0":          mod(func(b []byte) { b[0] = 0x05 }),
		"IHL 4":              mod(func(b []byte) { b[0] = 0x44 }),
		"IHL 0":              mod(func(b []byte) { b[0] = 0x40 }),
		"IHL beyond total":   mod(func(b []byte) { b[0] = 0x4f; binary.BigEndian.PutUint16(b[2:], 40) }),
		"total < header":     mod(func(b []byte) { binary.BigEndian.PutUint16(b[2:], 19) }),
		"total 0":            mod(func(b []byte) { binary.BigEndian.PutUint16(b[2:], 0) }),
		"total beyond slice": mod(func(b []byte) { binary.BigEndian.PutUint16(b[2:], uint16(len(b)+1)) }),
	}
	for name, b := range tests {
		if _, err := ParseIPv4(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	// No strict prefix of a packet parses.
	for i := range len(good) {
		if _, err := ParseIPv4(good[:i]); err == nil {
			t.Errorf("prefix of %d bytes parsed", i)
		}
	}
}

func TestIPv4Fragments(t *testing.T) {
	tests := []struct {
		flags, off uint16
		frag       bool
	}{
		{0, 0, false},
		{IPv4FlagDF, 0, false},
		{IPv4FlagMF, 0, true},
		{0, 185, true},
		{IPv4FlagMF, 1, true},
		{IPv4FlagDF, IPv4FragOffMask, true},
	}
	for _, tt := range tests {
		b := make([]byte, 20)
		EncodeIPv4(b, IPv4Fields{TotalLen: 20, Flags: tt.flags, FragOff: tt.off, TTL: 9, Src: addrA, Dst: addrB})
		p, err := ParseIPv4(b)
		if err != nil {
			t.Fatal(err)
		}
		if p.IsFragment() != tt.frag {
			t.Errorf("flags %#x off %d: IsFragment = %v", tt.flags, tt.off, p.IsFragment())
		}
		if got := p.FlagsFragOff(); got != tt.flags|tt.off {
			t.Errorf("FlagsFragOff = %#x, want %#x", got, tt.flags|tt.off)
		}
	}
}

func TestSetTTLKeepsChecksum(t *testing.T) {
	p, err := ParseIPv4(udpInIPv4(nil))
	if err != nil {
		t.Fatal(err)
	}
	for ttl := 255; ttl >= 0; ttl-- {
		p.SetTTL(uint8(ttl))
		if p.TTL() != uint8(ttl) || !p.ChecksumValid() {
			t.Fatalf("TTL %d: checksum invalid after incremental update", ttl)
		}
	}
}

func TestIPv6(t *testing.T) {
	b := make([]byte, 40+8+4+2)
	EncodeIPv6(b, IPv6Fields{TrafficClass: 0xb8, FlowLabel: 0x12345, PayloadLen: 12, NextHeader: ProtoUDP, HopLimit: 64, Src: addr6, Dst: addr7})
	EncodeUDP(b[40:], 1, 2, 12)
	p, err := ParseIPv6(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 52 || p.PayloadLen() != 12 || p.NextHeader() != ProtoUDP || p.HopLimit() != 64 ||
		p.TrafficClass() != 0xb8 || p.FlowLabel() != 0x12345 || p.Src() != addr6 || p.Dst() != addr7 ||
		len(p.Payload()) != 12 {
		t.Errorf("IPv6 accessors: len %d plen %d nh %d hl %d tc %#x fl %#x %v -> %v",
			len(p), p.PayloadLen(), p.NextHeader(), p.HopLimit(), p.TrafficClass(), p.FlowLabel(), p.Src(), p.Dst())
	}
	if s, d := Ports(p.NextHeader(), p.Payload()); s != 1 || d != 2 {
		t.Errorf("Ports = %d %d", s, d)
	}
	for i := range 52 {
		if _, err := ParseIPv6(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Errorf("prefix of %d bytes: err = %v", i, err)
		}
	}
	b[0] = 0x45
	if _, err := ParseIPv6(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("version 4 accepted as IPv6")
	}
}

func TestParseUDPRejects(t *testing.T) {
	b := make([]byte, 12)
	EncodeUDP(b, 500, 500, 12)
	if _, err := ParseUDP(b); err != nil {
		t.Fatal(err)
	}
	for i := range len(b) {
		if _, err := ParseUDP(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Errorf("prefix of %d bytes: err = %v", i, err)
		}
	}
	for _, l := range []uint16{0, 7, 13, 0xffff} {
		binary.BigEndian.PutUint16(b[4:], l)
		if _, err := ParseUDP(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("length %d accepted for 12 bytes", l)
		}
	}
	binary.BigEndian.PutUint16(b[4:], 8)
	u, err := ParseUDP(b)
	if err != nil || len(u) != 8 || len(u.Payload()) != 0 {
		t.Errorf("length 8: %v len %d", err, len(u))
	}
}

func TestESP(t *testing.T) {
	b := []byte{0xc0, 0xff, 0xee, 0x01, 0, 0, 0x01, 0x02, 0xaa}
	e, err := ParseESP(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.SPI() != 0xc0ffee01 || e.Seq() != 0x102 || !bytes.Equal(e.Payload(), []byte{0xaa}) {
		t.Errorf("SPI %#x Seq %#x payload %x", e.SPI(), e.Seq(), e.Payload())
	}
	for i := range 8 {
		if _, err := ParseESP(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d bytes: err = %v", i, err)
		}
	}
}

func TestPorts(t *testing.T) {
	l4 := []byte{0x01, 0xbb, 0x11, 0x94, 0xff}
	for _, proto := range []uint8{ProtoTCP, ProtoUDP, ProtoSCTP, ProtoUDPLite} {
		if s, d := Ports(proto, l4); s != 443 || d != 4500 {
			t.Errorf("proto %d: %d %d", proto, s, d)
		}
		if s, d := Ports(proto, l4[:3]); s != 0 || d != 0 {
			t.Errorf("proto %d truncated: %d %d", proto, s, d)
		}
	}
	for _, proto := range []uint8{0, ProtoICMP, ProtoESP, ProtoICMPv6, 255} {
		if s, d := Ports(proto, l4); s != 0 || d != 0 {
			t.Errorf("proto %d: %d %d, want 0 0", proto, s, d)
		}
	}
}

// naiveChecksum is RFC 1071 section 4.1 transcribed.
func naiveChecksum(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint64(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func TestChecksumMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for n := range 300 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		initial := rng.Uint32()
		if n%3 == 0 {
			initial = 0
		}
		if n%7 == 0 {
			for i := range b {
				b[i] = 0xff // maximal carries
			}
		}
		if got, want := Checksum(b, initial), naiveChecksum(b, initial); got != want {
			t.Fatalf("len %d initial %#x: Checksum %#04x, naive %#04x", n, initial, got, want)
		}
	}
}

func TestChecksumChaining(t *testing.T) {
	b := make([]byte, 1001)
	for i := range b {
		b[i] = byte(i * 7)
	}
	whole := Checksum(b, 0)
	for split := 0; split <= len(b); split += 2 {
		if got := Checksum(b[split:], Sum(b[:split], 0)); got != whole {
			t.Fatalf("split at %d: %#04x != %#04x", split, got, whole)
		}
	}
}

// TestUDPChecksumPseudoHeader checks PseudoHeaderSum: a datagram whose
// checksum field holds the computed value verifies to 0.
func TestUDPChecksumPseudoHeader(t *testing.T) {
	for _, pair := range [][2]netip.Addr{{addrA, addrB}, {addr6, addr7}} {
		u := make([]byte, 8+11)
		EncodeUDP(u, 53, 33000, uint16(len(u)))
		copy(u[8:], "odd-length!")
		ph := PseudoHeaderSum(ProtoUDP, pair[0], pair[1], uint32(len(u)))
		binary.BigEndian.PutUint16(u[6:], Checksum(u, ph))
		if got := Checksum(u, ph); got != 0 {
			t.Errorf("%v: verify = %#04x, want 0", pair[0], got)
		}
		// Independently: naive sum over an explicit pseudo-header.
		var pseudo []byte
		pseudo = append(pseudo, pair[0].AsSlice()...)
		pseudo = append(pseudo, pair[1].AsSlice()...)
		if pair[0].Is4() {
			pseudo = append(pseudo, 0, ProtoUDP, 0, byte(len(u)))
		} else {
			pseudo = append(pseudo, 0, 0, 0, byte(len(u)), 0, 0, 0, ProtoUDP)
		}
		if got := naiveChecksum(append(pseudo, u...), 0); got != 0 {
			t.Errorf("%v: naive verify = %#04x, want 0", pair[0], got)
		}
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(buf)))
	for range b.N {
		Checksum(buf, 0)
	}
}
