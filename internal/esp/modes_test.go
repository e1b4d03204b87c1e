package esp

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/packet"
)

// modeSuites are the transforms the mode helpers are tested with: an
// AEAD, CBC with HMAC (random IV, 16-octet blocks), NULL and GMAC.
var modeSuites = []xformSuite{xformSuites[0], xformSuites[6], xformSuites[7], xformSuites[11], xformSuites[9]}

// espSealTransport seals a copy of pkt in transport mode with seq.
func espSealTransport(tb testing.TB, o *Outbound, pkt []byte, seq uint64) []byte {
	tb.Helper()
	buf := make([]byte, 64+len(pkt)+o.MaxOverhead())
	copy(buf[64:], pkt)
	out, err := o.SealTransportSeq(buf[:64+len(pkt)], 64, len(pkt), seq)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func espSealTunnel(tb testing.TB, o *Outbound, tun *Tunnel, inner []byte, seq uint64) []byte {
	tb.Helper()
	buf := make([]byte, 128+len(inner)+o.MaxOverhead())
	copy(buf[128:], inner)
	out, err := o.SealTunnelSeq(buf[:128+len(inner)], 128, len(inner), tun, seq)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestESPTransportRoundTrip(t *testing.T) {
	for _, s := range modeSuites {
		for _, esn := range []bool{false, true} {
			for _, tp := range transportPackets() {
				t.Run(fmt.Sprintf("%s/esn=%v/%s", s.name, esn, tp.name), func(t *testing.T) {
					o, in := newXformPair(t, s, esn)
					sealed := espSealTransport(t, o, tp.pkt, 1)
					checkIPHeader(t, sealed, packet.ProtoESP)
					hl := ahInsertOffset(tp.pkt)
					if !bytes.Equal(sealed[:hl], withProto(tp.pkt[:hl], packet.ProtoESP, len(sealed))) {
						t.Errorf("header chain\n%x\nwant the original's with next header 50\n%x", sealed[:hl], tp.pkt[:hl])
					}
					e, _ := packet.ParseESP(sealed[hl:])
					if e.SPI() != testSPI || e.Seq() != 1 {
						t.Errorf("ESP at %d: SPI %#x seq %d", hl, e.SPI(), e.Seq())
					}
					if want := len(tp.pkt) + o.Overhead(len(tp.pkt)-hl); len(sealed) != want {
						t.Errorf("sealed %d octets, want %d", len(sealed), want)
					}
					routeIPv6If(sealed)
					changeEnRoute(sealed)
					want := bytes.Clone(tp.pkt)
					routeIPv6If(want)
					changeEnRoute(want)
					got, nh, err := in.OpenTransport(sealed)
					if err != nil {
						t.Fatalf("OpenTransport: %v", err)
					}
					_, _, wantNH, _ := ipHeaderChain(tp.pkt)
					if nh != wantNH || !bytes.Equal(got, want) {
						t.Fatalf("OpenTransport = nh %d\n%x\nwant %d\n%x", nh, got, wantNH, want)
					}
				})
			}
		}
	}
}

// withProto returns a copy of the header chain h of a packet, with the
// octet that names the header after the chain set to proto and the
// length fields for a packet of n octets, as SealTransport leaves it.
func withProto(h []byte, proto uint8, n int) []byte {
	c := bytes.Clone(h)
	if c[0]>>4 == 4 {
		c[9] = proto
		packet.IPv4(c).SetTotalLen(n)
		packet.IPv4(c).UpdateChecksum()
		return c
	}
	full := make([]byte, n)
	copy(full, c)
	ch, err := packet.WalkIPv6(packet.IPv6(full), packet.ProtoNoNext)
	if err != nil {
		panic(err)
	}
	c[ch.NextHeaderOff] = proto
	packet.IPv6(c).SetPayloadLen(n - packet.IPv6HeaderLen)
	return c
}

func TestESPTunnelRoundTrip(t *testing.T) {
	for _, s := range modeSuites {
		for _, tc := range tunnelCases {
			for _, esn := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/esn=%v", s.name, tc.name, esn), func(t *testing.T) {
					o, in := newXformPair(t, s, esn)
					tun := tunnelFor(tc.src, tc.dst)
					inner := innerFor(tc.inner6, 300)
					sealed := espSealTunnel(t, o, tun, inner, 1)
					checkIPHeader(t, sealed, packet.ProtoESP)
					if outerTOS(sealed) != outerTOS(inner) {
						t.Errorf("outer TOS %#x, want %#x copied", outerTOS(sealed), outerTOS(inner))
					}
					hl := tun.HeaderLen()
					if len(sealed) != hl+len(inner)+o.Overhead(len(inner)) {
						t.Errorf("sealed %d octets", len(sealed))
					}
					setTOS(sealed, outerTOS(sealed)|ECNCE)
					got, nh, err := in.OpenTunnel(sealed)
					if err != nil {
						t.Fatalf("OpenTunnel: %v", err)
					}
					want := bytes.Clone(inner)
					setTOS(want, outerTOS(inner)|ECNCE)
					if wantNH := map[bool]uint8{false: 4, true: 41}[tc.inner6]; nh != wantNH || !bytes.Equal(got, want) {
						t.Fatalf("OpenTunnel = nh %d\n%x\nwant %d\n%x", nh, got, wantNH, want)
					}
				})
			}
		}
	}
}

func TestTFCPadding(t *testing.T) {
	for _, s := range modeSuites {
		o, in := newXformPair(t, s, false)
		o.SetTFCPadding(1000)
		for _, n := range []int{0, 100, 999, 1000, 1200} {
			inner := udpIPv4(v4A, v4B, nil, n, 1)
			sealed := espSealTunnel(t, o, tunnelFor("192.0.2.1", "198.51.100.2"), inner, uint64(n+1))
			ct := len(sealed) - 20 - o.PayloadOffset() - o.icvLen
			if wantMin := max(1000, len(inner)) + trailerLen; ct < wantMin {
				t.Errorf("%s: %d-octet packet: %d octets encrypted, want >= %d", s.name, len(inner), ct, wantMin)
			}
			if len(inner) >= 1000 && ct >= len(inner)+trailerLen+o.align {
				t.Errorf("%s: %d-octet packet padded beyond its block: %d", s.name, len(inner), ct)
			}
			got, _, err := in.OpenTunnel(sealed)
			if err != nil || !bytes.Equal(got, inner) {
				t.Fatalf("%s: OpenTunnel with TFC padding: %v, equal %v", s.name, err, bytes.Equal(got, inner))
			}
		}
		// Transport mode payloads carry no length of their own: no TFC.
		pkt := udpIPv4(v4A, v4B, nil, 10, 1)
		if sealed := espSealTransport(t, o, pkt, 5000); len(sealed) > len(pkt)+o.MaxOverhead()-1000 {
			t.Errorf("%s: transport mode got TFC padding: %d octets", s.name, len(sealed))
		}
	}
}

// TestDecapECN is RFC 6040 4.2 Figure 4.
func TestDecapECN(t *testing.T) {
	const drop = 0xff
	// rows: inner Not-ECT, ECT(0), ECT(1), CE; columns: outer the same.
	codes := []uint8{ECNNotECT, ECNECT0, ECNECT1, ECNCE}
	table := [4][4]uint8{
		{ECNNotECT, ECNNotECT, ECNNotECT, drop},
		{ECNECT0, ECNECT0, ECNECT1, ECNCE},
		{ECNECT1, ECNECT1, ECNECT1, ECNCE},
		{ECNCE, ECNCE, ECNCE, ECNCE},
	}
	for i, inner := range codes {
		for j, outer := range codes {
			got, ok := DecapECN(0xa0|outer, 0x48|inner)
			if want := table[i][j]; (want == drop) == ok || ok && got != want {
				t.Errorf("inner %02b outer %02b: %02b ok %v, want %02b", inner, outer, got, ok, want)
			}
		}
	}
	// Decapsulate: a not-ECT inner packet under an outer CE is dropped
	// and counted; the DSCP of the inner packet stays.
	o, in := newXformPair(t, modeSuites[0], false)
	inner := udpIPv4(v4A, v4B, nil, 10, 1)
	setTOS(inner, 0x28)
	sealed := espSealTunnel(t, o, tunnelFor("192.0.2.1", "198.51.100.2"), inner, 1)
	setTOS(sealed, ECNCE)
	if _, _, err := in.OpenTunnel(sealed); !errors.Is(err, ErrECNDrop) {
		t.Errorf("outer CE, inner not-ECT: %v", err)
	}
	if in.Stats().ECN != 1 {
		t.Errorf("Stats().ECN = %d", in.Stats().ECN)
	}
	inner6 := udpIPv6(v6A, v6B, v6Ext{}, 10, 1)
	setTOS(inner6, 0x28|ECNECT0)
	if err := Decapsulate(ECNCE, inner6); err != nil || packet.IPv6(inner6).TrafficClass() != 0x28|ECNCE {
		t.Errorf("IPv6 decapsulation: %v, traffic class %#x", err, packet.IPv6(inner6).TrafficClass())
	}
}

func TestTunnelDF(t *testing.T) {
	o, _ := newXformPair(t, modeSuites[0], false)
	withDF, noDF := udpIPv4(v4A, v4B, nil, 10, 1), udpIPv4(v4A, v4B, nil, 10, 1)
	noDF[6] &^= 0x40
	packet.IPv4(noDF).UpdateChecksum()
	for _, tc := range []struct {
		mode  DFMode
		inner []byte
		want  bool
	}{
		{DFCopy, withDF, true}, {DFCopy, noDF, false},
		{DFSet, noDF, true}, {DFClear, withDF, false},
		{DFCopy, udpIPv6(v6A, v6B, v6Ext{}, 10, 1), true},
	} {
		tun := tunnelFor("192.0.2.1", "198.51.100.2")
		tun.DF = tc.mode
		sealed := espSealTunnel(t, o, tun, tc.inner, 1)
		if got := packet.IPv4(sealed).FlagsFragOff()&packet.IPv4FlagDF != 0; got != tc.want {
			t.Errorf("mode %d, inner v%d: outer DF %v, want %v", tc.mode, tc.inner[0]>>4, got, tc.want)
		}
	}
}

func TestReplayDisabled(t *testing.T) {
	x := newXform(t, modeSuites[0], nil)
	o := NewOutboundTransform(testSPI, x, false)
	in := NewInboundTransform(testSPI, x, ReplayDisabled, false)
	if in.ReplayWindow() != 0 {
		t.Errorf("ReplayWindow = %d", in.ReplayWindow())
	}
	pkt := sealPayload(t, o, []byte("again"), 4)
	for range 3 {
		if _, _, err := in.Open(bytes.Clone(pkt)); err != nil {
			t.Fatalf("replay check disabled: %v", err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("ESN without the anti-replay window did not panic")
		}
	}()
	NewInboundTransform(testSPI, x, ReplayDisabled, true)
}

func TestModeErrors(t *testing.T) {
	o, in := newXformPair(t, modeSuites[0], false)
	pkt := udpIPv4(v4A, v4B, nil, 10, 1)
	if _, err := o.SealTransport(pkt, 0, len(pkt)); !errors.Is(err, ErrBufferTooSmall) {
		t.Errorf("no headroom: %v", err)
	}
	frag := bytes.Clone(pkt)
	frag[7] = 1
	packet.IPv4(frag).UpdateChecksum()
	buf := make([]byte, 64+len(frag)+o.MaxOverhead())
	copy(buf[64:], frag)
	if _, err := o.SealTransport(buf, 64, len(frag)); !errors.Is(err, ErrFragment) {
		t.Errorf("fragment: %v", err)
	}
	sealed := espSealTransport(t, o, pkt, 1)
	for n := range len(sealed) {
		if _, _, err := in.OpenTransport(bytes.Clone(sealed[:n])); err == nil {
			t.Fatalf("truncated to %d: accepted", n)
		}
	}
	if _, _, err := in.OpenTunnel(bytes.Clone(sealed)); !errors.Is(err, ErrMalformed) {
		t.Errorf("transport packet opened as tunnel: %v", err)
	}
}
