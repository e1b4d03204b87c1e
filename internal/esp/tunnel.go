package esp

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/wire/packet"
)

// Tunnel-mode encapsulation (RFC 4301 5.1.2): the outer IP header that
// ESP or AH tunnel mode puts in front, for any combination of inner and
// outer IPv4 and IPv6 (4-in-4, 6-in-6, 4-in-6, 6-in-4), and what the
// decapsulator does with the outer header's ECN field (RFC 6040).

// ECN codepoints, the low two bits of the IPv4 TOS octet or the IPv6
// Traffic Class (RFC 3168 5).
const (
	ECNNotECT = 0b00
	ECNECT1   = 0b01
	ECNECT0   = 0b10
	ECNCE     = 0b11
	ecnMask   = 0b11
)

// ErrECNDrop: the outer header says Congestion Experienced but the inner
// packet is not ECN-capable; RFC 6040 4.2 says to drop it, since the
// congestion signal cannot be passed on.
var ErrECNDrop = errors.New("esp: outer CE on a not-ECT inner packet (RFC 6040 4.2)")

// ErrFragment: the packet is an IP fragment. AH and ESP are applied to
// whole datagrams before fragmentation and verified after reassembly
// (RFC 4302 3.3.4, 3.4.1; RFC 4303 3.3.4, 3.4.1).
var ErrFragment = errors.New("esp: IP fragment")

// EncapTOS returns the outer DSCP and ECN octet for an inner one: both
// copied, the DSCP as RFC 4301 5.1.2.1 says by default and the ECN field
// in the normal mode of RFC 6040 4.1 (the ECN field of the inner header
// is copied, CE included).
func EncapTOS(innerTOS uint8) uint8 { return innerTOS }

// DecapECN combines the ECN fields of the outer and inner headers on
// decapsulation (RFC 6040 4.2, Figure 4) and returns the inner header's
// new ECN field, or ok = false if the packet must be dropped (outer CE,
// inner Not-ECT). Only the ECN bits of the arguments are looked at; the
// inner DSCP is left alone (RFC 4301 5.1.2.1: the outer DSCP is not copied
// inward by default).
func DecapECN(outerTOS, innerTOS uint8) (ecn uint8, ok bool) {
	outer, inner := outerTOS&ecnMask, innerTOS&ecnMask
	switch {
	case inner == ECNNotECT:
		// The inner transport does not understand ECN: an outer ECT is
		// dropped silently, an outer CE cannot be passed on.
		return ECNNotECT, outer != ECNCE
	case outer == ECNCE:
		return ECNCE, true
	case inner == ECNECT0 && outer == ECNECT1:
		return ECNECT1, true
	default:
		// Outer Not-ECT or ECT(0), or inner ECT(1) or CE: the inner
		// field stands.
		return inner, true
	}
}

// Decapsulate applies DecapECN to the inner IP packet inner (IPv4 or
// IPv6, as the next header said) in place, updating the IPv4 header
// checksum. It returns ErrECNDrop if the packet must be dropped and
// ErrMalformed if inner is not an IP packet.
func Decapsulate(outerTOS uint8, inner []byte) error {
	if len(inner) == 0 {
		return ErrMalformed
	}
	switch inner[0] >> 4 {
	case 4:
		p, err := packet.ParseIPv4(inner)
		if err != nil {
			return ErrMalformed
		}
		ecn, ok := DecapECN(outerTOS, p.TOS())
		if !ok {
			return ErrECNDrop
		}
		if tos := p.TOS()&^ecnMask | ecn; tos != p.TOS() {
			p.SetTOS(tos)
			p.UpdateChecksum()
		}
	case 6:
		p, err := packet.ParseIPv6(inner)
		if err != nil {
			return ErrMalformed
		}
		ecn, ok := DecapECN(outerTOS, p.TrafficClass())
		if !ok {
			return ErrECNDrop
		}
		p.SetTrafficClass(p.TrafficClass()&^ecnMask | ecn)
	default:
		return ErrMalformed
	}
	return nil
}

// DFMode says what the outer IPv4 header's Don't Fragment bit is (RFC
// 4301 8.1): copied from an inner IPv4 header (set for an inner IPv6
// packet, which routers never fragment), or always set, or always clear.
type DFMode uint8

const (
	DFCopy DFMode = iota
	DFSet
	DFClear
)

// Tunnel describes the outer header of tunnel mode. Src and Dst are the SA
// endpoints, both IPv4 or both IPv6; the inner packet may be of either
// family. A Tunnel is safe for concurrent use.
type Tunnel struct {
	Src, Dst netip.Addr
	// TTL is the outer IPv4 TTL or IPv6 Hop Limit; 0 means 64. The
	// inner TTL is not copied (RFC 4301 5.1.2.1: constructed).
	TTL uint8
	// DF is the outer IPv4 DF bit policy; the IPv6 outer header has none.
	DF DFMode

	id atomic.Uint32 // outer IPv4 Identification
}

// HeaderLen returns the length of the outer header: 20 for IPv4, 40 for
// IPv6.
func (t *Tunnel) HeaderLen() int {
	if t.Dst.Is4() {
		return packet.IPv4MinHeader
	}
	return packet.IPv6HeaderLen
}

// innerInfo returns the next header value for inner (4 or 41), its DSCP
// and ECN octet and whether it has DF set (always for IPv6), after
// checking that it is a well-formed, complete IP packet of exactly
// len(inner) octets.
func innerInfo(inner []byte) (nh, tos uint8, df bool, err error) {
	if len(inner) == 0 {
		return 0, 0, false, ErrMalformed
	}
	switch inner[0] >> 4 {
	case 4:
		p, err := packet.ParseIPv4(inner)
		if err != nil || len(p) != len(inner) {
			return 0, 0, false, fmt.Errorf("%w: inner IPv4 packet", ErrMalformed)
		}
		return NextHeaderIPv4, p.TOS(), p.FlagsFragOff()&packet.IPv4FlagDF != 0, nil
	case 6:
		p, err := packet.ParseIPv6(inner)
		if err != nil || len(p) != len(inner) {
			return 0, 0, false, fmt.Errorf("%w: inner IPv6 packet", ErrMalformed)
		}
		return NextHeaderIPv6, p.TrafficClass(), true, nil
	}
	return 0, 0, false, fmt.Errorf("%w: inner packet is not IP", ErrMalformed)
}

// writeHeader writes the outer header into b[:HeaderLen()] for a payload
// of payloadLen octets of protocol proto (ESP or AH), with the inner
// packet's DSCP and ECN (EncapTOS) and DF bit.
func (t *Tunnel) writeHeader(b []byte, proto uint8, payloadLen int, innerTOS uint8, innerDF bool) error {
	ttl := t.TTL
	if ttl == 0 {
		ttl = 64
	}
	if t.Src.Is4() != t.Dst.Is4() || !t.Src.IsValid() || !t.Dst.IsValid() {
		return fmt.Errorf("esp: tunnel endpoints %v and %v are not of one family", t.Src, t.Dst)
	}
	if t.Dst.Is4() {
		total := packet.IPv4MinHeader + payloadLen
		if total > 0xffff {
			return ErrBufferTooSmall
		}
		var flags uint16
		if t.DF == DFSet || t.DF == DFCopy && innerDF {
			flags = packet.IPv4FlagDF
		}
		packet.EncodeIPv4(b, packet.IPv4Fields{
			TOS: EncapTOS(innerTOS), TotalLen: uint16(total), ID: uint16(t.id.Add(1)),
			Flags: flags, TTL: ttl, Protocol: proto, Src: t.Src, Dst: t.Dst,
		})
		return nil
	}
	if payloadLen > 0xffff {
		return ErrBufferTooSmall
	}
	packet.EncodeIPv6(b, packet.IPv6Fields{
		TrafficClass: EncapTOS(innerTOS), PayloadLen: uint16(payloadLen),
		NextHeader: proto, HopLimit: ttl, Src: t.Src, Dst: t.Dst,
	})
	return nil
}

// outerTOS returns the DSCP and ECN octet of an outer IP header.
func outerTOS(pkt []byte) uint8 {
	if pkt[0]>>4 == 4 {
		return packet.IPv4(pkt).TOS()
	}
	return packet.IPv6(pkt).TrafficClass()
}
