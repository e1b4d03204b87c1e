package packet

import (
	"net/netip"
	"testing"
)

// FuzzIPv6ExtHeaders walks the extension headers of arbitrary IPv6
// packets as a sender and as a receiver would, and splits every option
// and AH header found: no panic, and every offset within the packet.
func FuzzIPv6ExtHeaders(f *testing.F) {
	b := make([]byte, 40+16+24+8+8)
	EncodeIPv6(b, IPv6Fields{PayloadLen: uint16(len(b) - 40), NextHeader: ProtoHopByHop, HopLimit: 1,
		Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("fe80::1")})
	copy(b[40:], []byte{ProtoRouting, 1, 0x3e, 2, 1, 2, 0x1e, 2, 3, 4, 1, 4, 0, 0, 0, 0})
	copy(b[56:], []byte{ProtoAH, 2, 2, 1})
	copy(b[80:], []byte{ProtoDestOpts, 0, 0, 0})
	f.Add(b)
	f.Add(b[:60])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseIPv6(b)
		if err != nil {
			return
		}
		for _, stop := range []uint8{ProtoNoNext, ProtoAH, ProtoESP} {
			c, err := WalkIPv6(p, stop)
			if err != nil {
				continue
			}
			if c.Off < IPv6HeaderLen || c.Off > len(p) || c.NextHeaderOff >= c.Off || p[c.NextHeaderOff] != c.Proto {
				t.Fatalf("stop %d: inconsistent chain %+v (len %d)", stop, c, len(p))
			}
			if c.Proto == ProtoAH {
				if a, err := ParseAH(p[c.Off:]); err == nil && (a.Len() < AHFixedLen || c.Off+a.Len() > len(p)) {
					t.Fatalf("AH length %d at %d of %d", a.Len(), c.Off, len(p))
				}
			}
		}
		// Every header's options, as far as the chain goes.
		off, proto := IPv6HeaderLen, p.NextHeader()
		for IsIPv6ExtHeader(proto) {
			h, err := ParseIPv6ExtHeader(proto, p[off:])
			if err != nil {
				return
			}
			if proto == ProtoHopByHop || proto == ProtoDestOpts {
				for opts := h.Options(); len(opts) > 0; {
					_, data, rest, err := NextIPv6Option(opts)
					if err != nil {
						break
					}
					if len(rest) >= len(opts) || len(data) > len(opts) {
						t.Fatal("option split does not progress")
					}
					opts = rest
				}
			}
			off, proto = off+len(h), h.NextHeader()
		}
	})
}

// FuzzIPv4Options splits arbitrary IPv4 options areas.
func FuzzIPv4Options(f *testing.F) {
	f.Add([]byte{IPv4OptRA, 4, 0, 0, IPv4OptTS, 8, 5, 0, 0, 0, 0, 0, IPv4OptNOP, IPv4OptEOL, 0, 0})
	f.Add([]byte{IPv4OptLSRR, 7, 4, 1, 2, 3, 4, 0})
	f.Fuzz(func(t *testing.T, opts []byte) {
		for len(opts) > 0 {
			_, opt, rest, err := NextIPv4Option(opts)
			if err != nil {
				return
			}
			if len(opt) == 0 || len(opt)+len(rest) != len(opts) {
				t.Fatalf("split %d + %d of %d", len(opt), len(rest), len(opts))
			}
			opts = rest
		}
	})
}
