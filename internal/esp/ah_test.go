package esp

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/ike"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// ahAlgs are the AH integrity algorithms of RFC 8221 and AES-GMAC (RFC
// 4543 4).
var ahAlgs = []struct {
	name string
	id   uint16
}{
	{"sha1", ike.IntegHMACSHA1_96},
	{"sha256", ike.IntegHMACSHA256_128},
	{"sha384", ike.IntegHMACSHA384_192},
	{"sha512", ike.IntegHMACSHA512_256},
	{"aesxcbc", ike.IntegAESXCBC96},
	{"gmac128", ike.IntegAES128GMAC},
	{"gmac192", ike.IntegAES192GMAC},
	{"gmac256", ike.IntegAES256GMAC},
}

func newInteg(tb testing.TB, id uint16, key []byte) *suite.Integ {
	tb.Helper()
	if key == nil {
		n, err := suite.AHIntegKeyLen(id)
		if err != nil {
			tb.Fatal(err)
		}
		key = randBytes(n)
	}
	m, err := suite.NewAHInteg(id, key)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func newAHPair(tb testing.TB, id uint16, esn bool) (*AHOutbound, *AHInbound) {
	m := newInteg(tb, id, nil)
	return NewAHOutbound(testSPI, m, esn), NewAHInbound(testSPI, m, 0, esn)
}

// ahHeadroom is more than any AH header plus an outer IPv6 header.
const ahHeadroom = 128

// ahSealTransport seals a copy of pkt in transport mode with seq.
func ahSealTransport(tb testing.TB, o *AHOutbound, pkt []byte, seq uint64) []byte {
	tb.Helper()
	buf := make([]byte, ahHeadroom+len(pkt))
	copy(buf[ahHeadroom:], pkt)
	out, err := o.SealTransportSeq(buf, ahHeadroom, len(pkt), seq)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func ahSealTunnel(tb testing.TB, o *AHOutbound, t *Tunnel, inner []byte, seq uint64) []byte {
	tb.Helper()
	buf := make([]byte, ahHeadroom+len(inner))
	copy(buf[ahHeadroom:], inner)
	out, err := o.SealTunnelSeq(buf, ahHeadroom, len(inner), t, seq)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// transportPackets are the IP packets transport mode is tested with.
func transportPackets() []struct {
	name string
	pkt  []byte
} {
	return []struct {
		name string
		pkt  []byte
	}{
		{"ipv4", udpIPv4(v4A, v4B, nil, 100, 1)},
		{"ipv4-options", udpIPv4(v4A, v4B, v4Options, 33, 2)},
		{"ipv4-empty-udp", udpIPv4(v4A, v4B, nil, 0, 3)},
		{"ipv6", udpIPv6(v6A, v6B, v6Ext{}, 100, 4)},
		{"ipv6-hopbyhop", udpIPv6(v6A, v6B, v6Ext{hopByHop: true}, 57, 5)},
		{"ipv6-destopts", udpIPv6(v6A, v6B, v6Ext{destOpts: true}, 10, 6)},
		{"ipv6-all", udpIPv6(v6A, v6B, v6Ext{hopByHop: true, routing: true, destOpts: true}, 1200, 7)},
	}
}

// ahInsertOffset is where transport mode puts AH in the test packets:
// after the IPv4 header, or after Hop-by-Hop and Routing but before the
// final Destination Options.
func ahInsertOffset(pkt []byte) int {
	if pkt[0]>>4 == 4 {
		return packet.IPv4(pkt).HeaderLen()
	}
	c, err := packet.WalkIPv6(packet.IPv6(pkt), packet.ProtoNoNext)
	if err != nil {
		panic(err)
	}
	return c.Off
}

func TestAHTransportRoundTrip(t *testing.T) {
	for _, alg := range ahAlgs {
		for _, esn := range []bool{false, true} {
			for _, tp := range transportPackets() {
				t.Run(fmt.Sprintf("%s/esn=%v/%s", alg.name, esn, tp.name), func(t *testing.T) {
					o, in := newAHPair(t, alg.id, esn)
					v6 := tp.pkt[0]>>4 == 6
					ahLen := o.HeaderLen(v6)
					if ahLen%4 != 0 || v6 && ahLen%8 != 0 {
						t.Fatalf("AH length %d not aligned (RFC 4302 2.6)", ahLen)
					}
					seq := uint64(7)
					if esn {
						seq = 1<<32 | 7
						in.window.Update(1<<32 | 1) // the receiver is in the same subspace
					}
					sealed := ahSealTransport(t, o, tp.pkt, seq)
					hl := ahInsertOffset(tp.pkt)
					if len(sealed) != len(tp.pkt)+ahLen {
						t.Fatalf("sealed %d bytes, want %d+%d", len(sealed), len(tp.pkt), ahLen)
					}
					ah, err := packet.ParseAH(sealed[hl:])
					if err != nil || ah.Len() != ahLen || ah.SPI() != testSPI || ah.Seq() != uint32(seq) {
						t.Fatalf("AH header at %d: %v len %d spi %#x seq %d", hl, err, ah.Len(), ah.SPI(), ah.Seq())
					}
					if !bytes.Equal(sealed[hl+ahLen:], tp.pkt[hl:]) {
						t.Fatal("payload after AH differs from the original")
					}
					checkIPHeader(t, sealed, packet.ProtoAH)

					// En route: mutable fields change, source route is followed.
					routeIPv6If(sealed)
					changeEnRoute(sealed)
					want := bytes.Clone(tp.pkt)
					routeIPv6If(want)
					changeEnRoute(want)

					got, err := in.OpenTransport(sealed)
					if err != nil {
						t.Fatalf("OpenTransport: %v", err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("OpenTransport =\n%x\nwant\n%x", got, want)
					}
					if st := in.Stats(); st != (AHStats{}) {
						t.Errorf("Stats = %+v", st)
					}
				})
			}
		}
	}
}

func routeIPv6If(pkt []byte) {
	if pkt[0]>>4 == 6 {
		routeIPv6(pkt)
	}
}

// checkIPHeader checks the length and checksum of an IP packet and that
// the header chain leads to proto.
func checkIPHeader(t *testing.T, pkt []byte, proto uint8) {
	t.Helper()
	if pkt[0]>>4 == 4 {
		p, err := packet.ParseIPv4(pkt)
		if err != nil || len(p) != len(pkt) || !p.ChecksumValid() || p.Protocol() != proto {
			t.Fatalf("IPv4 header: %v, length %d of %d, checksum valid %v, protocol %d", err, len(p), len(pkt), p.ChecksumValid(), p.Protocol())
		}
		return
	}
	p, err := packet.ParseIPv6(pkt)
	if err != nil || len(p) != len(pkt) {
		t.Fatalf("IPv6 header: %v, length %d of %d", err, len(p), len(pkt))
	}
	c, err := packet.WalkIPv6(p, proto)
	if err != nil || c.Proto != proto {
		t.Fatalf("IPv6 chain: %v, reaches %d, want %d", err, c.Proto, proto)
	}
}

var tunnelCases = []struct {
	name     string
	src, dst string
	inner6   bool
}{
	{"4in4", "192.0.2.1", "198.51.100.2", false},
	{"6in6", "2001:db8::1", "2001:db8:ffff::2", true},
	{"4in6", "2001:db8::1", "2001:db8:ffff::2", false},
	{"6in4", "192.0.2.1", "198.51.100.2", true},
}

func tunnelFor(src, dst string) *Tunnel {
	return &Tunnel{Src: mustAddr(src), Dst: mustAddr(dst), TTL: 33}
}

func innerFor(inner6 bool, n int) []byte {
	if inner6 {
		return udpIPv6(v6A, v6B, v6Ext{hopByHop: true}, n, 9)
	}
	return udpIPv4(v4A, v4B, nil, n, 9)
}

func TestAHTunnelRoundTrip(t *testing.T) {
	for _, alg := range ahAlgs {
		for _, tc := range tunnelCases {
			for _, esn := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/esn=%v", alg.name, tc.name, esn), func(t *testing.T) {
					o, in := newAHPair(t, alg.id, esn)
					tun := tunnelFor(tc.src, tc.dst)
					inner := innerFor(tc.inner6, 200)
					sealed := ahSealTunnel(t, o, tun, inner, 1)
					checkIPHeader(t, sealed, packet.ProtoAH)
					hl := tun.HeaderLen()
					tos := outerTOS(sealed)
					if want := outerTOS(inner); tos != want {
						t.Errorf("outer DSCP/ECN %#x, want the inner %#x copied (RFC 6040 normal mode)", tos, want)
					}
					if tun.Dst.Is4() {
						// DFCopy: the inner IPv4 packet has DF; IPv6 is never fragmented.
						if packet.IPv4(sealed).FlagsFragOff()&packet.IPv4FlagDF == 0 {
							t.Error("outer DF clear, want it copied/set")
						}
						if packet.IPv4(sealed).TTL() != 33 {
							t.Error("outer TTL is not the tunnel's")
						}
					}
					ah, _ := packet.ParseAH(sealed[hl:])
					if wantNH := map[bool]uint8{false: 4, true: 41}[tc.inner6]; ah.NextHeader() != wantNH {
						t.Errorf("AH next header %d, want %d", ah.NextHeader(), wantNH)
					}
					// The outer DSCP and ECN may change en route: CE.
					setTOS(sealed, outerTOS(sealed)|ECNCE)
					got, err := in.OpenTunnel(sealed)
					if err != nil {
						t.Fatalf("OpenTunnel: %v", err)
					}
					want := bytes.Clone(inner)
					setTOS(want, outerTOS(inner)|ECNCE) // RFC 6040: CE passed on to an ECT inner packet
					if !bytes.Equal(got, want) {
						t.Fatalf("OpenTunnel =\n%x\nwant\n%x", got, want)
					}
				})
			}
		}
	}
}

// setTOS sets the DSCP/ECN octet of an IP packet, fixing the IPv4
// checksum.
func setTOS(pkt []byte, tos uint8) {
	if pkt[0]>>4 == 4 {
		packet.IPv4(pkt).SetTOS(tos)
		packet.IPv4(pkt).UpdateChecksum()
		return
	}
	packet.IPv6(pkt).SetTrafficClass(tos)
}

// ahMutableBit reports whether flipping bit of byte i of a sealed test
// packet without options or extension headers leaves the ICV valid: the
// mutable fields of RFC 4302 3.3.3.1.
func ahMutableBit(pkt []byte, i int, bit byte) bool {
	if pkt[0]>>4 == 4 {
		switch i {
		case 1, 8, 10, 11: // TOS, TTL, checksum
			return true
		case 6: // the reserved flag and DF; MF and the offset make a fragment
			return bit == 0x80 || bit == 0x40
		}
		return false
	}
	switch i {
	case 0:
		return bit&0x0f != 0 // traffic class high bits; the version is not
	case 1, 2, 3, 7: // traffic class, flow label, hop limit
		return true
	}
	return false
}

func TestAHEveryBitFlipRejected(t *testing.T) {
	for _, alg := range ahAlgs {
		for _, kind := range []string{"ipv4", "ipv6", "tunnel6in4"} {
			t.Run(alg.name+"/"+kind, func(t *testing.T) {
				o, in := newAHPair(t, alg.id, false)
				var sealed []byte
				switch kind {
				case "ipv4":
					sealed = ahSealTransport(t, o, udpIPv4(v4A, v4B, nil, 20, 1), 1)
				case "ipv6":
					sealed = ahSealTransport(t, o, udpIPv6(v6A, v6B, v6Ext{}, 20, 1), 1)
				default:
					sealed = ahSealTunnel(t, o, tunnelFor("192.0.2.1", "198.51.100.2"), innerFor(true, 20), 1)
				}
				open := in.OpenTransport
				if kind == "tunnel6in4" {
					open = in.OpenTunnel
				}
				rejected := 0
				for i := range sealed {
					for bit := byte(1); bit != 0; bit <<= 1 {
						pkt := bytes.Clone(sealed)
						pkt[i] ^= bit
						_, err := open(pkt)
						mutable := ahMutableBit(sealed, i, bit)
						if mutable && err != nil && !errors.Is(err, ErrECNDrop) {
							t.Errorf("byte %d bit %#x (mutable): %v", i, bit, err)
						}
						if mutable && err == nil {
							in.window.Reset() // accepted: let the next one in
						}
						if !mutable {
							if err == nil {
								t.Fatalf("byte %d bit %#x flipped: accepted", i, bit)
							}
							rejected++
						}
					}
				}
				st := in.Stats()
				if got := st.Auth + st.Malformed + st.Fragment + st.WrongSPI + st.Replay + st.ECN; got != uint64(rejected)+st.ECN {
					t.Errorf("Stats %+v: %d counted, %d rejected", st, got, rejected)
				}
				if st.Auth == 0 || st.WrongSPI == 0 {
					t.Errorf("Stats %+v: want ICV failures and wrong SPIs among the rejections", st)
				}
				in.window.Reset()
				if _, err := open(bytes.Clone(sealed)); err != nil {
					t.Fatalf("intact packet after the forgeries: %v", err)
				}
			})
		}
	}
}

func TestAHReplayTruncationWrongSPI(t *testing.T) {
	o, in := newAHPair(t, ike.IntegHMACSHA256_128, false)
	pkt := udpIPv6(v6A, v6B, v6Ext{hopByHop: true}, 40, 1)
	sealed := ahSealTransport(t, o, pkt, 5)
	if _, err := in.OpenTransport(bytes.Clone(sealed)); err != nil {
		t.Fatal(err)
	}
	if _, err := in.OpenTransport(bytes.Clone(sealed)); !errors.Is(err, ErrReplay) {
		t.Errorf("replay: err = %v, want ErrReplay", err)
	}
	for n := range len(sealed) {
		if _, err := in.OpenTransport(bytes.Clone(sealed[:n])); err == nil {
			t.Fatalf("truncated to %d: accepted", n)
		}
	}
	other := NewAHOutbound(testSPI+1, newInteg(t, ike.IntegHMACSHA256_128, nil), false)
	if _, err := in.OpenTransport(ahSealTransport(t, other, pkt, 6)); !errors.Is(err, ErrWrongSPI) {
		t.Errorf("wrong SPI: err = %v", err)
	}
	if _, err := in.OpenTransport(ahSealTransport(t, o, pkt, 0)); !errors.Is(err, ErrReplay) {
		t.Errorf("seq 0: err = %v, want ErrReplay", err)
	}
	st := in.Stats()
	if st.Replay != 2 || st.WrongSPI != 1 || st.Malformed != uint64(len(sealed)) || st.Auth != 0 {
		t.Errorf("Stats = %+v, want 2 replays, 1 wrong SPI, %d malformed", st, len(sealed))
	}
	// A fragment is refused before anything else.
	frag := ahSealTransport(t, o, udpIPv4(v4A, v4B, nil, 8, 1), 9)
	frag[6] |= 0x20
	packet.IPv4(frag).UpdateChecksum()
	if _, err := in.OpenTransport(frag); !errors.Is(err, ErrFragment) {
		t.Errorf("fragment: err = %v", err)
	}
	raw := udpIPv4(v4A, v4B, nil, 8, 1)
	raw[6] |= 0x20
	packet.IPv4(raw).UpdateChecksum()
	buf := make([]byte, 100+len(raw))
	copy(buf[100:], raw)
	if _, err := o.SealTransport(buf, 100, len(raw)); !errors.Is(err, ErrFragment) {
		t.Errorf("SealTransport of a fragment: %v", err)
	}
}

func TestAHESNHighBitsAuthenticated(t *testing.T) {
	for _, alg := range ahAlgs {
		o, in := newAHPair(t, alg.id, true)
		pkt := udpIPv4(v4A, v4B, nil, 20, 1)
		for _, seq := range []uint64{1, 1<<32 - 1, 1 << 32, 1<<32 + 1} {
			if _, err := in.OpenTransport(ahSealTransport(t, o, pkt, seq)); err != nil {
				t.Fatalf("%s: seq %#x across the 2^32 boundary: %v", alg.name, seq, err)
			}
		}
		// The same low bits with other high bits do not verify.
		m := in.integ.Load()
		in2 := NewAHInbound(testSPI, m, 0, true)
		if _, err := in2.OpenTransport(ahSealTransport(t, o, pkt, 1<<32+2)); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: seq 2^32+2 at a receiver in subspace 0: %v, want ErrAuth", alg.name, err)
		}
		// With ESN the high bits are in the ICV even when they are 0:
		// a receiver without ESN computes another ICV.
		in3 := NewAHInbound(testSPI, m, 0, false)
		if _, err := in3.OpenTransport(ahSealTransport(t, o, pkt, 3)); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: ESN packet at a receiver without ESN: %v, want ErrAuth", alg.name, err)
		}
	}
}
