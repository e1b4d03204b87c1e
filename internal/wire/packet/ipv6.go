package packet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IPv6 fixed header (RFC 8200 section 3):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Source Address (128 bits)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|              Destination Address (128 bits)                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	v6VersTCFlow   = 0
	v6PayloadLen   = 4
	v6NextHeader   = 6
	v6HopLimit     = 7
	v6Src          = 8
	v6Dst          = 24
	v6FlowLabelMax = 0xfffff
)

// IPv6 is a view of an IPv6 packet (fixed header only; extension headers
// are part of the payload). Obtain one with ParseIPv6.
type IPv6 []byte

// ParseIPv6 checks that b starts with an IPv6 fixed header (version 6,
// 40 bytes, 40+Payload Length <= len(b)) and returns the view
// b[:40+PayloadLen]. Jumbograms (RFC 2675, Payload Length 0 with a Jumbo
// option) are not supported: their payload appears empty.
func ParseIPv6(b []byte) (IPv6, error) {
	if len(b) < IPv6HeaderLen {
		return nil, fmt.Errorf("%w: IPv6: %d bytes, need %d", ErrMalformed, len(b), IPv6HeaderLen)
	}
	if v := b[v6VersTCFlow] >> 4; v != 6 {
		return nil, fmt.Errorf("%w: IPv6: version %d", ErrMalformed, v)
	}
	n := IPv6HeaderLen + int(binary.BigEndian.Uint16(b[v6PayloadLen:]))
	if n > len(b) {
		return nil, fmt.Errorf("%w: IPv6: payload length %d, have %d", ErrMalformed, n-IPv6HeaderLen, len(b)-IPv6HeaderLen)
	}
	return IPv6(b[:n]), nil
}

// TrafficClass returns the Traffic Class (DSCP and ECN) byte.
func (p IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(p[v6VersTCFlow:]) >> 4)
}

// FlowLabel returns the 20-bit Flow Label.
func (p IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(p[v6VersTCFlow:]) & v6FlowLabelMax
}

// PayloadLen returns the Payload Length field.
func (p IPv6) PayloadLen() int { return int(binary.BigEndian.Uint16(p[v6PayloadLen:])) }

// NextHeader returns the Next Header field.
func (p IPv6) NextHeader() uint8 { return p[v6NextHeader] }

// HopLimit returns the Hop Limit field.
func (p IPv6) HopLimit() uint8 { return p[v6HopLimit] }

// Src returns the source address.
func (p IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(p[v6Src : v6Src+16])) }

// Dst returns the destination address.
func (p IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(p[v6Dst : v6Dst+16])) }

// Payload returns the bytes after the fixed header up to the payload length.
func (p IPv6) Payload() []byte { return p[IPv6HeaderLen : IPv6HeaderLen+p.PayloadLen()] }

// IPv6Fields are the values EncodeIPv6 writes.
type IPv6Fields struct {
	TrafficClass uint8
	FlowLabel    uint32 // low 20 bits used
	PayloadLen   uint16
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr
}

// EncodeIPv6 writes the 40-byte IPv6 fixed header described by f into
// b[:40]. It panics if b is shorter than 40 bytes (a programmer error).
func EncodeIPv6(b []byte, f IPv6Fields) {
	_ = b[IPv6HeaderLen-1]
	binary.BigEndian.PutUint32(b[v6VersTCFlow:], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&v6FlowLabelMax)
	binary.BigEndian.PutUint16(b[v6PayloadLen:], f.PayloadLen)
	b[v6NextHeader] = f.NextHeader
	b[v6HopLimit] = f.HopLimit
	src, dst := f.Src.As16(), f.Dst.As16()
	copy(b[v6Src:], src[:])
	copy(b[v6Dst:], dst[:])
}
